//! The optimisation loop: the experiment lifecycle, planning policy, prompts and the work
//! directory's files, built on the domain-free scheduler in `autoresearch-runner-core`.
//!
//! **What it must not know:** command-line parsing (that is the `cli` crate's job).
//!
//! Main types (to come): the experiment `Workflow` implementation and `RunConfig`.
//!
//! Status: an empty shell; the loop is specified and not yet built.
