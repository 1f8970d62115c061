//! The crash campaign: `kill -9` the engine at random moments, resume, repeat; after
//! every kill the work directory must be consistent, and the last resume must finish
//! with every experiment recorded once and every job launched once.
//!
//! `AUTORESEARCH_CHAOS_KILLS` sets the number of kills (default 20; `cargo xtask chaos
//! --kills N` runs a longer campaign).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::support::*;

/// A small deterministic generator, so a failing campaign can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next_ms(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

/// Checks what must hold after any kill; returns the run ids recorded so far.
fn check_invariants(workdir: &Path, kill: usize) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    if workdir.join("master_table.tsv").exists() {
        let text = std::fs::read_to_string(workdir.join("master_table.tsv")).unwrap();
        for line in text.lines().skip(1) {
            let id = line.split('\t').next().unwrap().to_owned();
            // A torn last line is allowed (the next open cuts it), a duplicate is not.
            if line.split('\t').count() == 15 {
                assert!(ids.insert(id.clone()), "kill {kill}: {id} has two rows");
            }
        }
    }
    for file in [
        "state.json",
        "engine/tree.json",
        "engine/checkpoint.json",
        "config.json",
    ] {
        let path = workdir.join(file);
        if path.exists() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                serde_json::from_slice::<serde_json::Value>(&bytes).is_ok(),
                "kill {kill}: {file} is not whole JSON"
            );
        }
    }
    if let Ok(runs) = std::fs::read_dir(workdir.join("runs")) {
        for run in runs.flatten() {
            if let Ok(log) = std::fs::read_to_string(run.path().join("job/stdout.log")) {
                let starts = log.matches("\"event\":\"start\"").count();
                assert!(
                    starts <= 1,
                    "kill {kill}: {:?} was launched {starts} times",
                    run.file_name()
                );
            }
        }
    }
    ids
}

#[test]
fn twenty_kill_9s_then_resume_leaves_a_consistent_work_directory() {
    let kills: usize = std::env::var("AUTORESEARCH_CHAOS_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let root = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let repo = UserRepo::create(root.path());
    std::fs::write(repo.dir.join("train.py"), instrumented(&repo.script)).unwrap();
    let workdir = root.path().join("work");
    let mut args = new_run_args(&workdir, &repo);
    set_arg(
        &mut args,
        "--base-launch-command",
        format!("{} $SCRIPT --steps 100 --step-ms 15", python().display()),
    );
    args.extend(["--agent", "none", "--max-concurrency", "1"].map(str::to_owned));
    let resume = vec!["run".to_owned(), workdir.display().to_string()];
    let mut rng = Lcg(0x05ee_d0fc_4a05);
    let mut recorded = BTreeSet::new();
    let mut finished_early = 0;
    for kill in 0..kills {
        let run_args = if workdir.join("config.json").exists() {
            &resume
        } else {
            &args
        };
        let mut child = autoresearch(home.path(), None)
            .args(run_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(50 + rng.next_ms(900)));
        if child.try_wait().unwrap().is_some() {
            finished_early += 1;
        } else {
            child.kill().unwrap(); // SIGKILL
        }
        child.wait().unwrap();
        let now = check_invariants(&workdir, kill);
        assert!(
            recorded.is_subset(&now),
            "kill {kill}: a recorded result was lost"
        );
        recorded = now;
    }
    // The last resume runs to the end.
    let output = finish(
        autoresearch(home.path(), None)
            .args(&resume)
            .spawn()
            .unwrap(),
        Duration::from_secs(300),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let ids = check_invariants(&workdir, kills);
    let tree = json_file(&workdir.join("engine/tree.json"));
    let nodes = tree.as_array().unwrap();
    let state = json_file(&workdir.join("state.json"));
    let stopped = !state["stop"].is_null();
    for n in nodes {
        let terminal = n["status"] == "completed" || n["status"] == "failed";
        // A stop rule leaves the proposals it did not start queued; nothing else is left.
        assert!(
            terminal || (stopped && n["status"] == "queued" && n["launch_order"].is_null()),
            "{n}"
        );
    }
    let node_ids: BTreeSet<String> = nodes
        .iter()
        .filter(|n| n["status"] == "completed" || n["status"] == "failed")
        .map(|n| n["node_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, node_ids, "one row per finished experiment");
    for id in &ids {
        let log =
            std::fs::read_to_string(workdir.join("runs").join(id).join("job/stdout.log")).unwrap();
        assert_eq!(
            log.matches("\"event\":\"start\"").count(),
            1,
            "{id} ran once"
        );
    }
    assert_eq!(state["history"].as_array().unwrap().len(), ids.len());
    eprintln!(
        "{kills} kills ({finished_early} runs had already ended), {} experiments recorded",
        ids.len()
    );
}
