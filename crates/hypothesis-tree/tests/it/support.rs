//! Sample trees.

use autoresearch_hypothesis_tree::{
    FailureKind, FailurePhase, FailureRecord, HypothesisTree, NodeStatus,
};
use serde_json::json;

/// Moves a node through the lifecycle to `status`.
pub(crate) fn advance(tree: &mut HypothesisTree, id: &str, status: NodeStatus) {
    let path: &[NodeStatus] = match status {
        NodeStatus::Queued => &[],
        NodeStatus::Preparing => &[NodeStatus::Preparing],
        NodeStatus::Running => &[NodeStatus::Preparing, NodeStatus::Running],
        NodeStatus::Analyzing => &[
            NodeStatus::Preparing,
            NodeStatus::Running,
            NodeStatus::Analyzing,
        ],
        NodeStatus::Completed => &[
            NodeStatus::Preparing,
            NodeStatus::Running,
            NodeStatus::Analyzing,
            NodeStatus::Completed,
        ],
        NodeStatus::Failed => &[NodeStatus::Preparing, NodeStatus::Failed],
    };
    for s in path {
        tree.transition(id, *s).unwrap();
    }
}

pub(crate) fn failure(kind: FailureKind) -> FailureRecord {
    FailureRecord {
        kind,
        phase: FailurePhase::Build,
        message: "the build failed".into(),
        retryable: false,
        details: json!({"exit_code": 2}),
        exception_type: None,
        job_id: None,
        created_at: "2026-11-29T08:00:00Z".into(),
    }
}

/// A small tree with every colour: baseline, headspace, MTP with children.
pub(crate) fn sample() -> (HypothesisTree, String) {
    let mut tree = HypothesisTree::new();
    let mut order = 0;
    let mut finish = |tree: &mut HypothesisTree,
                      id: &str,
                      status: NodeStatus,
                      ms: Option<f64>,
                      improved: bool| {
        advance(tree, id, status);
        order += 1;
        let launch = order;
        tree.update(id, |n| {
            n.launch_order = Some(launch);
            n.metrics.step_ms = ms;
            n.metrics.throughput = ms.map(|m| 16_000.0 / m);
            n.duration = Some(60.0 + launch as f64);
            n.improved = improved;
            if status == NodeStatus::Failed {
                n.failure = Some(failure(FailureKind::BuildFailed));
            }
        })
        .unwrap();
    };
    let baseline = tree
        .add("baseline", None, json!({"change_summary": "baseline"}), 0.0)
        .unwrap();
    finish(
        &mut tree,
        &baseline,
        NodeStatus::Completed,
        Some(65.8),
        true,
    );
    let headspace = tree.add("headspace", None, json!({}), 0.0).unwrap();
    finish(
        &mut tree,
        &headspace,
        NodeStatus::Completed,
        Some(35.4),
        false,
    );
    let mtp = tree
        .add(
            "subprocess mtp",
            None,
            json!({"change_summary": "pipeline in a subprocess"}),
            0.0,
        )
        .unwrap();
    finish(&mut tree, &mtp, NodeStatus::Completed, Some(51.3), true);
    let c4 = tree
        .add(
            "decode concurrency 4",
            Some(&mtp),
            json!({"change_summary": "decode ×4"}),
            1.0,
        )
        .unwrap();
    finish(&mut tree, &c4, NodeStatus::Completed, Some(48.0), true);
    let bad = tree
        .add("torch compile", Some(&mtp), json!({}), 2.0)
        .unwrap();
    finish(&mut tree, &bad, NodeStatus::Failed, None, false);
    let slow = tree
        .add("sink buffer 8", Some(&c4), json!({}), 1.0)
        .unwrap();
    finish(&mut tree, &slow, NodeStatus::Completed, Some(49.1), false);
    let running = tree.add("prefetch", Some(&c4), json!({}), 1.0).unwrap();
    advance(&mut tree, &running, NodeStatus::Running);
    tree.update(&running, |n| n.launch_order = Some(7)).unwrap();
    tree.add("batch 32", Some(&c4), json!({}), 3.0).unwrap();
    (tree, c4)
}

/// A random-shaped tree of `n` nodes with a realistic mix of outcomes.
pub(crate) fn big(n: usize, seed: u64, wide: bool) -> (HypothesisTree, String) {
    let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut tree = HypothesisTree::new();
    let mut ids: Vec<String> = Vec::new();
    let mut best = (f64::INFINITY, String::new());
    for i in 0..n {
        let parent = if i < 3 {
            None
        } else if wide {
            Some(ids[(next() % ids.len().min(40) as u64) as usize].clone())
        } else {
            // Deep: mostly extend recent nodes.
            let back = (next() % 6) as usize + 1;
            Some(ids[ids.len().saturating_sub(back)].clone())
        };
        let id = tree
            .add(
                &format!("experiment {i}"),
                parent.as_deref(),
                json!({}),
                0.0,
            )
            .unwrap();
        let roll = next() % 100;
        let status = match roll {
            0..=74 => NodeStatus::Completed,
            75..=94 => NodeStatus::Failed,
            95..=97 => NodeStatus::Running,
            _ => NodeStatus::Queued,
        };
        advance(&mut tree, &id, status);
        let ms = 40.0 + (next() % 400) as f64 / 10.0;
        let improved = status == NodeStatus::Completed && ms < best.0;
        if improved {
            best = (ms, id.clone());
        }
        tree.update(&id, |node| {
            if status != NodeStatus::Queued {
                node.launch_order = Some(i as u64 + 1);
            }
            if status == NodeStatus::Completed {
                node.metrics.step_ms = Some(ms);
                node.metrics.throughput = Some(16_000.0 / ms);
                node.duration = Some(100.0 + ms);
                node.improved = improved;
            }
            if status == NodeStatus::Failed {
                node.failure = Some(failure(FailureKind::JobRuntimeFailed));
            }
        })
        .unwrap();
        ids.push(id);
    }
    (tree, best.1)
}
