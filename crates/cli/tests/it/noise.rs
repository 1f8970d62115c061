//! Noise between runs, through the real engine on the simulator: a high baseline does not
//! make a change that does nothing look like a win, a real win is kept after at most one
//! repeat, and σ_between survives a resume.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::simulated::{simulate_with, true_per_sample_ms};
use crate::support::*;

/// A copy of the simulator scenario `name` (in `fixtures/sim/noise/`) with `edit` applied.
fn scenario(root: &Path, name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let mut s = json_file(&repo_root().join(format!("fixtures/sim/noise/{name}.json")));
    edit(&mut s);
    let path = root.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(&s).unwrap()).unwrap();
    path
}

/// The nodes of `workdir`'s tree by id.
fn nodes(workdir: &Path) -> Vec<Value> {
    json_file(&workdir.join("engine/tree.json"))
        .as_array()
        .unwrap()
        .clone()
}

fn kind(node: &Value) -> &str {
    node["spec"]["kind"].as_str().unwrap_or_default()
}

/// Candidates (the subprocess seed and planned experiments) that were kept as a best.
fn kept_candidates(workdir: &Path) -> Vec<String> {
    nodes(workdir)
        .iter()
        .filter(|n| matches!(kind(n), "mtp" | "planned") && n["improved"] == true)
        .map(|n| n["node_id"].as_str().unwrap().to_owned())
        .collect()
}

/// The A/A job whose baseline run is 4% slow: one unlucky launch.
fn outlier_baseline(root: &Path) -> PathBuf {
    scenario(root, "aa", |s| {
        s["between_run_pct"] = 0.0.into();
        s["run_factors"] = serde_json::json!({ "000_baseline": 1.04 });
    })
}

#[test]
fn an_outlier_baseline_does_not_make_a_change_that_does_nothing_a_win() {
    let root = tempfile::tempdir().unwrap();
    let output = simulate_with(root.path(), &outlier_baseline(root.path()), 8, 1, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let workdir = root.path().join("work");
    let summary = std::fs::read_to_string(workdir.join("summary.md")).unwrap();
    assert_eq!(kept_candidates(&workdir), Vec::<String>::new(), "{summary}");
    let state = json_file(&workdir.join("state.json"));
    let best = state["current_best"].as_str().unwrap();
    assert!(
        ["000_baseline", "003_baseline_repeat_1"].contains(&best),
        "the best is still the baseline's configuration: {best}\n{summary}"
    );
    // The baseline's two runs measured the spread: about 2% each side of their mean.
    let noise = &state["noise"];
    assert!(noise["measured_dof"].as_u64().unwrap() >= 1, "{noise}");
    assert!(noise["sigma_pct"].as_f64().unwrap() > 1.5, "{noise}");
    assert!(
        summary.contains("Noise between runs: σ_between") && summary.contains("repeated run"),
        "{summary}"
    );
    // The repeat shows in the table as one, and it cost a slot of the budget.
    let rows = table_rows(&workdir);
    assert_eq!(rows.len(), 8);
    let repeat = rows
        .iter()
        .find(|r| r["run_id"] == "003_baseline_repeat_1")
        .expect("the baseline's repeat ran");
    assert!(
        repeat["notes"].contains("repeat of 000_baseline"),
        "{repeat:?}"
    );
    // Every comparison says what bar it was judged by.
    let analysis =
        std::fs::read_to_string(workdir.join("runs/002_mtp/analysis.md")).unwrap_or_default();
    assert!(
        analysis.contains("2 runs together") && analysis.contains("σ_between"),
        "{analysis}"
    );
}

#[test]
fn without_the_baseline_repeat_the_same_outlier_is_beaten_by_nothing() {
    // The control of the test above: the same job with one baseline run keeps a change
    // that does nothing, which is why the repeat is on by default.
    let root = tempfile::tempdir().unwrap();
    let output = simulate_with(
        root.path(),
        &outlier_baseline(root.path()),
        8,
        1,
        &["--baseline-repeats", "1"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let workdir = root.path().join("work");
    let kept = kept_candidates(&workdir);
    assert!(
        !kept.is_empty(),
        "a 4% outlier beats the prior's bar of 3%\n{}",
        std::fs::read_to_string(workdir.join("summary.md")).unwrap()
    );
    for id in &kept {
        let t = true_per_sample_ms(&workdir, id).unwrap();
        assert!((t - 2.5).abs() < 1e-9, "{id} has no true effect: {t}");
    }
}

#[test]
fn a_real_ten_percent_win_is_kept_after_at_most_one_repeat() {
    let root = tempfile::tempdir().unwrap();
    let job = scenario(root.path(), "effect_10", |_| {});
    let output = simulate_with(root.path(), &job, 6, 1, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let workdir = root.path().join("work");
    let all = nodes(&workdir);
    let mtp = all
        .iter()
        .find(|n| kind(n) == "mtp")
        .expect("the subprocess seed");
    let id = mtp["node_id"].as_str().unwrap();
    assert_eq!(mtp["improved"], true, "{stderr}");
    let confirmations = all
        .iter()
        .filter(|n| kind(n) == "confirm" && n["spec"]["of_node"] == id)
        .count();
    assert!(confirmations <= 1, "{confirmations} repeats of {id}");
    let state = json_file(&workdir.join("state.json"));
    let best = state["current_best"].as_str().unwrap();
    let t = true_per_sample_ms(&workdir, best).unwrap();
    assert!(
        t < 2.5 * 0.91,
        "the kept best is the faster configuration: {best} at {t}"
    );
}

#[test]
fn a_resumed_run_keeps_its_noise_between_runs() {
    let root = tempfile::tempdir().unwrap();
    let job = scenario(root.path(), "aa", |_| {});
    let output = simulate_with(root.path(), &job, 4, 1, &[]);
    assert_eq!(output.status.code(), Some(0));
    let workdir = root.path().join("work");
    let before = json_file(&workdir.join("state.json"))["noise"].clone();
    assert_eq!(before["measured_dof"], 1, "{before}");
    // The engine that resumes reads the noise it left, then adds to it.
    let home = root.path().join("home");
    let resumed = autoresearch(&home, None)
        .env("AUTORESEARCH_POLL_MS", "30")
        .args(["run", &workdir.display().to_string()])
        .args(["--max-experiments", "6", "--update-config"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert_eq!(resumed.status.code(), Some(0), "{stderr}");
    let after = json_file(&workdir.join("state.json"))["noise"].clone();
    assert!(
        after["measured_dof"].as_u64().unwrap() >= 1,
        "{before} → {after}"
    );
    // The first experiment after the resume was judged with the measured σ, not the prior.
    let first_after = nodes(&workdir)
        .iter()
        .filter(|n| n["launch_order"].as_u64().is_some_and(|o| o == 5))
        .map(|n| n["node_id"].as_str().unwrap().to_owned())
        .next()
        .unwrap_or_else(|| panic!("a fifth experiment ran\n{stderr}"));
    let analysis =
        std::fs::read_to_string(workdir.join(format!("runs/{first_after}/analysis.md"))).unwrap();
    assert!(
        analysis.contains("repeated run") && !analysis.contains("a prior, as no configuration"),
        "{analysis}"
    );
}
