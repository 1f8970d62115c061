//! The dispatcher: bounded concurrency, priorities, results, children, shutdown.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio::task::{JoinError, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};

use crate::checkpoint::{CheckpointStats, CheckpointStatus, CheckpointStore, CompactionPolicy};
use crate::error::EngineError;
use crate::shutdown::ShutdownListener;
use crate::workflow::{CancelToken, Start, WorkContext, WorkOutcome, Workflow};

/// How an engine runs. Build with [`EngineConfig::new`] and the `with_*` methods.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where `checkpoint.json` and its journal live (created if missing).
    pub checkpoint_dir: PathBuf,
    /// Most specs running at once (at least 1).
    pub max_concurrency: usize,
    /// How long running work may take to wind down after the first shutdown request.
    pub grace_period: Duration,
    /// How often the journal is fsynced (and a small snapshot refreshed).
    pub sync_interval: Duration,
    /// When the snapshot is rewritten.
    pub compaction: CompactionPolicy,
}

impl EngineConfig {
    /// Defaults: concurrency 1, 30 s grace, 200 ms sync interval.
    pub fn new(checkpoint_dir: impl Into<PathBuf>) -> Self {
        Self {
            checkpoint_dir: checkpoint_dir.into(),
            max_concurrency: 1,
            grace_period: Duration::from_secs(30),
            sync_interval: Duration::from_millis(200),
            compaction: CompactionPolicy::default(),
        }
    }

    /// Sets the concurrency bound.
    #[must_use]
    pub fn with_max_concurrency(mut self, max_concurrency: usize) -> Self {
        self.max_concurrency = max_concurrency;
        self
    }

    /// Sets the grace period.
    #[must_use]
    pub fn with_grace_period(mut self, grace_period: Duration) -> Self {
        self.grace_period = grace_period;
        self
    }

    /// Sets the sync interval.
    #[must_use]
    pub fn with_sync_interval(mut self, sync_interval: Duration) -> Self {
        self.sync_interval = sync_interval;
        self
    }

    /// Sets the compaction policy.
    #[must_use]
    pub fn with_compaction(mut self, compaction: CompactionPolicy) -> Self {
        self.compaction = compaction;
        self
    }

    fn validate(&self) -> Result<(), EngineError> {
        if self.max_concurrency == 0 {
            return Err(EngineError::Config(
                "max_concurrency is 0; it must be at least 1".to_owned(),
            ));
        }
        if self.sync_interval.is_zero() {
            return Err(EngineError::Config(
                "sync_interval is 0; it must be positive".to_owned(),
            ));
        }
        Ok(())
    }
}

/// Live counters, published on every change (see [`Engine::counts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Specs waiting to start.
    pub queued: usize,
    /// Specs running now.
    pub running: usize,
    /// Specs that completed during this engine run.
    pub completed: usize,
    /// Specs that failed (or panicked) during this engine run.
    pub failed: usize,
    /// Specs stopped by shutdown; they stay in the checkpoint's running list.
    pub interrupted: usize,
    /// Proposed specs not queued: invalid, or their id was already queued or running.
    pub rejected: usize,
}

/// What an engine run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// `stopped` (the queue drained) or `interrupted` (a shutdown request).
    pub status: CheckpointStatus,
    /// Final counters.
    pub counts: Counts,
    /// Checkpoint I/O.
    pub checkpoint: CheckpointStats,
    /// The workflow's summary.
    pub summary: String,
}

impl RunReport {
    /// A one-line description of the counters.
    pub fn describe(&self) -> String {
        let c = &self.counts;
        format!(
            "{}: {} completed, {} failed, {} interrupted, {} queued, {} rejected",
            self.status, c.completed, c.failed, c.interrupted, c.queued, c.rejected
        )
    }
}

/// Runs a [`Workflow`]'s specs with bounded concurrency, checkpointing every change.
pub struct Engine<W> {
    workflow: Arc<W>,
    config: EngineConfig,
    counts: watch::Sender<Counts>,
}

impl<W: Workflow> Engine<W> {
    /// An engine for `workflow`; fails if the configuration is unusable.
    pub fn new(workflow: Arc<W>, config: EngineConfig) -> Result<Self, EngineError> {
        config.validate()?;
        Ok(Self {
            workflow,
            config,
            counts: watch::channel(Counts::default()).0,
        })
    }

    /// A receiver of the live counters.
    pub fn counts(&self) -> watch::Receiver<Counts> {
        self.counts.subscribe()
    }

