//! Order, concurrency, children and results, in process.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use autoresearch_runner_core::{CheckpointStatus, Engine, EngineConfig, EngineError, WorkSpec};

use crate::support::{Behaviour, Recorder, run_recorder, specs};

#[tokio::test]
async fn lower_priority_runs_first_and_ties_run_in_arrival_order() {
    let dir = tempfile::tempdir().unwrap();
    let workflow = Arc::new(Recorder::with_initial(specs(&[
        ("a", 5.0),
        ("b", -1.0),
        ("c", 3.0),
        ("d", 3.0),
        ("e", 0.0),
        ("f", 3.0),
        ("g", -1.0),
    ])));
    let report = run_recorder(workflow.clone(), dir.path(), 1).await.unwrap();
    assert_eq!(workflow.started(), ["b", "g", "e", "c", "d", "f", "a"]);
    assert_eq!(report.status, CheckpointStatus::Stopped);
    assert_eq!(report.counts.completed, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_bound_is_reached_and_never_exceeded() {
    let dir = tempfile::tempdir().unwrap();
    let initial = (0..40)
        .map(|i| WorkSpec::new(format!("s{i}"), 0.0))
        .collect();
    let mut recorder = Recorder::with_initial(initial);
    recorder.delay = Duration::from_millis(20);
    let workflow = Arc::new(recorder);
    let report = run_recorder(workflow.clone(), dir.path(), 4).await.unwrap();
    assert_eq!(report.counts.completed, 40);
    assert_eq!(workflow.peak.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn children_are_queued_by_priority_and_on_result_filters_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut recorder = Recorder::with_initial(specs(&[("root", 0.0), ("late", 10.0)]));
    recorder.behaviour.insert(
        "root".into(),
        Behaviour {
            children: specs(&[("child_b", 2.0), ("child_a", 1.0), ("dropped", 0.0)]),
            ..Behaviour::default()
        },
    );
    recorder.behaviour.insert(
        "child_a".into(),
        Behaviour {
            children: specs(&[("grandchild", -5.0)]),
            ..Behaviour::default()
        },
    );
    recorder.filtered.insert("dropped".into());
    let workflow = Arc::new(recorder);
    let report = run_recorder(workflow.clone(), dir.path(), 1).await.unwrap();
    assert_eq!(
        workflow.started(),
        ["root", "child_a", "grandchild", "child_b", "late"]
    );
    assert_eq!(report.counts.completed, 5);
}

#[tokio::test]
async fn failures_and_panics_are_counted_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut recorder = Recorder::with_initial(specs(&[("ok", 0.0), ("bad", 1.0), ("boom", 2.0)]));
    recorder.behaviour.insert(
        "bad".into(),
        Behaviour {
            fail: true,
            children: specs(&[("repair", 0.0)]),
            ..Behaviour::default()
        },
    );
    recorder.behaviour.insert(
        "boom".into(),
        Behaviour {
            panic: true,
            ..Behaviour::default()
        },
    );
    let workflow = Arc::new(recorder);
    let report = run_recorder(workflow.clone(), dir.path(), 2).await.unwrap();
    assert_eq!(report.counts.completed, 2, "ok and repair");
    assert_eq!(report.counts.failed, 2, "bad and boom");
    let finished = workflow.finished.lock().unwrap().clone();
    assert!(
        finished.contains(&("boom".to_owned(), true)),
        "{finished:?}"
    );
    assert!(
        finished.contains(&("repair".to_owned(), false)),
        "{finished:?}"
    );
}

#[tokio::test]
async fn children_with_live_or_repeated_ids_or_bad_priorities_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut recorder = Recorder::with_initial(specs(&[("a", 0.0), ("b", 1.0)]));
    recorder.behaviour.insert(
        "a".into(),
        Behaviour {
            children: specs(&[
                ("b", 0.0),      // still queued
                ("x", 0.0),      // fine
                ("x", 0.0),      // repeated
                ("", 0.0),       // empty id
                ("y", f64::NAN), // not orderable
            ]),
            ..Behaviour::default()
        },
    );
    let workflow = Arc::new(recorder);
    let report = run_recorder(workflow.clone(), dir.path(), 1).await.unwrap();
    assert_eq!(report.counts.rejected, 4);
    let mut started = workflow.started();
    started.sort();
    assert_eq!(started, ["a", "b", "x"]);
}

#[tokio::test]
async fn a_stopped_run_leaves_an_empty_stopped_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let workflow = Arc::new(Recorder::with_initial(specs(&[("only", 0.0)])));
    run_recorder(workflow, dir.path(), 3).await.unwrap();
    let checkpoint = autoresearch_runner_core::checkpoint::load(&dir.path().join("engine"))
        .unwrap()
        .unwrap();
    assert_eq!(checkpoint.status, CheckpointStatus::Stopped);
    assert!(checkpoint.queued.is_empty() && checkpoint.running.is_empty());
}

#[test]
fn zero_concurrency_is_a_configuration_error() {
    let workflow = Arc::new(Recorder::default());
    let config = EngineConfig::new("unused").with_max_concurrency(0);
    let Err(err) = Engine::new(workflow, config) else {
        panic!("an engine with concurrency 0 was accepted");
    };
    assert!(matches!(err, EngineError::Config(_)));
    assert!(err.to_string().contains("max_concurrency"), "{err}");
}

#[tokio::test]
async fn counts_are_published_while_running() {
    let dir = tempfile::tempdir().unwrap();
    let initial = (0..5)
        .map(|i| WorkSpec::new(format!("s{i}"), 0.0))
        .collect();
    let mut recorder = Recorder::with_initial(initial);
    recorder.delay = Duration::from_millis(2);
    let config = EngineConfig::new(dir.path().join("engine")).with_max_concurrency(2);
    let engine = Engine::new(Arc::new(recorder), config).unwrap();
    let mut counts = engine.counts();
    let watcher = tokio::spawn(async move {
        let mut peak_running = 0;
        let mut last = *counts.borrow();
        while counts.changed().await.is_ok() {
            last = *counts.borrow();
            peak_running = peak_running.max(last.running);
        }
        (peak_running, last)
    });
    engine
        .run(autoresearch_runner_core::ShutdownListener::never())
        .await
        .unwrap();
    let (peak_running, last) = watcher.await.unwrap();
    assert_eq!(peak_running, 2);
    assert_eq!((last.completed, last.queued, last.running), (5, 0, 0));
}
