//! The Messages API backend against the scripted server: answers, JSON, faults, budget,
//! logs.

use std::time::Duration;

use autoresearch_llm_client::testing::{ScriptedServer, Turn};
use autoresearch_llm_client::{AgentCall, CostBudget, LlmError, REDACTED};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::support::{API_KEY, anthropic, log_files, stable_body};

/// A plan, as the workflow might ask for one.
#[derive(Debug, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
struct Plan {
    /// Experiments to run next.
    experiments: Vec<Experiment>,
}

/// One experiment.
#[derive(Debug, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
struct Experiment {
    /// Its name.
    name: String,
    /// Its priority.
    priority: i32,
}

const GOOD_PLAN: &str =
    "Here you go:\n```json\n{\"experiments\": [{\"name\": \"mtp\", \"priority\": 1}]}\n```\n";

#[tokio::test]
async fn a_streamed_answer_with_usage_cost_logs_and_redaction() {
    let server = ScriptedServer::start(vec![Turn::TextWithUsage(
        "The bottleneck is decode.".into(),
        2000,
        300,
    )])
    .await
    .unwrap();
    let logs = tempfile::tempdir().unwrap();
    let budget = CostBudget::new(Some(1.0), 0.0);
    let client = anthropic(&server, true, logs.path(), budget.clone());
    let reply = client
        .call(AgentCall::new(
            "analyze",
            format!("Analyse this run. (key {API_KEY} must not leak)"),
        ))
        .await
        .unwrap();
    assert_eq!(reply.text, "The bottleneck is decode.");
    assert_eq!(
        (reply.usage.input_tokens, reply.usage.output_tokens),
        (2000, 300)
    );
    let expected = (2000.0 * 3.0 + 300.0 * 15.0) / 1e6;
    assert!((reply.cost_usd.unwrap() - expected).abs() < 1e-12);
    assert!((budget.spent() - expected).abs() < 1e-12);
    let request = &server.requests()[0];
    assert_eq!(request.path, "/v1/messages");
    assert_eq!(request.headers["x-api-key"], API_KEY);
    assert_eq!(request.headers["anthropic-version"], "2023-06-01");
    insta::assert_json_snapshot!("anthropic_stream_request", stable_body(&request.body));
    let prompt = std::fs::read_to_string(&log_files(logs.path(), "_analyze_prompt.md")[0]).unwrap();
    assert!(
        prompt.contains(REDACTED) && !prompt.contains(API_KEY),
        "{prompt}"
    );
    assert_eq!(
        std::fs::read_to_string(&log_files(logs.path(), "_analyze_output.md")[0]).unwrap(),
        reply.text
    );
    let raw: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&log_files(logs.path(), "_analyze_raw.json")[0]).unwrap(),
    )
    .unwrap();
    assert_eq!(raw["attempts"], 1);
    assert!((raw["cost_usd"].as_f64().unwrap() - expected).abs() < 1e-12);
}

#[tokio::test]
async fn a_json_answer_is_validated_against_its_type() {
    let server = ScriptedServer::start(vec![Turn::Text(GOOD_PLAN.into())])
        .await
        .unwrap();
    let logs = tempfile::tempdir().unwrap();
    let client = anthropic(&server, false, logs.path(), CostBudget::unlimited());
    let (plan, reply) = client
        .call_json::<Plan>(AgentCall::new("plan", "Plan the next experiments."))
        .await
        .unwrap();
    assert_eq!(
        plan.experiments,
        [Experiment {
            name: "mtp".into(),
            priority: 1
        }]
    );
    assert!(reply.json.is_some());
    let prompt = server.requests()[0].body["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        prompt.contains("JSON Schema") && prompt.contains("\"experiments\""),
        "{prompt}"
    );
    insta::assert_json_snapshot!(
        "anthropic_json_request",
        stable_body(&server.requests()[0].body)
    );
}

