//! Integration tests of the workflow crate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod branches;
mod builtin_planner;
mod change_words;
mod config;
mod corpus;
mod knobs;
mod lock;
mod master_table;
mod planner_model;
mod policy;
mod prompts;
mod proposals;
mod record;
mod spec;
mod views;
