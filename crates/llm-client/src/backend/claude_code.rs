//! The Claude Code CLI: `claude --print --output-format json --no-session-persistence`.

use std::path::PathBuf;

use serde_json::Value;

use super::BackendReply;
use super::process::{run_program, scratch_dir};
use crate::error::LlmError;
use crate::types::{AgentCall, Usage};

/// How to run the CLI.
#[derive(Debug, Clone)]
pub struct ClaudeCodeConfig {
    /// The program (default `claude` on PATH).
    pub program: PathBuf,
    /// `--model`, if set.
    pub model: Option<String>,
    /// `--permission-mode` for edit calls (default `acceptEdits`: edits inside the
    /// working directory are allowed, anything needing more permission is denied).
    /// Calls without a working directory use `default`, which denies every edit.
    pub permission_mode: String,
    /// `--allowedTools`, if any.
    pub allowed_tools: Vec<String>,
    /// `--max-turns`, if set.
    pub max_turns: Option<u32>,
    /// More flags, appended as they are.
    pub extra_args: Vec<String>,
    /// Extra environment for the CLI (for example `ANTHROPIC_BASE_URL`).
    pub env: Vec<(String, String)>,
}

impl Default for ClaudeCodeConfig {
    fn default() -> Self {
        Self {
            program: PathBuf::from("claude"),
            model: None,
            permission_mode: "acceptEdits".to_owned(),
            allowed_tools: Vec::new(),
            max_turns: None,
            extra_args: Vec::new(),
            env: Vec::new(),
        }
    }
}

/// The Claude Code CLI as an agent.
#[derive(Debug, Clone)]
pub struct ClaudeCode {
    config: ClaudeCodeConfig,
}

const HINT: &str = "install it with `npm install -g @anthropic-ai/claude-code`, or choose another agent (--agent anthropic|openai|codex|none)";

impl ClaudeCode {
    /// The CLI with `config`.
    pub fn new(config: ClaudeCodeConfig) -> Self {
        Self { config }
    }

    /// The command-line arguments for `call`.
    pub fn args(&self, call: &AgentCall) -> Vec<String> {
        let c = &self.config;
        let mut args: Vec<String> = [
            "--print",
            "--output-format",
            "json",
            "--no-session-persistence",
        ]
        .map(str::to_owned)
        .to_vec();
        if let Some(model) = &c.model {
            args.extend(["--model".to_owned(), model.clone()]);
        }
        let mode = if call.workdir.is_some() {
            c.permission_mode.as_str()
        } else {
            "default"
        };
        args.extend(["--permission-mode".to_owned(), mode.to_owned()]);
        if !c.allowed_tools.is_empty() {
            args.extend(["--allowedTools".to_owned(), c.allowed_tools.join(",")]);
        }
        if let Some(turns) = c.max_turns {
            args.extend(["--max-turns".to_owned(), turns.to_string()]);
        }
        args.extend(c.extra_args.iter().cloned());
        args
    }

    /// One run of the CLI.
    pub async fn send(&self, call: &AgentCall, prompt: &str) -> Result<BackendReply, LlmError> {
        // Removed when dropped, also if this call is abandoned mid-way.
        let scratch = scratch_dir()?;
        let cwd = call
            .workdir
            .clone()
            .unwrap_or_else(|| scratch.path().to_owned());
        let output = run_program(
            &self.config.program,
            &self.args(call),
            &cwd,
            &self.config.env,
            prompt,
            HINT,
        )
        .await?;
        let envelope = output
            .stdout
            .lines()
            .rev()
            .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
            .find(|v| v.get("type").and_then(Value::as_str) == Some("result"));
        let Some(raw) = envelope else {
            return Err(if output.success {
                LlmError::Malformed(format!(
                    "no result envelope in the CLI's output: {}",
                    output.stdout.chars().take(500).collect::<String>()
                ))
            } else {
                LlmError::ProgramFailed {
                    program: self.config.program.display().to_string(),
                    status: output.status,
                    stderr: output.stderr,
                }
            });
        };
        let text = raw["result"].as_str().unwrap_or_default().to_owned();
        if raw["is_error"].as_bool() == Some(true) {
            return Err(LlmError::AgentError {
                message: if text.is_empty() {
                    raw["subtype"].to_string()
                } else {
                    text
                },
                cost_usd: raw["total_cost_usd"].as_f64(),
            });
        }
        if !output.success {
            return Err(LlmError::ProgramFailed {
                program: self.config.program.display().to_string(),
                status: output.status,
                stderr: output.stderr,
            });
        }
        let usage = Usage {
            input_tokens: raw["usage"]["input_tokens"].as_u64().unwrap_or(0),
            output_tokens: raw["usage"]["output_tokens"].as_u64().unwrap_or(0),
        };
        Ok(BackendReply {
            text,
            usage,
            cost_usd: raw["total_cost_usd"].as_f64(),
            raw,
        })
    }
}
