//! Integration tests of the measuring side.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e;
mod lines;
mod multiwriter;
mod per_sample;
mod probe;
mod project_fixtures;
mod robustness;
mod shared_fixtures;
mod support;
mod system;
