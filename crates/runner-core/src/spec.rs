//! The unit of work the engine schedules.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The kind a spec gets when its JSON omits one.
pub const DEFAULT_KIND: &str = "default";

/// One piece of schedulable work.
///
/// The engine orders specs by `priority` (lower first; ties in arrival order) and never
/// looks inside `payload`: that belongs to the [`Workflow`](crate::Workflow) that made it.
/// Serialises as exactly `{"id", "priority", "kind", "payload"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkSpec {
    /// Unique among the specs that are queued or running; the key for idempotent work.
    pub id: String,
    /// Lower runs first. Must be finite.
    pub priority: f64,
    /// A label the workflow may use to route the spec (defaults to `"default"`).
    #[serde(default = "default_kind")]
    pub kind: String,
    /// Opaque data owned by the workflow.
    #[serde(default)]
    pub payload: Value,
}

fn default_kind() -> String {
    DEFAULT_KIND.to_owned()
}

impl WorkSpec {
    /// A spec of the default kind with an empty payload.
    pub fn new(id: impl Into<String>, priority: f64) -> Self {
        Self {
            id: id.into(),
            priority,
            kind: default_kind(),
            payload: Value::Null,
        }
    }

    /// The same spec with another kind.
    #[must_use]
    pub fn with_kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = kind.into();
        self
    }

    /// The same spec with another payload.
    #[must_use]
    pub fn with_payload(mut self, payload: Value) -> Self {
        self.payload = payload;
        self
    }

    /// Checks what the engine relies on: a non-empty id and a finite priority.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.id.is_empty() {
            return Err(SpecError::EmptyId);
        }
        if !self.priority.is_finite() {
            return Err(SpecError::NonFinitePriority {
                id: self.id.clone(),
                priority: self.priority,
            });
        }
        Ok(())
    }
}

/// Why a spec cannot be scheduled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    /// The id is the empty string.
    #[error("a work spec has an empty id")]
    EmptyId,
    /// The priority is NaN or infinite, which has no place in the order.
    #[error("work spec `{id}` has a non-finite priority ({priority})")]
    NonFinitePriority {
        /// The spec's id.
        id: String,
        /// The offending value.
        priority: f64,
    },
}
