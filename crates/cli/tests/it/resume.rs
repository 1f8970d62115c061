//! Ctrl+C at the worst moments, then resume: while a job runs, and while an analysis
//! call is in flight. Nothing is lost, duplicated or launched twice.

use std::time::Duration;

use autoresearch_llm_client::testing::Turn;
use serde_json::json;

use crate::support::*;

#[test]
fn sigint_during_a_job_and_during_an_analysis_then_resume_finishes_once() {
    let root = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let repo = UserRepo::create(root.path());
    let workdir = root.path().join("work");
    let checkouts = workdir.join("checkouts");
    let base = instrumented(&repo.script);
    let mut turns = write_turns(
        &checkouts.join("_setup/train.py"),
        &base,
        "Wrapped the loop.",
    );
    // The first analysis hangs; the run is interrupted while it is in flight.
    turns.push(Turn::Delay(
        Duration::from_secs(60),
        Box::new(analysis_turn("load stage", "never delivered")),
    ));
    turns.push(analysis_turn(
        "load stage",
        "One loader thread is the limit.",
    ));
    turns.push(analysis_turn("load stage", "The floor is far below."));
    turns.extend(write_turns(
        &checkouts.join("002_mtp/train.py"),
        &with_default(&base, "--mode", "", ""),
        "Moved the pipeline into a subprocess.",
    ));
    turns.push(analysis_turn("load stage", "Still one loader thread."));
    turns.push(plan_turn("stop", json!([])));
    let (_runtime, server) = server(turns);
    let mut args = new_run_args(&workdir, &repo);
    // Slow steps keep the baseline running long enough to interrupt it; slower loading
    // keeps it data-bound, far from the floor.
    let launch = format!(
        "{} $SCRIPT --steps 60 --step-ms 40 --load-ms 15",
        python().display()
    );
    set_arg(&mut args, "--base-launch-command", launch);
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
    let start = |args: &[String]| {
        autoresearch(home.path(), Some(&server.url()))
            .args(args)
            .spawn()
            .unwrap()
    };

    // 1. Interrupted while the baseline's job runs.
    let child = start(&args);
    wait_until("the baseline to run", Duration::from_secs(120), || {
        node_status(&workdir, "000_baseline") == "running"
    });
    std::thread::sleep(Duration::from_millis(300));
    interrupt(&child);
    let output = finish(child, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("resume with `autoresearch run"), "{stderr}");
    assert_eq!(node_status(&workdir, "000_baseline"), "running");
    assert_eq!(
        json_file(&workdir.join("engine/engine_state.json"))["status"],
        "interrupted"
    );
    let checkpoint = json_file(&workdir.join("engine/checkpoint.json"));
    assert_eq!(checkpoint["status"], "interrupted");

    // 2. Resumed: the job is re-attached, not relaunched; interrupted again while its
    //    analysis is in flight.
    let resume = vec!["run".to_owned(), workdir.display().to_string()];
    let child = start(&resume);
    wait_until("the analysis request", Duration::from_secs(120), || {
        server.requests().len() >= 3
    });
    interrupt(&child);
    let output = finish(child, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("re-attached to job ar-") && stderr.contains("-000_baseline-1"),
        "{stderr}"
    );
    assert_eq!(node_status(&workdir, "000_baseline"), "analyzing");
    assert_eq!(
        table_rows(&workdir).len(),
        0,
        "nothing was recorded before the analysis ended"
    );

    // 3. Resumed to the end.
    let child = start(&resume);
    let output = finish(child, Duration::from_secs(300));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(server.remaining(), 0, "{stderr}");
    let rows = table_rows(&workdir);
    let ids: Vec<&str> = rows.iter().map(|r| r["run_id"].as_str()).collect();
    assert_eq!(ids, ["000_baseline", "001_headspace", "002_mtp"]);
    let tree = json_file(&workdir.join("engine/tree.json"));
    assert_eq!(tree.as_array().unwrap().len(), 3, "the same node set");
    for id in ids {
        let log =
            std::fs::read_to_string(workdir.join("runs").join(id).join("job/stdout.log")).unwrap();
        let starts = log.matches("\"event\":\"start\"").count();
        assert_eq!(starts, 1, "{id}'s job was launched exactly once");
    }
    let jobs = std::fs::read_dir(workdir.join("jobs")).unwrap().count();
    assert_eq!(jobs, 3, "one job per experiment");
    let state = json_file(&workdir.join("state.json"));
    assert_eq!(state["history"].as_array().unwrap().len(), 3);
    assert_eq!(state["status"], "stopped");
    repo.assert_untouched();
}
