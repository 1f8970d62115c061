//! Error types.

use std::path::PathBuf;

/// A boxed error from workflow code, which the engine passes through untouched.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The checkpoint could not be read or written. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A filesystem operation failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done ("read", "write", "create directory", ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The snapshot is not JSON of the expected shape (includes empty and truncated files).
    #[error(
        "checkpoint {path} cannot be loaded: {detail}\n\
         hint: the engine will not guess the queue; fix the file by hand, or move the \
         engine directory away to start afresh"
    )]
    Parse {
        /// The snapshot file.
        path: PathBuf,
        /// Where in the document the problem is, and what it is.
        detail: String,
    },
    /// The snapshot parses but breaks a rule (duplicate or empty ids).
    #[error("checkpoint {path} is invalid: {problem}\nhint: fix the file by hand, then resume")]
    Invalid {
        /// The snapshot file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The snapshot was written by a newer format than this build reads.
    #[error(
        "checkpoint {path} has schema_version {found}, but this build reads up to {supported}\n\
         hint: resume with the version of autoresearch that wrote it"
    )]
    UnsupportedVersion {
        /// The snapshot file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// A journal line other than the last one is damaged.
    #[error(
        "checkpoint journal {path} is damaged at line {line}: {detail}\n\
         hint: only a torn last line is expected after a crash; restore the engine directory \
         from a backup, or delete the journal to resume from the snapshot alone"
    )]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        detail: String,
    },
}

impl CheckpointError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Why the engine stopped without finishing its run.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The configuration is unusable.
    #[error("invalid engine configuration: {0}")]
    Config(String),
    /// The checkpoint could not be loaded or persisted.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The workflow's `initial_specs` failed.
    #[error("the workflow could not provide its initial work: {0}")]
    Workflow(#[source] BoxError),
}
