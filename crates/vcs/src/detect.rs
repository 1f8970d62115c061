//! Finding the repository around a source directory.

use std::path::Path;
use std::sync::Arc;

use crate::error::VcsError;
use crate::git::GitVcs;
use crate::sapling::SaplingVcs;
use crate::types::{RepoLocation, VcsKind};
use crate::vcs::Vcs;

/// Finds the repository containing `path` (which may be a subfolder of it) and says
/// where `path` sits inside it. The nearest `.git` or `.sl` wins.
pub fn detect(path: &Path) -> Result<RepoLocation, VcsError> {
    let absolute = std::fs::canonicalize(path).map_err(|err| VcsError::io("find", path, err))?;
    for dir in absolute.ancestors() {
        let kind = if dir.join(".git").exists() {
            VcsKind::Git
        } else if dir.join(".sl").is_dir() {
            VcsKind::Sapling
        } else {
            continue;
        };
        let root = match kind {
            // Discovery also validates it (a `.git` file of a worktree, a broken repo).
            VcsKind::Git => GitVcs::open(&absolute)?.root().to_owned(),
            VcsKind::Sapling => dir.to_owned(),
        };
        let source_subdir = absolute
            .strip_prefix(&root)
            .unwrap_or(Path::new(""))
            .to_owned();
        return Ok(RepoLocation {
            kind,
            root,
            source_subdir,
        });
    }
    // No marker above it: inside a bare repository, or in no repository at all.
    match gix::discover(&absolute) {
        Ok(repo) if repo.workdir().is_none() => Err(VcsError::Bare {
            path: repo.git_dir().to_owned(),
        }),
        _ => Err(VcsError::NotARepository { path: absolute }),
    }
}

/// Detects the repository around `path` and opens the matching backend (Sapling through
/// the `sl` on `PATH`).
pub fn open(path: &Path) -> Result<(RepoLocation, Arc<dyn Vcs>), VcsError> {
    let location = detect(path)?;
    let vcs: Arc<dyn Vcs> = match location.kind {
        VcsKind::Git => Arc::new(GitVcs::open(&location.root)?),
        VcsKind::Sapling => Arc::new(SaplingVcs::open(&location.root)?),
    };
    Ok((location, vcs))
}
