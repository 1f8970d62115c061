//! Isolated experiment checkouts on Git (through gix) and Sapling (through `sl`).
//!
//! Every experiment edits, commits and builds in its own checkout at its base commit, so
//! several experiments prepare at once and the user's own checkout and branch are never
//! touched. This crate finds the repository around a source directory, anchors
//! uncommitted user changes in a commit without touching the user's index or working
//! tree, creates, reuses and removes experiment checkouts, commits everything in one,
//! lists and diffs changes between commits, and exports a branch for the user.
//!
//! **What it must not know:** experiments, jobs, metrics or agents — only "a named
//! checkout at a commit".
//!
//! Main types: the [`Vcs`] trait with [`GitVcs`] and [`SaplingVcs`]; [`open`] and
//! [`detect`]; [`VcsHandle`] for async callers; [`Anchor`], [`Checkout`], [`CommitId`].
//!
//! # Git
//!
//! Everything runs on gix: repository discovery, status (the "add -A" step is built on
//! gix's status iterator plus an index-versus-HEAD comparison), tree and commit writing,
//! references, linked worktrees, tree walks and history walks. Diffs are rendered from
//! blob contents with `similar`. **The `git` CLI is never called.** Every commit this
//! crate makes, and every reference-log entry, uses the identity
//! `autoresearch <autoresearch@localhost>`, so no user configuration is needed.
//! Submodules are not supported inside experiment checkouts.
//!
//! # Sapling
//!
//! [`SaplingVcs`] drives the `sl` command (`root`, `log`, `status`, `addremove`,
//! `commit`, `goto`, `diff`, `bookmark`), each call with a timeout. Sapling has no
//! linked worktrees, so `isolated_checkouts` is false: every checkout is the source
//! checkout itself, and the caller must run experiments on it one at a time. Anchoring
//! refuses uncommitted changes rather than committing in the user's working copy.
//! **The Sapling adapter has not been run against a real `sl`**: `sl` cannot be
//! installed where this crate is built and tested; its tests use a fake `sl` (the
//! `fake-sl` binary behind the `test-fakes` feature) that records every command line.

mod detect;
mod error;
mod git;
mod process;
mod sapling;
mod types;
mod vcs;

pub use detect::{detect, open};
pub use error::VcsError;
pub use git::GitVcs;
pub use sapling::SaplingVcs;
pub use types::{
    Anchor, Capabilities, ChangeKind, ChangedPath, Checkout, CheckoutInfo, CommitId, RepoLocation,
    VcsKind,
};
pub use vcs::{Vcs, VcsHandle};
