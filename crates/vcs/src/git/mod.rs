//! The Git backend, on gix. No `git` CLI calls: every operation below has a gix path.

mod diff;
mod snapshot;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use gix::ObjectId;
use gix::bstr::ByteSlice;
use gix::refs::transaction::PreviousValue;

use crate::error::{GitContext, VcsError};
use crate::types::{Anchor, Capabilities, ChangedPath, Checkout, CheckoutInfo, CommitId, VcsKind};
use crate::vcs::Vcs;
use snapshot::{dirty_paths, flatten_tree, signature, snapshot_tree};

/// A Git repository with a working tree.
pub struct GitVcs {
    repo: gix::ThreadSafeRepository,
    root: PathBuf,
    /// Serialises changes to the worktree registry (`.git/worktrees`) within this
    /// process: adding one worktree while another call iterates the registry fails in
    /// gix. [`RegistryGuard`] adds the lock between processes.
    registry: std::sync::Mutex<()>,
}

/// Exclusive use of the worktree registry; both locks go when it drops (closing the
/// directory releases the `flock`).
struct RegistryGuard<'a> {
    _thread: std::sync::MutexGuard<'a, ()>,
    _process: std::fs::File,
}

/// Reference-log entries written by this crate carry this identity, so no user
/// configuration is needed.
const IDENTITY_OVERRIDES: [&str; 2] = [
    "user.name=autoresearch",
    "user.email=autoresearch@localhost",
];

impl GitVcs {
    /// Opens the repository containing `path` (any directory inside its working tree).
    pub fn open(path: &Path) -> Result<Self, VcsError> {
        let discovered = gix::discover(path).map_err(|_| VcsError::NotARepository {
            path: path.to_owned(),
        })?;
        let Some(root) = discovered.workdir().map(Path::to_path_buf) else {
            return Err(VcsError::Bare {
                path: discovered.git_dir().to_owned(),
            });
        };
        let root =
            std::fs::canonicalize(&root).map_err(|err| VcsError::io("resolve", &root, err))?;
        let options = gix::open::Options::default().cli_overrides(IDENTITY_OVERRIDES);
        let repo = gix::ThreadSafeRepository::open_opts(&root, options).git("open", &root)?;
        Ok(Self {
            repo,
            root,
            registry: std::sync::Mutex::new(()),
        })
    }

    /// Holds the worktree registry for one change or listing, against this process's
    /// threads and against other processes (two campaigns on one repository).
    fn lock_registry(&self) -> Result<RegistryGuard<'_>, VcsError> {
        // The mutex protects no data, so a panic elsewhere leaves nothing to repair.
        let thread = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let common = self.local().common_dir().to_owned();
        // An advisory lock on the repository's own directory: no file is added, and
        // the kernel drops it when the process dies, so `kill -9` leaves no stale lock.
        let dir = std::fs::File::open(&common)
            .map_err(|err| VcsError::io("open for locking", &common, err))?;
        rustix::fs::flock(&dir, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|err| VcsError::io("lock", &common, err.into()))?;
        Ok(RegistryGuard {
            _thread: thread,
            _process: dir,
        })
    }

    fn local(&self) -> gix::Repository {
        self.repo.to_thread_local()
    }

    /// Opens a checkout (the user's or a linked worktree) with the same settings.
    fn open_checkout(&self, checkout: &Path) -> Result<gix::Repository, VcsError> {
        let options = gix::open::Options::default().cli_overrides(IDENTITY_OVERRIDES);
        gix::open_opts(checkout, options).map_err(|_| VcsError::NotARepository {
            path: checkout.to_owned(),
        })
    }

    /// The object id of `commit`, checked to be a commit.
    fn commit_oid(&self, repo: &gix::Repository, commit: &CommitId) -> Result<ObjectId, VcsError> {
        let unknown = || VcsError::UnknownCommit {
            id: commit.0.clone(),
            repo: self.root.clone(),
        };
        let id = ObjectId::from_hex(commit.0.as_bytes()).map_err(|_| unknown())?;
        repo.find_commit(id).map_err(|_| unknown())?;
        Ok(id)
    }

    fn tree_of(&self, repo: &gix::Repository, commit: &CommitId) -> Result<ObjectId, VcsError> {
        let id = self.commit_oid(repo, commit)?;
        let commit = repo.find_commit(id).git("read commit", &self.root)?;
        commit
            .tree_id()
            .git("read commit tree", &self.root)
            .map(gix::Id::detach)
    }

    fn head(
        &self,
        repo: &gix::Repository,
        location: &Path,
    ) -> Result<(ObjectId, ObjectId), VcsError> {
        let head = repo.head_commit().map_err(|_| VcsError::NoCommit {
            path: location.to_owned(),
        })?;
        let tree = head.tree_id().git("read HEAD tree", location)?.detach();
        Ok((head.id, tree))
    }

    /// The linked worktree registered at `path`, if any.
    fn registered_worktree(
        &self,
        repo: &gix::Repository,
        path: &Path,
    ) -> Result<Option<PathBuf>, VcsError> {
        let wanted = normalise(path);
        for proxy in repo.worktrees().git("list worktrees", &self.root)? {
            let Ok(base) = proxy.base() else { continue };
            if normalise(&base) == wanted {
                return Ok(Some(base));
            }
        }
        Ok(None)
    }

    /// Where `branch` is checked out (the user's checkout or a linked worktree whose
    /// folder exists), other than at `except`.
    fn checked_out_at(
        &self,
        repo: &gix::Repository,
        branch: &gix::refs::FullName,
        except: Option<&Path>,
    ) -> Result<Option<PathBuf>, VcsError> {
        if repo.head_name().ok().flatten().as_ref() == Some(branch) {
            return Ok(Some(self.root.clone()));
        }
        let except = except.map(normalise);
        for proxy in repo.worktrees().git("list worktrees", &self.root)? {
            let Ok(base) = proxy.base() else { continue };
            if !base.exists() || except.as_ref() == Some(&normalise(&base)) {
                continue;
            }
            if let Ok(linked) = proxy.into_repo_with_possibly_inaccessible_worktree()
                && linked.head_name().ok().flatten().as_ref() == Some(branch)
            {
                return Ok(Some(base));
            }
        }
        Ok(None)
    }

    fn remove_registered(&self, repo: &gix::Repository, base: &Path) -> Result<(), VcsError> {
        repo.remove_worktree(
            base,
            gix::worktree::remove::Force::OverrideLock,
            gix::progress::Discard,
        )
        .git("remove worktree", base)
    }
}

