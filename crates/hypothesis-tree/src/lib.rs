//! The experiment tree: its nodes and lifecycle rules, its files under the engine
//! folder, and its pictures (`hypothesis_tree.svg`/`.png`, `progress.png`, and text for
//! terminals) that stay readable from 10 to 1,000 nodes.
//!
//! Baseline, headspace and subprocess runs are roots; each follow-up is a child of the
//! node whose result motivated it. Status changes follow the lifecycle (an illegal one
//! is an error); ids are `NNN_name` from a counter that never repeats, with names
//! sanitised to `[a-z0-9_]{1,40}`. Saving writes only the nodes that changed.
//!
//! **What it must not know:** how experiments run, agents, or platforms. A node's
//! `spec` and `result` are opaque JSON owned by the workflow.
//!
//! Main types: [`HypothesisTree`], [`HypothesisNode`], [`NodeStatus`],
//! [`FailureRecord`]; [`store`] (files), [`layout()`], [`write_tree_pictures`],
//! [`write_progress`], [`render_ascii`].

mod ascii;
mod error;
mod ids;
pub mod layout;
mod node;
mod progress;
pub mod render;
pub mod store;
mod tree;

pub use ascii::render_ascii;
pub use error::TreeError;
pub use ids::{MAX_NAME_LEN, id_number, make_id, sanitize_name};
pub use layout::{Layout, Placed, layout};
pub use node::{FailureKind, FailurePhase, FailureRecord, HypothesisNode, NodeMetrics, NodeStatus};
pub use progress::{ProgressPoint, batch_sizes_differ, progress_points, write_progress};
pub use render::{BoxLabels, tree_svg, write_tree_pictures};
pub use tree::HypothesisTree;
