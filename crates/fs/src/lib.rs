//! Files and processes done safely, for every other crate: [`write_atomic`] (a reader
//! sees the old contents or the new, never a mix, also after `kill -9`),
//! [`sweep_stale_tmp`] for what an interrupted write left, [`Io`] (the file error with
//! its action and path), text cut at character boundaries ([`text`]), and
//! [`process::Command`], the one runner for external commands (own process group, time
//! limit, captured output, the whole group killed on timeout or drop).
//!
//! **What it must not know:** anything about experiments, jobs, agents, version control
//! or the scheduler; it is the bottom layer and depends on no crate of the project.
//!
//! Main types: [`process::Command`], [`process::Finished`], [`process::ProcessError`],
//! [`Io`].

mod atomic;
mod error;
pub mod process;
pub mod text;

pub use atomic::{TMP_MARKER, parent_dir, sweep_stale_tmp, sync_dir, write_atomic};
pub use error::Io;
