//! "git add -A" on gix: the tree of a working directory, built from HEAD's tree plus
//! the paths that changed, without touching the index unless asked.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use gix::bstr::{BStr, BString, ByteSlice};
use gix::object::tree::EntryKind;
use gix::objs::tree::EntryMode;
use gix::{ObjectId, Repository};

use crate::error::{GitContext, VcsError};

/// Every non-tree entry of a tree, by repository-relative path.
pub(crate) fn flatten_tree(
    repo: &Repository,
    tree: ObjectId,
) -> Result<HashMap<BString, (EntryMode, ObjectId)>, VcsError> {
    let location = repo.git_dir();
    let tree = repo.find_tree(tree).git("read tree", location)?;
    let mut recorder = gix::traverse::tree::Recorder::default();
    tree.traverse()
        .breadthfirst(&mut recorder)
        .git("walk tree", location)?;
    Ok(recorder
        .records
        .into_iter()
        .filter(|entry| !entry.mode.is_tree())
        .map(|entry| (entry.filepath, (entry.mode, entry.oid)))
        .collect())
}

/// Paths where the working tree differs from `head_tree`: staged changes, unstaged
/// changes, and untracked files that no ignore rule covers.
pub(crate) fn dirty_paths(
    repo: &Repository,
    head_tree: ObjectId,
) -> Result<BTreeSet<BString>, VcsError> {
    let location = repo.workdir().unwrap_or_else(|| repo.git_dir()).to_owned();
    let mut dirty = BTreeSet::new();

    // Staged: the index against HEAD's tree.
    let committed = flatten_tree(repo, head_tree)?;
    let index = repo.index_or_empty().git("read index", &location)?;
    let mut indexed: HashSet<&BStr> = HashSet::new();
    for entry in index.entries() {
        let path = entry.path(&index);
        indexed.insert(path);
        let same = committed.get(path).is_some_and(|(mode, id)| {
            *id == entry.id && entry.mode.to_tree_entry_mode() == Some(*mode)
        });
        if !same {
            dirty.insert(path.to_owned());
        }
    }
    for path in committed.keys() {
        if !indexed.contains(path.as_bstr()) {
            dirty.insert(path.clone());
        }
    }

    // Unstaged and untracked: the working tree against the index.
    use gix::status::index_worktree::Item;
    use gix::status::plumbing::index_as_worktree::EntryStatus;
    let items = repo
        .status(gix::progress::Discard)
        .git("start status", &location)?
        .untracked_files(gix::status::UntrackedFiles::Files)
        .index_worktree_rewrites(None)
        .into_index_worktree_iter(Vec::<BString>::new())
        .git("compute status", &location)?;
    for item in items {
        match item.git("compute status", &location)? {
            Item::Modification {
                rela_path, status, ..
            } => {
                if !matches!(status, EntryStatus::NeedsUpdate(_)) {
                    dirty.insert(rela_path);
                }
            }
            Item::DirectoryContents { entry, .. } => {
                if entry.status == gix::dir::entry::Status::Untracked {
                    dirty.insert(entry.rela_path);
                }
            }
            Item::Rewrite {
                source,
                dirwalk_entry,
                ..
            } => {
                // Not produced with rewrite tracking off; handled for completeness.
                dirty.insert(source.rela_path().to_owned());
                dirty.insert(dirwalk_entry.rela_path);
            }
        }
    }
    Ok(dirty)
}

/// Writes the tree of `workdir` as it is on disk: `base_tree` with every path in
/// `paths` replaced by its on-disk state (missing on disk = removed).
pub(crate) fn snapshot_tree(
    repo: &Repository,
    workdir: &Path,
    base_tree: ObjectId,
    paths: &BTreeSet<BString>,
) -> Result<ObjectId, VcsError> {
    use std::os::unix::fs::PermissionsExt;
    let mut editor = repo.edit_tree(base_tree).git("edit tree", workdir)?;
    for rela in paths {
        let rela_path = gix::path::from_bstr(rela.as_bstr()).git("decode path", workdir)?;
        let full = workdir.join(&rela_path);
        let meta = match std::fs::symlink_metadata(&full) {
            Ok(meta) => meta,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                editor
                    .remove(rela.as_bstr())
                    .git("remove tree entry", workdir)?;
                continue;
            }
            Err(err) => return Err(VcsError::io("read", full, err)),
        };
        let (kind, bytes) = if meta.file_type().is_symlink() {
            let target =
                std::fs::read_link(&full).map_err(|err| VcsError::io("read link", &full, err))?;
            let target = gix::path::into_bstr(target)
                .git("encode link target", workdir)?
                .into_owned();
            (EntryKind::Link, Vec::from(target))
        } else if meta.is_dir() {
            // A tracked file replaced by a directory: its new contents arrive as
            // separate (later-sorting) untracked paths.
            editor
                .remove(rela.as_bstr())
                .git("remove tree entry", workdir)?;
            continue;
        } else if meta.permissions().mode() & 0o111 != 0 {
            let bytes = std::fs::read(&full).map_err(|err| VcsError::io("read", &full, err))?;
            (EntryKind::BlobExecutable, bytes)
        } else {
            let bytes = std::fs::read(&full).map_err(|err| VcsError::io("read", &full, err))?;
            (EntryKind::Blob, bytes)
        };
        let blob = repo.write_blob(&bytes).git("write blob", workdir)?.detach();
        editor
            .upsert(rela.as_bstr(), kind, blob)
            .git("update tree entry", workdir)?;
    }
    Ok(editor.write().git("write tree", workdir)?.detach())
}

/// The fixed identity every commit is made with, so no user configuration is needed.
pub(crate) fn signature() -> gix::actor::Signature {
    gix::actor::Signature {
        name: "autoresearch".into(),
        email: "autoresearch@localhost".into(),
        time: gix::date::Time::now_utc(),
    }
}
