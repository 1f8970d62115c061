//! The agents: coding-agent CLIs and LLM APIs.

pub mod anthropic;
pub mod claude_code;
pub mod codex;
pub mod openai;
mod process;

use crate::error::LlmError;
use crate::types::{AgentCall, Usage};

/// What one attempt returned.
#[derive(Debug, Clone)]
pub struct BackendReply {
    /// The answer text.
    pub text: String,
    /// Tokens used.
    pub usage: Usage,
    /// Cost reported by the agent, USD.
    pub cost_usd: Option<f64>,
    /// The raw response.
    pub raw: serde_json::Value,
}

/// One of the agents.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The Claude Code CLI.
    ClaudeCode(claude_code::ClaudeCode),
    /// The Anthropic Messages API.
    Anthropic(anthropic::AnthropicApi),
    /// An OpenAI-compatible chat-completions API.
    OpenAi(openai::OpenAiApi),
    /// The Codex CLI.
    Codex(codex::CodexCli),
}

impl Backend {
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ClaudeCode(_) => "claude-code",
            Self::Anthropic(_) => "anthropic",
            Self::OpenAi(_) => "openai",
            Self::Codex(_) => "codex",
        }
    }

    /// Whether the agent edits files itself (CLIs) rather than answering with edits.
    pub fn edits_files_itself(&self) -> bool {
        matches!(self, Self::ClaudeCode(_) | Self::Codex(_))
    }

    /// One attempt.
    pub async fn send(&self, call: &AgentCall, prompt: &str) -> Result<BackendReply, LlmError> {
        match self {
            Self::ClaudeCode(b) => b.send(call, prompt).await,
            Self::Anthropic(b) => b.send(prompt).await,
            Self::OpenAi(b) => b.send(prompt).await,
            Self::Codex(b) => b.send(call, prompt).await,
        }
    }

    /// The cost of `usage` by the backend's price table, when it has one.
    pub fn price(&self, usage: &Usage) -> Option<f64> {
        match self {
            Self::Anthropic(b) => Some(b.prices().cost(usage)),
            Self::OpenAi(b) => Some(b.prices().cost(usage)),
            _ => None,
        }
    }
}

/// Dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PriceTable {
    /// Per million input tokens.
    pub input_per_mtok: f64,
    /// Per million output tokens.
    pub output_per_mtok: f64,
}

impl PriceTable {
    /// The cost of `usage`.
    pub fn cost(&self, usage: &Usage) -> f64 {
        (usage.input_tokens as f64 * self.input_per_mtok
            + usage.output_tokens as f64 * self.output_per_mtok)
            / 1e6
    }
}

/// A reqwest client (rustls with the ring provider, installed once).
pub(crate) fn http_client() -> Result<reqwest::Client, LlmError> {
    // Err means a provider is already installed, which is what we need.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .build()
        .map_err(|err| LlmError::Config(format!("cannot build the HTTP client: {err}")))
}

/// Turns a reqwest error into ours.
pub(crate) fn connection_error(url: &str, err: &reqwest::Error) -> LlmError {
    LlmError::Connection {
        url: url.to_owned(),
        detail: error_chain(err),
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// An error status as ours, with the body and `retry-after`.
pub(crate) async fn status_error(response: reqwest::Response) -> LlmError {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(crate::retry::parse_retry_after);
    let body = response.text().await.unwrap_or_default();
    LlmError::Http {
        status,
        body: body.chars().take(2000).collect(),
        retry_after,
    }
}
