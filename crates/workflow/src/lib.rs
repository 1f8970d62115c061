//! The optimisation loop: the experiment lifecycle, planning policy, prompts and the work
//! directory's files, built on the domain-free scheduler in `autoresearch-runner-core`.
//!
//! **What it must not know:** command-line parsing (that is the `cli` crate's job).
//!
//! Main types so far: [`RunConfig`] (a validated run configuration, persisted as
//! `config.json`, with the rules for what may change on resume), [`WorkdirLock`] (one
//! engine per work directory) and the pure decisions of [`policy`] (duplicates,
//! plateau, stopping, failure classification). The lifecycle and the work directory's
//! files arrive next.

mod config;
mod lock;
pub mod master_table;
pub mod policy;
pub mod views;
mod workdir;

pub use config::{
    AgentChoice, Budgets, CONFIG_SCHEMA_VERSION, ConfigDifference, ConfigError, PlatformChoice,
    RunConfig, RunRequest, UPDATABLE,
};
pub use lock::{LockError, WorkdirLock};
pub use workdir::Workdir;
