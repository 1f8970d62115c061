//! A call and its reply.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One stateless request to an agent.
#[derive(Debug, Clone)]
pub struct AgentCall {
    /// What the call is for (`instrument`, `apply`, `analyze`, `plan`, `report`); names
    /// the log files.
    pub phase: String,
    /// The whole prompt.
    pub prompt: String,
    /// The folder the agent may edit (edit calls only). Nothing outside it may change.
    pub workdir: Option<PathBuf>,
    /// The JSON Schema the answer must follow, if a JSON answer is expected (set by
    /// [`crate::LlmClient::call_json`]).
    pub json_schema: Option<serde_json::Value>,
    /// The most one attempt may take.
    pub timeout: Duration,
    /// The most this call may cost, USD.
    pub cost_cap_usd: Option<f64>,
}

impl AgentCall {
    /// A call with a 15-minute timeout and no cost cap.
    pub fn new(phase: impl Into<String>, prompt: impl Into<String>) -> Self {
        Self {
            phase: phase.into(),
            prompt: prompt.into(),
            workdir: None,
            json_schema: None,
            timeout: crate::DEFAULT_TIMEOUT,
            cost_cap_usd: None,
        }
    }

    /// The same call, allowed to edit `workdir`.
    #[must_use]
    pub fn editing(mut self, workdir: impl Into<PathBuf>) -> Self {
        self.workdir = Some(workdir.into());
        self
    }

    /// The same call with another timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The same call with a cost cap.
    #[must_use]
    pub fn with_cost_cap(mut self, usd: f64) -> Self {
        self.cost_cap_usd = Some(usd);
        self
    }
}

/// Tokens used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Answer tokens.
    pub output_tokens: u64,
}

/// One file edit proposed by an API backend: replace `search` (exactly once) by
/// `replace` in `path`; an empty `search` creates a new file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEdit {
    /// Path relative to the working directory.
    pub path: PathBuf,
    /// Text to find (exactly once), or empty for a new file.
    pub search: String,
    /// Its replacement (the whole content of a new file).
    pub replace: String,
}

/// What came back.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentReply {
    /// The answer text.
    pub text: String,
    /// The parsed JSON, when a shape was expected.
    pub json: Option<serde_json::Value>,
    /// Edits to apply (API backends); CLI agents edit the files themselves.
    pub edits: Vec<FileEdit>,
    /// Tokens used, all attempts and repair rounds together.
    pub usage: Usage,
    /// Cost, USD, all attempts together (`None` when the backend cannot tell).
    pub cost_usd: Option<f64>,
    /// Wall time of the whole call.
    pub duration: Duration,
    /// The backend's raw response of the last attempt.
    pub raw: serde_json::Value,
}
