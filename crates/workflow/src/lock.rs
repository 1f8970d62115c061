//! One engine per work directory.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Why the work directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another engine holds it.
    #[error(
        "another engine (pid {pid}) is working in {workdir}\n\
         hint: wait for it, or stop it with `kill -INT {pid}`; `autoresearch status {workdir}` shows its progress"
    )]
    Held {
        /// The work directory.
        workdir: PathBuf,
        /// The holder's pid, as it recorded it (0 if unreadable).
        pid: u32,
    },
    /// The lock file could not be opened.
    #[error("cannot lock {path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// An exclusive lock on `<workdir>/engine/lock`, released when dropped or when the
/// process dies (an OS file lock, so a lock left by a killed engine is free at once).
#[derive(Debug)]
pub struct WorkdirLock {
    file: File,
    path: PathBuf,
}

impl WorkdirLock {
    /// Takes the lock and records this process's pid in it.
    pub fn acquire(workdir: &Path) -> Result<Self, LockError> {
        let dir = workdir.join("engine");
        let path = dir.join("lock");
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(LockError::Held {
                    workdir: workdir.to_owned(),
                    pid: text.trim().parse().unwrap_or(0),
                });
            }
            Err(std::fs::TryLockError::Error(err)) => return Err(io(err)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        file.sync_data().map_err(io)?;
        Ok(Self { file, path })
    }

    /// The pid recorded by the engine holding `workdir`'s lock, if one holds it.
    pub fn holder(workdir: &Path) -> Option<u32> {
        match Self::acquire(workdir) {
            Err(LockError::Held { pid, .. }) => Some(pid),
            _ => None,
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkdirLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}
