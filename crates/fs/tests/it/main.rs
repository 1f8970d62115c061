//! The fs crate against the real file system and real processes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod atomic;
mod process;
mod text;
