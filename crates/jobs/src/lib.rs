//! The platform layer: build an image from a checkout, launch a job, poll it, cancel it
//! and fetch its logs — on this machine ([`LocalPlatform`]), on Slurm
//! ([`SlurmPlatform`]), or through user command templates ([`CommandPlatform`]).
//!
//! Job names are idempotency keys: launching a name that was launched before returns
//! the existing job, and `find` re-attaches after a crash. Statuses never fold
//! `Unknown` or `Cancelled` into `Running`. Every external command runs with a timeout,
//! its output captured, in a process group that is killed whole on timeout.
//!
//! Command templates are shell command lines whose `$NAME` variables are substituted as
//! quoted data (see [`template`]), so a value proposed by an agent cannot inject shell
//! syntax; an unknown variable is an error.
//!
//! **What it must not know:** SPDL, metrics, agents or experiments.
//!
//! Main types: [`Platform`], [`JobRequest`], [`JobId`], [`JobStatus`], [`JobLogs`],
//! [`build()`], [`template::expand`], and [`local::supervise`] (the entry point of the
//! local job supervisor process).

mod build;
mod command;
mod error;
mod exec;
pub mod local;
mod platform;
mod slurm;
pub mod template;
mod types;

pub use build::{BuildLogs, build};
pub use command::{
    CommandPlatform, CommandTemplates, DEFAULT_ID_PATTERNS, StateKind, default_state_patterns,
};
pub use error::JobsError;
pub use local::LocalPlatform;
pub use platform::Platform;
pub use slurm::SlurmPlatform;
pub use template::{Vars, expand, shell_quote};
pub use types::{Failure, JobId, JobLogs, JobRequest, JobStatus, validate_name};
