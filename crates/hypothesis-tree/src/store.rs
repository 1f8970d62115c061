//! The tree's files under the engine folder.
//!
//! - `nodes/<id>/node.json` — the whole node; the source of truth, written for each
//!   changed node only.
//! - `nodes/<id>/spec.json`, `status.txt` (`"<status>\n"`), `result.json` (when there
//!   is a result) and `failure.json` (when there is a failure) — the original tool's
//!   per-node views, rewritten only when their content changes.
//! - `tree.json` — every node in one list (the original tool's view), rewritten by
//!   [`write_tree_json`] at the caller's pace, not on every change.
//!
//! Every file is replaced atomically.

use std::path::{Path, PathBuf};

use autoresearch_fs::write_atomic;

use crate::error::TreeError;
use crate::node::HypothesisNode;
use crate::tree::HypothesisTree;

/// What one save wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaveStats {
    /// Nodes saved.
    pub nodes: usize,
    /// Files written.
    pub files: usize,
    /// Bytes written.
    pub bytes: usize,
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> TreeError + 'a {
    move |source| TreeError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

fn to_json<T: serde::Serialize>(value: &T, path: &Path) -> Result<Vec<u8>, TreeError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|err| TreeError::Corrupt {
        path: path.to_owned(),
        detail: err.to_string(),
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Writes `bytes` to `path` unless it already holds exactly them.
fn write_if_changed(path: &Path, bytes: &[u8], stats: &mut SaveStats) -> Result<(), TreeError> {
    if std::fs::read(path).is_ok_and(|current| current == bytes) {
        return Ok(());
    }
    write_atomic(path, bytes).map_err(io("write", path))?;
    stats.files += 1;
    stats.bytes += bytes.len();
    Ok(())
}

/// The folder of one node.
pub fn node_dir(engine_dir: &Path, id: &str) -> PathBuf {
    engine_dir.join("nodes").join(id)
}

/// Saves the nodes changed since the last save (their files only).
pub fn save_changes(tree: &mut HypothesisTree, engine_dir: &Path) -> Result<SaveStats, TreeError> {
    let mut stats = SaveStats::default();
    let dirty = tree.take_dirty();
    for id in &dirty {
        let Some(node) = tree.get(id) else { continue };
        if let Err(err) = save_node(node, engine_dir, &mut stats) {
            // Keep what was not saved for the next attempt.
            for id in &dirty {
                tree.update(id, |_| {}).ok();
            }
            return Err(err);
        }
        stats.nodes += 1;
    }
    Ok(stats)
}

fn save_node(
    node: &HypothesisNode,
    engine_dir: &Path,
    stats: &mut SaveStats,
) -> Result<(), TreeError> {
    let dir = node_dir(engine_dir, &node.node_id);
    std::fs::create_dir_all(&dir).map_err(io("create directory", &dir))?;
    let path = dir.join("node.json");
    write_if_changed(&path, &to_json(node, &path)?, stats)?;
    let path = dir.join("spec.json");
    write_if_changed(&path, &to_json(&node.spec, &path)?, stats)?;
    write_if_changed(
        &dir.join("status.txt"),
        format!("{}\n", node.status).as_bytes(),
        stats,
    )?;
    for (name, value) in [
        (
            "result.json",
            (!node.result.is_null()).then(|| node.result.clone()),
        ),
        (
            "failure.json",
            node.failure
                .as_ref()
                .and_then(|f| serde_json::to_value(f).ok()),
        ),
    ] {
        let path = dir.join(name);
        match value {
            Some(value) => write_if_changed(&path, &to_json(&value, &path)?, stats)?,
            None => match std::fs::remove_file(&path) {
                Ok(()) => stats.files += 1,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(io("remove", &path)(err)),
            },
        }
    }
    Ok(())
}

/// Rewrites `tree.json` (every node, in insertion order).
pub fn write_tree_json(tree: &HypothesisTree, engine_dir: &Path) -> Result<SaveStats, TreeError> {
    std::fs::create_dir_all(engine_dir).map_err(io("create directory", engine_dir))?;
    let path = engine_dir.join("tree.json");
    let nodes: Vec<&HypothesisNode> = tree.nodes().collect();
    let bytes = to_json(&nodes, &path)?;
    write_atomic(&path, &bytes).map_err(io("write", &path))?;
    Ok(SaveStats {
        nodes: nodes.len(),
        files: 1,
        bytes: bytes.len(),
    })
}

/// Loads the tree: from the node folders when there are any, else from `tree.json`;
/// an empty tree when neither exists. A damaged file is an error naming it.
pub fn load(engine_dir: &Path) -> Result<HypothesisTree, TreeError> {
    let nodes_dir = engine_dir.join("nodes");
    let mut nodes: Vec<HypothesisNode> = Vec::new();
    match std::fs::read_dir(&nodes_dir) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry.map_err(io("list", &nodes_dir))?;
                let path = entry.path().join("node.json");
                let bytes = std::fs::read(&path).map_err(io("read", &path))?;
                let node: HypothesisNode = parse(&bytes, &path)?;
                if entry.file_name().to_string_lossy() != node.node_id {
                    return Err(TreeError::Corrupt {
                        path,
                        detail: format!("it describes `{}`, not the folder's node", node.node_id),
                    });
                }
                nodes.push(node);
            }
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let path = engine_dir.join("tree.json");
            match std::fs::read(&path) {
                Ok(bytes) => nodes = parse(&bytes, &path)?,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(io("read", &path)(err)),
            }
        }
        Err(err) => return Err(io("list", &nodes_dir)(err)),
    }
    // Parents have lower numbers than their children; insert in that order.
    nodes.sort_by_key(|n| {
        (
            crate::ids::id_number(&n.node_id).unwrap_or(u64::MAX),
            n.node_id.clone(),
        )
    });
    let mut tree = HypothesisTree::new();
    let mut pending = nodes;
    while !pending.is_empty() {
        let before = pending.len();
        let mut rest = Vec::new();
        for node in pending {
            let ready = node
                .parent_id
                .as_ref()
                .is_none_or(|p| tree.get(p).is_some());
            if ready {
                tree.insert(node)?
            } else {
                rest.push(node)
            }
        }
        if rest.len() == before {
            let orphan = &rest[0];
            return Err(TreeError::Corrupt {
                path: node_dir(engine_dir, &orphan.node_id).join("node.json"),
                detail: format!(
                    "its parent `{}` is missing",
                    orphan.parent_id.clone().unwrap_or_default()
                ),
            });
        }
        pending = rest;
    }
    tree.take_dirty();
    Ok(tree)
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8], path: &Path) -> Result<T, TreeError> {
    serde_json::from_slice(bytes).map_err(|err| TreeError::Corrupt {
        path: path.to_owned(),
        detail: err.to_string(),
    })
}
