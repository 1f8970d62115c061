//! Values the backends exchange with their callers.

use std::path::PathBuf;

/// Which version-control system a repository uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VcsKind {
    /// Git, through gix.
    Git,
    /// Sapling, through its `sl` command.
    Sapling,
}

impl std::fmt::Display for VcsKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Git => "git",
            Self::Sapling => "sapling",
        })
    }
}

/// Where a source directory sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoLocation {
    /// The version-control system.
    pub kind: VcsKind,
    /// The repository's working-tree root.
    pub root: PathBuf,
    /// The source directory relative to `root` (empty when it is the root).
    pub source_subdir: PathBuf,
}

/// A full commit id in hexadecimal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommitId(pub String);

impl CommitId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 characters, for logs and tables.
    pub fn short(&self) -> &str {
        self.0.get(..12).unwrap_or(&self.0)
    }
}

impl std::fmt::Display for CommitId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a backend can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Whether each checkout is a separate directory. When false (Sapling), every
    /// "checkout" is the source checkout itself: the caller must run experiments on it
    /// one at a time, and the user's working copy is moved between commits.
    pub isolated_checkouts: bool,
}

/// The commit experiments start from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// The commit.
    pub commit: CommitId,
    /// The commit the user's checkout was at (equal to `commit` when it was clean).
    pub head: CommitId,
    /// The branch holding a snapshot of uncommitted changes, if there were any.
    pub snapshot_branch: Option<String>,
    /// The uncommitted paths that were snapshotted (repository-relative).
    pub snapshotted_paths: Vec<String>,
}

/// An experiment checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    /// The directory.
    pub path: PathBuf,
    /// The branch checked out there (`None` for backends without isolated checkouts).
    pub branch: Option<String>,
    /// The commit it was created at.
    pub commit: CommitId,
    /// True if an existing checkout from an earlier run was reused as it was.
    pub reused: bool,
}

/// A checkout found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutInfo {
    /// The directory.
    pub path: PathBuf,
    /// The branch checked out there, if any.
    pub branch: Option<String>,
    /// The commit it is at, if it could be read.
    pub head: Option<CommitId>,
}

/// How a path differs between two commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// Only in the newer commit.
    Added,
    /// In both, with other contents or mode.
    Modified,
    /// Only in the older commit.
    Deleted,
}

/// One changed path between two commits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChangedPath {
    /// Repository-relative path with `/` separators.
    pub path: String,
    /// How it changed.
    pub kind: ChangeKind,
}
