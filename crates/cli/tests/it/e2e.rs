//! The whole loop end to end: the real `autoresearch` binary, the real Claude Code CLI
//! driven by a scripted Messages API server, real SPDL jobs on the local platform, and
//! a real git repository that must come out untouched.

use std::time::Duration;

use serde_json::json;

use crate::support::*;

#[test]
fn a_scripted_agent_instruments_runs_seeds_plans_and_stops() {
    let root = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let repo = UserRepo::create(root.path());
    let workdir = root.path().join("work");
    let checkouts = workdir.join("checkouts");
    let base = instrumented(&repo.script);
    let mut turns = Vec::new();
    // Set-up: the agent wraps the loop with the probe.
    turns.extend(write_turns(
        &checkouts.join("_setup/train.py"),
        &base,
        "Wrapped the training loop with probe.track.",
    ));
    // Seeds: baseline and headspace need no agent; each gets an analysis.
    turns.push(analysis_turn(
        "load stage",
        "One loader thread cannot keep up with the step.",
    ));
    turns.push(analysis_turn(
        "load stage",
        "The compute-only floor is far below the baseline.",
    ));
    // The MTP seed: a code change in its own checkout, then its analysis.
    turns.extend(write_turns(
        &checkouts.join("002_mtp/train.py"),
        &with_default(&base, "--mode", "", ""),
        "Moved the pipeline into a subprocess.",
    ));
    turns.push(analysis_turn(
        "load stage",
        "The subprocess does not add loader threads.",
    ));
    // Round 1 (after the last seed): one code change, one launch flag.
    turns.push(plan_turn(
        "launch",
        json!([
            {"name": "work concurrency 2", "hypothesis": "A second work thread shortens the wait.",
             "changes": ["work_concurrency=2"], "change_summary": "work concurrency 2",
             "description": "Set the default of --work-concurrency to 2.", "launch_args": {},
             "base": null, "tags": ["concurrency_tuning"]},
            {"name": "load_concurrency_8", "hypothesis": "Eight loader threads keep the sink full.",
             "changes": ["load_concurrency=8"], "change_summary": "load concurrency 8",
             "description": "", "launch_args": {"--load-concurrency": "8"},
             "base": null, "tags": ["concurrency_tuning"]},
            {"name": "load_concurrency_8_again", "hypothesis": "Same as the one before.",
             "changes": ["load_concurrency=8"], "launch_args": {"--load-concurrency": "8"},
             "base": null, "tags": []}
        ]),
    ));
    turns.extend(write_turns(
        &checkouts.join("003_work_concurrency_2/train.py"),
        &with_default(&base, "--work-concurrency", "1", "2"),
        "Raised the work concurrency.",
    ));
    turns.push(analysis_turn(
        "load stage",
        "Work concurrency is not the limit.",
    ));
    // Round 2: the planner has nothing more.
    turns.push(plan_turn("stop", json!([])));
    turns.push(analysis_turn(
        "training step",
        "Eight loader threads reach the floor.",
    ));
    // Round 3 is past --max-iterations 2: the run stops without asking.
    let (_runtime, server) = server(turns);

    let mut args = new_run_args(&workdir, &repo);
    args.extend(
        [
            "--agent",
            "claude-code",
            "--max-concurrency",
            "1",
            "--max-iterations",
            "2",
            "--patience",
            "5",
        ]
        .map(str::to_owned),
    );
    let child = autoresearch(home.path(), Some(&server.url()))
        .args(&args)
        .spawn()
        .unwrap();
    let output = finish(child, Duration::from_secs(300));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr:\n{stderr}");
    assert_eq!(
        server.remaining(),
        0,
        "every scripted turn was used\nstderr:\n{stderr}"
    );
    // Round 3 stops: past --max-iterations, unless the best already sits on the floor.
    assert!(
        stderr.contains("stopped: the limit of 2 planning rounds")
            || stderr.contains("stopped: the best"),
        "{stderr}"
    );
    assert!(
        stderr.contains("dropped proposal load_concurrency_8_again"),
        "duplicates are dropped: {stderr}"
    );

    // Every file of the layout is there.
    for file in [
        "config.json",
        "state.json",
        "master_table.tsv",
        "summary.md",
        "findings.md",
        "progress.png",
        "hypothesis_tree.png",
        "pipeline.py",
        "engine/checkpoint.json",
        "engine/engine_state.json",
        "engine/tree.json",
        "engine/queue.json",
        "engine/active.json",
        "logs/autoresearch.log",
    ] {
        assert!(workdir.join(file).is_file(), "{file} is missing");
    }
    let ids = [
        "000_baseline",
        "001_headspace",
        "002_mtp",
        "003_work_concurrency_2",
        "004_load_concurrency_8",
    ];
    for id in ids {
        assert_eq!(node_status(&workdir, id), "completed", "{id}");
        for file in ["spec.json", "status.txt", "result.json", "node.json"] {
            assert!(
                workdir.join("engine/nodes").join(id).join(file).is_file(),
                "{id}/{file}"
            );
        }
        assert!(
            workdir.join("runs").join(id).join("analysis.md").is_file(),
            "{id} analysis"
        );
        assert!(
            workdir
                .join("runs")
                .join(id)
                .join("metrics/summary.json")
                .is_file(),
            "{id} metrics"
        );
    }
    let prompts = std::fs::read_dir(workdir.join("logs"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("_prompt.md"))
        .count();
    assert_eq!(
        prompts, 10,
        "1 instrumentation + 2 edits + 5 analyses + 2 plans"
    );

    // The table: one row per experiment, numbers equal to the computed summaries.
    let rows = table_rows(&workdir);
    let run_ids: Vec<&str> = rows.iter().map(|r| r["run_id"].as_str()).collect();
    assert_eq!(run_ids, ids);
    for row in &rows {
        let summary = json_file(
            &workdir
                .join("runs")
                .join(&row["run_id"])
                .join("summary.json"),
        );
        let median = summary["step_time"]["value"]["median_ms"].as_f64().unwrap();
        let in_table: f64 = row["steady_step_time_ms"].parse().unwrap();
        assert!(
            (median - in_table).abs() < 1e-3,
            "{}: {median} vs {in_table}",
            row["run_id"]
        );
        let throughput = summary["throughput_samples_per_s"]["value"]
            .as_f64()
            .unwrap();
        let in_table: f64 = row["throughput_samples_per_s"].parse().unwrap();
        assert!((throughput - in_table).abs() < 1e-3);
        assert_eq!(row["status"], "completed");
    }
    assert_eq!(rows[4]["changes"], "load_concurrency=8");

    // The experiments ran what they said.
    let command =
        std::fs::read_to_string(workdir.join("runs/004_load_concurrency_8/command.txt")).unwrap();
    assert!(command.contains("--load-concurrency 8"), "{command}");
    let changed =
        std::fs::read_to_string(checkouts.join("003_work_concurrency_2/train.py")).unwrap();
    assert!(
        changed.contains("default=2)"),
        "the agent's edit is in the experiment's checkout"
    );
    let diff =
        std::fs::read_to_string(workdir.join("runs/003_work_concurrency_2/diff.patch")).unwrap();
    assert!(
        diff.contains("+    parser.add_argument(\"--work-concurrency\", type=int, default=2)"),
        "{diff}"
    );

    // State: the baseline is slower than the loader fix, beyond noise.
    let state = json_file(&workdir.join("state.json"));
    assert_eq!(state["status"], "stopped");
    let reason = state["stop"]["reason"].as_str().unwrap();
    assert!(
        ["max_iterations", "near_floor"].contains(&reason),
        "{reason}"
    );
    assert!(state["floor_ms"].as_f64().unwrap() > 0.0);
    let baseline: f64 = rows[0]["steady_step_time_ms"].parse().unwrap();
    let best = state["best_step_ms"].as_f64().unwrap();
    assert!(
        best < baseline * 0.8,
        "eight loader threads are clearly faster: {best} vs {baseline}"
    );
    assert_eq!(state["current_best"], "004_load_concurrency_8");
    let engine_state = json_file(&workdir.join("engine/engine_state.json"));
    assert_eq!(engine_state["status"], "stopped");
    assert_eq!(engine_state["completed"], 5);
    let findings = std::fs::read_to_string(workdir.join("findings.md")).unwrap();
    assert!(
        findings.contains("[002_mtp] The subprocess does not add loader threads."),
        "{findings}"
    );

    // The status and report commands read it back.
    let status = autoresearch(home.path(), None)
        .args(["status", &workdir.display().to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("best:        004_load_concurrency_8"),
        "{text}"
    );
    let report = autoresearch(home.path(), None)
        .args(["report", &workdir.display().to_string(), "--no-agent"])
        .output()
        .unwrap();
    assert_eq!(report.status.code(), Some(0));
    let report = std::fs::read_to_string(workdir.join("report.md")).unwrap();
    assert!(
        report.contains("004_load_concurrency_8: load concurrency 8"),
        "{report}"
    );

    repo.assert_untouched();
}
