//! The in-memory scheduler state that snapshots and journal lines describe.

use std::collections::HashMap;
use std::path::Path;

use super::format::{Checkpoint, CheckpointStatus, JournalOp, SCHEMA_VERSION, SpecRecord};
use crate::error::CheckpointError;
use crate::queue::{QueuedSpec, SpecQueue};
use crate::spec::WorkSpec;

/// A spec that has started and not finished.
#[derive(Debug, Clone)]
pub(crate) struct RunningSpec {
    pub(crate) spec: WorkSpec,
    pub(crate) attempts: u32,
    pub(crate) resumed: bool,
    seq: u64,
}

/// Why a new spec was not queued.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Rejection {
    Invalid(String),
    Duplicate,
}

/// Queued and running specs. Specs loaded as running wait at the head of the queue
/// (flagged `resumed`) and still count as running in a snapshot until they restart.
#[derive(Debug, Default)]
pub(crate) struct SchedulerState {
    queue: SpecQueue,
    running: HashMap<String, RunningSpec>,
    next_running_seq: u64,
}

impl SchedulerState {
    /// Rebuilds the state a snapshot describes, checking the rules the engine relies on.
    pub(crate) fn from_checkpoint(
        checkpoint: Checkpoint,
        path: &Path,
    ) -> Result<Self, CheckpointError> {
        if checkpoint.schema_version > SCHEMA_VERSION {
            return Err(CheckpointError::UnsupportedVersion {
                path: path.to_owned(),
                found: checkpoint.schema_version,
                supported: SCHEMA_VERSION,
            });
        }
        let mut state = Self::default();
        let lists = [
            ("running", checkpoint.running),
            ("queued", checkpoint.queued),
        ];
        for (list, records) in lists {
            for (index, record) in records.into_iter().enumerate() {
                let (spec, attempts) = record.into_spec();
                let invalid = |problem: String| CheckpointError::Invalid {
                    path: path.to_owned(),
                    problem: format!("{list}[{index}]: {problem}"),
                };
                spec.validate().map_err(|err| invalid(err.to_string()))?;
                let id = spec.id.clone();
                let queued = QueuedSpec {
                    spec,
                    attempts,
                    resumed: list == "running",
                };
                if state.queue.push(queued).is_err() {
                    return Err(invalid(format!(
                        "id `{id}` appears more than once; ids must be unique across queued and running"
                    )));
                }
            }
        }
        Ok(state)
    }

    /// The snapshot of this state.
    pub(crate) fn to_checkpoint(&self, status: CheckpointStatus, generation: u64) -> Checkpoint {
        let mut started: Vec<&RunningSpec> = self.running.values().collect();
        started.sort_by_key(|running| running.seq);
        let running = started
            .into_iter()
            .map(|r| SpecRecord::new(r.spec.clone(), r.attempts))
            .chain(
                self.queue
                    .iter()
                    .filter(|q| q.resumed)
                    .map(|q| SpecRecord::new(q.spec.clone(), q.attempts)),
            )
            .collect();
        let queued = self
            .queue
            .iter()
            .filter(|q| !q.resumed)
            .map(|q| SpecRecord::new(q.spec.clone(), q.attempts))
            .collect();
        Checkpoint {
            schema_version: SCHEMA_VERSION,
            status,
            timestamp: Some(jiff::Timestamp::now().to_string()),
            generation,
            queued,
            running,
        }
    }

    /// Applies one journal line during replay. Lines that name unknown ids (possible only
    /// if the snapshot was edited by hand after a crash) are skipped with a warning.
    pub(crate) fn apply(&mut self, op: JournalOp) {
        match op {
            JournalOp::Header { .. } => {}
            JournalOp::Start { ids } => {
                for id in ids {
                    match self.queue.remove(&id) {
                        Some(queued) => {
                            self.start(queued);
                        }
                        None => {
                            tracing::warn!(%id, "journal starts a spec that is not queued; skipped")
                        }
                    }
                }
            }
            JournalOp::Finish { id, children } => {
                if self.running.remove(&id).is_none() && self.queue.remove(&id).is_none() {
                    tracing::warn!(%id, "journal finishes a spec that is not live; skipped");
                }
                for child in children {
                    let (spec, attempts) = child.into_spec();
                    if let Err(err) = self.try_push(spec, attempts) {
                        tracing::warn!(
                            ?err,
                            "journal queues a spec that cannot be queued; skipped"
                        );
                    }
                }
            }
        }
    }

    /// Whether a spec with this id is queued or running.
    pub(crate) fn is_live(&self, id: &str) -> bool {
        self.running.contains_key(id) || self.queue.contains(id)
    }

    /// Queues a new spec unless it is invalid or its id is live.
    pub(crate) fn try_push(&mut self, spec: WorkSpec, attempts: u32) -> Result<(), Rejection> {
        spec.validate()
            .map_err(|err| Rejection::Invalid(err.to_string()))?;
        if self.running.contains_key(&spec.id) {
            return Err(Rejection::Duplicate);
        }
        self.queue
            .push(QueuedSpec {
                spec,
                attempts,
                resumed: false,
            })
            .map_err(|_| Rejection::Duplicate)
    }

    /// Takes the spec that should start next off the queue.
    pub(crate) fn pop_next(&mut self) -> Option<QueuedSpec> {
        self.queue.pop()
    }

    /// Records a start: the spec moves to the running set with one more attempt.
    pub(crate) fn start(&mut self, queued: QueuedSpec) -> &RunningSpec {
        let seq = self.next_running_seq;
        self.next_running_seq += 1;
        let id = queued.spec.id.clone();
        self.running
            .entry(id)
            .insert_entry(RunningSpec {
                spec: queued.spec,
                attempts: queued.attempts.saturating_add(1),
                resumed: queued.resumed,
                seq,
            })
            .into_mut()
    }

    /// Moves every running spec back to the queue, flagged `resumed`, in the order
    /// they started; their attempts stay as counted.
    pub(crate) fn requeue_running(&mut self) {
        let mut running: Vec<RunningSpec> =
            std::mem::take(&mut self.running).into_values().collect();
        running.sort_by_key(|r| r.seq);
        for r in running {
            let queued = QueuedSpec {
                spec: r.spec,
                attempts: r.attempts,
                resumed: true,
            };
            // The ids were unique across the running set and the queue.
            let _ = self.queue.push(queued);
        }
    }

    /// The running spec with this id.
    pub(crate) fn running(&self, id: &str) -> Option<&RunningSpec> {
        self.running.get(id)
    }

    /// Number of specs waiting to start (including resumed ones).
    pub(crate) fn queued_len(&self) -> usize {
        self.queue.len()
    }
}
