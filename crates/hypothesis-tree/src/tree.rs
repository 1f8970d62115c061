//! The tree: nodes, their links, the lifecycle rules and the queries.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use petgraph::visit::EdgeRef;

use crate::error::TreeError;
use crate::ids::{id_number, make_id, sanitize_name};
use crate::node::{FailureKind, HypothesisNode, NodeMetrics, NodeStatus};

/// The experiment tree. Roots are nodes without a parent (baseline, headspace, MTP).
#[derive(Debug, Clone, Default)]
pub struct HypothesisTree {
    graph: StableDiGraph<HypothesisNode, ()>,
    index: HashMap<String, NodeIndex>,
    /// Nodes in insertion order.
    order: Vec<String>,
    next_counter: u64,
    dirty: BTreeSet<String>,
}

impl HypothesisTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an experiment named `name` (sanitised) under `parent`, with the next id.
    pub fn add(
        &mut self,
        name: &str,
        parent: Option<&str>,
        spec: serde_json::Value,
        priority: f64,
    ) -> Result<String, TreeError> {
        if let Some(parent) = parent
            && !self.index.contains_key(parent)
        {
            return Err(TreeError::UnknownNode(parent.to_owned()));
        }
        let name = sanitize_name(name);
        let id = make_id(self.next_counter, &name);
        self.insert(HypothesisNode {
            node_id: id.clone(),
            name,
            parent_id: parent.map(str::to_owned),
            commit: None,
            spec,
            status: NodeStatus::Queued,
            job_id: None,
            launched_at: None,
            result: serde_json::Value::Null,
            children: Vec::new(),
            priority,
            duration: None,
            failure: None,
            attempt: 0,
            launch_order: None,
            improved: false,
            metrics: NodeMetrics::default(),
        })?;
        Ok(id)
    }

    /// Inserts a complete node (loading, or tests). Its parent must be present; the id
    /// counter moves past its number so ids never repeat.
    pub fn insert(&mut self, mut node: HypothesisNode) -> Result<(), TreeError> {
        if self.index.contains_key(&node.node_id) {
            return Err(TreeError::DuplicateNode(node.node_id));
        }
        let parent = match &node.parent_id {
            Some(parent) => Some(
                *self
                    .index
                    .get(parent)
                    .ok_or_else(|| TreeError::UnknownNode(parent.clone()))?,
            ),
            None => None,
        };
        if let Some(n) = id_number(&node.node_id) {
            self.next_counter = self.next_counter.max(n + 1);
        }
        let id = node.node_id.clone();
        node.children.retain(|c| self.index.contains_key(c));
        let ix = self.graph.add_node(node);
        if let Some(parent) = parent {
            self.graph.add_edge(parent, ix, ());
            if let Some(p) = self.graph.node_weight_mut(parent)
                && !p.children.contains(&id)
            {
                p.children.push(id.clone());
                self.dirty.insert(p.node_id.clone());
            }
        }
        self.index.insert(id.clone(), ix);
        self.order.push(id.clone());
        self.dirty.insert(id);
        Ok(())
    }

    /// The node with this id.
    pub fn get(&self, id: &str) -> Option<&HypothesisNode> {
        self.index
            .get(id)
            .and_then(|ix| self.graph.node_weight(*ix))
    }

    /// Changes a node through `edit` (which must not change its id, parent or status:
    /// use [`Self::transition`] for the status) and marks it for saving.
    pub fn update(
        &mut self,
        id: &str,
        edit: impl FnOnce(&mut HypothesisNode),
    ) -> Result<(), TreeError> {
        let node = self.node_mut(id)?;
        let (status, parent) = (node.status, node.parent_id.clone());
        edit(node);
        node.node_id = id.to_owned();
        node.status = status;
        node.parent_id = parent;
        self.dirty.insert(id.to_owned());
        Ok(())
    }

    /// Moves a node to `next`, if the lifecycle allows it.
    pub fn transition(&mut self, id: &str, next: NodeStatus) -> Result<(), TreeError> {
        let node = self.node_mut(id)?;
        if !node.status.can_become(next) {
            return Err(TreeError::IllegalTransition {
                id: id.to_owned(),
                from: node.status,
                to: next,
            });
        }
        if node.status != next {
            node.status = next;
            self.dirty.insert(id.to_owned());
        }
        Ok(())
    }

    fn node_mut(&mut self, id: &str) -> Result<&mut HypothesisNode, TreeError> {
        self.index
            .get(id)
            .and_then(|ix| self.graph.node_weight_mut(*ix))
            .ok_or_else(|| TreeError::UnknownNode(id.to_owned()))
    }

    /// Every node, in insertion order.
    pub fn nodes(&self) -> impl Iterator<Item = &HypothesisNode> {
        self.order.iter().filter_map(|id| self.get(id))
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Nodes without a parent, in insertion order.
    pub fn roots(&self) -> Vec<&HypothesisNode> {
        self.nodes().filter(|n| n.parent_id.is_none()).collect()
    }

    /// The children of `id`, in creation order.
    pub fn children(&self, id: &str) -> Vec<&HypothesisNode> {
        let Some(ix) = self.index.get(id) else {
            return Vec::new();
        };
        let mut children: Vec<&HypothesisNode> = self
            .graph
            .edges(*ix)
            .filter_map(|e| self.graph.node_weight(e.target()))
            .collect();
        let position: HashMap<&str, usize> = self
            .order
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        children.sort_by_key(|n| {
            position
                .get(n.node_id.as_str())
                .copied()
                .unwrap_or(usize::MAX)
        });
        children
    }

    /// The ancestors of `id`, nearest first.
    pub fn ancestors(&self, id: &str) -> Vec<&HypothesisNode> {
        let mut out = Vec::new();
        let mut current = self.get(id).and_then(|n| n.parent_id.clone());
        while let Some(parent) = current {
            let Some(node) = self.get(&parent) else { break };
            out.push(node);
            current = node.parent_id.clone();
        }
        out
    }

    /// The path from a root to `id` (inclusive).
    pub fn path_to(&self, id: &str) -> Vec<&HypothesisNode> {
        let mut path = self.ancestors(id);
        path.reverse();
        if let Some(node) = self.get(id) {
            path.push(node);
        }
        path
    }

    /// The best node under `better` (`Ordering::Less` = the first argument is better),
    /// among completed nodes; ties go to the earlier node.
    pub fn best_by(
        &self,
        mut better: impl FnMut(&HypothesisNode, &HypothesisNode) -> Ordering,
    ) -> Option<&HypothesisNode> {
        let mut best: Option<&HypothesisNode> = None;
        for node in self.nodes().filter(|n| n.status == NodeStatus::Completed) {
            best = match best {
                Some(current) if better(node, current) != Ordering::Less => Some(current),
                _ => Some(node),
            };
        }
        best
    }

    /// The kept improvement launched last: the current best when every new best is
    /// marked `improved`.
    pub fn latest_improvement(&self) -> Option<&HypothesisNode> {
        self.nodes()
            .filter(|n| n.improved)
            .max_by_key(|n| (n.launch_order, crate::ids::id_number(&n.node_id)))
    }

    /// The changes along the path to `id`: each node's `spec.change_summary` (or its
    /// name), root first — the report's optimisation breakdown.
    pub fn changes_along(&self, id: &str) -> Vec<(String, String)> {
        self.path_to(id)
            .into_iter()
            .map(|n| {
                let change = n
                    .spec
                    .get("change_summary")
                    .and_then(|v| v.as_str())
                    .unwrap_or(&n.name)
                    .to_owned();
                (n.node_id.clone(), change)
            })
            .collect()
    }

    /// How many nodes have each status.
    pub fn counts_by_status(&self) -> BTreeMap<NodeStatus, usize> {
        let mut counts = BTreeMap::new();
        for node in self.nodes() {
            *counts.entry(node.status).or_insert(0) += 1;
        }
        counts
    }

    /// How many failed nodes have each failure kind.
    pub fn counts_by_failure(&self) -> BTreeMap<FailureKind, usize> {
        let mut counts = BTreeMap::new();
        for node in self.nodes() {
            if let Some(failure) = &node.failure {
                *counts.entry(failure.kind).or_insert(0) += 1;
            }
        }
        counts
    }

    /// The id the next [`Self::add`] will use for `name`.
    pub fn next_id(&self, name: &str) -> String {
        make_id(self.next_counter, &sanitize_name(name))
    }

    /// Ids changed since the last save.
    pub fn dirty(&self) -> &BTreeSet<String> {
        &self.dirty
    }

    pub(crate) fn take_dirty(&mut self) -> BTreeSet<String> {
        std::mem::take(&mut self.dirty)
    }
}
