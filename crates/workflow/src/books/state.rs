//! `state.json`: what the run has learnt, beyond the tree — best, plateau, practices
//! tried, the anchor, the history of results — written atomically after every change.

use std::collections::BTreeMap;
use std::path::Path;

use autoresearch_hypothesis_tree::FailureRecord;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::policy::{NoiseEstimate, Plateau, PracticeSet, StopReason};

/// The version of `state.json` this build writes.
pub const STATE_SCHEMA_VERSION: u32 = 1;

/// The run's lifecycle, as `state.json` tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Set-up (anchor, instrumentation) is under way.
    Initializing,
    /// The engine runs experiments.
    Running,
    /// The engine was stopped by a signal; resume continues.
    Interrupted,
    /// A stop rule fired, or the queue ran out.
    Stopped,
}

/// One finished experiment, as planning and reports see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The node id.
    pub run_id: String,
    /// Its name.
    pub name: String,
    /// `completed` or `failed`.
    pub status: String,
    /// The platform's job id.
    #[serde(default)]
    pub job_id: Option<String>,
    /// The commit it ran.
    #[serde(default)]
    pub commit: Option<String>,
    /// UTC wall clock, RFC 3339.
    pub completed_at: String,
    /// Steady median step, ms.
    #[serde(default)]
    pub steady_step_ms: Option<f64>,
    /// Samples per second.
    #[serde(default)]
    pub throughput: Option<f64>,
    /// Whether it became the new best.
    #[serde(default)]
    pub improved: bool,
    /// Its change against the best before it, percent (negative is faster).
    #[serde(default)]
    pub delta_vs_best_pct: Option<f64>,
    /// The comparison's verdict (`better`, `worse`, `indistinguishable`).
    #[serde(default)]
    pub verdict: Option<String>,
    /// What limits it, from the summary.
    #[serde(default)]
    pub bottleneck: Option<String>,
    /// Changes, readable.
    #[serde(default)]
    pub changes: String,
    /// The failure, if it failed.
    #[serde(default)]
    pub failure: Option<FailureRecord>,
}

/// One history entry's table cells, as summary.md and the planning prompt show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryCells {
    /// `completed`, `failed`, or `completed (new best)`.
    pub status: String,
    /// Steady step, ms, or `–`.
    pub step_ms: String,
    /// Samples per second, or `–`.
    pub throughput: String,
    /// Change against the best then, or `–`.
    pub delta: String,
}

impl HistoryEntry {
    /// The entry's figures as table cells.
    pub fn cells(&self) -> HistoryCells {
        let dash = || "–".to_owned();
        HistoryCells {
            status: format!(
                "{}{}",
                self.status,
                if self.improved { " (new best)" } else { "" }
            ),
            step_ms: self.steady_step_ms.map_or_else(dash, |v| format!("{v:.2}")),
            throughput: self.throughput.map_or_else(dash, |v| format!("{v:.1}")),
            delta: self
                .delta_vs_best_pct
                .map_or_else(dash, |v| format!("{v:+.1}%")),
        }
    }
}

/// A new best waiting for its confirmation run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingConfirmation {
    /// The candidate.
    pub candidate: String,
    /// The confirmation run.
    pub confirm_node: String,
    /// The best the candidate beat.
    pub previous_best: Option<String>,
}

