//! Integration tests of the checkout layer, on real repositories in temporary folders.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod git_changes;
mod git_checkouts;
mod git_inputs;
mod sapling;
mod support;
