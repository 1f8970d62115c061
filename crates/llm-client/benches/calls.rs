//! Agent-call overhead: prints figures, asserts nothing. Run with `cargo xtask bench llm`.
//!
//! Against the loopback scripted server (which answers at once, so a call's wall time is
//! all client overhead: request building, HTTP, SSE parsing, JSON, logging), 200 calls
//! per API backend; and a few calls through the real Claude Code CLI for its start-up
//! cost (run `cargo xtask setup` first).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use autoresearch_llm_client::testing::{ScriptedServer, Turn};
use autoresearch_llm_client::{
    AgentCall, AnthropicApi, AnthropicConfig, Backend, CallLog, ClaudeCode, ClaudeCodeConfig,
    CostBudget, LlmClient, OpenAiApi, OpenAiConfig, PriceTable,
};

const CALLS: usize = 200;

fn percentile(mut samples: Vec<Duration>, p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

async fn measure(label: &str, calls: usize, make: impl Fn(&ScriptedServer) -> LlmClient) {
    let server = ScriptedServer::start(
        (0..calls)
            .map(|_| Turn::Text("The bottleneck is decode.".into()))
            .collect(),
    )
    .await
    .unwrap();
    let client = make(&server);
    let mut samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        client
            .call(AgentCall::new("bench", "Which stage is the bottleneck?"))
            .await
            .unwrap();
        samples.push(started.elapsed());
    }
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "{label:<34} {calls:>5} calls  p50 {:>9.0} µs  p95 {:>9.0} µs",
        us(percentile(samples.clone(), 0.5)),
        us(percentile(samples, 0.95))
    );
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = || CallLog::new(logs.path(), vec!["secret-key".to_owned()]);
    let prices = PriceTable {
        input_per_mtok: 3.0,
        output_per_mtok: 15.0,
    };
    runtime.block_on(async {
        for stream in [true, false] {
            measure(
                if stream {
                    "anthropic (SSE)"
                } else {
                    "anthropic (JSON)"
                },
                CALLS,
                |server| {
                    let mut config = AnthropicConfig::new("secret-key");
                    config.base_url = server.url();
                    config.stream = stream;
                    config.prices = prices;
                    LlmClient::new(
                        Backend::Anthropic(AnthropicApi::new(config).unwrap()),
                        CostBudget::unlimited(),
                        log(),
                    )
                },
            )
            .await;
        }
        measure("openai-compatible", CALLS, |server| {
            let config = OpenAiConfig {
                base_url: format!("{}/v1", server.url()),
                api_key: "secret-key".into(),
                model: "m".into(),
                max_tokens: 100,
                prices,
            };
            LlmClient::new(
                Backend::OpenAi(OpenAiApi::new(config).unwrap()),
                CostBudget::unlimited(),
                log(),
            )
        })
        .await;
        let claude =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/node_modules/.bin/claude");
        if claude.exists() {
            let home = tempfile::tempdir().unwrap();
            measure("claude code CLI (start-up + call)", 5, |server| {
                let config = ClaudeCodeConfig {
                    program: claude.clone(),
                    env: vec![
                        ("ANTHROPIC_BASE_URL".into(), server.url()),
                        ("ANTHROPIC_API_KEY".into(), "secret-key".into()),
                        (
                            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".into(),
                            "1".into(),
                        ),
                        ("HOME".into(), home.path().display().to_string()),
                    ],
                    ..ClaudeCodeConfig::default()
                };
                LlmClient::new(
                    Backend::ClaudeCode(ClaudeCode::new(config)),
                    CostBudget::unlimited(),
                    log(),
                )
            })
            .await;
        } else {
            println!("claude code CLI: not installed (run cargo xtask setup)");
        }
    });
}
