//! Integration tests of the runner: one binary, one module per concern.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod corrupt;
mod crash;
mod interrupt;
mod queue_props;
mod scheduling;
mod support;
