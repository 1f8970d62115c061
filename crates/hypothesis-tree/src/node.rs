//! One experiment: the node of the tree.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where an experiment is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    /// Waiting to start.
    Queued,
    /// Checkout, change, build.
    Preparing,
    /// The job runs.
    Running,
    /// Evidence is being summarised and interpreted.
    Analyzing,
    /// Done, with a result.
    Completed,
    /// Done, with a failure record.
    Failed,
}

impl NodeStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [Self; 6] = [
        Self::Queued,
        Self::Preparing,
        Self::Running,
        Self::Analyzing,
        Self::Completed,
        Self::Failed,
    ];

    /// Completed or failed: nothing moves it again.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }

    /// The lower-case name (as in `status.txt`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Preparing => "preparing",
            Self::Running => "running",
            Self::Analyzing => "analyzing",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    /// Whether the lifecycle allows going from `self` to `next`: forward along
    /// queued → preparing → running → analyzing → completed, to failed from any
    /// non-terminal status, back to queued from preparing (a retried preparation), and
    /// staying put (a resumed engine re-entering the same phase).
    pub fn can_become(self, next: Self) -> bool {
        use NodeStatus::*;
        self == next && !self.is_terminal()
            || matches!(
                (self, next),
                (Queued, Preparing)
                    | (Preparing, Running)
                    | (Preparing, Queued)
                    | (Running, Analyzing)
                    | (Analyzing, Completed)
                    | (Queued | Preparing | Running | Analyzing, Failed)
            )
    }
}

impl std::fmt::Display for NodeStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong (the original tool's kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The agent's or the deterministic edit failed.
    CodeChangeFailed,
    /// The checkout could not be restored.
    SourceRestoreFailed,
    /// The build failed.
    BuildFailed,
    /// The launch failed.
    LaunchFailed,
    /// The job died before producing evidence (import, pickling, configuration).
    JobStartupFailed,
    /// The job died while running.
    JobRuntimeFailed,
    /// The job failed otherwise.
    JobFailed,
    /// The job stopped making progress.
    JobStalled,
    /// Evidence could not be collected.
    MetricsCollectionFailed,
    /// The interpretation failed.
    AnalysisFailed,
    /// Planning failed.
    PlanningFailed,
    /// Instrumentation failed.
    SetupInstrumentationFailed,
    /// Setting up the source failed.
    SetupSourceFailed,
    /// Anything else.
    UnexpectedException,
    /// Stopped by a shutdown.
    Interrupted,
}

/// Where in the lifecycle it went wrong (the original tool's phases).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailurePhase {
    /// Preparation.
    Prepare,
    /// Source checkout.
    Source,
    /// Applying the change.
    CodeChange,
    /// Building.
    Build,
    /// Launching.
    Launch,
    /// The job.
    Job,
    /// Collecting evidence.
    Metrics,
    /// Interpretation.
    Analysis,
    /// Planning.
    Planning,
    /// Set-up.
    Setup,
    /// Instrumentation.
    Instrumentation,
    /// The engine.
    Runner,
}

/// A structured failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureRecord {
    /// The kind.
    pub kind: FailureKind,
    /// The phase.
    pub phase: FailurePhase,
    /// A one-line message.
    pub message: String,
    /// Whether a retry could help.
    #[serde(default)]
    pub retryable: bool,
    /// Anything more (log paths, exit code, …).
    #[serde(default)]
    pub details: Value,
    /// The error's type name, if any.
    #[serde(default)]
    pub exception_type: Option<String>,
    /// The job, if one was launched.
    #[serde(default)]
    pub job_id: Option<String>,
    /// UTC wall clock, RFC 3339.
    pub created_at: String,
}

impl FailureRecord {
    /// A failure of `kind` in `phase`, now. Start-up failures and interruptions are
    /// retryable; the job, the exception type and the details are the caller's to add.
    pub fn new(kind: FailureKind, phase: FailurePhase, message: impl Into<String>) -> Self {
        Self {
            kind,
            phase,
            message: message.into(),
            retryable: matches!(
                kind,
                FailureKind::JobStartupFailed | FailureKind::Interrupted
            ),
            details: serde_json::Value::Null,
            exception_type: None,
            job_id: None,
            created_at: jiff::Timestamp::now().to_string(),
        }
    }
}

/// The measured figures a node shows in pictures and tables (filled by the workflow).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeMetrics {
    /// Steady median step time, ms.
    #[serde(default)]
    pub step_ms: Option<f64>,
    /// Samples per second.
    #[serde(default)]
    pub throughput: Option<f64>,
    /// GPU SM utilisation p50, percent.
    #[serde(default)]
    pub sm_util_pct: Option<f64>,
}

/// One experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HypothesisNode {
    /// `NNN_name`, unique, safe in paths and job names.
    pub node_id: String,
    /// The sanitised name.
    pub name: String,
    /// The node whose result motivated this one.
    #[serde(default)]
    pub parent_id: Option<String>,
    /// The commit it was built from.
    #[serde(default)]
    pub commit: Option<String>,
    /// What to do (owned by the workflow).
    #[serde(default)]
    pub spec: Value,
    /// Lifecycle status.
    pub status: NodeStatus,
    /// The platform's job id.
    #[serde(default)]
    pub job_id: Option<String>,
    /// UTC wall-clock launch time, RFC 3339.
    #[serde(default)]
    pub launched_at: Option<String>,
    /// The analysis (owned by the workflow).
    #[serde(default)]
    pub result: Value,
    /// Child ids, in creation order.
    #[serde(default)]
    pub children: Vec<String>,
    /// Lower runs first.
    #[serde(default)]
    pub priority: f64,
    /// Job wall time, seconds.
    #[serde(default)]
    pub duration: Option<f64>,
    /// Why it failed.
    #[serde(default)]
    pub failure: Option<FailureRecord>,
    /// Starts of this experiment (1 on the first).
    #[serde(default)]
    pub attempt: u32,
    /// 1-based order of launch, for pictures ("#7").
    #[serde(default)]
    pub launch_order: Option<u64>,
    /// Whether it beat the best before it beyond noise (and was kept).
    #[serde(default)]
    pub improved: bool,
    /// The figures pictures and tables show.
    #[serde(default)]
    pub metrics: NodeMetrics,
}
