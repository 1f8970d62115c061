//! The engine's handle on its checkpoint directory.

use std::fs::File;
use std::path::Path;

use super::format::{CheckpointStatus, JournalOp, SpecRecord};
use super::state::{Rejection, RunningSpec, SchedulerState};
use super::{CheckpointPaths, journal, load_state, write_snapshot};
use crate::error::CheckpointError;
use crate::queue::QueuedSpec;
use crate::spec::WorkSpec;
use crate::workflow::{ResumeInfo, Start};
use autoresearch_fs::sweep_stale_tmp;

/// When the snapshot is rewritten instead of appending to the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionPolicy {
    /// Rewrite once the journal exceeds this many bytes *and* `journal_ratio` times the
    /// last snapshot's size. Keeps total checkpoint I/O linear in the number of changes.
    pub min_journal_bytes: u64,
    /// See `min_journal_bytes`. With both at 0 every change rewrites the snapshot (the
    /// quadratic baseline the benchmark compares against).
    pub journal_ratio: u64,
    /// On each sync tick, a snapshot no larger than this is rewritten if anything changed,
    /// so `checkpoint.json` stays current for people reading it during a run.
    pub fresh_snapshot_bytes: u64,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        Self {
            min_journal_bytes: 64 * 1024,
            journal_ratio: 2,
            fresh_snapshot_bytes: 256 * 1024,
        }
    }
}

/// Checkpoint I/O done by one engine run, for benchmarks and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CheckpointStats {
    /// Snapshots written.
    pub snapshot_writes: u64,
    /// Bytes of all snapshots written.
    pub snapshot_bytes: u64,
    /// Journal lines appended (headers included).
    pub journal_appends: u64,
    /// Bytes appended to journals.
    pub journal_bytes: u64,
    /// Journal fsyncs.
    pub journal_syncs: u64,
}

impl CheckpointStats {
    /// All bytes written.
    pub fn total_bytes(&self) -> u64 {
        self.snapshot_bytes + self.journal_bytes
    }

    /// All write operations (snapshots and journal lines).
    pub fn total_writes(&self) -> u64 {
        self.snapshot_writes + self.journal_appends
    }
}

/// A spec the engine has just started.
#[derive(Debug, Clone)]
pub(crate) struct Started {
    pub(crate) spec: WorkSpec,
    pub(crate) attempt: u32,
    pub(crate) resumed: bool,
}

/// Outcome of queueing children.
#[derive(Debug, Default)]
pub(crate) struct Queued {
    pub(crate) accepted: usize,
    pub(crate) rejected: usize,
}

/// Scheduler state plus the files that make it durable. Every change goes through here,
/// so memory and disk cannot drift apart.
pub(crate) struct CheckpointStore {
    paths: CheckpointPaths,
    policy: CompactionPolicy,
    state: SchedulerState,
    status: CheckpointStatus,
    generation: u64,
    journal: Option<File>,
    journal_len: u64,
    last_snapshot_len: u64,
    /// Journal lines appended since the last snapshot.
    changes_since_snapshot: u64,
    unsynced: bool,
    stats: CheckpointStats,
}

impl CheckpointStore {
    /// Loads (or starts) the checkpoint in `dir`. The caller must [`compact`] before
    /// recording changes.
    pub(crate) fn open(
        dir: &Path,
        policy: CompactionPolicy,
    ) -> Result<(Self, Start), CheckpointError> {
        std::fs::create_dir_all(dir)
            .map_err(|err| CheckpointError::io("create directory", dir, err))?;
        let paths = CheckpointPaths::new(dir);
        sweep_stale_tmp(&paths.snapshot);
        sweep_stale_tmp(&paths.journal);
        let (state, generation, start) = match load_state(&paths)? {
            None => (SchedulerState::default(), 0, Start::Fresh),
            Some((snapshot, state)) => {
                let snapshot_now = state.to_checkpoint(snapshot.status, snapshot.generation);
                let info = ResumeInfo {
                    previous_status: snapshot.status,
                    running: snapshot_now
                        .running
                        .into_iter()
                        .map(|r| r.into_spec().0)
                        .collect(),
                    queued: snapshot_now
                        .queued
                        .into_iter()
                        .map(|r| r.into_spec().0)
                        .collect(),
                };
                (state, snapshot.generation, Start::Resumed(info))
            }
        };
        let store = Self {
            paths,
            policy,
            state,
            status: CheckpointStatus::Running,
            generation,
            journal: None,
            journal_len: 0,
            last_snapshot_len: 0,
            changes_since_snapshot: 0,
            unsynced: false,
            stats: CheckpointStats::default(),
        };
        Ok((store, start))
    }

    /// Queues a spec before the first snapshot (no journal line: the snapshot that
    /// follows records it).
    pub(crate) fn enqueue_initial(&mut self, spec: WorkSpec) -> Result<(), Rejection> {
        self.state.try_push(spec, 0)
    }

