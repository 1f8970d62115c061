//! The backend trait, and an async handle that keeps blocking work off the runtime.

use std::path::Path;
use std::sync::Arc;

use crate::error::VcsError;
use crate::types::{Anchor, Capabilities, ChangedPath, Checkout, CheckoutInfo, CommitId, VcsKind};

/// One repository. All methods block (filesystem and object-database work); call them
/// from async code through [`VcsHandle`]. Implementations are thread-safe: several
/// checkouts can be created, edited and committed from different threads at once.
pub trait Vcs: Send + Sync {
    /// Which system this is.
    fn kind(&self) -> VcsKind;

    /// What this backend can do.
    fn capabilities(&self) -> Capabilities;

    /// The repository's working-tree root.
    fn root(&self) -> &Path;

    /// Resolves a revision (full or abbreviated id, branch name) to a commit.
    fn resolve(&self, revision: &str) -> Result<CommitId, VcsError>;

    /// The commit experiments start from. A clean checkout anchors at its current commit;
    /// uncommitted changes (tracked or untracked, honouring ignore rules) are snapshotted
    /// into a commit on `refs/heads/<snapshot_branch>` without touching the user's index,
    /// working tree, HEAD or branch.
    fn anchor(&self, snapshot_branch: &str) -> Result<Anchor, VcsError>;

    /// Creates (or reuses) a checkout of `commit` at `path` on `branch`. An existing
    /// checkout at `path` from an interrupted run is reused when it is clean and at
    /// `commit`, and recreated otherwise; a path that exists and is not such a checkout
    /// is an error.
    fn create_checkout(
        &self,
        path: &Path,
        branch: &str,
        commit: &CommitId,
    ) -> Result<Checkout, VcsError>;

    /// Checkouts this repository knows of (not the user's own).
    fn list_checkouts(&self) -> Result<Vec<CheckoutInfo>, VcsError>;

    /// Removes a checkout and its files; its branch (and commits) stay.
    fn remove_checkout(&self, path: &Path) -> Result<(), VcsError>;

    /// Whether the checkout has changes relative to its commit, untracked files included
    /// and ignored files excluded.
    fn has_changes(&self, checkout: &Path) -> Result<bool, VcsError>;

    /// Commits every change in the checkout (new, modified and deleted files, exec bits,
    /// symlinks) as the fixed autoresearch identity. Returns `None` when nothing changed.
    fn commit_all(&self, checkout: &Path, message: &str) -> Result<Option<CommitId>, VcsError>;

    /// Paths that differ between two commits, sorted.
    fn changed_paths(&self, from: &CommitId, to: &CommitId) -> Result<Vec<ChangedPath>, VcsError>;

    /// A unified diff from one commit to another (git's patch format).
    fn diff(&self, from: &CommitId, to: &CommitId) -> Result<String, VcsError>;

    /// Whether `ancestor` is `descendant` or one of its ancestors.
    fn is_ancestor(&self, ancestor: &CommitId, descendant: &CommitId) -> Result<bool, VcsError>;

    /// Points the user-visible branch `name` at `commit`, creating or moving it.
    fn export_branch(&self, name: &str, commit: &CommitId) -> Result<(), VcsError>;

    /// The branches whose short name starts with `prefix`, with their commits, sorted.
    fn list_branches(&self, prefix: &str) -> Result<Vec<(String, CommitId)>, VcsError>;

    /// Deletes branch `name` (its commits stay in the object store until Git's garbage
    /// collection). A branch checked out anywhere is refused with
    /// [`VcsError::BranchInUse`]; a branch that does not exist is no error.
    fn delete_branch(&self, name: &str) -> Result<(), VcsError>;
}

/// A shared repository for async code: every call runs on tokio's blocking pool.
#[derive(Clone)]
pub struct VcsHandle {
    inner: Arc<dyn Vcs>,
}

impl VcsHandle {
    /// Wraps a backend.
    pub fn new(vcs: Arc<dyn Vcs>) -> Self {
        Self { inner: vcs }
    }

    /// The backend, for quick synchronous queries (`kind`, `capabilities`, `root`).
    pub fn vcs(&self) -> &dyn Vcs {
        self.inner.as_ref()
    }

    /// Runs `work` with the backend on the blocking pool.
    pub async fn run<T, F>(&self, work: F) -> Result<T, VcsError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Vcs) -> Result<T, VcsError> + Send + 'static,
    {
        let vcs = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || work(vcs.as_ref()))
            .await
            .map_err(|err| VcsError::Task(err.to_string()))?
    }
}
