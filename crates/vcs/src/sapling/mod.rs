//! The Sapling backend, over the `sl` command.
//!
//! Not run against a real `sl` (it cannot be installed where this is built); tested
//! against the `fake-sl` program, which checks the exact command lines.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::VcsError;
use crate::process::run;
use crate::types::{
    Anchor, Capabilities, ChangeKind, ChangedPath, Checkout, CheckoutInfo, CommitId, VcsKind,
};
use crate::vcs::Vcs;

/// The identity of commits made by this backend.
const USER: &str = "autoresearch <autoresearch@localhost>";

/// A Sapling checkout, driven through `sl`.
pub struct SaplingVcs {
    root: PathBuf,
    program: PathBuf,
    timeout: Duration,
}

impl SaplingVcs {
    /// Opens the checkout containing `path` with the `sl` on `PATH` and a 120 s timeout
    /// per command.
    pub fn open(path: &Path) -> Result<Self, VcsError> {
        Self::with_program(path, Path::new("sl"), Duration::from_secs(120))
    }

    /// Opens the checkout containing `path` with a given `sl` program and per-command
    /// timeout.
    pub fn with_program(path: &Path, program: &Path, timeout: Duration) -> Result<Self, VcsError> {
        let out = run(program, &["root"], path, timeout)?;
        let root = PathBuf::from(out.trim());
        if root.as_os_str().is_empty() {
            return Err(VcsError::NotARepository {
                path: path.to_owned(),
            });
        }
        Ok(Self {
            root,
            program: program.to_owned(),
            timeout,
        })
    }

    fn sl(&self, args: &[&str]) -> Result<String, VcsError> {
        run(&self.program, args, &self.root, self.timeout)
    }

    fn current(&self) -> Result<CommitId, VcsError> {
        let node = self.sl(&["log", "-r", ".", "-T", "{node}"])?;
        let node = node.trim();
        if node.is_empty() || node.chars().all(|c| c == '0') {
            return Err(VcsError::NoCommit {
                path: self.root.clone(),
            });
        }
        Ok(CommitId(node.to_owned()))
    }

    fn status(&self) -> Result<String, VcsError> {
        self.sl(&["status"])
    }

    /// Ids go into revsets, so only hexadecimal ids are accepted.
    fn checked<'a>(&self, commit: &'a CommitId) -> Result<&'a str, VcsError> {
        let id = commit.as_str();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(VcsError::UnknownCommit {
                id: id.to_owned(),
                repo: self.root.clone(),
            });
        }
        Ok(id)
    }

    fn is_root(&self, path: &Path) -> bool {
        let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
        canonical(path) == canonical(&self.root)
    }
}

