//! The workflow's error type: every variant says what went wrong and how to fix it.

use std::path::PathBuf;

use crate::agent::AgentSetupError;
use crate::config::ConfigError;
use crate::lock::LockError;
use crate::state::StateError;

/// Why a run (or a work-directory command) could not go on.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// Flags or `config.json` are unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Another engine holds the work directory.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// `state.json` is unusable.
    #[error(transparent)]
    State(#[from] StateError),
    /// The agent cannot be set up.
    #[error(transparent)]
    Agent(#[from] AgentSetupError),
    /// The source folder's repository cannot be used.
    #[error("{problem}\nhint: {hint}")]
    Source {
        /// What is wrong.
        problem: String,
        /// How to fix it.
        hint: String,
    },
    /// Set-up (instrumentation) failed; the run cannot measure anything.
    #[error("{problem}\nhint: {hint}")]
    Setup {
        /// What is wrong.
        problem: String,
        /// How to fix it.
        hint: String,
    },
    /// A work-directory file is damaged.
    #[error("{path}: {detail}\nhint: {hint}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
        /// How to fix it.
        hint: String,
    },
    /// The folder is not a work directory.
    #[error(
        "{0} is not an autoresearch work directory (it has no config.json)\nhint: pass the folder given to `autoresearch run`, or start a run there with the full flags"
    )]
    NotAWorkdir(PathBuf),
    /// A request about the queue cannot be carried out.
    #[error("{problem}\nhint: {hint}")]
    Queue {
        /// What is wrong.
        problem: String,
        /// How to fix it.
        hint: String,
    },
    /// `clean` cannot be carried out now.
    #[error("{problem}\nhint: {hint}")]
    Clean {
        /// What is wrong.
        problem: String,
        /// How to fix it.
        hint: String,
    },
    /// Reading or writing a file failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The scheduler failed.
    #[error("the engine failed: {0}")]
    Engine(#[from] autoresearch_runner_core::EngineError),
    /// The tree refused a change (an unknown node, an illegal status change).
    #[error("the experiment tree refused a change: {0}")]
    Tree(#[from] autoresearch_hypothesis_tree::TreeError),
    /// A record could not be encoded as JSON.
    #[error("cannot encode a record as JSON: {0}")]
    Encode(#[from] serde_json::Error),
    /// A job platform cannot be set up.
    #[error("the job platform cannot be set up: {0}\nhint: check --platform and its settings")]
    Platform(String),
}

impl WorkflowError {
    /// Whether this is the user's input to fix (exit code 2) rather than a failure of
    /// the run itself.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Self::Config(_)
                | Self::Lock(_)
                | Self::State(_)
                | Self::Agent(_)
                | Self::Source { .. }
                | Self::Setup { .. }
                | Self::Corrupt { .. }
                | Self::NotAWorkdir(_)
                | Self::Queue { .. }
                | Self::Clean { .. }
                | Self::Platform(_)
        )
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }
}
