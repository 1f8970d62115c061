//! Integration tests of the platform layer: real processes, a real Slurm cluster.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod build;
mod command;
mod local;
mod slurm;
mod support;
mod template;
