//! Choosing the agent a run uses, from the configuration and the environment.

use std::path::Path;

use autoresearch_llm_client::select::find_program;
use autoresearch_llm_client::{
    AnthropicApi, AnthropicConfig, Backend, CallLog, ClaudeCode, ClaudeCodeConfig, CodexCli,
    CodexConfig, CostBudget, LlmClient, OpenAiApi, OpenAiConfig, PriceTable,
};

use crate::config::AgentChoice;

/// The agent cannot be set up as configured.
#[derive(Debug, thiserror::Error)]
#[error("{problem}\nhint: {hint}")]
pub struct AgentSetupError {
    problem: String,
    hint: String,
}

fn setup_error(problem: impl Into<String>, hint: impl Into<String>) -> AgentSetupError {
    AgentSetupError {
        problem: problem.into(),
        hint: hint.into(),
    }
}

/// The environment values agent selection reads (explicit, so tests and library users
/// can pass their own).
#[derive(Debug, Clone, Default)]
pub struct AgentEnv {
    /// `PATH`.
    pub path: Option<String>,
    /// `ANTHROPIC_API_KEY`.
    pub anthropic_api_key: Option<String>,
    /// `ANTHROPIC_BASE_URL`.
    pub anthropic_base_url: Option<String>,
    /// `OPENAI_API_KEY`.
    pub openai_api_key: Option<String>,
    /// `OPENAI_BASE_URL`.
    pub openai_base_url: Option<String>,
    /// `AUTORESEARCH_MODEL`: a model name for whichever backend is chosen.
    pub model: Option<String>,
}

impl AgentEnv {
    /// The values of this process's environment.
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Self {
            path: var("PATH"),
            anthropic_api_key: var("ANTHROPIC_API_KEY"),
            anthropic_base_url: var("ANTHROPIC_BASE_URL"),
            openai_api_key: var("OPENAI_API_KEY"),
            openai_base_url: var("OPENAI_BASE_URL"),
            model: var("AUTORESEARCH_MODEL"),
        }
    }
}

/// The backend for `choice`, or `None` for no agent (`none`, or `auto` with nothing
/// available).
// Long on purpose: one arm per agent choice, each naming what it needs when missing.
pub fn backend_for(
    choice: AgentChoice,
    env: &AgentEnv,
) -> Result<Option<Backend>, AgentSetupError> {
    let anthropic = |key: &str| -> Result<Backend, AgentSetupError> {
        let mut config = AnthropicConfig::new(key);
        if let Some(url) = &env.anthropic_base_url {
            config.base_url = url.clone();
        }
        if let Some(model) = &env.model {
            config.model = model.clone();
        }
        AnthropicApi::new(config)
            .map(Backend::Anthropic)
            .map_err(|err| setup_error(err.to_string(), "check ANTHROPIC_BASE_URL"))
    };
    let claude = |program: std::path::PathBuf| {
        Backend::ClaudeCode(ClaudeCode::new(ClaudeCodeConfig {
            program,
            model: env.model.clone(),
            ..ClaudeCodeConfig::default()
        }))
    };
    match choice {
        AgentChoice::None => Ok(None),
        AgentChoice::Auto => {
            if let Some(program) = find_program("claude", env.path.as_deref()) {
                Ok(Some(claude(program)))
            } else if let Some(key) = &env.anthropic_api_key {
                anthropic(key).map(Some)
            } else {
                Ok(None)
            }
        }
        AgentChoice::ClaudeCode => find_program("claude", env.path.as_deref())
            .map(|p| Some(claude(p)))
            .ok_or_else(|| {
                setup_error(
                    "--agent claude-code: no `claude` program on PATH",
                    "install it with `npm install -g @anthropic-ai/claude-code`, or pick another --agent",
                )
            }),
        AgentChoice::Anthropic => match &env.anthropic_api_key {
            Some(key) => anthropic(key).map(Some),
            None => Err(setup_error(
                "--agent anthropic: ANTHROPIC_API_KEY is not set",
                "export ANTHROPIC_API_KEY, or pick another --agent",
            )),
        },
        AgentChoice::Codex => find_program("codex", env.path.as_deref())
            .map(|program| {
                Some(Backend::Codex(CodexCli::new(CodexConfig {
                    program,
                    model: env.model.clone(),
                    ..CodexConfig::default()
                })))
            })
            .ok_or_else(|| {
                setup_error(
                    "--agent codex: no `codex` program on PATH",
                    "install the Codex CLI, or pick another --agent",
                )
            }),
        AgentChoice::Openai => {
            let Some(base_url) = &env.openai_base_url else {
                return Err(setup_error(
                    "--agent openai: OPENAI_BASE_URL is not set",
                    "export OPENAI_BASE_URL (for example http://127.0.0.1:8000/v1), or pick another --agent",
                ));
            };
            OpenAiApi::new(OpenAiConfig {
                base_url: base_url.clone(),
                api_key: env.openai_api_key.clone().unwrap_or_default(),
                model: env.model.clone().unwrap_or_else(|| "default".to_owned()),
                max_tokens: 16_000,
                prices: PriceTable {
                    input_per_mtok: 0.0,
                    output_per_mtok: 0.0,
                },
            })
            .map(|api| Some(Backend::OpenAi(api)))
            .map_err(|err| setup_error(err.to_string(), "check OPENAI_BASE_URL"))
        }
    }
}

/// A client for `backend` with the run's budget, logging into `logs`, with API keys
/// redacted from the logs.
pub(crate) fn client(
    backend: Backend,
    max_usd: Option<f64>,
    already_spent: f64,
    logs: &Path,
    env: &AgentEnv,
) -> LlmClient {
    LlmClient::new(
        backend,
        CostBudget::new(max_usd, already_spent),
        CallLog::new(logs, secrets(env)),
    )
}

/// The secrets of `env` that no log or report may show (its API keys).
pub(crate) fn secrets(env: &AgentEnv) -> Vec<String> {
    [&env.anthropic_api_key, &env.openai_api_key]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
}
