//! Coding agents and LLM APIs behind one bounded call: the Claude Code CLI, the
//! Anthropic Messages API (JSON and SSE), OpenAI-compatible chat completions, and the
//! Codex CLI.
//!
//! Every call is stateless and self-contained, has a timeout, retries transient
//! failures (429, 500, 502, 503, 529, broken connections, timeouts, truncated streams)
//! with exponential backoff and jitter honouring `retry-after`, fails at once on
//! permanent ones, counts against a shared [`CostBudget`], and writes
//! `<timestamp>_<phase>_prompt.md`, `_output.md` and `_raw.json` with secrets redacted.
//! JSON answers are checked against a Rust type (with the exact failing path) and get
//! one repair round. CLI agents edit files themselves inside the call's working
//! directory; API agents answer with search/replace blocks ([`edits`]) that are parsed
//! and checked here and applied by the caller.
//!
//! **What it must not know:** prompts, schemas' meaning, experiments — those belong to
//! the workflow.
//!
//! Main types: [`LlmClient`], [`AgentCall`], [`AgentReply`], [`Backend`],
//! [`CostBudget`], [`CallLog`], [`LlmError`]; [`select::auto`]. With the `test-support`
//! feature, [`testing::ScriptedServer`] speaks the Messages and chat-completions APIs on
//! loopback for tests.

pub mod backend;
mod budget;
mod client;
pub mod edits;
mod error;
pub mod json;
mod log;
pub mod retry;
pub mod select;
#[cfg(feature = "test-support")]
pub mod testing;
mod types;

pub use backend::anthropic::{AnthropicApi, AnthropicConfig};
pub use backend::claude_code::{ClaudeCode, ClaudeCodeConfig};
pub use backend::codex::{CodexCli, CodexConfig};
pub use backend::openai::{OpenAiApi, OpenAiConfig};
pub use backend::{Backend, PriceTable};
pub use budget::CostBudget;
pub use client::{DEFAULT_MAX_ANSWER_BYTES, DEFAULT_TIMEOUT, LlmClient};
pub use error::LlmError;
pub use log::{CallLog, REDACTED};
pub use retry::RetryPolicy;
pub use types::{AgentCall, AgentReply, FileEdit, Usage};
