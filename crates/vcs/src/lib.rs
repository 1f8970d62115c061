//! Isolated experiment checkouts on Git (through gix) and Sapling (through `sl`).
//!
//! Every experiment edits, commits and builds in its own checkout at its base commit, so
//! several experiments prepare at once and the user's own checkout and branch are never
//! touched. This crate detects the repository, anchors uncommitted user changes in a
//! commit without touching the user's index or working tree, creates, reuses and removes
//! linked worktrees, commits everything in one, diffs commits, and exports a branch.
//!
//! **What it must not know:** experiments, jobs, metrics or agents — only "a named
//! checkout at a commit".
//!
//! Main types (to come): a `Vcs` trait with Git and Sapling backends, `Anchor`,
//! `Checkout`.
//!
//! Status: an empty shell; the checkout layer is specified and not yet built.
