//! A shortened `autoresearch demo`: the built-in instrumenter and planner on the real
//! SPDL demo job must find a real speedup (a ratio with a wide margin, not a time limit).

use std::time::Duration;

use crate::support::*;

#[test]
fn a_short_demo_finds_a_real_speedup_without_an_agent() {
    let root = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let dir = root.path().join("demo");
    let _ = python();
    // A relative --venv, as a user types it: the jobs run in other folders.
    let child = autoresearch(home.path(), None)
        .current_dir(repo_root())
        .args([
            "demo",
            "--dir",
            &dir.display().to_string(),
            "--venv",
            ".venv",
        ])
        .args(["--steps", "60", "--max-experiments", "8", "--agent", "none"])
        .spawn()
        .unwrap();
    let output = finish(child, Duration::from_secs(600));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("built-in instrumenter"), "{stderr}");
    assert!(stdout.contains("== autoresearch demo =="), "{stdout}");
    let work = dir.join("work");
    for file in [
        "report.md",
        "master_table.tsv",
        "hypothesis_tree.png",
        "progress.png",
    ] {
        assert!(work.join(file).is_file(), "{file}");
    }
    let state = json_file(&work.join("state.json"));
    let best = state["current_best"].as_str().unwrap();
    let per_sample = |id: &str| {
        let s = json_file(&work.join("runs").join(id).join("summary.json"));
        s["step_time"]["value"]["median_ms"].as_f64().unwrap() / s["batch_size"].as_f64().unwrap()
    };
    let ratio = per_sample(best) / per_sample("000_baseline");
    assert!(
        ratio < 0.6,
        "the demo's mis-tuning is worth well over 1.5×; found {ratio:.2}\n{stderr}"
    );
    let rows = table_rows(&work);
    assert!(
        rows.len() >= 4 && rows.len() <= 8,
        "{} experiments",
        rows.len()
    );
}
