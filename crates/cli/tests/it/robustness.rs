//! Agents that answer badly, and experiments that fail to build: each becomes a failure
//! record and the run goes on.

use std::time::{Duration, Instant};

use autoresearch_llm_client::testing::Turn;
use serde_json::json;

use crate::support::*;

/// A repository whose script already calls the probe (no instrumentation call).
fn instrumented_repo(root: &std::path::Path) -> UserRepo {
    let repo = UserRepo::create(root);
    let text = instrumented(&repo.script);
    std::fs::write(repo.dir.join("train.py"), &text).unwrap();
    git(&repo.dir, &["commit", "-qam", "instrumented by hand"]);
    let head = git(&repo.dir, &["rev-parse", "HEAD"]);
    UserRepo {
        dir: repo.dir,
        head,
        script: text,
    }
}

#[test]
fn malformed_agent_answers_become_failure_records_and_the_run_goes_on() {
    let root = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let repo = instrumented_repo(root.path());
    let workdir = root.path().join("work");
    let turns = vec![
        // The baseline's analysis: not JSON, twice (the repair round too).
        Turn::Text("The loader is slow, I think.".into()),
        Turn::Text("{\"bottleneck\": 3".into()),
        analysis_turn("load stage", "Headspace is large."),
        // The MTP edit: the agent changes nothing.
        Turn::Text("I would rather not change this file.".into()),
        // The plan: a wrong shape, twice.
        Turn::Text(json!({"experiments": "none"}).to_string()),
        Turn::Text("no plan".into()),
    ];
    let (_runtime, server) = server(turns);
    let mut args = new_run_args(&workdir, &repo);
    args.extend(["--agent", "claude-code", "--max-concurrency", "1"].map(str::to_owned));
    let stderr = run_ok(autoresearch(home.path(), Some(&server.url())), &args);
    assert_eq!(server.remaining(), 0, "{stderr}");
    let rows = table_rows(&workdir);
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[0]["status"], "completed",
        "the numbers still count without an interpretation"
    );
    assert!(
        rows[0]["notes"].contains("analysis failed"),
        "{}",
        rows[0]["notes"]
    );
    assert_eq!(rows[2]["status"], "failed");
    assert!(
        rows[2]["notes"].starts_with("code_change_failed: the agent made no change"),
        "{}",
        rows[2]["notes"]
    );
    let failure = json_file(&workdir.join("engine/nodes/002_mtp/failure.json"));
    assert_eq!(failure["kind"], "code_change_failed");
    assert_eq!(failure["phase"], "code_change");
    let state = json_file(&workdir.join("state.json"));
    assert_eq!(
        state["setup_failures"][0]["kind"], "planning_failed",
        "{state}"
    );
    assert_eq!(state["stop"]["reason"], "queue_drained");
    repo.assert_untouched();
}

