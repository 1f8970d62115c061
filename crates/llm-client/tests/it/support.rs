//! Clients pointed at the scripted server.

use std::path::{Path, PathBuf};
use std::time::Duration;

use autoresearch_llm_client::testing::ScriptedServer;
use autoresearch_llm_client::{
    AnthropicApi, AnthropicConfig, Backend, CallLog, ClaudeCode, ClaudeCodeConfig, CostBudget,
    LlmClient, OpenAiApi, OpenAiConfig, PriceTable, RetryPolicy,
};

pub(crate) const API_KEY: &str = "sk-test-SECRET-0123456789";

/// Fast retries, so fault tests take milliseconds.
pub(crate) fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
    }
}

pub(crate) fn anthropic(
    server: &ScriptedServer,
    stream: bool,
    logs: &Path,
    budget: CostBudget,
) -> LlmClient {
    let mut config = AnthropicConfig::new(API_KEY);
    config.base_url = server.url();
    config.model = "claude-test".to_owned();
    config.max_tokens = 1000;
    config.stream = stream;
    config.prices = PriceTable {
        input_per_mtok: 3.0,
        output_per_mtok: 15.0,
    };
    let backend = Backend::Anthropic(AnthropicApi::new(config).unwrap());
    LlmClient::new(
        backend,
        budget,
        CallLog::new(logs, vec![API_KEY.to_owned()]),
    )
    .with_retry(quick_retries())
}

pub(crate) fn openai(server: &ScriptedServer, logs: &Path) -> LlmClient {
    let backend = Backend::OpenAi(
        OpenAiApi::new(OpenAiConfig {
            base_url: format!("{}/v1", server.url()),
            api_key: API_KEY.to_owned(),
            model: "local-model".to_owned(),
            max_tokens: 1000,
            prices: PriceTable {
                input_per_mtok: 0.0,
                output_per_mtok: 0.0,
            },
        })
        .unwrap(),
    );
    LlmClient::new(
        backend,
        CostBudget::unlimited(),
        CallLog::new(logs, vec![API_KEY.to_owned()]),
    )
    .with_retry(quick_retries())
}

/// The real Claude Code CLI that `cargo xtask setup` installs from npm.
pub(crate) fn claude_program() -> PathBuf {
    let program =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/node_modules/.bin/claude");
    assert!(
        program.exists(),
        "{} is missing: run `cargo xtask setup` (part of `cargo xtask ci`) to install the pinned \
         Claude Code CLI from npm",
        program.display()
    );
    program
}

pub(crate) fn claude(server: &ScriptedServer, home: &Path, logs: &Path) -> LlmClient {
    let config = ClaudeCodeConfig {
        program: claude_program(),
        env: vec![
            ("ANTHROPIC_BASE_URL".to_owned(), server.url()),
            ("ANTHROPIC_API_KEY".to_owned(), API_KEY.to_owned()),
            (
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".to_owned(),
                "1".to_owned(),
            ),
            ("HOME".to_owned(), home.display().to_string()),
        ],
        ..ClaudeCodeConfig::default()
    };
    LlmClient::new(
        Backend::ClaudeCode(ClaudeCode::new(config)),
        CostBudget::unlimited(),
        CallLog::new(logs, vec![API_KEY.to_owned()]),
    )
    .with_retry(quick_retries())
}

/// The log files of the calls so far, by suffix.
pub(crate) fn log_files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(suffix))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// A request body with volatile parts made stable, for snapshots.
pub(crate) fn stable_body(body: &serde_json::Value) -> serde_json::Value {
    let mut body = body.clone();
    if let Some(messages) = body["messages"].as_array_mut() {
        for message in messages {
            if let Some(content) = message["content"].as_str() {
                // The schema part is long; keep its first lines.
                let short: String = content.lines().take(12).collect::<Vec<_>>().join("\n");
                message["content"] = serde_json::Value::String(short);
            }
        }
    }
    body
}
