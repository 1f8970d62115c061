//! The priority queue of specs waiting to start.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use crate::spec::WorkSpec;

/// A spec waiting in the queue, with what the engine knows about its past starts.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedSpec {
    /// The spec itself.
    pub spec: WorkSpec,
    /// How many times the spec was started before (as recorded by the checkpoint).
    pub attempts: u32,
    /// True for a spec that was running when the previous engine stopped: it starts
    /// before every spec that was merely queued, whatever the priorities.
    pub resumed: bool,
}

/// Ordering key: resumed specs first, then priority, then arrival.
#[derive(Debug, Clone, Copy)]
struct Key {
    class: u8,
    priority: f64,
    seq: u64,
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        self.class
            .cmp(&other.class)
            .then(self.priority.total_cmp(&other.priority))
            .then(self.seq.cmp(&other.seq))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Key {}

/// Specs in start order: resumed specs first, then lower priority first, ties in arrival
/// order. Lookup and removal by id are O(log n), which journal replay needs.
#[derive(Debug, Default)]
pub struct SpecQueue {
    order: BTreeMap<Key, QueuedSpec>,
    keys: HashMap<String, Key>,
    next_seq: u64,
}

impl SpecQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a spec behind every spec of the same class and priority. Returns the spec back
    /// if one with the same id is already queued.
    pub fn push(&mut self, queued: QueuedSpec) -> Result<(), QueuedSpec> {
        if self.keys.contains_key(&queued.spec.id) {
            return Err(queued);
        }
        let key = Key {
            class: u8::from(!queued.resumed),
            priority: queued.spec.priority,
            seq: self.next_seq,
        };
        self.next_seq += 1;
        self.keys.insert(queued.spec.id.clone(), key);
        self.order.insert(key, queued);
        Ok(())
    }

    /// Removes and returns the spec that should start next.
    pub fn pop(&mut self) -> Option<QueuedSpec> {
        let (_, queued) = self.order.pop_first()?;
        self.keys.remove(&queued.spec.id);
        Some(queued)
    }

    /// Removes the spec with this id, wherever it is in the order.
    pub fn remove(&mut self, id: &str) -> Option<QueuedSpec> {
        let key = self.keys.remove(id)?;
        self.order.remove(&key)
    }

    /// Whether a spec with this id is queued.
    pub fn contains(&self, id: &str) -> bool {
        self.keys.contains_key(id)
    }

    /// Number of queued specs.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The queued specs in start order.
    pub fn iter(&self) -> impl Iterator<Item = &QueuedSpec> {
        self.order.values()
    }
}
