//! SIGINT and SIGTERM against a real process embedding the engine, then resume.

use std::collections::BTreeSet;
use std::time::Duration;

use autoresearch_runner_core::{Checkpoint, CheckpointStatus, SpecRecord, checkpoint};

use crate::support::{
    fixture_tree, read_lines, run_fixture, signal, sink, spawn_fixture, wait_until, wait_with_bound,
};

const INTERRUPTED: i32 = 3;

fn events(dir: &std::path::Path, kind: &str) -> Vec<String> {
    read_lines(&dir.join("events.log"))
        .into_iter()
        .filter_map(|line| {
            let mut words = line.split(' ');
            (words.next() == Some(kind)).then(|| words.next().unwrap_or_default().to_owned())
        })
        .collect()
}

fn parent(id: &str) -> Option<&str> {
    id.rsplit_once('.').map(|(parent, _)| parent)
}

#[test]
fn sigint_records_the_exact_sets_and_a_resume_completes_like_an_uninterrupted_run() {
    let args = [
        "--roots",
        "12",
        "--concurrency",
        "3",
        "--min-ms",
        "150",
        "--max-ms",
        "250",
        "--max-depth",
        "1",
    ];
    let tree = fixture_tree(&args);
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_fixture(dir.path(), &args);
    wait_until("a first spec to finish", || {
        !events(dir.path(), "finish").is_empty()
    });
    signal(&child, "INT");
    let status = wait_with_bound(&mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(INTERRUPTED));

    let started: BTreeSet<String> = events(dir.path(), "start").into_iter().collect();
    let finished: BTreeSet<String> = events(dir.path(), "finish").into_iter().collect();
    let interrupted: BTreeSet<String> = events(dir.path(), "interrupted").into_iter().collect();
    let expected_running: BTreeSet<String> = started.difference(&finished).cloned().collect();
    assert_eq!(
        interrupted, expected_running,
        "every unfinished spec saw the cancel"
    );
    let expected_queued: BTreeSet<String> = tree
        .iter()
        .filter(|id| parent(id).is_none_or(|p| finished.contains(p)))
        .filter(|id| !started.contains(*id))
        .cloned()
        .collect();

    let saved = checkpoint::load(&dir.path().join("engine"))
        .unwrap()
        .unwrap();
    assert_eq!(saved.status, CheckpointStatus::Interrupted);
    let running: BTreeSet<String> = saved.running.iter().map(|s| s.id.clone()).collect();
    let queued: BTreeSet<String> = saved.queued.iter().map(|s| s.id.clone()).collect();
    assert_eq!(running, expected_running);
    assert_eq!(queued, expected_queued);
    assert!(saved.running.iter().all(|s| s.attempts == 1));

    // Resume: the interrupted specs start first, as second attempts.
    let before = read_lines(&dir.path().join("events.log")).len();
    assert_eq!(run_fixture(dir.path(), &args), 0);
    let resumed_starts: Vec<String> = read_lines(&dir.path().join("events.log"))[before..]
        .iter()
        .filter(|line| line.starts_with("start "))
        .take(running.len())
        .cloned()
        .collect();
    for line in &resumed_starts {
        let words: Vec<&str> = line.split(' ').collect();
        assert!(
            running.contains(words[1]),
            "{line} started before the resumed specs"
        );
        assert_eq!(&words[2..], ["2", "true"], "{line}");
    }

    let uninterrupted = tempfile::tempdir().unwrap();
    assert_eq!(run_fixture(uninterrupted.path(), &args), 0);
    assert_eq!(sink(dir.path()), sink(uninterrupted.path()));
    assert_eq!(sink(dir.path()), tree);
    let done = checkpoint::load(&dir.path().join("engine"))
        .unwrap()
        .unwrap();
    assert_eq!(done.status, CheckpointStatus::Stopped);
}

/// Starts the fixture with `args` (two specs run at once), sends `signals` once both
/// have started, and returns the checkpoint left by the interrupted run.
fn interrupt_after_two_starts(args: &str, signals: &[&str]) -> (Checkpoint, BTreeSet<String>) {
    let args: Vec<&str> = args.split_whitespace().collect();
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_fixture(dir.path(), &args);
    wait_until("two starts", || events(dir.path(), "start").len() == 2);
    for (index, name) in signals.iter().enumerate() {
        if index > 0 {
            std::thread::sleep(Duration::from_millis(100));
            assert!(
                child.try_wait().unwrap().is_none(),
                "the run ended before signal {} although the grace period has not passed",
                index + 1
            );
        }
        signal(&child, name);
    }
    let status = wait_with_bound(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(INTERRUPTED));
    let saved = checkpoint::load(&dir.path().join("engine"))
        .unwrap()
        .unwrap();
    assert_eq!(saved.status, CheckpointStatus::Interrupted);
    let started = events(dir.path(), "start").into_iter().collect();
    (saved, started)
}

fn ids(records: &[SpecRecord]) -> BTreeSet<String> {
    records.iter().map(|record| record.id.clone()).collect()
}

#[test]
fn sigterm_is_a_shutdown_request_too() {
    let (saved, started) = interrupt_after_two_starts(
        "--roots 6 --concurrency 2 --min-ms 5000 --max-ms 5000",
        &["TERM"],
    );
    assert_eq!(ids(&saved.running), started);
    assert_eq!(saved.queued.len(), 4);
}

#[test]
fn work_that_ignores_the_cancel_is_stopped_when_the_grace_period_ends() {
    let (saved, started) = interrupt_after_two_starts(
        "--roots 3 --concurrency 2 --min-ms 60000 --max-ms 60000 --ignore-cancel --grace-ms 200",
        &["INT"],
    );
    assert_eq!(ids(&saved.running), started);
    assert_eq!(saved.queued.len(), 1);
}

#[test]
fn a_second_signal_skips_the_grace_period_but_still_writes_the_checkpoint() {
    // Work that ignores the cancel and a 10-minute grace period: only the second signal
    // can end this run in time.
    let (saved, started) = interrupt_after_two_starts(
        "--roots 3 --concurrency 2 --min-ms 600000 --max-ms 600000 --ignore-cancel \
         --grace-ms 600000",
        &["INT", "INT"],
    );
    assert_eq!(ids(&saved.running), started);
    assert_eq!(saved.queued.len(), 1);
}
