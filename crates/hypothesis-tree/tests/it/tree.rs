//! The tree's rules and queries.

use autoresearch_hypothesis_tree::{
    FailureKind, HypothesisTree, NodeStatus, TreeError, sanitize_name,
};
use serde_json::json;

use crate::support::sample;

#[test]
fn names_are_sanitised_and_ids_never_repeat() {
    assert_eq!(
        sanitize_name("Decode Concurrency=4 (MTP)!"),
        "decode_concurrency_4_mtp"
    );
    assert_eq!(sanitize_name("../../etc/passwd"), "etc_passwd");
    assert_eq!(sanitize_name("$(rm -rf ~)"), "rm_rf");
    assert_eq!(sanitize_name("   "), "experiment");
    assert_eq!(sanitize_name("ÜBER größe"), "ber_gr_e");
    assert_eq!(sanitize_name(&"x".repeat(100)).len(), 40);
    let mut tree = HypothesisTree::new();
    let a = tree.add("baseline", None, json!({}), 0.0).unwrap();
    let b = tree.add("baseline", None, json!({}), 0.0).unwrap();
    assert_eq!((a.as_str(), b.as_str()), ("000_baseline", "001_baseline"));
    assert!(matches!(
        tree.add("x", Some("999_missing"), json!({}), 0.0),
        Err(TreeError::UnknownNode(_))
    ));
}

#[test]
fn the_lifecycle_is_enforced() {
    let mut tree = HypothesisTree::new();
    let id = tree.add("exp", None, json!({}), 0.0).unwrap();
    let err = tree.transition(&id, NodeStatus::Completed).unwrap_err();
    assert!(
        matches!(
            err,
            TreeError::IllegalTransition {
                from: NodeStatus::Queued,
                to: NodeStatus::Completed,
                ..
            }
        ),
        "{err}"
    );
    for s in [
        NodeStatus::Preparing,
        NodeStatus::Running,
        NodeStatus::Running,
        NodeStatus::Analyzing,
        NodeStatus::Completed,
    ] {
        tree.transition(&id, s).unwrap();
    }
    for s in NodeStatus::ALL {
        assert!(
            tree.transition(&id, s).is_err(),
            "a completed node moved to {s}"
        );
    }
    let other = tree.add("other", None, json!({}), 0.0).unwrap();
    tree.transition(&other, NodeStatus::Failed).unwrap();
    assert!(tree.transition(&other, NodeStatus::Queued).is_err());
    // update cannot sneak a status change in.
    tree.update(&other, |n| n.status = NodeStatus::Running)
        .unwrap();
    assert_eq!(tree.get(&other).unwrap().status, NodeStatus::Failed);
}

#[test]
fn queries_answer_from_the_structure() {
    let (tree, c4) = sample();
    let names: Vec<&str> = tree.children(&c4).iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["sink_buffer_8", "prefetch", "batch_32"]);
    let ancestors: Vec<&str> = tree
        .ancestors("005_sink_buffer_8")
        .iter()
        .map(|n| n.node_id.as_str())
        .collect();
    assert_eq!(
        ancestors,
        ["003_decode_concurrency_4", "002_subprocess_mtp"]
    );
    let best = tree
        .best_by(|a, b| {
            a.metrics
                .step_ms
                .unwrap_or(f64::MAX)
                .total_cmp(&b.metrics.step_ms.unwrap_or(f64::MAX))
        })
        .unwrap();
    assert_eq!(
        best.node_id, "001_headspace",
        "the caller's comparator decides"
    );
    let best_real = tree
        .best_by(|a, b| {
            let key = |n: &autoresearch_hypothesis_tree::HypothesisNode| {
                if n.name == "headspace" {
                    f64::MAX
                } else {
                    n.metrics.step_ms.unwrap_or(f64::MAX)
                }
            };
            key(a).total_cmp(&key(b))
        })
        .unwrap();
    assert_eq!(best_real.node_id, c4);
    let changes: Vec<String> = tree
        .changes_along(&c4)
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    assert_eq!(changes, ["pipeline in a subprocess", "decode ×4"]);
    let counts = tree.counts_by_status();
    assert_eq!(
        (
            counts[&NodeStatus::Completed],
            counts[&NodeStatus::Failed],
            counts[&NodeStatus::Running],
            counts[&NodeStatus::Queued]
        ),
        (5, 1, 1, 1)
    );
    assert_eq!(tree.counts_by_failure()[&FailureKind::BuildFailed], 1);
}

#[test]
fn the_latest_kept_improvement_is_the_current_best() {
    let (tree, c4) = sample();
    assert_eq!(tree.latest_improvement().unwrap().node_id, c4);
    assert!(HypothesisTree::new().latest_improvement().is_none());
}
