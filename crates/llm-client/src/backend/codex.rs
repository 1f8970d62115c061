//! The Codex CLI: `codex exec`, prompt on stdin, the last message read from a file.

use std::path::PathBuf;

use serde_json::json;

use super::BackendReply;
use super::process::{run_program, scratch_dir};
use crate::error::LlmError;
use crate::types::{AgentCall, Usage};

/// How to run the CLI.
#[derive(Debug, Clone)]
pub struct CodexConfig {
    /// The program (default `codex` on PATH).
    pub program: PathBuf,
    /// `--model`, if set.
    pub model: Option<String>,
    /// More flags, appended as they are.
    pub extra_args: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
}

impl Default for CodexConfig {
    fn default() -> Self {
        Self {
            program: PathBuf::from("codex"),
            model: None,
            extra_args: Vec::new(),
            env: Vec::new(),
        }
    }
}

/// The Codex CLI as an agent. It does not report cost.
#[derive(Debug, Clone)]
pub struct CodexCli {
    config: CodexConfig,
}

const HINT: &str = "install it with `npm install -g @openai/codex`, or choose another agent";

impl CodexCli {
    /// The CLI with `config`.
    pub fn new(config: CodexConfig) -> Self {
        Self { config }
    }

    /// The command-line arguments for `call`, writing the last message to `last`.
    pub fn args(&self, call: &AgentCall, last: &std::path::Path) -> Vec<String> {
        let sandbox = if call.workdir.is_some() {
            "workspace-write"
        } else {
            "read-only"
        };
        let mut args: Vec<String> = vec![
            "exec".to_owned(),
            "--skip-git-repo-check".to_owned(),
            "--sandbox".to_owned(),
            sandbox.to_owned(),
            "--output-last-message".to_owned(),
            last.display().to_string(),
        ];
        if let Some(model) = &self.config.model {
            args.extend(["--model".to_owned(), model.clone()]);
        }
        args.extend(self.config.extra_args.iter().cloned());
        args.push("-".to_owned());
        args
    }

    /// One run of the CLI.
    pub async fn send(&self, call: &AgentCall, prompt: &str) -> Result<BackendReply, LlmError> {
        let scratch = scratch_dir()?;
        let cwd = call
            .workdir
            .clone()
            .unwrap_or_else(|| scratch.path().to_owned());
        let last = scratch.path().join("last-message.txt");
        let output = run_program(
            &self.config.program,
            &self.args(call, &last),
            &cwd,
            &self.config.env,
            prompt,
            HINT,
        )
        .await;
        let text = std::fs::read_to_string(&last).unwrap_or_default();
        let output = output?;
        if !output.success {
            return Err(LlmError::ProgramFailed {
                program: self.config.program.display().to_string(),
                status: output.status,
                stderr: output.stderr,
            });
        }
        Ok(BackendReply {
            raw: json!({"last_message": text, "stdout": output.stdout}),
            text,
            usage: Usage::default(),
            cost_usd: None,
        })
    }
}
