//! Crash-safe file replacement.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Temporary files carry this marker so a later start can sweep the ones a killed
/// process left behind.
pub const TMP_MARKER: &str = ".tmp.";

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Replaces `path` with `bytes` so that a reader (or a process restarted after `kill -9`
/// or a power cut) sees either the old contents or the new ones, never a mix: write a
/// temporary file in the same directory, fsync it, rename it over the target, fsync the
/// directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = parent_dir(path);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?
        .to_string_lossy();
    let unique = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(
        ".{name}{TMP_MARKER}{}.{unique}",
        std::process::id()
    ));
    let written = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(err) = written {
        // Best effort: the temporary file is garbage either way.
        let _ = fs::remove_file(&tmp);
        return Err(err);
    }
    fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// Makes a rename or file creation in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The directory holding `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Removes temporary files that an interrupted [`write_atomic`] of `target` left behind.
pub fn sweep_stale_tmp(target: &Path) {
    let dir = parent_dir(target);
    let Some(name) = target.file_name() else {
        return;
    };
    let prefix = format!(".{}{TMP_MARKER}", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let path = entry.path();
            match fs::remove_file(&path) {
                Ok(()) => tracing::debug!(path = %path.display(), "removed stale temporary file"),
                Err(err) => {
                    tracing::warn!(path = %path.display(), %err, "cannot remove stale temporary file")
                }
            }
        }
    }
}
