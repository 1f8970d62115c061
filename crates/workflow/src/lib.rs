//! The optimisation loop: the experiment lifecycle, planning policy, prompts and
//! knowledge base, and the work directory's files, built on the domain-free scheduler in
//! `autoresearch-runner-core`. This is the only crate that knows what an experiment is.
//!
//! **What it must not know:** command-line parsing and terminal output (that is the
//! `cli` crate's job); it reports progress through a callback.
//!
//! Main types: [`RunConfig`] (the validated configuration, `config.json`), [`run()`]
//! with [`RunOptions`] and [`RunOutcome`] (one engine run over a work directory),
//! [`ExperimentWorkflow`] (the lifecycle as a runner-core `Workflow`), [`RunState`]
//! (`state.json`), [`ExperimentSpec`] (what one experiment is), [`Books`] (the tree,
//! state and master table, written incrementally), and the pure decisions of
//! [`policy`].

// Failure records are the lifecycle's error values: large, rare, and never on a hot path.
#![allow(clippy::result_large_err)]

mod agent;
pub mod books;
pub mod branches;
pub mod builtin_planner;
pub mod change_words;
pub mod clean;
mod collect;
mod command_words;
mod config;
mod context;
pub mod describe;
mod error;
mod execute;
pub mod knobs;
mod lifecycle;
mod lock;
pub mod planning;
pub mod policy;
mod prepare;
pub mod prompts;
pub mod queue;
pub mod record;
pub mod report;
mod run;
mod setup;
mod spec;
pub mod speedup;

pub mod status;
mod workdir;

pub use agent::{AgentEnv, AgentSetupError, backend_for};
/// The shutdown signal a run stops on (Ctrl+C and SIGTERM forwarded to it).
pub use autoresearch_runner_core::{
    ShutdownHandle, ShutdownListener, forward_signals, shutdown_channel,
};
pub(crate) use books::state;
pub use books::state::{
    HistoryEntry, PendingConfirmation, RunState, RunStatus, STATE_SCHEMA_VERSION, StateError,
};
pub use books::{Books, NodeResult, master_table, views};
pub use config::{
    AgentChoice, Budgets, CONFIG_SCHEMA_VERSION, ConfigDifference, ConfigError,
    DEFAULT_BASELINE_REPEATS, MAX_BASELINE_REPEATS, PlatformChoice, RunConfig, RunRequest,
    UPDATABLE,
};
pub use context::{Context, PICTURE_INTERVAL, ProgressSink, SourceLayout};
pub use error::WorkflowError;
pub use execute::{HARD_CAP_TIMEOUTS, JobEnd, job_name};
pub use lifecycle::ExperimentWorkflow;
pub use lock::{LockError, WorkdirLock};
pub use run::{RunOptions, RunOutcome, run, settle_config};
pub use setup::{INSTRUMENT_MESSAGE, MANUAL_HINT};
pub use spec::{
    ExperimentKind, ExperimentSpec, FlagError, apply_env_knobs, apply_launch_args, check_flag,
    node_of_kind, normalise_flag,
};
pub use workdir::Workdir;
