//! Error type.

use std::path::PathBuf;

use crate::node::NodeStatus;

/// What went wrong with the tree or its files.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// No node has this id.
    #[error("no experiment `{0}` in the tree")]
    UnknownNode(String),
    /// A node with this id exists already.
    #[error("experiment `{0}` is already in the tree")]
    DuplicateNode(String),
    /// The lifecycle does not allow this status change.
    #[error("experiment `{id}` cannot go from {from} to {to}")]
    IllegalTransition {
        /// The node.
        id: String,
        /// Its status.
        from: NodeStatus,
        /// The refused status.
        to: NodeStatus,
    },
    /// A file could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A file is damaged.
    #[error(
        "{path} is damaged: {detail}\nhint: restore it from tree.json, or remove the node's folder"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A picture could not be drawn.
    #[error("cannot draw {path}: {detail}")]
    Draw {
        /// The picture.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
}
