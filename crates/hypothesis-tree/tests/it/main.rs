//! Integration tests of the experiment tree.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod layout_props;
mod pictures;
mod store;
mod support;
mod tree;