/// The run's state (`state.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Format version.
    pub schema_version: u32,
    /// Lifecycle.
    pub status: RunStatus,
    /// UTC wall clock of the first start, RFC 3339.
    pub started_at: String,
    /// Wall-clock seconds the engine ran before this start (for the hours budget).
    #[serde(default)]
    pub elapsed_before_s: f64,
    /// The commit experiments start from (after instrumentation).
    #[serde(default)]
    pub anchor_commit: Option<String>,
    /// The user's commit when the run began.
    #[serde(default)]
    pub user_head: Option<String>,
    /// Whether set-up finished.
    #[serde(default)]
    pub setup_done: bool,
    /// Planning rounds done.
    #[serde(default)]
    pub iteration: u32,
    /// The current best node (never the headspace run).
    #[serde(default)]
    pub current_best: Option<String>,
    /// Its steady median step, ms.
    #[serde(default)]
    pub best_step_ms: Option<f64>,
    /// Its throughput, samples/s.
    #[serde(default)]
    pub best_throughput: Option<f64>,
    /// The compute-only floor, ms (from the headspace run).
    #[serde(default)]
    pub floor_ms: Option<f64>,
    /// Headspace, percent.
    #[serde(default)]
    pub headspace_pct: Option<f64>,
    /// Rounds and rounds without a new best.
    #[serde(default)]
    pub plateau: Plateau,
    /// Whether the seeds' one planning round has started (the seeds together make one
    /// round, whichever finishes last).
    #[serde(default)]
    pub seed_round_done: bool,
    /// The best when the last planning round ran (a round counts as "new best" when the
    /// best changed since).
    #[serde(default)]
    pub best_at_last_round: Option<String>,
    /// Best practices tried (or recorded as impossible).
    #[serde(default)]
    pub practices_tried: PracticeSet,
    /// Attempts per structural practice.
    #[serde(default)]
    pub structural_attempts: BTreeMap<String, u32>,
    /// Experiments launched (the experiment budget counts these).
    #[serde(default)]
    pub launched: u32,
    /// Agent spend so far, USD.
    #[serde(default)]
    pub llm_usd: f64,
    /// Why the run stopped, once a stop was accepted.
    #[serde(default)]
    pub stop: Option<StopReason>,
    /// Seeds or steps that were skipped, and why.
    #[serde(default)]
    pub skipped: Vec<Value>,
    /// Set-up failures.
    #[serde(default)]
    pub setup_failures: Vec<FailureRecord>,
    /// A new best waiting for its repeat.
    #[serde(default)]
    pub pending_confirmation: Option<PendingConfirmation>,
    /// The noise between runs of one configuration, as last measured (the prior until
    /// a configuration ran twice).
    #[serde(default)]
    pub noise: NoiseEstimate,
    /// The namespace of the run's branches in the user's repository
    /// (`autoresearch/<name>-<hex>`; absent in work directories from before namespaces).
    #[serde(default)]
    pub branch_namespace: Option<String>,
    /// The knobs experiments may vary (read from the script at set-up).
    #[serde(default)]
    pub knobs: Vec<crate::knobs::Knob>,
    /// Finished experiments, in completion order.
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
}

/// `state.json` cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {path}: {detail}\nhint: {hint}")]
pub struct StateError {
    action: &'static str,
    path: String,
    detail: String,
    hint: &'static str,
}

impl RunState {
    /// A new run's state.
    pub fn new() -> Self {
        Self {
            schema_version: STATE_SCHEMA_VERSION,
            status: RunStatus::Initializing,
            started_at: jiff::Timestamp::now().to_string(),
            elapsed_before_s: 0.0,
            anchor_commit: None,
            user_head: None,
            setup_done: false,
            iteration: 0,
            current_best: None,
            best_step_ms: None,
            best_throughput: None,
            floor_ms: None,
            headspace_pct: None,
            plateau: Plateau::default(),
            seed_round_done: false,
            best_at_last_round: None,
            practices_tried: PracticeSet::new(),
            structural_attempts: BTreeMap::new(),
            launched: 0,
            llm_usd: 0.0,
            stop: None,
            skipped: Vec::new(),
            setup_failures: Vec::new(),
            pending_confirmation: None,
            noise: NoiseEstimate::default(),
            branch_namespace: None,
            knobs: Vec::new(),
            history: Vec::new(),
        }
    }

    /// Reads `path`; `None` when it does not exist.
    pub fn load(path: &Path) -> Result<Option<Self>, StateError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => {
                return Err(StateError {
                    action: "read",
                    path: path.display().to_string(),
                    detail: err.to_string(),
                    hint: "check the file's permissions",
                });
            }
        };
        let state: Self = serde_json::from_slice(&bytes).map_err(|err| StateError {
            action: "parse",
            path: path.display().to_string(),
            detail: err.to_string(),
            hint: "the file is damaged; restore it from a backup, or start a new work directory",
        })?;
        if state.schema_version > STATE_SCHEMA_VERSION {
            return Err(StateError {
                action: "use",
                path: path.display().to_string(),
                detail: format!(
                    "schema version {} is newer than this build's {STATE_SCHEMA_VERSION}",
                    state.schema_version
                ),
                hint: "use the autoresearch release that wrote it",
            });
        }
        Ok(Some(state))
    }

    /// Writes `path` atomically.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|err| StateError {
            action: "encode",
            path: path.display().to_string(),
            detail: err.to_string(),
            hint: "this is a bug",
        })?;
        bytes.push(b'\n');
        autoresearch_fs::write_atomic(path, &bytes).map_err(|err| StateError {
            action: "write",
            path: path.display().to_string(),
            detail: err.to_string(),
            hint: "check free space and permissions",
        })
    }
}

impl Default for RunState {
    fn default() -> Self {
        Self::new()
    }
}
