//! Jobs with several ranks, through the real engine and real processes: a local launcher
//! (fixtures/launch_ranks.py) starts three ranks of a real SPDL job, one of them slowed;
//! the summary names it, the job's step follows it, and a change that speeds up only the
//! other ranks is not kept. `inspect` reads a log several writers tore.

use std::path::Path;

use serde_json::Value;

use crate::support::*;

/// A repository with the multi-rank job and the launcher.
fn ranks_repo(root: &Path) -> std::path::PathBuf {
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::copy(
        repo_root().join("fixtures/multiwriter/job.py"),
        repo.join("train.py"),
    )
    .unwrap();
    std::fs::copy(
        repo_root().join("fixtures/launch_ranks.py"),
        repo.join("launch_ranks.py"),
    )
    .unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "a job with three ranks"]);
    repo
}

fn summary_of(workdir: &Path, id: &str) -> Value {
    json_file(&workdir.join("runs").join(id).join("summary.json"))
}

fn rank_median(summary: &Value, rank: u64) -> f64 {
    summary["ranks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rank"] == rank)
        .unwrap()["step_time"]["value"]["median_ms"]
        .as_f64()
        .unwrap()
}

#[test]
fn the_slowest_rank_sets_the_pace_and_a_change_that_helps_only_the_others_is_not_kept() {
    let root = tempfile::tempdir().unwrap();
    let repo = ranks_repo(root.path());
    let workdir = root.path().join("work");
    let python = python().display().to_string();
    let launch = format!(
        "{python} launch_ranks.py --nproc 3 -- {python} $SCRIPT --steps 80 --slow-rank 1 --slow-ms 30 --decode-concurrency 1"
    );
    let mut args: Vec<String> = [
        "run",
        workdir.to_str().unwrap(),
        "--pipeline-script",
        repo.join("train.py").to_str().unwrap(),
        "--source-dir",
        repo.to_str().unwrap(),
        "--base-launch-command",
        &launch,
        "--agent",
        "none",
        "--max-experiments",
        "2",
        "--baseline-repeats",
        "1",
        "--poll-interval",
        "1",
        "--job-timeout",
        "120",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    run_ok(autoresearch(root.path(), None), &args);

    // The baseline: three ranks, rank 1 (30 ms a step more) sets the pace.
    let baseline = summary_of(&workdir, "000_baseline");
    assert_eq!(baseline["ranks"].as_array().unwrap().len(), 3, "{baseline}");
    let slowest = baseline["slowest_rank"].as_u64().unwrap() as usize;
    assert_eq!(baseline["ranks"][slowest]["rank"], 1);
    let job_step = baseline["step_time"]["value"]["median_ms"]
        .as_f64()
        .unwrap();
    assert_eq!(job_step, rank_median(&baseline, 1));
    assert!(job_step > 30.0, "{job_step}");
    assert!(baseline["imbalance"]["value"].as_f64().unwrap() > 1.5);
    let analysis = std::fs::read_to_string(workdir.join("runs/000_baseline/analysis.md")).unwrap();
    assert!(
        analysis.contains("the slowest, rank 1, sets the job's pace"),
        "{analysis}"
    );

    // More decode threads: the loader-bound ranks 0 and 2 get much faster, rank 1 not.
    let queued = autoresearch(root.path(), None)
        .args([
            "queue",
            workdir.to_str().unwrap(),
            "add",
            "--name",
            "more_decode",
        ])
        .args([
            "--launch-arg=--decode-concurrency=4",
            "--base",
            "000_baseline",
        ])
        .args(["--priority", "-5"])
        .output()
        .unwrap();
    assert!(queued.status.success(), "{queued:?}");
    args = vec![
        "run".into(),
        workdir.display().to_string(),
        "--max-experiments".into(),
        "3".into(),
        "--update-config".into(),
    ];
    run_ok(autoresearch(root.path(), None), &args);
    let candidate = summary_of(&workdir, "002_more_decode");
    for fast in [0, 2] {
        assert!(
            rank_median(&candidate, fast) < 0.7 * rank_median(&baseline, fast),
            "rank {fast} did not get faster: {candidate}"
        );
    }
    let state = json_file(&workdir.join("state.json"));
    assert_eq!(state["current_best"], "000_baseline", "{state}");
    let tree = json_file(&workdir.join("engine/tree.json"));
    let node = tree
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node_id"] == "002_more_decode")
        .unwrap();
    assert_ne!(node["improved"], true, "{node}");
}

#[test]
fn inspect_reads_a_log_torn_by_several_writers() {
    let root = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(python())
        .arg(repo_root().join("fixtures/multiwriter/make_log.py"))
        .args(["--out", root.path().to_str().unwrap(), "--jobs", "2"])
        .args(["--steps", "150", "--slow-ms", "20", "--slow-rank", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let log = root.path().join("shared.log");
    let text = autoresearch(root.path(), None)
        .args(["inspect", log.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&text.stderr)
    );
    assert!(
        stdout.contains("The job steps at rank 1's pace"),
        "{stdout}"
    );
    assert!(stdout.contains("| rank 0 (fastest) |"), "{stdout}");
    assert!(stdout.contains("| rank 1 (slowest) |"), "{stdout}");
    let torn: u64 = stdout
        .split("torn lines dropped: ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .unwrap()
        .parse()
        .unwrap();
    let json = autoresearch(root.path(), None)
        .args(["inspect", "--json", log.to_str().unwrap()])
        .output()
        .unwrap();
    let summary: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(summary["torn_lines"], torn);
    assert_eq!(summary["ranks"].as_array().unwrap().len(), 2);

    // A missing file is a usage error that names it.
    let missing = autoresearch(root.path(), None)
        .args(["inspect", "/nonexistent/job.log"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/job.log"));
}

/// Fails with the fix when the suite's single-node Slurm cluster is not up.
fn require_slurm() {
    let state = std::process::Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    assert!(
        ["idle", "mix", "alloc", "comp"]
            .iter()
            .any(|s| state.starts_with(s)),
        "no Slurm cluster is up (sinfo says `{state}`): run `cargo xtask slurm up` as root \
         (`cargo xtask ci` does it)"
    );
}

/// A two-task Slurm job (`sbatch --ntasks=2`, the ranks started by `srun`): both ranks
/// are found from SLURM_PROCID, the slowed one sets the pace. A second run in a
/// re-created work directory has the same experiment ids and must get its own jobs.
#[test]
fn a_two_task_slurm_job_is_measured_per_rank() {
    require_slurm();
    let root = tempfile::tempdir().unwrap();
    let repo = ranks_repo(root.path());
    let workdir = root.path().join("work");
    let python = python().display().to_string();
    let args: Vec<String> = [
        "run",
        workdir.to_str().unwrap(),
        "--pipeline-script",
        repo.join("train.py").to_str().unwrap(),
        "--source-dir",
        repo.to_str().unwrap(),
        "--base-launch-command",
        &format!("srun {python} $SCRIPT --steps 80 --slow-rank 1 --slow-ms 20"),
        "--platform",
        "slurm",
        "--sbatch-arg=--ntasks=2",
        "--agent",
        "none",
        "--max-experiments",
        "1",
        "--baseline-repeats",
        "1",
        "--poll-interval",
        "1",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for attempt in 0..2 {
        let _ = std::fs::remove_dir_all(&workdir);
        run_ok(autoresearch(root.path(), None), &args);
        let baseline = summary_of(&workdir, "000_baseline");
        let ranks: Vec<&Value> = baseline["ranks"].as_array().unwrap().iter().collect();
        assert_eq!(ranks.len(), 2, "attempt {attempt}: {baseline}");
        assert_eq!(baseline["world_size"], 2);
        let slowest = baseline["slowest_rank"].as_u64().unwrap() as usize;
        assert_eq!(ranks[slowest]["rank"], 1, "attempt {attempt}: {baseline}");
        assert!(rank_median(&baseline, 1) > rank_median(&baseline, 0) + 10.0);
    }
}
