//! The on-disk shapes: the snapshot (`checkpoint.json`) and the journal's lines.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::spec::{DEFAULT_KIND, WorkSpec};

/// The snapshot format this build writes. Loading accepts this version and older ones.
pub const SCHEMA_VERSION: u32 = 1;

/// What the engine was doing when the checkpoint was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckpointStatus {
    /// An engine is (or was, if it died) working on this checkpoint.
    Running,
    /// The queue drained: nothing is queued or running.
    Stopped,
    /// A signal stopped the engine; `running` holds the specs it was working on.
    Interrupted,
}

impl std::fmt::Display for CheckpointStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::Interrupted => "interrupted",
        })
    }
}

/// One spec as the checkpoint stores it: the four [`WorkSpec`] fields plus how many times
/// it has been started (omitted when zero).
///
/// The fields are repeated rather than `#[serde(flatten)]`ed: flattening disables
/// `deny_unknown_fields` and blurs the paths in error messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecRecord {
    /// See [`WorkSpec::id`].
    pub id: String,
    /// See [`WorkSpec::priority`].
    pub priority: f64,
    /// See [`WorkSpec::kind`].
    #[serde(default = "default_kind")]
    pub kind: String,
    /// See [`WorkSpec::payload`].
    #[serde(default)]
    pub payload: Value,
    /// Starts recorded so far.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts: u32,
}

fn default_kind() -> String {
    DEFAULT_KIND.to_owned()
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl SpecRecord {
    /// A record of `spec` after `attempts` starts.
    pub fn new(spec: WorkSpec, attempts: u32) -> Self {
        Self {
            id: spec.id,
            priority: spec.priority,
            kind: spec.kind,
            payload: spec.payload,
            attempts,
        }
    }

    /// The spec, without the attempt count.
    pub fn into_spec(self) -> (WorkSpec, u32) {
        let spec = WorkSpec {
            id: self.id,
            priority: self.priority,
            kind: self.kind,
            payload: self.payload,
        };
        (spec, self.attempts)
    }
}

/// The whole scheduler state at one moment: `engine/checkpoint.json`.
///
/// Shape: `{"schema_version", "status", "timestamp", "generation", "queued": [..],
/// "running": [..]}`. Only `status`, `queued` and `running` are required on load, so a
/// hand-written file in the shape of the original tool's example loads too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Format version (see [`SCHEMA_VERSION`]).
    #[serde(default = "current_schema")]
    pub schema_version: u32,
    /// What the engine was doing.
    pub status: CheckpointStatus,
    /// UTC wall-clock time of the write, RFC 3339.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Bumped on every snapshot; pairs the snapshot with its journal.
    #[serde(default)]
    pub generation: u64,
    /// Specs waiting to start, in start order.
    pub queued: Vec<SpecRecord>,
    /// Specs started and not finished, in start order for a resume.
    pub running: Vec<SpecRecord>,
}

fn current_schema() -> u32 {
    SCHEMA_VERSION
}

impl Checkpoint {
    /// An empty checkpoint with the given status.
    pub fn empty(status: CheckpointStatus) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            status,
            timestamp: None,
            generation: 0,
            queued: Vec::new(),
            running: Vec::new(),
        }
    }
}

/// One line of `checkpoint.journal`: a change made after the snapshot was written.
///
/// Each change that must be atomic (a spec finishing together with the children it
/// produced) is a single line, so a torn write loses all of it or none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub(crate) enum JournalOp {
    /// First line: which snapshot generation the following lines apply to.
    Header {
        generation: u64,
        schema_version: u32,
    },
    /// These queued specs started (each one's attempt count goes up by one).
    Start { ids: Vec<String> },
    /// This spec finished (completed or failed) and these specs were queued in its place.
    Finish {
        id: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        children: Vec<SpecRecord>,
    },
}
