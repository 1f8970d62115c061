//! The engine's notes about a node, kept in the node file's `result` (the tree crate
//! keeps it as opaque JSON): the recorded result, and the flags a resume reads.

use autoresearch_hypothesis_tree::FailureRecord;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::execute::JobEnd;
use crate::prompts::AnalysisAnswer;

/// A node's `result`. Every field is optional so that notes written at different
/// moments (the job's end, the recorded result, the planning round, a removal) add to
/// one another instead of replacing each other; keys this build does not know are kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeResult {
    /// `runs/<id>/summary.json`, once recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_file: Option<String>,
    /// The comparison with the best, as recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Value>,
    /// The agent's interpretation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisAnswer>,
    /// Why the interpretation failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis_failure: Option<FailureRecord>,
    /// The node finished and its planning round has not been planned yet: a resume
    /// plans it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub plan_due: bool,
    /// What the planning round after this node decided (source, action, queued,
    /// dropped, warnings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Value>,
    /// How the job ended, as the engine saw it (a resume in `analyzing` reads it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_end: Option<JobEnd>,
    /// The user removed the node from the queue: it never runs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed_by_user: bool,
    /// Keys of other builds, kept as they are.
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

impl NodeResult {
    /// Reads a node's `result` (`null` reads as empty notes). A value whose recorded
    /// fields this build cannot read keeps them under [`Self::other`], so writing it back
    /// loses nothing; the flags a resume needs are still read.
    pub fn of(value: &Value) -> Self {
        if value.is_null() {
            return Self::default();
        }
        if let Ok(result) = serde_json::from_value(value.clone()) {
            return result;
        }
        let mut other = value.as_object().cloned().unwrap_or_default();
        let mut flag = |key: &str| other.remove(key).and_then(|v| v.as_bool()) == Some(true);
        let (plan_due, removed_by_user) = (flag("plan_due"), flag("removed_by_user"));
        let job_end = other
            .remove("job_end")
            .and_then(|v| serde_json::from_value(v).ok());
        Self {
            plan_due,
            removed_by_user,
            job_end,
            other,
            ..Self::default()
        }
    }

    /// The `result` value to store (`null` for empty notes).
    pub fn to_value(&self) -> Value {
        if *self == Self::default() {
            return Value::Null;
        }
        // The known fields win over a stale copy kept under `other` (a value read
        // whole into `other` because one of its fields did not parse).
        let known = Self {
            other: serde_json::Map::new(),
            ..self.clone()
        };
        // Serialising a struct of JSON-native fields cannot fail.
        let mut value = serde_json::to_value(known).unwrap_or(Value::Null);
        if let Some(map) = value.as_object_mut() {
            for (key, kept) in &self.other {
                map.entry(key.clone()).or_insert_with(|| kept.clone());
            }
        }
        value
    }
}
