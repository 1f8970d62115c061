//! Integration tests of the `autoresearch` binary: its help and errors, and whole runs
//! with real parts (SPDL jobs, git, the Claude Code CLI against a scripted server).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod agent_replies;
mod bad_input;
mod campaigns;
mod crash;
mod demo;
mod e2e;
mod help;
mod noise;
mod queue;
mod ranks;
mod resume;
mod robustness;
mod simulated;
mod support;
