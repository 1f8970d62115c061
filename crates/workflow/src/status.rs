//! `autoresearch status`: a work directory at a glance, from its files alone (safe while
//! an engine runs).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use autoresearch_hypothesis_tree::NodeStatus;
use serde::Serialize;

use crate::config::RunConfig;
use crate::error::WorkflowError;
use crate::lock::WorkdirLock;
use crate::policy::describe_stop;
use crate::record::kind_name;
use crate::state::RunState;
use crate::workdir::Workdir;

/// One experiment in flight.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActiveExperiment {
    /// The node.
    pub node_id: String,
    /// Its status.
    pub status: String,
    /// Its job.
    pub job_id: Option<String>,
}

/// One recent failure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecentFailure {
    /// The node.
    pub node_id: String,
    /// The failure kind.
    pub kind: String,
    /// The message.
    pub message: String,
}

/// What `status` shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusReport {
    /// The pid of the engine running now, if any.
    pub engine_pid: Option<u32>,
    /// The run's status in `state.json`.
    pub status: String,
    /// Nodes by status.
    pub counts: BTreeMap<String, usize>,
    /// Failures by kind.
    pub failures_by_kind: BTreeMap<String, usize>,
    /// The baseline's steady step, ms.
    pub baseline_ms: Option<f64>,
    /// The best against the baseline, in words (per sample when known).
    pub speedup: Option<String>,
    /// The best node.
    pub best: Option<String>,
    /// Its steady step, ms.
    pub best_ms: Option<f64>,
    /// The compute-only floor, ms.
    pub floor_ms: Option<f64>,
    /// Planning rounds.
    pub rounds: u32,
    /// Rounds without a new best.
    pub rounds_without_best: u32,
    /// Why it stopped.
    pub stop: Option<String>,
    /// Experiments in flight.
    pub active: Vec<ActiveExperiment>,
    /// The last failures (at most five).
    pub recent_failures: Vec<RecentFailure>,
}

/// Reads the status of `workdir`.
pub fn status(workdir: &Workdir) -> Result<StatusReport, WorkflowError> {
    if RunConfig::load(workdir.root())?.is_none() {
        return Err(WorkflowError::NotAWorkdir(workdir.root().to_owned()));
    }
    let state = RunState::load(&workdir.state())?.unwrap_or_default();
    let tree = crate::books::load_tree(workdir)?;
    let counts = tree
        .counts_by_status()
        .into_iter()
        .map(|(s, n)| (s.to_string(), n))
        .collect();
    let failures_by_kind = tree
        .counts_by_failure()
        .into_iter()
        .map(|(k, n)| {
            (
                serde_json::to_value(k)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                n,
            )
        })
        .collect();
    let baseline_ms = crate::spec::node_of_kind(&tree, crate::spec::ExperimentKind::Baseline)
        .and_then(|id| tree.get(&id).and_then(|n| n.metrics.step_ms));
    let speedup = state
        .current_best
        .as_deref()
        .and_then(|best| crate::speedup::Speedup::of(&tree, best))
        .map(|s| s.headline());
    let active = tree
        .nodes()
        .filter(|n| !n.status.is_terminal() && n.status != NodeStatus::Queued)
        .map(|n| ActiveExperiment {
            node_id: n.node_id.clone(),
            status: n.status.to_string(),
            job_id: n.job_id.clone(),
        })
        .collect();
    let mut failed: Vec<_> = tree
        .nodes()
        .filter_map(|n| n.failure.as_ref().map(|f| (n, f)))
        .collect();
    failed.sort_by(|a, b| a.1.created_at.cmp(&b.1.created_at));
    let recent_failures = failed
        .iter()
        .rev()
        .take(5)
        .map(|(n, f)| RecentFailure {
            node_id: n.node_id.clone(),
            kind: kind_name(f),
            message: f.message.clone(),
        })
        .collect();
    Ok(StatusReport {
        engine_pid: WorkdirLock::holder(workdir.root()),
        status: serde_json::to_value(state.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        counts,
        failures_by_kind,
        baseline_ms,
        speedup,
        best: state.current_best.clone(),
        best_ms: state.best_step_ms,
        floor_ms: state.floor_ms,
        rounds: state.plateau.rounds,
        rounds_without_best: state.plateau.rounds_without_best,
        stop: state.stop.as_ref().map(describe_stop),
        active,
        recent_failures,
    })
}

/// The status as text for a terminal.
pub fn render_status(report: &StatusReport) -> String {
    let mut out = String::new();
    let engine = match report.engine_pid {
        Some(pid) => format!("running (pid {pid})"),
        None => "not running".to_owned(),
    };
    let _ = writeln!(out, "engine:      {engine}; run status {}", report.status);
    let counts: Vec<String> = NodeStatus::ALL
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                report.counts.get(s.as_str()).copied().unwrap_or(0),
                s
            )
        })
        .collect();
    let _ = writeln!(out, "experiments: {}", counts.join(", "));
    let ms = |v: Option<f64>| v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.2} ms"));
    let _ = writeln!(out, "baseline:    {}", ms(report.baseline_ms));
    let best = match (&report.best, report.best_ms, &report.speedup) {
        (Some(id), Some(b), Some(speedup)) => format!("{id} at {b:.2} ms per step ({speedup})"),
        (Some(id), Some(b), None) => format!("{id} at {b:.2} ms per step"),
        _ => "none yet".to_owned(),
    };
    let _ = writeln!(out, "best:        {best}");
    let _ = writeln!(out, "floor:       {}", ms(report.floor_ms));
    let _ = writeln!(
        out,
        "planning:    {} rounds, {} without a new best",
        report.rounds, report.rounds_without_best
    );
    if let Some(stop) = &report.stop {
        let _ = writeln!(out, "stopped:     {stop}");
    }
    if !report.active.is_empty() {
        out.push_str("in flight:\n");
        for a in &report.active {
            let _ = writeln!(
                out,
                "  {} {}{}",
                a.node_id,
                a.status,
                a.job_id
                    .as_ref()
                    .map(|j| format!(" (job {j})"))
                    .unwrap_or_default()
            );
        }
    }
    if !report.recent_failures.is_empty() {
        out.push_str("recent failures:\n");
        for f in &report.recent_failures {
            let _ = writeln!(out, "  {} {}: {}", f.node_id, f.kind, f.message);
        }
    }
    out
}

/// `autoresearch tree`: the tree as text, with the run's best marked (the best of
/// `state.json`, the one `status` and the report name).
pub fn tree_text(workdir: &Workdir) -> Result<String, WorkflowError> {
    if !workdir.engine().is_dir() && RunConfig::load(workdir.root())?.is_none() {
        return Err(WorkflowError::NotAWorkdir(workdir.root().to_owned()));
    }
    let tree = crate::books::load_tree(workdir)?;
    if tree.is_empty() {
        return Ok("(no experiments yet)\n".to_owned());
    }
    let state = RunState::load(&workdir.state())?.unwrap_or_default();
    Ok(autoresearch_hypothesis_tree::render_ascii(
        &tree,
        state.current_best.as_deref(),
    ))
}
