//! The real Claude Code CLI (from npm), pointed at the scripted server.

use autoresearch_llm_client::testing::{ScriptedServer, Turn};
use autoresearch_llm_client::{
    AgentCall, Backend, CallLog, ClaudeCode, ClaudeCodeConfig, CostBudget, LlmClient, LlmError,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use crate::support::{claude, claude_program};

#[derive(Debug, Deserialize, JsonSchema)]
struct Verdict {
    /// The bottleneck.
    bottleneck: String,
}

#[tokio::test]
async fn a_plain_answer_with_the_cli_s_cost() {
    let server = ScriptedServer::start(vec![Turn::Text("Hello from the script.".into())])
        .await
        .unwrap();
    let (home, logs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let reply = claude(&server, home.path(), logs.path())
        .call(AgentCall::new("analyze", "Say hello."))
        .await
        .unwrap();
    assert_eq!(reply.text, "Hello from the script.");
    assert!(reply.cost_usd.unwrap() > 0.0);
    assert_eq!(
        (reply.usage.input_tokens, reply.usage.output_tokens),
        (100, 50)
    );
    let request = &server.requests()[0];
    assert!(request.path.starts_with("/v1/messages"), "{}", request.path);
    assert_eq!(request.body["stream"], true);
    let sent = request.body.to_string();
    assert!(sent.contains("Say hello."), "the prompt reached the API");
}

#[tokio::test]
async fn a_json_answer_through_the_cli() {
    let server = ScriptedServer::start(vec![Turn::Text(
        "```json\n{\"bottleneck\": \"decode\"}\n```".into(),
    )])
    .await
    .unwrap();
    let (home, logs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (verdict, _) = claude(&server, home.path(), logs.path())
        .call_json::<Verdict>(AgentCall::new("analyze", "Which stage?"))
        .await
        .unwrap();
    assert_eq!(verdict.bottleneck, "decode");
}

#[tokio::test]
async fn the_cli_edits_files_inside_the_working_directory_only() {
    let root = tempfile::tempdir().unwrap();
    let work = root.path().join("checkout");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("train.py"), "WORKERS = 2\n").unwrap();
    let target = work.join("train.py");
    let outside = root.path().join("outside.py");
    let server = ScriptedServer::start(vec![
        Turn::ToolUse {
            name: "Write".into(),
            input: json!({"file_path": target.display().to_string(), "content": "WORKERS = 8\n"}),
        },
        Turn::ToolUse {
            name: "Write".into(),
            input: json!({"file_path": outside.display().to_string(), "content": "escaped\n"}),
        },
        Turn::Text("Raised the workers.".into()),
    ])
    .await
    .unwrap();
    let (home, logs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let reply = claude(&server, home.path(), logs.path())
        .call(AgentCall::new("apply", "Raise the workers to 8.").editing(&work))
        .await
        .unwrap();
    assert_eq!(reply.text, "Raised the workers.");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "WORKERS = 8\n");
    assert!(
        !outside.exists(),
        "the CLI wrote outside its working directory"
    );
    assert!(reply.edits.is_empty(), "CLI agents edit files themselves");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn an_api_error_surfaces_as_an_agent_error() {
    let server = ScriptedServer::start(vec![Turn::Status { status: 400, retry_after: None, body: "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"prompt is too long\"}}".into() }])
        .await
        .unwrap();
    let (home, logs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let err = claude(&server, home.path(), logs.path())
        .call(AgentCall::new("plan", "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            LlmError::AgentError { .. } | LlmError::ProgramFailed { .. }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_missing_or_failing_cli_is_a_typed_error() {
    let logs = tempfile::tempdir().unwrap();
    let missing = LlmClient::new(
        Backend::ClaudeCode(ClaudeCode::new(ClaudeCodeConfig {
            program: "/nonexistent/claude".into(),
            ..ClaudeCodeConfig::default()
        })),
        CostBudget::unlimited(),
        CallLog::new(logs.path(), vec![]),
    );
    let err = missing.call(AgentCall::new("plan", "x")).await.unwrap_err();
    assert!(matches!(err, LlmError::NotInstalled { .. }), "{err}");
    assert!(err.to_string().contains("npm install"), "{err}");

    let failing = LlmClient::new(
        Backend::ClaudeCode(ClaudeCode::new(ClaudeCodeConfig {
            program: claude_program(),
            extra_args: vec!["--no-such-flag".into()],
            ..ClaudeCodeConfig::default()
        })),
        CostBudget::unlimited(),
        CallLog::new(logs.path(), vec![]),
    );
    let err = failing.call(AgentCall::new("plan", "x")).await.unwrap_err();
    assert!(matches!(err, LlmError::ProgramFailed { .. }), "{err}");
    assert!(err.to_string().contains("no-such-flag"), "{err}");
}

#[tokio::test]
async fn a_cli_past_its_timeout_is_killed() {
    let server = ScriptedServer::start(vec![Turn::Delay(
        std::time::Duration::from_secs(30),
        Box::new(Turn::Text("late".into())),
    )])
    .await
    .unwrap();
    let (home, logs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let client = claude(&server, home.path(), logs.path()).with_retry(
        autoresearch_llm_client::RetryPolicy {
            max_retries: 0,
            ..Default::default()
        },
    );
    let started = std::time::Instant::now();
    let err = client
        .call(AgentCall::new("plan", "x").with_timeout(std::time::Duration::from_secs(3)))
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::Timeout(_)), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(25));
}

#[tokio::test]
async fn a_failed_cli_run_still_charges_what_it_spent() {
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("a.py");
    // One turn allowed, but the scripted model asks for a tool: the CLI stops with an
    // error after paying for one request.
    let server = ScriptedServer::start(vec![
        Turn::ToolUse {
            name: "Write".into(),
            input: json!({"file_path": target.display().to_string(), "content": "x = 1\n"}),
        },
        Turn::Text("done".into()),
    ])
    .await
    .unwrap();
    let (home, logs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let budget = CostBudget::new(Some(100.0), 0.0);
    let config = ClaudeCodeConfig {
        program: claude_program(),
        max_turns: Some(1),
        env: vec![
            ("ANTHROPIC_BASE_URL".to_owned(), server.url()),
            ("ANTHROPIC_API_KEY".to_owned(), "sk-test".to_owned()),
            (
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".to_owned(),
                "1".to_owned(),
            ),
            ("HOME".to_owned(), home.path().display().to_string()),
        ],
        ..ClaudeCodeConfig::default()
    };
    let client = LlmClient::new(
        Backend::ClaudeCode(ClaudeCode::new(config)),
        budget.clone(),
        CallLog::new(logs.path(), vec![]),
    );
    match client
        .call(AgentCall::new("apply", "Write a.py.").editing(work.path()))
        .await
    {
        Err(err) => {
            assert!(
                matches!(err, LlmError::AgentError { cost_usd: Some(c), .. } if c > 0.0),
                "{err:?}"
            );
            assert!(
                budget.spent() > 0.0,
                "the failed run's cost was not charged"
            );
        }
        Ok(reply) => panic!(
            "expected the turn limit to stop the CLI, got {}",
            reply.text
        ),
    }
}
