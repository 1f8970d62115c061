//! The monitoring views.

use autoresearch_hypothesis_tree::{
    FailureKind, FailurePhase, FailureRecord, HypothesisTree, NodeStatus,
};
use autoresearch_workflow::Workdir;
use autoresearch_workflow::views::{views, write_views};
use serde_json::json;

fn tree() -> HypothesisTree {
    let mut tree = HypothesisTree::new();
    let base = tree.add("baseline", None, json!({}), 0.0).unwrap();
    for s in [
        NodeStatus::Preparing,
        NodeStatus::Running,
        NodeStatus::Analyzing,
        NodeStatus::Completed,
    ] {
        tree.transition(&base, s).unwrap();
    }
    let failed = tree.add("broken", Some(&base), json!({}), 1.0).unwrap();
    tree.transition(&failed, NodeStatus::Failed).unwrap();
    tree.update(&failed, |n| {
        n.failure = Some(FailureRecord {
            kind: FailureKind::BuildFailed,
            phase: FailurePhase::Build,
            message: "exit 2".into(),
            retryable: false,
            details: json!(null),
            exception_type: None,
            job_id: None,
            created_at: "2026-11-29T09:00:00Z".into(),
        })
    })
    .unwrap();
    let running = tree.add("mtp", Some(&base), json!({}), 0.0).unwrap();
    tree.transition(&running, NodeStatus::Preparing).unwrap();
    tree.transition(&running, NodeStatus::Running).unwrap();
    tree.update(&running, |n| {
        n.job_id = Some("mtp-1".into());
        n.launched_at = Some("2026-11-29T09:01:00Z".into());
    })
    .unwrap();
    tree.add("later", Some(&base), json!({}), 5.0).unwrap();
    tree.add("sooner", Some(&base), json!({}), -1.0).unwrap();
    tree.add("also_sooner", Some(&base), json!({}), -1.0)
        .unwrap();
    tree
}

#[test]
fn views_count_by_status_and_kind_and_list_queue_and_jobs() {
    let (state, queue, active) = views(&tree(), "running");
    assert_eq!(
        (
            state.total_nodes,
            state.queued,
            state.running,
            state.completed,
            state.failed
        ),
        (6, 3, 1, 1, 1)
    );
    assert_eq!(state.failed_by_kind["build_failed"], 1);
    let order: Vec<&str> = queue.iter().map(|q| q.node_id.as_str()).collect();
    assert_eq!(order, ["004_sooner", "005_also_sooner", "003_later"]);
    assert_eq!(active.len(), 1);
    assert_eq!(
        active[0].launched_at.as_deref(),
        Some("2026-11-29T09:01:00Z"),
        "the launch time, not the write time"
    );
}

#[test]
fn views_are_written_under_engine() {
    let dir = tempfile::tempdir().unwrap();
    let workdir = Workdir::new(dir.path());
    let written = write_views(&workdir, &tree(), "interrupted").unwrap();
    assert_eq!(written.len(), 3);
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(workdir.engine_state()).unwrap()).unwrap();
    assert_eq!(state["status"], "interrupted");
    let active: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(workdir.active_view()).unwrap()).unwrap();
    assert_eq!(active[0]["job_id"], "mtp-1");
}
