//! The crash campaign: `kill -9` at random moments, restart, and lose nothing.

use std::time::Duration;

use autoresearch_runner_core::{CheckpointStatus, checkpoint};

use crate::support::{fixture_tree, run_fixture, sink, spawn_fixture};

/// A small deterministic generator, so a failing campaign can be replayed.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }
}

const KILLS: usize = 50;

#[test]
fn kill_9_at_random_moments_loses_no_spec_and_never_tears_the_checkpoint() {
    let mut rng = Lcg(0x5eed);
    let mut kills = 0;
    let mut rounds = 0;
    // Each round is a full campaign on a fresh directory; rounds repeat (with another
    // seed) only if one finishes before enough kills have landed.
    while kills < KILLS {
        rounds += 1;
        assert!(rounds <= 10, "only {kills} kills landed in 10 rounds");
        let seed = rounds.to_string();
        let args = [
            "--roots",
            "40",
            "--seed",
            &seed,
            "--concurrency",
            "4",
            "--min-ms",
            "1",
            "--max-ms",
            "25",
            "--compact-bytes",
            "4096",
        ];
        let expected = fixture_tree(&args);
        assert!(
            (150..=300).contains(&expected.len()),
            "{} specs",
            expected.len()
        );
        let dir = tempfile::tempdir().unwrap();
        let engine_dir = dir.path().join("engine");
        let mut lives = 0;
        loop {
            lives += 1;
            assert!(lives < 1000, "the campaign made no progress");
            let mut child = spawn_fixture(dir.path(), &args);
            std::thread::sleep(Duration::from_millis(1 + rng.below(60)));
            if let Some(status) = child.try_wait().unwrap() {
                assert_eq!(status.code(), Some(0), "the fixture failed on its own");
                break;
            }
            child.kill().unwrap();
            child.wait().unwrap();
            kills += 1;
            // The checkpoint must load after every kill (it may not exist yet).
            if let Err(err) = checkpoint::load(&engine_dir) {
                panic!("after kill {kills}: {err}");
            }
        }
        // One clean run to the end, in case the last life was killed mid-way.
        assert_eq!(run_fixture(dir.path(), &args), 0);
        let done = checkpoint::load(&engine_dir).unwrap().unwrap();
        assert_eq!(done.status, CheckpointStatus::Stopped);
        assert!(done.queued.is_empty() && done.running.is_empty());
        let completed = sink(dir.path());
        let lost: Vec<_> = expected.difference(&completed).collect();
        assert!(
            lost.is_empty(),
            "round {rounds}: specs never completed: {lost:?}"
        );
        assert_eq!(completed, expected);
        eprintln!(
            "round {rounds}: {} specs, {lives} lives, {kills} kills so far",
            expected.len()
        );
    }
}
