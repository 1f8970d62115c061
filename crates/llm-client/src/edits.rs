//! The edit format of API backends: search/replace blocks per file.
//!
//! ```text
//! ### path/relative/to/workdir.py
//! <<<<<<< SEARCH
//! text that appears exactly once in the file
//! =======
//! its replacement
//! >>>>>>> REPLACE
//! ```
//!
//! An empty SEARCH section creates a new file with the REPLACE text. Paths must be
//! relative and stay inside the working directory.

use std::path::{Component, Path, PathBuf};

use crate::error::LlmError;
use crate::types::FileEdit;

/// The instructions appended to an edit prompt for API backends.
pub const EDIT_INSTRUCTIONS: &str = "\n\n## How to answer with edits\n\n\
For each change, write a block like this (paths relative to the working directory; the \
SEARCH text must appear exactly once in the file; an empty SEARCH creates a new file):\n\n\
### path/to/file.py\n<<<<<<< SEARCH\nexact lines to find\n=======\nlines to put instead\n>>>>>>> REPLACE\n";

/// Parses every block in `text` and checks every path.
pub fn parse_edits(text: &str) -> Result<Vec<FileEdit>, LlmError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut edits = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_end() == "<<<<<<< SEARCH" {
            let path = (0..i)
                .rev()
                .map(|j| lines[j].trim())
                .find(|l| !l.is_empty() && !l.starts_with("```"))
                .and_then(|l| l.strip_prefix("###"))
                .map(|l| l.trim().trim_matches('`').to_owned())
                .ok_or_else(|| LlmError::BadEdit {
                    path: String::new(),
                    reason: "a SEARCH block without a `### path` line before it".to_owned(),
                })?;
            let divider = (i + 1..lines.len()).find(|j| lines[*j].trim_end() == "=======");
            let end = divider.and_then(|d| {
                (d + 1..lines.len()).find(|j| lines[*j].trim_end() == ">>>>>>> REPLACE")
            });
            let (Some(divider), Some(end)) = (divider, end) else {
                return Err(LlmError::BadEdit {
                    path,
                    reason: "an unterminated SEARCH/REPLACE block".to_owned(),
                });
            };
            let join = |range: &[&str]| {
                if range.is_empty() {
                    String::new()
                } else {
                    range.join("\n") + "\n"
                }
            };
            edits.push(FileEdit {
                path: check_path(&path)?,
                search: join(&lines[i + 1..divider]),
                replace: join(&lines[divider + 1..end]),
            });
            i = end + 1;
        } else {
            i += 1;
        }
    }
    Ok(edits)
}

/// A relative path without `..`, absolute parts or empty names.
pub fn check_path(path: &str) -> Result<PathBuf, LlmError> {
    let reject = |reason: &str| LlmError::BadEdit {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if path.is_empty() {
        return Err(reject("empty path"));
    }
    let parsed = Path::new(path);
    for component in parsed.components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Err(reject("it leaves the working directory (`..`)")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(reject(
                    "absolute paths are not allowed; use a path relative to the working directory",
                ));
            }
        }
    }
    Ok(parsed.to_owned())
}

/// Applies edits inside `workdir`, all or nothing: every edit is checked (the path stays
/// inside `workdir` even through symlinked folders; symlinked files are refused; SEARCH
/// matches exactly once; files are UTF-8) and every result staged before any file is
/// replaced. Returns the files changed.
pub fn apply_edits(workdir: &Path, edits: &[FileEdit]) -> Result<Vec<PathBuf>, LlmError> {
    let root = std::fs::canonicalize(workdir).map_err(|source| LlmError::Io {
        path: workdir.to_owned(),
        source,
    })?;
    let mut planned: Vec<(PathBuf, String)> = Vec::new();
    for edit in edits {
        let shown = edit.path.display().to_string();
        check_path(&shown)?;
        let target = root.join(&edit.path);
        let parent = target.parent().unwrap_or(&root);
        let existing_parent = parent.ancestors().find(|p| p.exists()).unwrap_or(&root);
        let real_parent =
            std::fs::canonicalize(existing_parent).unwrap_or_else(|_| existing_parent.to_owned());
        if !real_parent.starts_with(&root) {
            return Err(LlmError::BadEdit {
                path: shown,
                reason: "it resolves outside the working directory".to_owned(),
            });
        }
        if std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(LlmError::BadEdit {
                path: shown,
                reason: "it is a symbolic link; edit the file it points to".to_owned(),
            });
        }
        let on_disk = || match std::fs::read(&target) {
            Ok(bytes) => String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| LlmError::BadEdit {
                    path: shown.clone(),
                    reason: "the file is not UTF-8 text".to_owned(),
                }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(LlmError::Io {
                path: target.clone(),
                source,
            }),
        };
        let current = match planned.iter().rev().find(|(p, _)| *p == target) {
            Some((_, text)) => Some(text.clone()),
            None => on_disk()?,
        };
        let next = match (&current, edit.search.is_empty()) {
            (None, true) => edit.replace.clone(),
            (Some(_), true) => {
                return Err(LlmError::BadEdit {
                    path: shown,
                    reason: "an empty SEARCH creates a file, but the file exists".to_owned(),
                });
            }
            (None, false) => {
                return Err(LlmError::BadEdit {
                    path: shown,
                    reason: "the file does not exist".to_owned(),
                });
            }
            (Some(text), false) => match text.matches(edit.search.as_str()).count() {
                1 => text.replacen(edit.search.as_str(), &edit.replace, 1),
                0 => {
                    return Err(LlmError::BadEdit {
                        path: shown,
                        reason: "the SEARCH text is not in the file".to_owned(),
                    });
                }
                n => {
                    return Err(LlmError::BadEdit {
                        path: shown,
                        reason: format!("the SEARCH text appears {n} times; it must be unique"),
                    });
                }
            },
        };
        planned.push((target, next));
    }
    // Stage every final file first, then rename them into place: a failure while
    // staging changes nothing.
    let mut finals: Vec<(PathBuf, String)> = Vec::new();
    for (target, text) in planned {
        match finals.iter_mut().find(|(p, _)| *p == target) {
            Some(slot) => slot.1 = text,
            None => finals.push((target, text)),
        }
    }
    let mut staged = Vec::new();
    for (n, (target, text)) in finals.iter().enumerate() {
        let result = target
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                let tmp = target.with_file_name(format!(
                    ".{}.edit-{}-{n}",
                    target
                        .file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    std::process::id()
                ));
                std::fs::write(&tmp, text).map(|()| tmp)
            });
        match result {
            Ok(tmp) => staged.push((tmp, target.clone())),
            Err(source) => {
                for (tmp, _) in &staged {
                    let _ = std::fs::remove_file(tmp);
                }
                return Err(LlmError::Io {
                    path: target.clone(),
                    source,
                });
            }
        }
    }
    let mut changed = Vec::new();
    for (tmp, target) in staged {
        std::fs::rename(&tmp, &target).map_err(|source| LlmError::Io {
            path: target.clone(),
            source,
        })?;
        changed.push(target);
    }
    Ok(changed)
}
