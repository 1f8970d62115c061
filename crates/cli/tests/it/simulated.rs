//! The simulator (`fixtures/sim/sim.py`) as the fast path: a long run through the real
//! engine in seconds, with the built-in planner.

use std::process::Stdio;
use std::time::Duration;

use crate::support::*;

#[test]
fn a_hundred_simulated_experiments_run_through_the_engine() {
    let root = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let repo = root.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::copy(
        repo_root().join("fixtures/sim/sim.py"),
        repo.join("train.py"),
    )
    .unwrap();
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "sim"]);
    let scenario = repo_root().join("fixtures/sim/scenarios/fetch_bound.json");
    let workdir = root.path().join("work");
    let launch = format!(
        "python3 $SCRIPT --scenario {} --steps 60",
        scenario.display()
    );
    let child = autoresearch(home.path(), None)
        .env("AUTORESEARCH_POLL_MS", "30")
        .args(["run", &workdir.display().to_string()])
        .args([
            "--pipeline-script",
            &repo.join("train.py").display().to_string(),
        ])
        .args([
            "--source-dir",
            &repo.display().to_string(),
            "--base-launch-command",
            &launch,
        ])
        .args([
            "--agent",
            "none",
            "--skip-instrument",
            "--max-experiments",
            "100",
            "--max-concurrency",
            "3",
        ])
        .args([
            "--patience",
            "200",
            "--max-iterations",
            "500",
            "--floor-stop-pct",
            "0",
            "--job-timeout",
            "60",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = finish(child, Duration::from_secs(900));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let rows = table_rows(&workdir);
    let ids: std::collections::BTreeSet<&str> = rows.iter().map(|r| r["run_id"].as_str()).collect();
    assert_eq!(ids.len(), rows.len(), "one row per experiment");
    // The planner may run out of untried configurations before the budget.
    assert!(rows.len() >= 60, "{} experiments\n{stderr}", rows.len());
    // The planner gets close to the scenario's optimum (1.20 ms per sample; the default
    // is 21× slower).
    let state = json_file(&workdir.join("state.json"));
    let best = state["current_best"].as_str().unwrap();
    let log =
        std::fs::read_to_string(workdir.join("runs").join(best).join("job/stdout.log")).unwrap();
    let true_ms: f64 = log
        .lines()
        .find_map(|l| l.strip_prefix("[sim] true_per_sample_ms="))
        .unwrap()
        .parse()
        .unwrap();
    let optimum = json_file(&scenario)["optimum"]["per_sample_ms"]
        .as_f64()
        .unwrap();
    assert!(
        true_ms <= optimum * 1.25,
        "best {best} at {true_ms} against the optimum {optimum}\n{stderr}"
    );
}
