//! Draws the pictures of a generated tree into a folder, to look at them.
//!
//! `cargo run -p autoresearch-hypothesis-tree --example render_sample -- <dir> [nodes]`
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use autoresearch_hypothesis_tree::{
    HypothesisTree, NodeStatus, progress_points, write_progress, write_tree_pictures,
};
use serde_json::json;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| "tree-pictures".into()));
    let n: usize = args.next().and_then(|v| v.parse().ok()).unwrap_or(40);
    std::fs::create_dir_all(&dir).unwrap();
    let mut tree = HypothesisTree::new();
    let mut ids: Vec<String> = Vec::new();
    let mut best = (f64::MAX, None);
    for i in 0..n {
        let parent = if i < 3 {
            None
        } else {
            Some(ids[(i * 7919 + i / 3) % ids.len().min(i / 2 + 3)].clone())
        };
        let id = tree
            .add(
                &format!("experiment {i}"),
                parent.as_deref(),
                json!({}),
                0.0,
            )
            .unwrap();
        let status = match i % 20 {
            0..=14 => NodeStatus::Completed,
            15..=18 => NodeStatus::Failed,
            _ => NodeStatus::Running,
        };
        for s in [NodeStatus::Preparing, NodeStatus::Running] {
            tree.transition(&id, s).unwrap();
        }
        match status {
            NodeStatus::Completed => {
                tree.transition(&id, NodeStatus::Analyzing).unwrap();
                tree.transition(&id, NodeStatus::Completed).unwrap();
            }
            NodeStatus::Failed => tree.transition(&id, NodeStatus::Failed).unwrap(),
            _ => {}
        }
        let ms = 40.0 + 40.0 / (1.0 + i as f64 / 50.0) + ((i * 37) % 11) as f64;
        let improved = status == NodeStatus::Completed && ms < best.0;
        if improved {
            best = (ms, Some(id.clone()));
        }
        tree.update(&id, |node| {
            node.launch_order = Some(i as u64 + 1);
            node.duration = Some(300.0 + ms);
            if status == NodeStatus::Completed {
                node.metrics.step_ms = Some(ms);
                node.metrics.throughput = Some(16_000.0 / ms);
                node.improved = improved;
            }
        })
        .unwrap();
        ids.push(id);
    }
    let size = write_tree_pictures(&tree, best.1.as_deref(), &dir).unwrap();
    write_progress(
        &progress_points(&tree),
        Some(42.0),
        &dir.join("progress.png"),
    )
    .unwrap();
    println!(
        "{} nodes; tree PNG {}×{} in {}",
        n,
        size.0,
        size.1,
        dir.display()
    );
}