#[tokio::test]
async fn a_wrong_shape_gets_one_repair_round_with_the_exact_error() {
    let wrong = "```json\n{\"experiments\": [{\"name\": \"mtp\", \"priority\": \"high\"}]}\n```";
    let server =
        ScriptedServer::start(vec![Turn::Text(wrong.into()), Turn::Text(GOOD_PLAN.into())])
            .await
            .unwrap();
    let logs = tempfile::tempdir().unwrap();
    let client = anthropic(&server, true, logs.path(), CostBudget::unlimited());
    let (plan, reply) = client
        .call_json::<Plan>(AgentCall::new("plan", "Plan."))
        .await
        .unwrap();
    assert_eq!(plan.experiments[0].priority, 1);
    assert_eq!(reply.usage.input_tokens, 200, "both rounds are counted");
    let repair = server.requests()[1].body["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(repair.contains("experiments[0].priority"), "{repair}");
    assert_eq!(log_files(logs.path(), "_plan_repair_prompt.md").len(), 1);

    // A second wrong answer fails with the path.
    let server = ScriptedServer::start(vec![
        Turn::Text(wrong.into()),
        Turn::Text("not json at all".into()),
    ])
    .await
    .unwrap();
    let client = anthropic(&server, true, logs.path(), CostBudget::unlimited());
    let err = client
        .call_json::<Plan>(AgentCall::new("plan", "Plan."))
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::InvalidJson { .. }), "{err}");
    let server = ScriptedServer::start(vec![Turn::Text(wrong.into()), Turn::Text(wrong.into())])
        .await
        .unwrap();
    let client = anthropic(&server, true, logs.path(), CostBudget::unlimited());
    let LlmError::InvalidJson { problems } = client
        .call_json::<Plan>(AgentCall::new("plan", "Plan."))
        .await
        .unwrap_err()
    else {
        panic!("expected a JSON error");
    };
    assert_eq!(problems[0].path, "experiments[0].priority");
}

#[tokio::test]
async fn transient_failures_are_retried_and_permanent_ones_are_not() {
    let logs = tempfile::tempdir().unwrap();
    for (fault, stream) in [
        (
            Turn::Status {
                status: 429,
                retry_after: Some(0),
                body: "rate limited".into(),
            },
            true,
        ),
        (Turn::Overloaded, true),
        (
            Turn::Status {
                status: 500,
                retry_after: None,
                body: "oops".into(),
            },
            false,
        ),
        (
            Turn::Status {
                status: 502,
                retry_after: None,
                body: "bad gateway".into(),
            },
            true,
        ),
        (Turn::Reset, false),
        (Turn::Reset, true),
        (Turn::Truncated("half an ans".into()), true),
    ] {
        let label = format!("{fault:?}");
        let server = ScriptedServer::start(vec![fault, Turn::Text("recovered".into())])
            .await
            .unwrap();
        let client = anthropic(&server, stream, logs.path(), CostBudget::unlimited());
        let reply = client
            .call(AgentCall::new("analyze", "x"))
            .await
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(reply.text, "recovered", "{label}");
        assert_eq!(server.requests().len(), 2, "{label}");
    }
    for (status, body) in [(401, "invalid x-api-key"), (400, "bad request")] {
        let server = ScriptedServer::start(vec![
            Turn::Status {
                status,
                retry_after: None,
                body: body.into(),
            },
            Turn::Text("never".into()),
        ])
        .await
        .unwrap();
        let client = anthropic(&server, true, logs.path(), CostBudget::unlimited());
        let err = client
            .call(AgentCall::new("analyze", "x"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, LlmError::Http { status: s, .. } if s == status),
            "{err}"
        );
        assert!(err.to_string().contains(body));
        assert_eq!(server.requests().len(), 1, "{status} must not be retried");
    }
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let server = ScriptedServer::start(vec![
        Turn::Status {
            status: 429,
            retry_after: Some(1),
            body: "slow down".into(),
        },
        Turn::Text("ok".into()),
    ])
    .await
    .unwrap();
    let logs = tempfile::tempdir().unwrap();
    let client = anthropic(&server, true, logs.path(), CostBudget::unlimited());
    let started = std::time::Instant::now();
    client.call(AgentCall::new("analyze", "x")).await.unwrap();
    // The retry waited for the server's second, not the 10 ms of the policy.
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_slow_reply_times_out_and_retries_run_out() {
    let slow = || {
        Turn::Delay(
            Duration::from_secs(5),
            Box::new(Turn::Text("too late".into())),
        )
    };
    let server = ScriptedServer::start(vec![slow(), slow(), slow(), slow()])
        .await
        .unwrap();
    let logs = tempfile::tempdir().unwrap();
    let client = anthropic(&server, true, logs.path(), CostBudget::unlimited());
    let err = client
        .call(AgentCall::new("analyze", "x").with_timeout(Duration::from_millis(200)))
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::Timeout(_)), "{err}");
    assert_eq!(
        server.requests().len(),
        4,
        "first attempt and three retries"
    );
    let output = std::fs::read_to_string(&log_files(logs.path(), "_analyze_output.md")[0]).unwrap();
    assert!(output.contains("no answer"), "{output}");
}

