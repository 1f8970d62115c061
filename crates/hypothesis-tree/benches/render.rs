//! Tree benchmark: prints figures, asserts nothing. Run with `cargo xtask bench tree`.
//!
//! For 100 and 1,000 nodes (75% completed, 20% failed, a few running and queued; a wide
//! and a deep shape): tree PNG + SVG, progress.png, and saving after one node changes.
//! Peak memory is the process's high-water mark after each step (steps run smallest
//! first, so a rise belongs to the step that caused it).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use autoresearch_hypothesis_tree::store::save_changes;
use autoresearch_hypothesis_tree::{
    HypothesisTree, NodeStatus, progress_points, write_progress, write_tree_pictures,
};
use serde_json::json;

fn peak_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn build(n: usize, wide: bool) -> (HypothesisTree, Option<String>) {
    let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut tree = HypothesisTree::new();
    let mut ids: Vec<String> = Vec::new();
    let mut best: (f64, Option<String>) = (f64::MAX, None);
    for i in 0..n {
        let parent = match i {
            0..=2 => None,
            _ if wide => Some(ids[(next() % ids.len().min(60) as u64) as usize].clone()),
            _ => Some(ids[ids.len() - 1 - (next() % ids.len().min(4) as u64) as usize].clone()),
        };
        let id = tree
            .add(
                &format!("experiment {i}"),
                parent.as_deref(),
                json!({"change_summary": format!("change {i}")}),
                0.0,
            )
            .unwrap();
        let status = match next() % 100 {
            0..=74 => NodeStatus::Completed,
            75..=94 => NodeStatus::Failed,
            95..=97 => NodeStatus::Running,
            _ => NodeStatus::Queued,
        };
        let path: &[NodeStatus] = match status {
            NodeStatus::Completed => &[
                NodeStatus::Preparing,
                NodeStatus::Running,
                NodeStatus::Analyzing,
                NodeStatus::Completed,
            ],
            NodeStatus::Failed => &[
                NodeStatus::Preparing,
                NodeStatus::Running,
                NodeStatus::Failed,
            ],
            NodeStatus::Running => &[NodeStatus::Preparing, NodeStatus::Running],
            _ => &[],
        };
        for s in path {
            tree.transition(&id, *s).unwrap();
        }
        let ms = 30.0 + (next() % 500) as f64 / 10.0;
        let improved = status == NodeStatus::Completed && ms < best.0;
        if improved {
            best = (ms, Some(id.clone()));
        }
        tree.update(&id, |node| {
            if status != NodeStatus::Queued {
                node.launch_order = Some(i as u64 + 1);
                node.duration = Some(600.0 + ms);
            }
            if status == NodeStatus::Completed {
                node.metrics.step_ms = Some(ms);
                node.metrics.throughput = Some(16_000.0 / ms);
                node.improved = improved;
            }
        })
        .unwrap();
        ids.push(id);
    }
    (tree, best.1)
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    println!(
        "{:<22} {:>14} {:>14} {:>16} {:>12}",
        "tree", "PNG+SVG ms", "progress ms", "save 1 change ms", "peak MB"
    );
    for (n, wide) in [(100, true), (100, false), (1000, true), (1000, false)] {
        let (mut tree, best) = build(n, wide);
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let (w, h) =
            write_tree_pictures(&tree, best.as_deref(), &Default::default(), dir.path()).unwrap();
        let pictures = started.elapsed();
        let started = Instant::now();
        write_progress(
            &progress_points(&tree),
            Some(30.0),
            &dir.path().join("progress.png"),
        )
        .unwrap();
        let progress = started.elapsed();
        save_changes(&mut tree, dir.path()).unwrap();
        let id = tree
            .nodes()
            .find(|node| node.status == NodeStatus::Running)
            .unwrap()
            .node_id
            .clone();
        tree.transition(&id, NodeStatus::Analyzing).unwrap();
        let started = Instant::now();
        let stats = save_changes(&mut tree, dir.path()).unwrap();
        let save = started.elapsed();
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
        println!(
            "{:<22} {:>14.0} {:>14.0} {:>16.2} {:>12.0}   (PNG {w}×{h}; save wrote {} files, {} bytes)",
            format!("{n} nodes, {}", if wide { "wide" } else { "deep" }),
            ms(pictures),
            ms(progress),
            ms(save),
            peak_mb(),
            stats.files,
            stats.bytes
        );
    }
}