/// An absolute, symlink-resolved form of `path` for comparisons (the parent is resolved
/// when the path itself does not exist).
fn normalise(path: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    match (absolute.parent(), absolute.file_name()) {
        (Some(parent), Some(name)) => std::fs::canonicalize(parent)
            .map(|parent| parent.join(name))
            .unwrap_or(absolute),
        _ => absolute,
    }
}

fn branch_ref(branch: &str) -> Result<gix::refs::FullName, VcsError> {
    let full = format!("refs/heads/{branch}");
    gix::refs::FullName::try_from(full.as_str()).map_err(|err| VcsError::InvalidName {
        name: branch.to_owned(),
        reason: err.to_string(),
    })
}

fn to_commit_id(id: impl std::fmt::Display) -> CommitId {
    CommitId(id.to_string())
}

impl Vcs for GitVcs {
    fn kind(&self) -> VcsKind {
        VcsKind::Git
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            isolated_checkouts: true,
        }
    }

    fn root(&self) -> &Path {
        &self.root
    }

    fn resolve(&self, revision: &str) -> Result<CommitId, VcsError> {
        let repo = self.local();
        let unknown = || VcsError::UnknownCommit {
            id: revision.to_owned(),
            repo: self.root.clone(),
        };
        let id = repo.rev_parse_single(revision).map_err(|_| unknown())?;
        let commit = id
            .object()
            .map_err(|_| unknown())?
            .peel_to_commit()
            .map_err(|_| unknown())?;
        Ok(to_commit_id(commit.id))
    }

    fn anchor(&self, snapshot_branch: &str) -> Result<Anchor, VcsError> {
        let full = branch_ref(snapshot_branch)?;
        let repo = self.local();
        let (head, head_tree) = self.head(&repo, &self.root)?;
        let dirty = dirty_paths(&repo, head_tree)?;
        let clean = Anchor {
            commit: to_commit_id(head),
            head: to_commit_id(head),
            snapshot_branch: None,
            snapshotted_paths: Vec::new(),
        };
        if dirty.is_empty() {
            return Ok(clean);
        }
        let tree = snapshot_tree(&repo, &self.root, head_tree, &dirty)?;
        if tree == head_tree {
            return Ok(clean);
        }
        let paths: Vec<String> = dirty
            .iter()
            .map(|p| p.to_str_lossy().into_owned())
            .collect();
        let commit = gix::objs::Commit {
            tree,
            parents: std::iter::once(head).collect(),
            author: signature(),
            committer: signature(),
            encoding: None,
            message: format!(
                "autoresearch: snapshot of uncommitted changes\n\n{}\n",
                paths.join("\n")
            )
            .into(),
            extra_headers: Vec::new(),
        };
        // Written as a plain object and a ref update, so HEAD, the index and the working
        // tree of the user's checkout are never involved.
        let id = repo
            .write_object(&commit)
            .git("write snapshot commit", &self.root)?
            .detach();
        repo.reference(
            full,
            id,
            PreviousValue::Any,
            "autoresearch: anchor snapshot",
        )
        .git("set anchor branch", &self.root)?;
        tracing::info!(
            branch = snapshot_branch,
            commit = %id,
            paths = paths.len(),
            "snapshotted uncommitted changes into an anchor commit; your checkout is unchanged"
        );
        Ok(Anchor {
            commit: to_commit_id(id),
            head: to_commit_id(head),
            snapshot_branch: Some(snapshot_branch.to_owned()),
            snapshotted_paths: paths,
        })
    }

    fn create_checkout(
        &self,
        path: &Path,
        branch: &str,
        commit: &CommitId,
    ) -> Result<Checkout, VcsError> {
        let _registry = self.lock_registry()?;
        let full = branch_ref(branch)?;
        let repo = self.local();
        let oid = self.commit_oid(&repo, commit)?;
        if let Some(base) = self.registered_worktree(&repo, path)? {
            if base.exists() {
                let existing = self.open_checkout(&base)?;
                let head_name = existing.head_name().ok().flatten();
                let at = self.head(&existing, &base).ok();
                let reusable = match at {
                    Some((head, tree)) => {
                        head == oid
                            && head_name.as_ref() == Some(&full)
                            && dirty_paths(&existing, tree)?.is_empty()
                    }
                    None => false,
                };
                if reusable {
                    tracing::debug!(path = %base.display(), "reusing an existing checkout");
                    return Ok(Checkout {
                        path: base,
                        branch: Some(branch.to_owned()),
                        commit: commit.clone(),
                        reused: true,
                    });
                }
            }
            tracing::info!(path = %base.display(), "recreating a checkout left by an earlier run");
            self.remove_registered(&repo, &base)?;
        } else if let Ok(mut entries) = std::fs::read_dir(path) {
            // A directory that is not one of our worktrees: only an empty one (a creation
            // interrupted before registration) may be used.
            if entries.next().is_some() {
                return Err(VcsError::PathOccupied {
                    path: path.to_owned(),
                });
            }
        } else if path.exists() {
            return Err(VcsError::PathOccupied {
                path: path.to_owned(),
            });
        }
        // A stale worktree registration elsewhere may still hold the branch.
        for proxy in repo.worktrees().git("list worktrees", &self.root)? {
            let Ok(base) = proxy.base() else { continue };
            if base.exists() {
                continue;
            }
            if let Ok(stale) = proxy.into_repo_with_possibly_inaccessible_worktree()
                && stale.head_name().ok().flatten().as_ref() == Some(&full)
            {
                self.remove_registered(&repo, &base)?;
            }
        }
        // Never move a branch that another checkout is on.
        if let Some(elsewhere) = self.checked_out_at(&repo, &full, Some(path))? {
            return Err(VcsError::BranchInUse {
                branch: branch.to_owned(),
                path: elsewhere,
            });
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|err| VcsError::io("create directory", parent, err))?;
        }
        repo.reference(
            full.clone(),
            oid,
            PreviousValue::Any,
            "autoresearch: experiment checkout",
        )
        .git("set checkout branch", &self.root)?;
        let interrupt = AtomicBool::new(false);
        let (created, _) = repo
            .add_worktree(
                path,
                gix::worktree::add::Head::Attached(full),
                gix::progress::Discard,
                &interrupt,
            )
            .git("add worktree", path)?;
        let path = created
            .workdir()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| path.to_owned());
        Ok(Checkout {
            path,
            branch: Some(branch.to_owned()),
            commit: commit.clone(),
            reused: false,
        })
    }

    fn list_checkouts(&self) -> Result<Vec<CheckoutInfo>, VcsError> {
        let _registry = self.lock_registry()?;
        let repo = self.local();
        let mut found = Vec::new();
        for proxy in repo.worktrees().git("list worktrees", &self.root)? {
            let Ok(path) = proxy.base() else { continue };
            let opened = proxy.into_repo_with_possibly_inaccessible_worktree().ok();
            let branch = opened
                .as_ref()
                .and_then(|r| r.head_name().ok().flatten())
                .map(|name| name.shorten().to_str_lossy().into_owned());
            let head = opened
                .as_ref()
                .and_then(|r| r.head_id().ok())
                .map(|id| to_commit_id(id.detach()));
            found.push(CheckoutInfo { path, branch, head });
        }
        Ok(found)
    }

    fn remove_checkout(&self, path: &Path) -> Result<(), VcsError> {
        let _registry = self.lock_registry()?;
        let repo = self.local();
        match self.registered_worktree(&repo, path)? {
            Some(base) => self.remove_registered(&repo, &base),
            None if path.exists() => Err(VcsError::PathOccupied {
                path: path.to_owned(),
            }),
            None => Ok(()),
        }
    }

    fn has_changes(&self, checkout: &Path) -> Result<bool, VcsError> {
        let repo = self.open_checkout(checkout)?;
        let (_, tree) = self.head(&repo, checkout)?;
        Ok(!dirty_paths(&repo, tree)?.is_empty())
    }

    fn commit_all(&self, checkout: &Path, message: &str) -> Result<Option<CommitId>, VcsError> {
        let repo = self.open_checkout(checkout)?;
        let workdir = repo
            .workdir()
            .map(Path::to_path_buf)
            .ok_or_else(|| VcsError::Bare {
                path: checkout.to_owned(),
            })?;
        let (head, head_tree) = self.head(&repo, checkout)?;
        let dirty = dirty_paths(&repo, head_tree)?;
        if dirty.is_empty() {
            return Ok(None);
        }
        let tree = snapshot_tree(&repo, &workdir, head_tree, &dirty)?;
        if tree == head_tree {
            return Ok(None);
        }
        let sig = signature();
        let (mut committer_time, mut author_time) = Default::default();
        let id = repo
            .commit_as(
                sig.to_ref(&mut committer_time),
                sig.to_ref(&mut author_time),
                "HEAD",
                message,
                tree,
                [head],
            )
            .git("commit", checkout)?
            .detach();
        // Keep the index equal to the new commit so the checkout reads as clean.
        let mut index = repo.index_from_tree(&tree).git("build index", checkout)?;
        index
            .write(Default::default())
            .git("write index", checkout)?;
        Ok(Some(to_commit_id(id)))
    }

    fn changed_paths(&self, from: &CommitId, to: &CommitId) -> Result<Vec<ChangedPath>, VcsError> {
        let repo = self.local();
        let before = flatten_tree(&repo, self.tree_of(&repo, from)?)?;
        let after = flatten_tree(&repo, self.tree_of(&repo, to)?)?;
        Ok(diff::changes(&before, &after)
            .into_iter()
            .map(|(path, kind)| ChangedPath {
                path: path.to_str_lossy().into_owned(),
                kind,
            })
            .collect())
    }

    fn diff(&self, from: &CommitId, to: &CommitId) -> Result<String, VcsError> {
        let repo = self.local();
        let before = flatten_tree(&repo, self.tree_of(&repo, from)?)?;
        let after = flatten_tree(&repo, self.tree_of(&repo, to)?)?;
        diff::unified(&repo, &before, &after)
    }

    fn is_ancestor(&self, ancestor: &CommitId, descendant: &CommitId) -> Result<bool, VcsError> {
        let repo = self.local();
        let ancestor = self.commit_oid(&repo, ancestor)?;
        let descendant = self.commit_oid(&repo, descendant)?;
        let walk = repo
            .rev_walk([descendant])
            .all()
            .git("walk history", &self.root)?;
        for info in walk {
            if info.git("walk history", &self.root)?.id == ancestor {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn list_branches(&self, prefix: &str) -> Result<Vec<(String, CommitId)>, VcsError> {
        let repo = self.local();
        let platform = repo.references().git("list branches", &self.root)?;
        let mut found = Vec::new();
        for reference in platform
            .local_branches()
            .git("list branches", &self.root)?
            .flatten()
        {
            let name = reference.name().shorten().to_str_lossy().into_owned();
            if !name.starts_with(prefix) {
                continue;
            }
            if let Some(id) = reference.try_id() {
                found.push((name, to_commit_id(id.detach())));
            }
        }
        found.sort();
        Ok(found)
    }

    fn delete_branch(&self, name: &str) -> Result<(), VcsError> {
        use gix::refs::transaction::{Change, RefEdit, RefLog};
        let _registry = self.lock_registry()?;
        let full = branch_ref(name)?;
        let repo = self.local();
        if repo
            .try_find_reference(full.as_ref())
            .ok()
            .flatten()
            .is_none()
        {
            return Ok(());
        }
        if let Some(path) = self.checked_out_at(&repo, &full, None)? {
            return Err(VcsError::BranchInUse {
                branch: name.to_owned(),
                path,
            });
        }
        repo.edit_reference(RefEdit {
            change: Change::Delete {
                expected: PreviousValue::Any,
                log: RefLog::AndReference,
            },
            name: full,
            deref: false,
        })
        .git("delete branch", &self.root)?;
        Ok(())
    }

    fn export_branch(&self, name: &str, commit: &CommitId) -> Result<(), VcsError> {
        let full = branch_ref(name)?;
        let repo = self.local();
        let oid = self.commit_oid(&repo, commit)?;
        repo.reference(full, oid, PreviousValue::Any, "autoresearch: export")
            .git("set branch", &self.root)?;
        Ok(())
    }
}
