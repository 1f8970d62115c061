//! Reading and writing `checkpoint.journal`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use super::format::{JournalOp, SCHEMA_VERSION};
use crate::error::CheckpointError;
use autoresearch_fs::write_atomic;

/// The ops that follow a header for `generation`; an absent or stale journal gives none.
pub(super) fn read(path: &Path, generation: u64) -> Result<Vec<JournalOp>, CheckpointError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(CheckpointError::io("read", path, err)),
    };
    let complete = bytes.ends_with(b"\n");
    let lines: Vec<&[u8]> = bytes
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .collect();
    let mut ops = Vec::with_capacity(lines.len());
    for (index, line) in lines.iter().enumerate() {
        let is_last = index + 1 == lines.len();
        match serde_json::from_slice::<JournalOp>(line) {
            Ok(op) if is_last && !complete => {
                // A line without its newline was being appended when the process died;
                // the change it describes never took effect.
                tracing::warn!(journal = %path.display(), line = index + 1, ?op, "ignoring torn last journal line");
            }
            Ok(op) => ops.push(op),
            Err(_) if is_last => {
                tracing::warn!(journal = %path.display(), line = index + 1, "ignoring torn last journal line");
            }
            Err(err) => {
                return Err(CheckpointError::Journal {
                    path: path.to_owned(),
                    line: index + 1,
                    detail: err.to_string(),
                });
            }
        }
    }
    let mut ops = ops.into_iter();
    match ops.next() {
        Some(JournalOp::Header {
            generation: found, ..
        }) if found == generation => Ok(ops.collect()),
        Some(JournalOp::Header {
            generation: found, ..
        }) => {
            tracing::debug!(
                found,
                generation,
                "journal belongs to another snapshot generation; ignored"
            );
            Ok(Vec::new())
        }
        Some(_) => Err(CheckpointError::Journal {
            path: path.to_owned(),
            line: 1,
            detail: "the first line is not a header".to_owned(),
        }),
        None => Ok(Vec::new()),
    }
}

/// Replaces the journal with one holding only the header for `generation`.
pub(super) fn reset(path: &Path, generation: u64) -> Result<u64, CheckpointError> {
    let line = encode(&JournalOp::Header {
        generation,
        schema_version: SCHEMA_VERSION,
    })
    .map_err(|err| CheckpointError::io("serialise", path, err))?;
    write_atomic(path, &line).map_err(|err| CheckpointError::io("write", path, err))?;
    Ok(line.len() as u64)
}

/// Opens the journal for appending.
pub(super) fn open_append(path: &Path) -> Result<File, CheckpointError> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|err| CheckpointError::io("open", path, err))
}

/// Appends one op as one line with a single `write` call.
pub(super) fn append(file: &mut File, path: &Path, op: &JournalOp) -> Result<u64, CheckpointError> {
    let line = encode(op).map_err(|err| CheckpointError::io("serialise", path, err))?;
    file.write_all(&line)
        .map_err(|err| CheckpointError::io("append to", path, err))?;
    Ok(line.len() as u64)
}

fn encode(op: &JournalOp) -> std::io::Result<Vec<u8>> {
    let mut line = serde_json::to_vec(op).map_err(std::io::Error::other)?;
    line.push(b'\n');
    Ok(line)
}