    /// Starts the next specs, up to `limit`, and records the starts.
    pub(crate) fn start_next(&mut self, limit: usize) -> Result<Vec<Started>, CheckpointError> {
        let mut batch: Vec<QueuedSpec> = Vec::new();
        while batch.len() < limit {
            match self.state.pop_next() {
                Some(queued) => batch.push(queued),
                None => break,
            }
        }
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let ids = batch.iter().map(|q| q.spec.id.clone()).collect();
        self.append(&JournalOp::Start { ids })?;
        let started = batch
            .into_iter()
            .map(|queued| {
                let running = self.state.start(queued);
                Started {
                    spec: running.spec.clone(),
                    attempt: running.attempts,
                    resumed: running.resumed,
                }
            })
            .collect();
        self.after_change()?;
        Ok(started)
    }

    /// The running spec with this id.
    pub(crate) fn running(&self, id: &str) -> Option<&RunningSpec> {
        self.state.running(id)
    }

    /// Records that `id` finished and queues the children that are valid and not live.
    pub(crate) fn finish(
        &mut self,
        id: &str,
        children: Vec<WorkSpec>,
    ) -> Result<Queued, CheckpointError> {
        let mut outcome = Queued::default();
        let mut accepted: Vec<SpecRecord> = Vec::with_capacity(children.len());
        let mut seen = std::collections::HashSet::new();
        for child in children {
            let problem = match child.validate() {
                Err(err) => Some(err.to_string()),
                Ok(()) if child.id != id && self.state.is_live(&child.id) => {
                    Some("a spec with this id is already queued or running".to_owned())
                }
                Ok(()) if !seen.insert(child.id.clone()) => {
                    Some("the same id appears twice among the children".to_owned())
                }
                Ok(()) => None,
            };
            match problem {
                Some(problem) => {
                    tracing::warn!(parent = %id, child = %child.id, %problem, "child spec not queued");
                    outcome.rejected += 1;
                }
                None => accepted.push(SpecRecord::new(child, 0)),
            }
        }
        outcome.accepted = accepted.len();
        let op = JournalOp::Finish {
            id: id.to_owned(),
            children: accepted,
        };
        self.append(&op)?;
        // Live changes go through the same code as journal replay, so a resume rebuilds
        // exactly this state.
        self.state.apply(op);
        self.after_change()?;
        Ok(outcome)
    }

    /// Writes a fresh snapshot with `status` and starts a new, empty journal.
    pub(crate) fn compact(&mut self, status: CheckpointStatus) -> Result<(), CheckpointError> {
        self.status = status;
        let generation = self.generation + 1;
        let snapshot = self.state.to_checkpoint(status, generation);
        let written = write_snapshot(&self.paths.snapshot, &snapshot)?;
        self.stats.snapshot_writes += 1;
        self.stats.snapshot_bytes += written;
        self.generation = generation;
        self.last_snapshot_len = written;
        // A crash between the two writes leaves a journal of the previous generation,
        // which the loader ignores because the new snapshot already contains it.
        let header = journal::reset(&self.paths.journal, generation)?;
        self.stats.journal_appends += 1;
        self.stats.journal_bytes += header;
        self.journal = Some(journal::open_append(&self.paths.journal)?);
        self.journal_len = header;
        self.changes_since_snapshot = 0;
        self.unsynced = false;
        Ok(())
    }

    /// Periodic upkeep: refresh a small snapshot, or fsync the journal.
    pub(crate) fn maintain(&mut self) -> Result<(), CheckpointError> {
        if self.changes_since_snapshot > 0
            && self.last_snapshot_len <= self.policy.fresh_snapshot_bytes
        {
            return self.compact(self.status);
        }
        self.sync()
    }

    /// Makes the journal durable against power loss.
    pub(crate) fn sync(&mut self) -> Result<(), CheckpointError> {
        if !self.unsynced {
            return Ok(());
        }
        if let Some(file) = &self.journal {
            file.sync_data()
                .map_err(|err| CheckpointError::io("sync", &self.paths.journal, err))?;
            self.stats.journal_syncs += 1;
        }
        self.unsynced = false;
        Ok(())
    }

    /// Number of specs waiting to start.
    pub(crate) fn queued_len(&self) -> usize {
        self.state.queued_len()
    }

    /// I/O so far.
    pub(crate) fn stats(&self) -> CheckpointStats {
        self.stats
    }

    fn append(&mut self, op: &JournalOp) -> Result<(), CheckpointError> {
        let Some(file) = self.journal.as_mut() else {
            return Err(CheckpointError::io(
                "append to",
                &self.paths.journal,
                std::io::Error::other("the journal is not open: no snapshot was written yet"),
            ));
        };
        let written = journal::append(file, &self.paths.journal, op)?;
        self.stats.journal_appends += 1;
        self.stats.journal_bytes += written;
        self.journal_len += written;
        self.changes_since_snapshot += 1;
        self.unsynced = true;
        Ok(())
    }

    /// Compacts once the journal outweighs the snapshot (called after the change that
    /// was journaled has been applied in memory).
    fn after_change(&mut self) -> Result<(), CheckpointError> {
        let threshold = self.policy.min_journal_bytes.max(
            self.policy
                .journal_ratio
                .saturating_mul(self.last_snapshot_len),
        );
        if self.journal_len > threshold {
            self.compact(self.status)?;
        }
        Ok(())
    }
}