impl Vcs for SaplingVcs {
    fn kind(&self) -> VcsKind {
        VcsKind::Sapling
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            isolated_checkouts: false,
        }
    }

    fn root(&self) -> &Path {
        &self.root
    }

    fn resolve(&self, revision: &str) -> Result<CommitId, VcsError> {
        let unknown = || VcsError::UnknownCommit {
            id: revision.to_owned(),
            repo: self.root.clone(),
        };
        if revision.starts_with('-') {
            return Err(unknown());
        }
        let node = self
            .sl(&["log", "-r", revision, "-T", "{node}"])
            .map_err(|_| unknown())?;
        let node = node.trim();
        if node.is_empty() {
            return Err(unknown());
        }
        Ok(CommitId(node.to_owned()))
    }

    fn anchor(&self, _snapshot_branch: &str) -> Result<Anchor, VcsError> {
        if !self.status()?.trim().is_empty() {
            return Err(VcsError::DirtySaplingCheckout {
                path: self.root.clone(),
            });
        }
        let head = self.current()?;
        Ok(Anchor {
            commit: head.clone(),
            head,
            snapshot_branch: None,
            snapshotted_paths: Vec::new(),
        })
    }

    fn create_checkout(
        &self,
        path: &Path,
        _branch: &str,
        commit: &CommitId,
    ) -> Result<Checkout, VcsError> {
        if !self.is_root(path) {
            return Err(VcsError::Unsupported {
                operation: "a checkout outside the source checkout",
                backend: "Sapling (no isolated checkouts)",
            });
        }
        let id = self.checked(commit)?;
        if self.current()? == *commit && self.status()?.trim().is_empty() {
            return Ok(Checkout {
                path: self.root.clone(),
                branch: None,
                commit: commit.clone(),
                reused: true,
            });
        }
        // Uncommitted changes here can only be a previous experiment's: anchoring
        // refused to start on a dirty checkout.
        self.sl(&["goto", "--clean", id])?;
        Ok(Checkout {
            path: self.root.clone(),
            branch: None,
            commit: commit.clone(),
            reused: false,
        })
    }

    fn list_checkouts(&self) -> Result<Vec<CheckoutInfo>, VcsError> {
        Ok(vec![CheckoutInfo {
            path: self.root.clone(),
            branch: None,
            head: self.current().ok(),
        }])
    }

    fn remove_checkout(&self, path: &Path) -> Result<(), VcsError> {
        // The only checkout is the user's own: it is never removed.
        if self.is_root(path) || !path.exists() {
            Ok(())
        } else {
            Err(VcsError::PathOccupied {
                path: path.to_owned(),
            })
        }
    }

    fn has_changes(&self, checkout: &Path) -> Result<bool, VcsError> {
        if !self.is_root(checkout) {
            return Err(VcsError::NotARepository {
                path: checkout.to_owned(),
            });
        }
        Ok(!self.status()?.trim().is_empty())
    }

    fn commit_all(&self, checkout: &Path, message: &str) -> Result<Option<CommitId>, VcsError> {
        if !self.has_changes(checkout)? {
            return Ok(None);
        }
        self.sl(&["addremove"])?;
        self.sl(&["commit", "-m", message, "--user", USER])?;
        self.current().map(Some)
    }

    fn changed_paths(&self, from: &CommitId, to: &CommitId) -> Result<Vec<ChangedPath>, VcsError> {
        let (from, to) = (self.checked(from)?, self.checked(to)?);
        let out = self.sl(&["status", "--rev", from, "--rev", to])?;
        let mut changed: Vec<ChangedPath> = out
            .lines()
            .filter_map(|line| {
                let (code, path) = line.split_once(' ')?;
                let kind = match code {
                    "A" => ChangeKind::Added,
                    "M" => ChangeKind::Modified,
                    "R" | "!" => ChangeKind::Deleted,
                    _ => return None,
                };
                Some(ChangedPath {
                    path: path.to_owned(),
                    kind,
                })
            })
            .collect();
        changed.sort();
        Ok(changed)
    }

    fn diff(&self, from: &CommitId, to: &CommitId) -> Result<String, VcsError> {
        let (from, to) = (self.checked(from)?, self.checked(to)?);
        self.sl(&["diff", "--git", "-r", from, "-r", to])
    }

    fn is_ancestor(&self, ancestor: &CommitId, descendant: &CommitId) -> Result<bool, VcsError> {
        let (ancestor, descendant) = (self.checked(ancestor)?, self.checked(descendant)?);
        let revset = format!("{ancestor} & ::{descendant}");
        Ok(!self
            .sl(&["log", "-r", &revset, "-T", "{node}"])?
            .trim()
            .is_empty())
    }

    /// Sapling runs make no bookmarks of their own (experiments take turns in the one
    /// working copy), so there is nothing of a run's to list.
    fn list_branches(&self, _prefix: &str) -> Result<Vec<(String, CommitId)>, VcsError> {
        Ok(Vec::new())
    }

    /// Nothing to delete: see [`Self::list_branches`].
    fn delete_branch(&self, _name: &str) -> Result<(), VcsError> {
        Ok(())
    }

    fn export_branch(&self, name: &str, commit: &CommitId) -> Result<(), VcsError> {
        let valid = !name.is_empty()
            && !name.starts_with('-')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_.-".contains(c));
        if !valid {
            return Err(VcsError::InvalidName {
                name: name.to_owned(),
                reason: "use letters, digits, `/`, `_`, `.` and `-`, not starting with `-`"
                    .to_owned(),
            });
        }
        let id = self.checked(commit)?;
        self.sl(&["bookmark", "--force", "-r", id, name])?;
        Ok(())
    }
}
