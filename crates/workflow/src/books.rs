//! The run's books: the tree, `state.json`, the master table and the files derived from
//! them, kept in memory and written incrementally. Only this module writes them.

use std::collections::HashMap;
use std::path::Path;

use autoresearch_hypothesis_tree::{HypothesisTree, NodeStatus, store};
use autoresearch_metrics::RunSummary;

use crate::error::WorkflowError;
use crate::master_table::MasterTable;
use crate::state::RunState;
use crate::workdir::Workdir;

/// Everything the workflow knows, loaded once and updated under one lock.
#[derive(Debug)]
pub struct Books {
    /// The experiments.
    pub tree: HypothesisTree,
    /// Best, plateau, history, …
    pub state: RunState,
    /// The append-only table.
    pub table: MasterTable,
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

/// Sets `key` in a node's result object (making the result an object first): the
/// engine's notes about a node (`job_end`, `plan`, `plan_due`) live there beside the
/// recorded result.
pub fn set_result_key(
    node: &mut autoresearch_hypothesis_tree::HypothesisNode,
    key: &str,
    value: serde_json::Value,
) {
    if !node.result.is_object() {
        node.result = serde_json::json!({});
    }
    if let Some(map) = node.result.as_object_mut() {
        map.insert(key.to_owned(), value);
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

    /// Changes node `id` in memory only (written by the next save).
    pub fn edit_node(
        &mut self,
        id: &str,
        change: impl FnOnce(&mut autoresearch_hypothesis_tree::HypothesisNode),
    ) -> Result<(), WorkflowError> {
        self.tree
            .update(id, change)
            .map_err(|err| corrupt(&self.workdir.engine(), err.to_string()))
    }

    /// The work directory.
    pub fn workdir(&self) -> &Workdir {
        &self.workdir
    }

    /// Writes the changed node files and `tree.json`.
    pub fn save_tree(&mut self) -> Result<(), WorkflowError> {
        let engine = self.workdir.engine();
        store::save_changes(&mut self.tree, &engine)
            .map_err(|err| corrupt(&engine, err.to_string()))?;
        store::write_tree_json(&self.tree, &engine)
            .map_err(|err| corrupt(&engine, err.to_string()))?;
        Ok(())
    }

    /// Writes `state.json`.
    pub fn save_state(&self) -> Result<(), WorkflowError> {
        self.state.save(&self.workdir.state())?;
        Ok(())
    }

    /// Writes the engine views for status `status`.
    pub fn save_views(&self, status: &str) -> Result<(), WorkflowError> {
        crate::views::write_views(&self.workdir, &self.tree, status)
            .map_err(WorkflowError::io("write", self.workdir.engine()))?;
        Ok(())
    }

    /// Writes the changed node files only. The node files are what a resume loads;
    /// `tree.json` is a view, rewritten when a node finishes or is added.
    pub fn save_nodes(&mut self) -> Result<(), WorkflowError> {
        let engine = self.workdir.engine();
        store::save_changes(&mut self.tree, &engine)
            .map_err(|err| corrupt(&engine, err.to_string()))?;
        Ok(())
    }

    /// Moves `id` to `status` and writes its files.
    pub fn transition(&mut self, id: &str, status: NodeStatus) -> Result<(), WorkflowError> {
        self.tree
            .transition(id, status)
            .map_err(|err| corrupt(&self.workdir.engine(), err.to_string()))?;
        self.save_nodes()
    }

    /// Changes node `id` and writes its files.
    pub fn update_node(
        &mut self,
        id: &str,
        change: impl FnOnce(&mut autoresearch_hypothesis_tree::HypothesisNode),
    ) -> Result<(), WorkflowError> {
        self.edit_node(id, change)?;
        self.save_nodes()
    }

    /// The summary of node `id`, if it has one.
    pub fn summary(&mut self, id: &str) -> Option<RunSummary> {
        if let Some(summary) = self.summaries.get(id) {
            return Some(summary.clone());
        }
        let path = self.workdir.run(id).join("summary.json");
        let summary: RunSummary = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        self.summaries.insert(id.to_owned(), summary.clone());
        Some(summary)
    }

    /// Remembers a summary just written.
    pub fn remember_summary(&mut self, id: &str, summary: RunSummary) {
        self.summaries.insert(id.to_owned(), summary);
    }
}
