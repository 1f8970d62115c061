//! Persistence of the scheduler state: a snapshot plus a journal.
//!
//! # Files
//!
//! - `checkpoint.json` — the snapshot ([`Checkpoint`]), always replaced atomically
//!   (temporary file, fsync, rename, directory fsync), so it is never torn.
//! - `checkpoint.journal` — JSON lines appended after the snapshot: a header naming the
//!   snapshot's `generation`, then one line per change (specs started; a spec finished
//!   together with the children it produced). Each line goes to the kernel in one
//!   `write` before the engine acts on the change, so it survives `kill -9`; it is
//!   fsynced every `sync_interval` against power loss.
//!
//! # Why a journal
//!
//! Rewriting the whole snapshot on every change costs O(live specs) per change, which is
//! quadratic over a run. Appending costs O(1) per change. The snapshot is rewritten
//! ("compaction") when the journal has grown to a multiple of the snapshot's size, so the
//! total bytes written stay proportional to the number of changes. Small snapshots are
//! also refreshed on every sync tick, so a person reading `checkpoint.json` during a run
//! sees the current queue.
//!
//! # Reading
//!
//! [`load`] reads the snapshot and replays the journal if its header matches the
//! snapshot's generation (a journal from an older generation is stale: the snapshot
//! already contains it). A damaged last journal line is a torn append and is ignored; a
//! damaged line anywhere else is an error. An empty, truncated or malformed snapshot is
//! an error that names the file — never an empty queue.

mod format;
mod journal;
mod state;
mod store;

use std::path::{Path, PathBuf};

pub use format::{Checkpoint, CheckpointStatus, SCHEMA_VERSION, SpecRecord};
pub(crate) use state::SchedulerState;
pub(crate) use store::CheckpointStore;
pub use store::{CheckpointStats, CompactionPolicy};

use crate::error::CheckpointError;
use autoresearch_fs::write_atomic;

/// File name of the snapshot inside the checkpoint directory.
pub const SNAPSHOT_FILE: &str = "checkpoint.json";
/// File name of the journal inside the checkpoint directory.
pub const JOURNAL_FILE: &str = "checkpoint.journal";

/// The two files of a checkpoint directory.
#[derive(Debug, Clone)]
pub(crate) struct CheckpointPaths {
    pub(crate) snapshot: PathBuf,
    pub(crate) journal: PathBuf,
}

impl CheckpointPaths {
    pub(crate) fn new(dir: &Path) -> Self {
        Self {
            snapshot: dir.join(SNAPSHOT_FILE),
            journal: dir.join(JOURNAL_FILE),
        }
    }
}

/// Reads the effective checkpoint in `dir` (snapshot plus journal), or `None` if there is
/// none. Safe to call while an engine runs: it only reads.
pub fn load(dir: &Path) -> Result<Option<Checkpoint>, CheckpointError> {
    let paths = CheckpointPaths::new(dir);
    let Some((snapshot, state)) = load_state(&paths)? else {
        return Ok(None);
    };
    Ok(Some(
        state.to_checkpoint(snapshot.status, snapshot.generation),
    ))
}

/// Replaces the checkpoint in `dir` with `checkpoint` (for tools that edit the queue
/// while no engine runs): validates it, writes it as a new generation and empties the
/// journal.
pub fn store(dir: &Path, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
    let paths = CheckpointPaths::new(dir);
    // Validate exactly as a resume would.
    SchedulerState::from_checkpoint(checkpoint.clone(), &paths.snapshot)?;
    let previous = match read_snapshot(&paths.snapshot) {
        Ok(Some(previous)) => previous.generation,
        _ => 0,
    };
    let generation = previous.max(checkpoint.generation) + 1;
    let mut next = checkpoint.clone();
    next.generation = generation;
    next.schema_version = SCHEMA_VERSION;
    write_snapshot(&paths.snapshot, &next)?;
    journal::reset(&paths.journal, generation)?;
    Ok(())
}

/// Snapshot and replayed state, shared by [`load`] and the engine's store.
pub(crate) fn load_state(
    paths: &CheckpointPaths,
) -> Result<Option<(Checkpoint, SchedulerState)>, CheckpointError> {
    let Some(snapshot) = read_snapshot(&paths.snapshot)? else {
        if paths.journal.exists() {
            tracing::warn!(
                journal = %paths.journal.display(),
                "found a checkpoint journal without a snapshot; starting afresh"
            );
        }
        return Ok(None);
    };
    let mut state = SchedulerState::from_checkpoint(snapshot.clone(), &paths.snapshot)?;
    for op in journal::read(&paths.journal, snapshot.generation)? {
        state.apply(op);
    }
    // Specs the journal saw start were running when the last engine stopped: like the
    // snapshot's running ones, they go back to the front of the queue to be resumed.
    // (Left in the running set, no engine would ever start them again.)
    state.requeue_running();
    Ok(Some((snapshot, state)))
}

/// Parses the snapshot, or `None` if the file does not exist.
fn read_snapshot(path: &Path) -> Result<Option<Checkpoint>, CheckpointError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(CheckpointError::io("read", path, err)),
    };
    let parse_error = |detail: String| CheckpointError::Parse {
        path: path.to_owned(),
        detail,
    };
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let parsed: Checkpoint = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let location = err.path().to_string();
        parse_error(if location == "." {
            err.inner().to_string()
        } else {
            format!("at `{location}`: {}", err.inner())
        })
    })?;
    de.end().map_err(|err| parse_error(err.to_string()))?;
    Ok(Some(parsed))
}

/// Writes a snapshot atomically, returning its size in bytes.
pub(crate) fn write_snapshot(path: &Path, checkpoint: &Checkpoint) -> Result<u64, CheckpointError> {
    let mut bytes = serde_json::to_vec_pretty(checkpoint)
        .map_err(|err| CheckpointError::io("serialise", path, std::io::Error::other(err)))?;
    bytes.push(b'\n');
    write_atomic(path, &bytes).map_err(|err| CheckpointError::io("write", path, err))?;
    Ok(bytes.len() as u64)
}
