//! The simulator (`fixtures/sim/sim.py`) as the fast path: long runs through the real
//! engine in seconds, with the built-in planner.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::support::*;

/// A git repository holding the simulator as `train.py`.
pub(crate) fn sim_repo(root: &Path) -> PathBuf {
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::copy(
        repo_root().join("fixtures/sim/sim.py"),
        repo.join("train.py"),
    )
    .unwrap();
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "sim"]);
    repo
}

/// Runs the engine with the built-in planner on `scenario` until `experiments` ran.
fn simulate(root: &Path, scenario: &Path, experiments: u32, concurrency: u32) -> Output {
    simulate_with(root, scenario, experiments, concurrency, &[])
}

/// [`simulate`] with `extra` flags after the others (a later value of a flag wins).
pub(crate) fn simulate_with(
    root: &Path,
    scenario: &Path,
    experiments: u32,
    concurrency: u32,
    extra: &[&str],
) -> Output {
    let home = root.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let repo = sim_repo(root);
    let workdir = root.join("work");
    let launch = format!(
        "python3 $SCRIPT --scenario {} --steps 60",
        scenario.display()
    );
    let child = autoresearch(&home, None)
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
        .args(["--agent", "none", "--skip-instrument"])
        .args(["--max-experiments", &experiments.to_string()])
        .args(["--max-concurrency", &concurrency.to_string()])
        .args([
            "--patience",
            "200",
            "--max-iterations",
            "500",
            "--floor-stop-pct",
            "0",
            "--min-improvement-pct",
            "1",
            "--job-timeout",
            "60",
        ])
        .args(extra)
        .spawn()
        .unwrap();
    finish(child, Duration::from_secs(900))
}

/// The noise-free time per sample of run `id`'s configuration (the simulator prints it
/// for tests; the engine never reads it).
pub(crate) fn true_per_sample_ms(workdir: &Path, id: &str) -> Option<f64> {
    let log = std::fs::read_to_string(workdir.join("runs").join(id).join("job/stdout.log")).ok()?;
    log.lines()
        .find_map(|l| l.strip_prefix("[sim] true_per_sample_ms="))?
        .parse()
        .ok()
}

fn optimum_of(scenario: &Path) -> f64 {
    json_file(scenario)["optimum"]["per_sample_ms"]
        .as_f64()
        .unwrap()
}

#[test]
fn a_hundred_simulated_experiments_run_through_the_engine() {
    let root = tempfile::tempdir().unwrap();
    let scenario = repo_root().join("fixtures/sim/scenarios/fetch_bound.json");
    let output = simulate(root.path(), &scenario, 100, 3);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let workdir = root.path().join("work");
    let rows = table_rows(&workdir);
    let ids: std::collections::BTreeSet<&str> = rows.iter().map(|r| r["run_id"].as_str()).collect();
    assert_eq!(ids.len(), rows.len(), "one row per experiment");
    // The planner may run out of untried configurations before the budget.
    assert!(rows.len() >= 60, "{} experiments\n{stderr}", rows.len());
    // The planner gets close to the scenario's optimum (1.20 ms per sample; the default
    // is 21× slower).
    let state = json_file(&workdir.join("state.json"));
    let best = state["current_best"].as_str().unwrap();
    let true_ms = true_per_sample_ms(&workdir, best).unwrap();
    let optimum = optimum_of(&scenario);
    assert!(
        true_ms <= optimum * 1.25,
        "best {best} at {true_ms} against the optimum {optimum}\n{stderr}"
    );
}

/// Experiments (the seeds and the baseline's repeat included) within which the built-in planner must come
/// within 5% of every scenario's optimum, one at a time. `cargo xtask bench search`
/// measures the median; this guards the worst case against regressions.
const FEW_EXPERIMENTS: u32 = 8;

#[test]
fn the_built_in_planner_reaches_every_scenarios_optimum_in_a_few_experiments() {
    let scenarios = repo_root().join("fixtures/sim/scenarios");
    let mut misses = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&scenarios)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    for scenario in files {
        let root = tempfile::tempdir().unwrap();
        let output = simulate(root.path(), &scenario, FEW_EXPERIMENTS, 1);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{stderr}");
        let workdir = root.path().join("work");
        let rows = table_rows(&workdir);
        assert_eq!(rows.len(), FEW_EXPERIMENTS as usize, "{stderr}");
        let best = rows
            .iter()
            .filter(|r| r["name"] != "headspace")
            .filter_map(|r| true_per_sample_ms(&workdir, &r["run_id"]))
            .fold(f64::INFINITY, f64::min);
        let optimum = optimum_of(&scenario);
        // The engine must also have kept it (or one as good) as its best.
        let state = json_file(&workdir.join("state.json"));
        let kept = state["current_best"]
            .as_str()
            .and_then(|id| true_per_sample_ms(&workdir, id))
            .unwrap_or(f64::INFINITY);
        if best > optimum * 1.05 || kept > optimum * 1.05 {
            misses.push(format!(
                "{}: best run {best:.3}, kept best {kept:.3} ms per sample against the optimum {optimum:.3}\n{}",
                scenario.display(),
                std::fs::read_to_string(workdir.join("summary.md")).unwrap_or_default()
            ));
        }
    }
    assert!(misses.is_empty(), "{}", misses.join("\n\n"));
}
