//! Error type.

use std::path::PathBuf;

/// Why a version-control operation failed. Messages name the path or commit involved
/// and, where the user can act, say how.
#[derive(Debug, thiserror::Error)]
pub enum VcsError {
    /// The path is not inside a Git or Sapling checkout.
    #[error(
        "{path} is not inside a Git or Sapling checkout\n\
         hint: run `git init && git add -A && git commit -m initial` in the source directory, \
         or point at a directory inside an existing checkout"
    )]
    NotARepository {
        /// The path given.
        path: PathBuf,
    },
    /// The repository has no working tree.
    #[error(
        "{path} is a bare repository (it has no working tree)\n\
         hint: point at a checkout of it instead (`git clone {path} <dir>`)"
    )]
    Bare {
        /// The repository.
        path: PathBuf,
    },
    /// The repository has no commit to start from.
    #[error(
        "the repository at {path} has no commit yet\n\
         hint: commit the source first (`git add -A && git commit -m initial`)"
    )]
    NoCommit {
        /// The repository root.
        path: PathBuf,
    },
    /// A commit id does not name a commit in the repository.
    #[error("`{id}` is not a commit in the repository at {repo}")]
    UnknownCommit {
        /// The id given.
        id: String,
        /// The repository root.
        repo: PathBuf,
    },
    /// The checkout path exists but is not a checkout this crate made.
    #[error(
        "{path} already exists and is not an experiment checkout of this repository\n\
         hint: move it away or choose another work directory; it is left as it is"
    )]
    PathOccupied {
        /// The path.
        path: PathBuf,
    },
    /// The branch is checked out somewhere else (another run's checkout, or the user's
    /// own), so it may be neither moved nor deleted.
    #[error(
        "the branch {branch} is checked out at {path}, so it is left alone\n\
         hint: two runs never share branches; if {path} belongs to a finished run, \
         remove it with `autoresearch clean <its work directory>`"
    )]
    BranchInUse {
        /// The branch.
        branch: String,
        /// Where it is checked out.
        path: PathBuf,
    },
    /// A branch or checkout name is not usable as a Git reference.
    #[error("`{name}` is not a valid branch name: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The Sapling checkout has uncommitted changes, which cannot be anchored without
    /// changing the user's working copy.
    #[error(
        "the Sapling checkout at {path} has uncommitted changes\n\
         hint: commit or shelve them first (`sl commit` or `sl shelve`); autoresearch never \
         commits in your working copy"
    )]
    DirtySaplingCheckout {
        /// The repository root.
        path: PathBuf,
    },
    /// The operation needs isolated checkouts, which this backend does not have.
    #[error("{operation} is not supported by {backend}")]
    Unsupported {
        /// What was asked.
        operation: &'static str,
        /// Which backend.
        backend: &'static str,
    },
    /// An external command failed or timed out.
    #[error("`{command}` failed in {cwd}: {reason}\n{output}")]
    Command {
        /// The command line.
        command: String,
        /// Where it ran.
        cwd: PathBuf,
        /// Exit status or timeout.
        reason: String,
        /// The tail of its output.
        output: String,
    },
    /// A filesystem operation failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// gix reported an error.
    #[error("git operation `{operation}` failed in {repo}: {source}")]
    Git {
        /// What was being done.
        operation: &'static str,
        /// The repository or checkout.
        repo: PathBuf,
        /// gix's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A blocking task could not be joined (it panicked or the runtime shut down).
    #[error("a version-control task did not finish: {0}")]
    Task(String),
}

impl VcsError {
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

/// Attaches what was being done, and where, to gix's errors.
pub(crate) trait GitContext<T> {
    fn git(self, operation: &'static str, repo: &std::path::Path) -> Result<T, VcsError>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> GitContext<T> for Result<T, E> {
    fn git(self, operation: &'static str, repo: &std::path::Path) -> Result<T, VcsError> {
        self.map_err(|err| VcsError::Git {
            operation,
            repo: repo.to_owned(),
            source: Box::new(err),
        })
    }
}