#[tokio::test]
async fn oversized_answers_and_budgets_are_refused() {
    let server = ScriptedServer::start(vec![Turn::Text("x".repeat(5000))])
        .await
        .unwrap();
    let logs = tempfile::tempdir().unwrap();
    let client =
        anthropic(&server, true, logs.path(), CostBudget::unlimited()).with_max_answer_bytes(1000);
    let err = client
        .call(AgentCall::new("report", "x"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            LlmError::Oversized {
                size: 5000,
                limit: 1000
            }
        ),
        "{err}"
    );

    // A budget of 1 cent: the first call (2.1 cents) goes through, the next is refused.
    let server = ScriptedServer::start(vec![
        Turn::TextWithUsage("a".into(), 2000, 1000),
        Turn::Text("b".into()),
    ])
    .await
    .unwrap();
    let budget = CostBudget::new(Some(0.01), 0.0);
    let client = anthropic(&server, true, logs.path(), budget.clone());
    client.call(AgentCall::new("plan", "x")).await.unwrap();
    let err = client.call(AgentCall::new("plan", "x")).await.unwrap_err();
    assert!(matches!(err, LlmError::BudgetExhausted { .. }), "{err}");
    assert!(err.to_string().contains("--max-llm-usd"), "{err}");
    assert_eq!(server.requests().len(), 1, "a refused call sends nothing");

    let server = ScriptedServer::start(vec![Turn::TextWithUsage("a".into(), 2000, 1000)])
        .await
        .unwrap();
    let client = anthropic(&server, true, logs.path(), CostBudget::unlimited());
    let err = client
        .call(AgentCall::new("plan", "x").with_cost_cap(0.001))
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::CallCostExceeded { .. }), "{err}");
}

#[tokio::test]
async fn an_unreachable_server_is_a_connection_error_after_retries() {
    let server = ScriptedServer::start(vec![]).await.unwrap();
    let url = server.url();
    drop(server);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let logs = tempfile::tempdir().unwrap();
    let mut config = autoresearch_llm_client::AnthropicConfig::new(API_KEY);
    config.base_url = url;
    let client = autoresearch_llm_client::LlmClient::new(
        autoresearch_llm_client::Backend::Anthropic(
            autoresearch_llm_client::AnthropicApi::new(config).unwrap(),
        ),
        CostBudget::unlimited(),
        autoresearch_llm_client::CallLog::new(logs.path(), vec![]),
    )
    .with_retry(crate::support::quick_retries());
    let err = client.call(AgentCall::new("plan", "x")).await.unwrap_err();
    assert!(matches!(err, LlmError::Connection { .. }), "{err}");
}

#[tokio::test]
async fn an_answer_cut_at_max_tokens_is_refused() {
    let logs = tempfile::tempdir().unwrap();
    for stream in [true, false] {
        let server =
            ScriptedServer::start(vec![Turn::MaxTokens("### a.py\n<<<<<<< SEARCH\nx".into())])
                .await
                .unwrap();
        let err = anthropic(&server, stream, logs.path(), CostBudget::unlimited())
            .call(AgentCall::new("plan", "x"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("max_tokens"), "{err}");
        assert_eq!(server.requests().len(), 1, "not retried");
    }
    let server = ScriptedServer::start(vec![Turn::MaxTokens("partial".into())])
        .await
        .unwrap();
    let err = crate::support::openai(&server, logs.path())
        .call(AgentCall::new("plan", "x"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cut off"), "{err}");
}
