//! Error type.

use std::path::PathBuf;
use std::time::Duration;

/// Why an agent call failed. `is_transient` says whether retrying may help.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The API answered with an error status.
    #[error("the API answered {status}: {body}")]
    Http {
        /// HTTP status.
        status: u16,
        /// The response body (shortened).
        body: String,
        /// The server's `retry-after`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// The connection failed or broke (reset, refused, closed early).
    #[error("connection to {url} failed: {detail}")]
    Connection {
        /// The endpoint.
        url: String,
        /// What happened.
        detail: String,
    },
    /// No complete answer within the call's timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// A streamed answer ended before its end marker.
    #[error("the streamed answer ended early: {0}")]
    TruncatedStream(String),
    /// The agent reported an error (`is_error: true`, an `error` event, a cut-off
    /// answer). It may still have cost money.
    #[error("the agent reported an error: {message}")]
    AgentError {
        /// What it said.
        message: String,
        /// What the failed attempt cost, when the agent said.
        cost_usd: Option<f64>,
    },
    /// The agent's program is not installed.
    #[error("`{program}` is not installed or not on PATH\nhint: {hint}")]
    NotInstalled {
        /// The program.
        program: String,
        /// How to get it.
        hint: String,
    },
    /// The agent's program exited unsuccessfully.
    #[error("`{program}` exited with {status}\n--- stderr ---\n{stderr}")]
    ProgramFailed {
        /// The program.
        program: String,
        /// Exit status.
        status: String,
        /// Its stderr (tail).
        stderr: String,
    },
    /// The answer could not be understood at all (not the expected envelope).
    #[error("the answer is not in the expected form: {0}")]
    Malformed(String),
    /// The answer is not JSON of the expected shape (after the repair round, if any):
    /// every problem found, each with its path.
    #[error("the answer does not match the expected JSON shape: {}", describe_problems(.problems))]
    InvalidJson {
        /// What is wrong, and where.
        problems: Vec<crate::json::JsonProblem>,
    },
    /// The answer is larger than allowed.
    #[error("the answer is {size} bytes, more than the {limit} allowed")]
    Oversized {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// An edit names a path outside the working directory, or cannot be applied.
    #[error("rejected edit of `{path}`: {reason}")]
    BadEdit {
        /// The path as given.
        path: String,
        /// Why.
        reason: String,
    },
    /// The cost budget is spent.
    #[error(
        "the agent budget of ${cap:.2} is spent (${spent:.4} used)\nhint: raise --max-llm-usd, or resume with --agent none"
    )]
    BudgetExhausted {
        /// The cap.
        cap: f64,
        /// What was spent.
        spent: f64,
    },
    /// A call's own cost cap was exceeded.
    #[error("the call cost ${cost:.4}, above its cap of ${cap:.4}")]
    CallCostExceeded {
        /// What it cost.
        cost: f64,
        /// Its cap.
        cap: f64,
    },
    /// The configuration is unusable.
    #[error("invalid agent configuration: {0}")]
    Config(String),
    /// A log file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

fn describe_problems(problems: &[crate::json::JsonProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl LlmError {
    /// Whether retrying may succeed: 429, 500, 502, 503, 529, connection failures,
    /// timeouts and truncated streams.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Http { status, .. } => matches!(status, 429 | 500 | 502 | 503 | 529),
            Self::Connection { .. } | Self::Timeout(_) | Self::TruncatedStream(_) => true,
            _ => false,
        }
    }

    /// What a failed attempt cost, when known (charged to the budget all the same).
    pub fn cost_usd(&self) -> Option<f64> {
        match self {
            Self::AgentError { cost_usd, .. } => *cost_usd,
            _ => None,
        }
    }

    /// A failure the agent reported, with no cost attached.
    pub fn agent(message: impl Into<String>) -> Self {
        Self::AgentError {
            message: message.into(),
            cost_usd: None,
        }
    }

    /// The server's requested delay before a retry.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