    /// Loads or starts the checkpoint, runs until the queue drains or a shutdown request
    /// ends the run, and writes the final checkpoint (`stopped` or `interrupted`).
    pub async fn run(self, mut shutdown: ShutdownListener) -> Result<RunReport, EngineError> {
        let config = &self.config;
        let (mut store, start) = CheckpointStore::open(&config.checkpoint_dir, config.compaction)?;
        let mut counts = Counts::default();
        if let Start::Resumed(info) = &start {
            tracing::info!(
                previous_status = %info.previous_status,
                running = info.running.len(),
                queued = info.queued.len(),
                "resuming from checkpoint"
            );
        }
        let initial = self
            .workflow
            .initial_specs(&start)
            .await
            .map_err(EngineError::Workflow)?;
        for spec in initial {
            let id = spec.id.clone();
            if let Err(rejection) = store.enqueue_initial(spec) {
                tracing::warn!(%id, ?rejection, "initial spec not queued");
                counts.rejected += 1;
            }
        }
        store.compact(CheckpointStatus::Running)?;

        let (cancel_tx, cancel_rx) = watch::channel(false);
        let mut tasks: JoinSet<WorkOutcome> = JoinSet::new();
        let mut in_flight: HashMap<tokio::task::Id, String> = HashMap::new();
        let mut shutting_down = false;
        let mut grace_deadline: Option<Instant> = None;
        let mut listening = true;
        if shutdown.requests() > 0 {
            shutting_down = true;
        }
        let mut tick =
            tokio::time::interval_at(Instant::now() + config.sync_interval, config.sync_interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);

        loop {
            if !shutting_down && tasks.len() < config.max_concurrency {
                for started in store.start_next(config.max_concurrency - tasks.len())? {
                    let id = started.spec.id.clone();
                    tracing::debug!(%id, attempt = started.attempt, resumed = started.resumed, "starting");
                    let ctx = WorkContext {
                        spec: started.spec,
                        attempt: started.attempt,
                        resumed: started.resumed,
                        cancel: CancelToken::new(cancel_rx.clone()),
                    };
                    let handle = tasks.spawn(Arc::clone(&self.workflow).run(ctx));
                    in_flight.insert(handle.id(), id);
                }
            }
            counts.queued = store.queued_len();
            counts.running = tasks.len();
            self.counts.send_replace(counts);
            if tasks.is_empty() && (shutting_down || store.queued_len() == 0) {
                break;
            }

            tokio::select! {
                request = shutdown.next(), if listening => match request {
                    None => listening = false,
                    Some(requests) => {
                        if !shutting_down {
                            shutting_down = true;
                            cancel_tx.send_replace(true);
                            grace_deadline = Some(Instant::now() + config.grace_period);
                            tracing::info!(
                                running = tasks.len(),
                                grace = ?config.grace_period,
                                "shutting down: no new work starts; running work may wind down"
                            );
                        }
                        if requests >= 2 {
                            tracing::warn!(running = tasks.len(), "second shutdown request: stopping running work now");
                            tasks.abort_all();
                            grace_deadline = None;
                        }
                    }
                },
                () = tokio::time::sleep_until(grace_deadline.unwrap_or_else(Instant::now)),
                    if grace_deadline.is_some() =>
                {
                    tracing::warn!(running = tasks.len(), "grace period over: stopping running work");
                    tasks.abort_all();
                    grace_deadline = None;
                }
                joined = tasks.join_next_with_id() => {
                    let Some(joined) = joined else { continue };
                    let (task_id, outcome) = match joined {
                        Ok((task_id, outcome)) => (task_id, Ok(outcome)),
                        Err(err) => (err.id(), Err(err)),
                    };
                    let Some(id) = in_flight.remove(&task_id) else {
                        tracing::error!(?task_id, "a finished task has no spec; ignored");
                        continue;
                    };
                    let outcome = match outcome {
                        Ok(WorkOutcome::Interrupted) if shutting_down => None,
                        Ok(WorkOutcome::Interrupted) => Some(WorkOutcome::failed(
                            "the work reported an interruption while no shutdown was requested",
                        )),
                        Ok(outcome) => Some(outcome),
                        Err(err) if err.is_cancelled() => None,
                        Err(err) => Some(WorkOutcome::failed(panic_reason(err))),
                    };
                    match outcome {
                        None => {
                            tracing::info!(%id, "interrupted; stays in the checkpoint's running list");
                            counts.interrupted += 1;
                        }
                        Some(outcome) => self.finish(&mut store, &mut counts, &id, outcome).await?,
                    }
                }
                _ = tick.tick() => store.maintain()?,
            }
        }

        let status = if shutting_down {
            CheckpointStatus::Interrupted
        } else {
            CheckpointStatus::Stopped
        };
        store.compact(status)?;
        counts.queued = store.queued_len();
        counts.running = 0;
        self.counts.send_replace(counts);
        let mut report = RunReport {
            status,
            counts,
            checkpoint: store.stats(),
            summary: String::new(),
        };
        report.summary = self.workflow.summary(&report);
        Ok(report)
    }

    async fn finish(
        &self,
        store: &mut CheckpointStore,
        counts: &mut Counts,
        id: &str,
        outcome: WorkOutcome,
    ) -> Result<(), EngineError> {
        let Some(running) = store.running(id) else {
            tracing::error!(%id, "a finished spec is not in the running set; ignored");
            return Ok(());
        };
        let spec = running.spec.clone();
        match &outcome {
            WorkOutcome::Failed { reason, .. } => {
                tracing::warn!(%id, %reason, "failed");
                counts.failed += 1;
            }
            _ => {
                tracing::debug!(%id, "completed");
                counts.completed += 1;
            }
        }
        let children = self.workflow.on_result(&spec, outcome).await;
        let queued = store.finish(id, children)?;
        counts.rejected += queued.rejected;
        Ok(())
    }
}

fn panic_reason(err: JoinError) -> String {
    match err.try_into_panic() {
        Ok(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-string panic payload".to_owned());
            format!("the work panicked: {message}")
        }
        Err(err) => format!("the work ended abnormally: {err}"),
    }
}