#[test]
fn a_failing_build_is_recorded_per_experiment() {
    let root = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let repo = instrumented_repo(root.path());
    let workdir = root.path().join("work");
    let mut args = new_run_args(&workdir, &repo);
    set_arg(
        &mut args,
        "--base-launch-command",
        format!("IMAGE=$IMAGE {}", launch_command()),
    );
    args.extend(
        [
            "--agent",
            "none",
            "--build-command",
            "echo compiling; echo 'no space left' >&2; exit 3",
        ]
        .map(str::to_owned),
    );
    let output = autoresearch(home.path(), None)
        .args(&args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let rows = table_rows(&workdir);
    assert_eq!(
        rows.len(),
        3,
        "the three seeds (MTP through the script's --mode flag)"
    );
    assert!(stderr.contains("stopped: the baseline failed"), "{stderr}");
    for row in &rows {
        assert_eq!(row["status"], "failed");
        assert!(row["notes"].starts_with("build_failed"), "{}", row["notes"]);
    }
    let err = std::fs::read_to_string(workdir.join("runs/000_baseline/build.stderr.log")).unwrap();
    assert_eq!(err.trim(), "no space left");
}

#[test]
fn three_experiments_prepare_at_once() {
    let root = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let repo = instrumented_repo(root.path());
    let workdir = root.path().join("work");
    let delay = Duration::from_secs(4);
    let edit = |search: &str, replace: &str| {
        Turn::Text(format!(
            "### train.py\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"
        ))
    };
    let step = "    parser.add_argument(\"--step-ms\", type=float, default=8.0)";
    let mut turns = vec![edit(
        "    parser.add_argument(\"--mode\", choices=[\"mt\", \"mtp\"], default=\"mt\")",
        "    parser.add_argument(\"--mode\", choices=[\"mt\", \"mtp\"], default=\"mtp\")",
    )];
    turns.extend((0..3).map(|_| analysis_turn("load stage", "Loading is the limit.")));
    let proposal = |name: &str| {
        json!({"name": name, "hypothesis": format!("{name} helps."), "changes": [name],
               "change_summary": name, "description": format!("Apply {name}."),
               "launch_args": {}, "base": null, "tags": []})
    };
    turns.push(plan_turn(
        "launch",
        json!([proposal("alpha"), proposal("beta"), proposal("gamma")]),
    ));
    turns.extend(
        (0..3).map(|_| Turn::Delay(delay, Box::new(edit(step, &step.replace("8.0", "7.0"))))),
    );
    turns.extend((0..3).map(|_| analysis_turn("load stage", "Loading is still the limit.")));
    let (_runtime, server) = server(turns);
    let mut args = new_run_args(&workdir, &repo);
    args.extend(
        [
            "--agent",
            "anthropic",
            "--max-concurrency",
            "3",
            "--max-iterations",
            "1",
        ]
        .map(str::to_owned),
    );
    let started = Instant::now();
    let stderr = run_ok(autoresearch(home.path(), Some(&server.url())), &args);
    assert_eq!(server.remaining(), 0, "{stderr}");
    let applies: Vec<Instant> = server
        .requests()
        .iter()
        .filter(|r| {
            r.body.to_string().contains("Apply alpha")
                || r.body.to_string().contains("Apply beta")
                || r.body.to_string().contains("Apply gamma")
        })
        .map(|r| r.received_at)
        .collect();
    assert_eq!(applies.len(), 3);
    let first = *applies.iter().min().unwrap();
    let last = *applies.iter().max().unwrap();
    // Each edit takes `delay`; one after another the last would start 2 × delay after
    // the first. Started together, they overlap.
    assert!(
        last - first < delay / 2,
        "the three edits did not overlap: {:?}",
        last - first
    );
    let rows = table_rows(&workdir);
    assert_eq!(rows.len(), 6, "{stderr}");
    assert!(rows.iter().all(|r| r["status"] == "completed"), "{rows:?}");
    eprintln!(
        "three delayed edits spanned {:?} of a {:?} run",
        last - first,
        started.elapsed()
    );
}

#[test]
fn an_mtp_change_that_fails_at_start_up_gets_a_repair() {
    let root = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let repo = instrumented_repo(root.path());
    let workdir = root.path().join("work");
    let checkouts = workdir.join("checkouts");
    let mtp = with_default(&repo.script, "--mode", "", "");
    let broken = mtp.replacen(
        "import time\n",
        "import time\nimport spdl_helpers_that_do_not_exist\n",
        1,
    );
    let mut turns = vec![
        analysis_turn("load stage", "One loader thread."),
        analysis_turn("load stage", "The floor is far below."),
    ];
    turns.extend(write_turns(
        &checkouts.join("002_mtp/train.py"),
        &broken,
        "Moved it, with a helper module.",
    ));
    turns.extend(write_turns(
        &checkouts.join("003_mtp_repair_1/train.py"),
        &mtp,
        "Dropped the missing import.",
    ));
    turns.push(analysis_turn("load stage", "The subprocess runs now."));
    turns.push(plan_turn("stop", json!([])));
    let (_runtime, server) = server(turns);
    let mut args = new_run_args(&workdir, &repo);
    args.extend(
        [
            "--agent",
            "claude-code",
            "--max-concurrency",
            "1",
            "--max-iterations",
            "1",
        ]
        .map(str::to_owned),
    );
    let stderr = run_ok(autoresearch(home.path(), Some(&server.url())), &args);
    assert_eq!(server.remaining(), 0, "{stderr}");
    let failure = json_file(&workdir.join("engine/nodes/002_mtp/failure.json"));
    assert_eq!(failure["kind"], "job_startup_failed", "{failure}");
    assert!(
        failure["details"]["log_tail"]
            .as_str()
            .unwrap()
            .contains("spdl_helpers_that_do_not_exist")
    );
    let repair_prompt = server
        .requests()
        .iter()
        .map(|r| r.body.to_string())
        .find(|b| b.contains("Repair attempt 1"))
        .expect("the repair call carries the failure");
    assert!(
        repair_prompt.contains("No module named"),
        "the log tail reaches the agent"
    );
    assert_eq!(node_status(&workdir, "003_mtp_repair_1"), "completed");
    let spec = json_file(&workdir.join("engine/nodes/003_mtp_repair_1/spec.json"));
    assert_eq!(spec["kind"], "repair");
    assert_eq!(spec["of_node"], "002_mtp");
    let state = json_file(&workdir.join("state.json"));
    assert!(
        state["practices_tried"]
            .as_array()
            .unwrap()
            .contains(&json!("mtp"))
    );
}

#[test]
fn a_job_that_stops_printing_is_cancelled_as_stalled() {
    let root = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let repo = instrumented_repo(root.path());
    let workdir = root.path().join("work");
    let mut args = new_run_args(&workdir, &repo);
    // Prints nothing the probe would, and never ends.
    set_arg(
        &mut args,
        "--base-launch-command",
        "echo starting; exec sleep 613 # $SCRIPT",
    );
    set_arg(&mut args, "--job-timeout", "10");
    args.extend(["--agent", "none", "--max-concurrency", "2"].map(str::to_owned));
    let started = Instant::now();
    let output = autoresearch(home.path(), None)
        .args(&args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(120), "{stderr}");
    let rows = table_rows(&workdir);
    assert_eq!(rows.len(), 3, "the three seeds");
    assert!(stderr.contains("stopped: the baseline failed"), "{stderr}");
    for row in &rows {
        assert_eq!(row["status"], "failed");
        assert!(
            row["notes"]
                .starts_with("job_stalled: the job ended cancelled (no new probe line for 10 s"),
            "{}",
            row["notes"]
        );
    }
    let sleeping = std::process::Command::new("pgrep")
        .args(["-f", "sleep 613"])
        .output()
        .unwrap();
    assert!(sleeping.stdout.is_empty(), "the stalled jobs were killed");
}
