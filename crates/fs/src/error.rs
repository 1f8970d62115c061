//! The file error every crate shares: what was done, to which path, and why it failed.

use std::path::PathBuf;

/// A file operation that failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}: {source}", path.display())]
pub struct Io {
    /// What was being done (`read`, `write`, `create`, …).
    pub action: &'static str,
    /// The path it was done to.
    pub path: PathBuf,
    /// The operating system's reason.
    #[source]
    pub source: std::io::Error,
}

impl Io {
    /// An error for `action` on `path`.
    pub fn new(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Io {
            action,
            path: path.into(),
            source,
        }
    }
}
