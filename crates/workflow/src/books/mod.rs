//! The run's books: the tree, `state.json`, the master table and the files derived from
//! them (`tree.json`, `summary.md`, the engine views, the pictures), kept in memory
//! behind the context's one lock and written incrementally. Only this module writes
//! them, and only through the intent methods of [`intents`]: each changes what one
//! event changes and saves in the documented order (run files → table row →
//! `state.json` → the node's files, whose terminal status is the commit point →
//! `tree.json`, `summary.md`, views). Readers get shared references; nothing outside
//! can change a field and forget to save it.

mod configurations;
mod derived;
mod intents;
pub mod master_table;
mod node_result;
pub mod state;
pub mod views;

use std::collections::HashMap;
use std::path::Path;

use autoresearch_hypothesis_tree::{HypothesisNode, HypothesisTree, store};
use autoresearch_metrics::RunSummary;

pub use derived::{write_pictures, write_summary_md};
pub use intents::{CompletionEntry, NewExperiment, SetupDone, Skipped};
pub use node_result::NodeResult;

use crate::error::WorkflowError;
use crate::spec::{ExperimentKind, ExperimentSpec};
use crate::workdir::Workdir;
use master_table::MasterTable;
use state::RunState;

/// Everything the workflow knows, loaded once and updated under one lock.
#[derive(Debug)]
pub struct Books {
    tree: HypothesisTree,
    state: RunState,
    table: MasterTable,
    /// Summaries by node id, loaded on demand from `runs/<id>/summary.json`.
    summaries: HashMap<String, RunSummary>,
    workdir: Workdir,
}

fn corrupt(path: &Path, detail: impl Into<String>) -> WorkflowError {
    WorkflowError::Corrupt {
        path: path.to_owned(),
        detail: detail.into(),
        hint: "restore the file from a backup, or start a new work directory".to_owned(),
    }
}

/// The tree of `workdir` (empty before the first experiment), for readers that do not
/// need the rest of the books.
pub fn load_tree(workdir: &Workdir) -> Result<HypothesisTree, WorkflowError> {
    let engine = workdir.engine();
    if engine.join("nodes").is_dir() {
        store::load(&engine).map_err(|err| corrupt(&engine.join("nodes"), err.to_string()))
    } else {
        Ok(HypothesisTree::new())
    }
}

/// The spec stored in `node`, if it reads as one.
pub fn spec_of_node(node: &HypothesisNode) -> Option<ExperimentSpec> {
    serde_json::from_value(node.spec.clone()).ok()
}

impl Books {
    /// Loads the books of `workdir` (empty ones for a new run).
    pub fn open(workdir: &Workdir) -> Result<Self, WorkflowError> {
        let tree = load_tree(workdir)?;
        let state = RunState::load(&workdir.state())?.unwrap_or_default();
        std::fs::create_dir_all(workdir.root())
            .map_err(WorkflowError::io("create", workdir.root()))?;
        let table = MasterTable::open(&workdir.master_table())
            .map_err(|err| corrupt(&workdir.master_table(), err.to_string()))?;
        Ok(Self {
            tree,
            state,
            table,
            summaries: HashMap::new(),
            workdir: workdir.clone(),
        })
    }

    /// The work directory.
    pub fn workdir(&self) -> &Workdir {
        &self.workdir
    }

    /// The experiments.
    pub fn tree(&self) -> &HypothesisTree {
        &self.tree
    }

    /// Best, plateau, history, …
    pub fn state(&self) -> &RunState {
        &self.state
    }

    /// The spec stored in node `id`.
    pub fn spec_of(&self, id: &str) -> Option<ExperimentSpec> {
        self.tree.get(id).and_then(spec_of_node)
    }

    /// The id of the node of `kind` (seeds are unique).
    pub fn node_of_kind(&self, kind: ExperimentKind) -> Option<String> {
        crate::spec::node_of_kind(&self.tree, kind)
    }

    /// The baseline's id and steady step, ms (the step when it has one).
    pub fn baseline(&self) -> Option<(String, Option<f64>)> {
        let id = self.node_of_kind(ExperimentKind::Baseline)?;
        let step = self.tree.get(&id).and_then(|n| n.metrics.step_ms);
        Some((id, step))
    }

    /// The summary of node `id`, if it has one.
    pub fn summary(&mut self, id: &str) -> Option<RunSummary> {
        let summary = self.peek_summary(id)?;
        self.summaries.insert(id.to_owned(), summary.clone());
        Some(summary)
    }

    /// [`Books::summary`] without keeping what it read.
    pub fn peek_summary(&self, id: &str) -> Option<RunSummary> {
        if let Some(summary) = self.summaries.get(id) {
            return Some(summary.clone());
        }
        let path = self.workdir.run(id).join("summary.json");
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }

    /// Remembers a summary just written.
    pub fn remember_summary(&mut self, id: &str, summary: RunSummary) {
        self.summaries.insert(id.to_owned(), summary);
    }

    /// Writes `state.json`.
    fn save_state(&self) -> Result<(), WorkflowError> {
        self.state.save(&self.workdir.state())?;
        Ok(())
    }

    /// Writes the changed node files only. The node files are what a resume loads;
    /// `tree.json` is a view, rewritten when a node finishes or is added.
    fn save_nodes(&mut self) -> Result<(), WorkflowError> {
        let engine = self.workdir.engine();
        store::save_changes(&mut self.tree, &engine)
            .map_err(|err| corrupt(&engine, err.to_string()))?;
        Ok(())
    }

    /// Writes the changed node files and `tree.json`.
    fn save_tree(&mut self) -> Result<(), WorkflowError> {
        self.save_nodes()?;
        let engine = self.workdir.engine();
        store::write_tree_json(&self.tree, &engine)
            .map_err(|err| corrupt(&engine, err.to_string()))?;
        Ok(())
    }

    /// Writes the engine views for status `status`.
    pub fn save_views(&self, status: &str) -> Result<(), WorkflowError> {
        views::write_views(&self.workdir, &self.tree, status)
            .map_err(WorkflowError::io("write", self.workdir.engine()))?;
        Ok(())
    }

    /// Changes node `id` in memory only (written by the caller's next save).
    fn edit_node(
        &mut self,
        id: &str,
        change: impl FnOnce(&mut HypothesisNode),
    ) -> Result<(), WorkflowError> {
        self.tree
            .update(id, change)
            .map_err(|err| corrupt(&self.workdir.engine(), err.to_string()))
    }

    /// Changes node `id`'s notes in memory only.
    fn edit_result(
        &mut self,
        id: &str,
        change: impl FnOnce(&mut NodeResult),
    ) -> Result<(), WorkflowError> {
        self.edit_node(id, |n| {
            let mut result = NodeResult::of(&n.result);
            change(&mut result);
            n.result = result.to_value();
        })
    }

    /// Moves `id` to `status` in memory only (a no-op when it is there already).
    fn move_node(
        &mut self,
        id: &str,
        status: autoresearch_hypothesis_tree::NodeStatus,
    ) -> Result<(), WorkflowError> {
        if self.tree.get(id).is_some_and(|n| n.status == status) {
            return Ok(());
        }
        self.tree
            .transition(id, status)
            .map_err(|err| corrupt(&self.workdir.engine(), err.to_string()))
    }
}
