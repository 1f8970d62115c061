//! The boundary between the engine and the code that gives work its meaning.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::watch;

use crate::checkpoint::CheckpointStatus;
use crate::engine::RunReport;
use crate::error::BoxError;
use crate::spec::WorkSpec;

/// How the engine found its checkpoint directory.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    /// No checkpoint: a new run.
    Fresh,
    /// A checkpoint was loaded; its specs are already scheduled.
    Resumed(ResumeInfo),
}

/// What a resumed run picked up.
#[derive(Debug, Clone, PartialEq)]
pub struct ResumeInfo {
    /// The status the previous engine left (`running` means it died without a word).
    pub previous_status: CheckpointStatus,
    /// Specs that were running; they start first.
    pub running: Vec<WorkSpec>,
    /// Specs that were queued, in start order.
    pub queued: Vec<WorkSpec>,
}

/// Everything a unit of work gets when it starts.
#[derive(Debug, Clone)]
pub struct WorkContext {
    /// The spec to run.
    pub spec: WorkSpec,
    /// 1 on the first start; one more for each start the checkpoint recorded before.
    /// After `kill -9` a start may have happened without being recorded, so work must
    /// be idempotent by `spec.id`, not by attempt.
    pub attempt: u32,
    /// True if the spec was running when a previous engine stopped: it may have left
    /// partial effects (a launched process, half-written files) to pick up.
    pub resumed: bool,
    /// Fires when the engine is shutting down.
    pub cancel: CancelToken,
}

/// Tells a unit of work that the engine is shutting down.
///
/// Work that sees it should persist what it needs and return
/// [`WorkOutcome::Interrupted`] within the engine's grace period; after that it is
/// dropped at its next `.await`.
#[derive(Debug, Clone)]
pub struct CancelToken {
    rx: watch::Receiver<bool>,
    /// Keeps the sender of a [`CancelToken::never`] token alive.
    _owner: Option<Arc<watch::Sender<bool>>>,
}

impl CancelToken {
    pub(crate) fn new(rx: watch::Receiver<bool>) -> Self {
        Self { rx, _owner: None }
    }

    /// A token that never fires, for calling work outside an engine.
    pub fn never() -> Self {
        let (tx, rx) = watch::channel(false);
        Self {
            rx,
            _owner: Some(Arc::new(tx)),
        }
    }

    /// Whether shutdown has been requested.
    pub fn is_cancelled(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once shutdown is requested.
    pub async fn cancelled(&self) {
        let mut rx = self.rx.clone();
        // An error means the engine is gone, which is a shutdown too.
        let _ = rx.wait_for(|cancelled| *cancelled).await;
    }
}

/// How a unit of work ended.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkOutcome {
    /// It finished; `children` are proposed for the queue.
    Completed {
        /// Follow-up specs.
        children: Vec<WorkSpec>,
    },
    /// It failed for good (the engine does not retry); it may still propose children,
    /// such as a repaired variant.
    Failed {
        /// Why, for logs and the summary.
        reason: String,
        /// Follow-up specs.
        children: Vec<WorkSpec>,
    },
    /// It stopped because the engine is shutting down; the spec stays in the
    /// checkpoint's `running` list and restarts first on resume. Returned while no
    /// shutdown is under way, it counts as a failure.
    Interrupted,
}

impl WorkOutcome {
    /// Completed with no children.
    pub fn completed() -> Self {
        Self::Completed {
            children: Vec::new(),
        }
    }

    /// Completed with these children.
    pub fn completed_with(children: Vec<WorkSpec>) -> Self {
        Self::Completed { children }
    }

    /// Failed with no children.
    pub fn failed(reason: impl Into<String>) -> Self {
        Self::Failed {
            reason: reason.into(),
            children: Vec::new(),
        }
    }

    /// The proposed children (none for `Interrupted`).
    pub fn into_children(self) -> Vec<WorkSpec> {
        match self {
            Self::Completed { children } | Self::Failed { children, .. } => children,
            Self::Interrupted => Vec::new(),
        }
    }

    /// Whether this is a failure.
    pub fn is_failed(&self) -> bool {
        matches!(self, Self::Failed { .. })
    }
}

/// Domain code behind the engine. The engine calls `initial_specs` once, then `run` for
/// each spec (up to the concurrency bound at once), then `on_result` for each finished
/// spec, one at a time, and queues what it returns.
///
/// Implementations are shared across tasks (`Arc<Self>`), so state they mutate needs
/// interior synchronisation. `on_result` runs on the engine's loop: keep it short, since
/// no new work starts while it runs.
pub trait Workflow: Send + Sync + 'static {
    /// Specs to add at start-up: the seed work on a fresh run; usually nothing on a
    /// resume (the checkpoint's specs are already scheduled), but a workflow may extend a
    /// stopped run here.
    fn initial_specs(
        &self,
        start: &Start,
    ) -> impl Future<Output = Result<Vec<WorkSpec>, BoxError>> + Send;

    /// Runs one spec to its outcome. A panic counts as a failure.
    fn run(self: Arc<Self>, ctx: WorkContext) -> impl Future<Output = WorkOutcome> + Send;

    /// Sees each finished spec's outcome and returns the specs to queue (by default the
    /// outcome's children). Filter, transform or add specs here. Not called for work
    /// interrupted by shutdown.
    fn on_result(
        &self,
        spec: &WorkSpec,
        outcome: WorkOutcome,
    ) -> impl Future<Output = Vec<WorkSpec>> + Send {
        let _ = spec;
        let children = outcome.into_children();
        async move { children }
    }

    /// A short, deterministic description of the run, made when the engine returns.
    fn summary(&self, report: &RunReport) -> String {
        report.describe()
    }
}
