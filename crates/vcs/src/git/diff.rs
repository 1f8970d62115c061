//! Changed paths and unified diffs between two flattened trees.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use gix::bstr::{BString, ByteSlice};
use gix::objs::tree::{EntryKind, EntryMode};
use gix::{ObjectId, Repository};

use crate::error::{GitContext, VcsError};
use crate::types::ChangeKind;

type Flat = HashMap<BString, (EntryMode, ObjectId)>;

/// Paths that differ, sorted, with how they changed.
pub(super) fn changes(before: &Flat, after: &Flat) -> Vec<(BString, ChangeKind)> {
    let mut changed = BTreeMap::new();
    for (path, old) in before {
        match after.get(path) {
            None => {
                changed.insert(path.clone(), ChangeKind::Deleted);
            }
            Some(new) if new != old => {
                changed.insert(path.clone(), ChangeKind::Modified);
            }
            Some(_) => {}
        }
    }
    for path in after.keys() {
        if !before.contains_key(path) {
            changed.insert(path.clone(), ChangeKind::Added);
        }
    }
    changed.into_iter().collect()
}

fn mode_octal(mode: EntryMode) -> &'static str {
    match mode.kind() {
        EntryKind::Blob => "100644",
        EntryKind::BlobExecutable => "100755",
        EntryKind::Link => "120000",
        EntryKind::Commit => "160000",
        EntryKind::Tree => "040000",
    }
}

fn short(id: ObjectId) -> String {
    id.to_hex_with_len(7).to_string()
}

/// A patch in git's format: `diff --git` headers, mode lines, and unified hunks with
/// three lines of context; binary contents are named, not shown.
pub(super) fn unified(repo: &Repository, before: &Flat, after: &Flat) -> Result<String, VcsError> {
    let location = repo.git_dir();
    let read = |id: ObjectId| -> Result<Vec<u8>, VcsError> {
        Ok(repo
            .find_object(id)
            .git("read blob", location)?
            .data
            .clone())
    };
    let mut out = String::new();
    for (path, _) in changes(before, after) {
        let path = path.to_str_lossy();
        let old = before.get(path.as_bytes().as_bstr());
        let new = after.get(path.as_bytes().as_bstr());
        // Writing to a String cannot fail.
        let _ = writeln!(out, "diff --git a/{path} b/{path}");
        match (old, new) {
            (None, Some((mode, _))) => {
                let _ = writeln!(out, "new file mode {}", mode_octal(*mode));
            }
            (Some((mode, _)), None) => {
                let _ = writeln!(out, "deleted file mode {}", mode_octal(*mode));
            }
            (Some((old_mode, _)), Some((new_mode, _))) if old_mode != new_mode => {
                let _ = writeln!(
                    out,
                    "old mode {}\nnew mode {}",
                    mode_octal(*old_mode),
                    mode_octal(*new_mode)
                );
            }
            _ => {}
        }
        let old_bytes = old
            .map(|(_, id)| read(*id))
            .transpose()?
            .unwrap_or_default();
        let new_bytes = new
            .map(|(_, id)| read(*id))
            .transpose()?
            .unwrap_or_default();
        if old_bytes == new_bytes {
            continue; // A mode-only change.
        }
        let zero = ObjectId::null(repo.object_hash());
        let old_id = old.map_or(zero, |(_, id)| *id);
        let new_id = new.map_or(zero, |(_, id)| *id);
        match (old, new) {
            (Some((mode, _)), Some((new_mode, _))) if mode == new_mode => {
                let _ = writeln!(
                    out,
                    "index {}..{} {}",
                    short(old_id),
                    short(new_id),
                    mode_octal(*mode)
                );
            }
            _ => {
                let _ = writeln!(out, "index {}..{}", short(old_id), short(new_id));
            }
        }
        let old_name = if old.is_some() {
            format!("a/{path}")
        } else {
            "/dev/null".to_owned()
        };
        let new_name = if new.is_some() {
            format!("b/{path}")
        } else {
            "/dev/null".to_owned()
        };
        match (
            std::str::from_utf8(&old_bytes),
            std::str::from_utf8(&new_bytes),
        ) {
            (Ok(old_text), Ok(new_text))
                if !old_text.contains('\0') && !new_text.contains('\0') =>
            {
                let diff = similar::TextDiff::from_lines(old_text, new_text);
                let mut unified = diff.unified_diff();
                let _ = write!(
                    out,
                    "{}",
                    unified.context_radius(3).header(&old_name, &new_name)
                );
            }
            _ => {
                let _ = writeln!(out, "Binary files {old_name} and {new_name} differ");
            }
        }
    }
    Ok(out)
}
