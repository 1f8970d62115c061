//! The monitoring views under `engine/`: `engine_state.json`, `queue.json`,
//! `active.json`. They are read by people and scripts, never by a resume.

use std::collections::BTreeMap;
use std::path::PathBuf;

use autoresearch_hypothesis_tree::{HypothesisTree, NodeStatus};
use serde::Serialize;

use crate::Workdir;

/// `engine/engine_state.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EngineState {
    /// `running`, `interrupted` or `stopped`.
    pub status: String,
    /// UTC wall clock, RFC 3339.
    pub timestamp: String,
    /// Nodes in the tree.
    pub total_nodes: usize,
    /// Nodes waiting.
    pub queued: usize,
    /// Nodes preparing, running or being analysed.
    pub running: usize,
    /// Nodes completed.
    pub completed: usize,
    /// Nodes failed.
    pub failed: usize,
    /// Failed nodes by failure kind.
    pub failed_by_kind: BTreeMap<String, usize>,
}

/// One line of `engine/queue.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueuedView {
    /// Lower runs first.
    pub priority: f64,
    /// The node.
    pub node_id: String,
}

/// One line of `engine/active.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActiveView {
    /// The node.
    pub node_id: String,
    /// Its status.
    pub status: String,
    /// The platform's job id, once launched.
    pub job_id: Option<String>,
    /// When the job was launched (UTC, RFC 3339) — not when this file was written.
    pub launched_at: Option<String>,
}

/// The three views of `tree` for an engine in `status`.
pub fn views(
    tree: &HypothesisTree,
    status: &str,
) -> (EngineState, Vec<QueuedView>, Vec<ActiveView>) {
    let counts = tree.counts_by_status();
    let count = |s: NodeStatus| counts.get(&s).copied().unwrap_or(0);
    let failed_by_kind = tree
        .counts_by_failure()
        .into_iter()
        .map(|(kind, n)| {
            let name = serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            (name, n)
        })
        .collect();
    let state = EngineState {
        status: status.to_owned(),
        timestamp: jiff::Timestamp::now().to_string(),
        total_nodes: tree.len(),
        queued: count(NodeStatus::Queued),
        running: count(NodeStatus::Preparing)
            + count(NodeStatus::Running)
            + count(NodeStatus::Analyzing),
        completed: count(NodeStatus::Completed),
        failed: count(NodeStatus::Failed),
        failed_by_kind,
    };
    let mut queue: Vec<QueuedView> = tree
        .nodes()
        .filter(|n| n.status == NodeStatus::Queued)
        .map(|n| QueuedView {
            priority: n.priority,
            node_id: n.node_id.clone(),
        })
        .collect();
    // Stable: equal priorities keep creation order, as the scheduler runs them.
    queue.sort_by(|a, b| a.priority.total_cmp(&b.priority));
    let active = tree
        .nodes()
        .filter(|n| {
            matches!(
                n.status,
                NodeStatus::Preparing | NodeStatus::Running | NodeStatus::Analyzing
            )
        })
        .map(|n| ActiveView {
            node_id: n.node_id.clone(),
            status: n.status.to_string(),
            job_id: n.job_id.clone(),
            launched_at: n.launched_at.clone(),
        })
        .collect();
    (state, queue, active)
}

/// Writes the three views atomically.
pub fn write_views(
    workdir: &Workdir,
    tree: &HypothesisTree,
    status: &str,
) -> std::io::Result<Vec<PathBuf>> {
    let (state, queue, active) = views(tree, status);
    std::fs::create_dir_all(workdir.engine())?;
    let mut written = Vec::new();
    for (path, value) in [
        (workdir.engine_state(), serde_json::to_value(&state)),
        (workdir.queue_view(), serde_json::to_value(&queue)),
        (workdir.active_view(), serde_json::to_value(&active)),
    ] {
        let value = value.map_err(std::io::Error::other)?;
        let mut bytes = serde_json::to_vec_pretty(&value).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        autoresearch_fs::write_atomic(&path, &bytes)?;
        written.push(path);
    }
    Ok(written)
}
