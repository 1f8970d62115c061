//! Reading JSON answers as models really write them: a byte-order mark, numbers where
//! strings were asked for, duplicate keys, two blocks that disagree, every wrong path at
//! once, and strings far too long to keep.

use std::collections::BTreeMap;

use autoresearch_llm_client::json::{
    JsonProblem, MAX_STRING_BYTES, cap_strings, check_schema, extract_json, repair_prompt,
    schema_of, validate,
};
use autoresearch_llm_client::testing::{ScriptedServer, Turn};
use autoresearch_llm_client::{AgentCall, CostBudget, LlmError};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use crate::support::anthropic;

/// What to do.
#[derive(Debug, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Action {
    /// Go.
    Launch,
    /// Stop.
    Stop,
}

/// A plan with the shapes the workflow uses.
#[derive(Debug, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
struct Plan {
    /// What to do.
    action: Action,
    /// Why.
    #[serde(default)]
    reasoning: String,
    /// The experiments.
    #[serde(default)]
    experiments: Vec<Step>,
}

/// One experiment.
#[derive(Debug, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
struct Step {
    /// Its name.
    name: String,
    /// Why.
    hypothesis: String,
    /// Flags.
    #[serde(default)]
    launch_args: BTreeMap<String, String>,
    /// Where it starts.
    #[serde(default)]
    base: Option<String>,
}

fn problems(err: LlmError) -> Vec<JsonProblem> {
    match err {
        LlmError::InvalidJson { problems } => problems,
        other => panic!("expected a JSON error, got {other}"),
    }
}

#[test]
fn a_leading_byte_order_mark_is_dropped() {
    let text = "\u{feff}{\"action\": \"stop\"}";
    assert!(serde_json::from_str::<serde_json::Value>(text).is_err());
    assert_eq!(extract_json(text).unwrap()["action"], "stop");
    let fenced = "\u{feff}```json\n\u{feff}{\"action\": \"stop\"}\n```";
    assert_eq!(extract_json(fenced).unwrap()["action"], "stop");
}

#[test]
fn duplicate_keys_are_refused_with_the_key_and_its_path() {
    let text = r#"{"action": "launch", "experiments": [{"name": "a", "hypothesis": "h",
        "launch_args": {"--read-concurrency": "8", "--read-concurrency": "1"}}]}"#;
    let p = problems(extract_json(text).unwrap_err());
    assert!(
        p[0].message.contains("duplicate key `--read-concurrency`")
            && p[0].message.contains("experiments[0].launch_args"),
        "{p:?}"
    );
    let top = problems(extract_json(r#"{"action": "stop", "action": "launch"}"#).unwrap_err());
    assert!(top[0].message.contains("at the top level"), "{top:?}");
    // A block that reads like another only once its duplicate is dropped is refused too.
    let hidden = "```json\n{\"a\": 1}\n```\n```json\n{\"a\": 2, \"a\": 1}\n```";
    let p = problems(extract_json(hidden).unwrap_err());
    assert!(p[0].message.contains("duplicate key `a`"), "{p:?}");
}

#[test]
fn two_blocks_that_disagree_are_ambiguous_and_repeats_are_one_answer() {
    let two =
        "```json\n{\"action\": \"launch\"}\n```\nor rather\n```json\n{\"action\": \"stop\"}\n```";
    let p = problems(extract_json(two).unwrap_err());
    assert!(p[0].message.contains("ambiguous"), "{p:?}");
    let same = "```json\n{\"action\": \"stop\"}\n```\nagain:\n```json\n{\"action\":\"stop\"}\n```";
    assert_eq!(extract_json(same).unwrap()["action"], "stop");
    // A block that is not JSON (an example with comments) is no candidate.
    let example =
        "```json\n{action: launch, // like this\n}\n```\n```json\n{\"action\": \"stop\"}\n```";
    assert_eq!(extract_json(example).unwrap()["action"], "stop");
}

#[test]
fn json_without_a_fence_is_found_inside_the_text() {
    let text = "Here is my plan: {\"action\": \"stop\", \"reasoning\": \"done\"} Thanks.";
    assert_eq!(extract_json(text).unwrap()["reasoning"], "done");
}

#[test]
fn every_failing_path_is_named_at_once() {
    let value = json!({
        "action": "l\u{0430}unch",
        "experiments": [
            {"name": "a", "files": ["/etc/passwd"]},
            {"name": "b", "hypothesis": "h", "launch_args": {"--x": ["no"]}}
        ]
    });
    let found = check_schema(&value, &schema_of::<Plan>());
    let paths: Vec<&str> = found.iter().map(|p| p.path.as_str()).collect();
    assert!(paths.contains(&"action"), "{found:?}");
    assert!(paths.contains(&"experiments[0].hypothesis"), "{found:?}");
    assert!(paths.contains(&"experiments[0].files"), "{found:?}");
    assert!(
        paths.contains(&"experiments[1].launch_args.--x"),
        "{found:?}"
    );
    let action = found.iter().find(|p| p.path == "action").unwrap();
    assert!(
        action.message.contains("non-ASCII") && action.message.contains("\"launch\""),
        "{action}"
    );
    let files = found
        .iter()
        .find(|p| p.path == "experiments[0].files")
        .unwrap();
    assert!(files.message.contains("unknown field"), "{files}");
    assert_eq!(
        problems(validate::<Plan>(&value).unwrap_err()).len(),
        found.len()
    );
    // A good value passes both the check and deserialisation.
    let good = json!({"action": "launch", "experiments": [{"name": "a", "hypothesis": "h", "base": null}]});
    assert!(check_schema(&good, &schema_of::<Plan>()).is_empty());
    assert_eq!(validate::<Plan>(&good).unwrap().experiments[0].name, "a");
}

#[test]
fn long_strings_are_cut_with_a_marker() {
    let mut value =
        json!({"reasoning": "é".repeat(100_000), "short": "ok", "list": ["x".repeat(20_000)]});
    assert_eq!(cap_strings(&mut value, MAX_STRING_BYTES), 2);
    let reasoning = value["reasoning"].as_str().unwrap();
    assert!(
        reasoning.len() < MAX_STRING_BYTES + 64,
        "{}",
        reasoning.len()
    );
    assert!(
        reasoning.ends_with("more bytes]"),
        "{}",
        &reasoning[reasoning.len() - 40..]
    );
    assert_eq!(value["short"], "ok");
    let prompt = repair_prompt(
        "Plan.",
        &"z".repeat(218_568),
        &LlmError::InvalidJson {
            problems: vec![JsonProblem::new("action", "missing")],
        },
    );
    assert!(prompt.len() < MAX_STRING_BYTES + 1_000, "{}", prompt.len());
    assert!(prompt.contains("`action`: missing"), "{prompt}");
}

#[tokio::test]
async fn the_caller_s_own_rules_get_the_repair_round() {
    let empty = "```json\n{\"action\": \"launch\", \"experiments\": []}\n```";
    let good =
        "{\"action\": \"launch\", \"experiments\": [{\"name\": \"a\", \"hypothesis\": \"h\"}]}";
    let server = ScriptedServer::start(vec![Turn::Text(empty.into()), Turn::Text(good.into())])
        .await
        .unwrap();
    let logs = tempfile::tempdir().unwrap();
    let client = anthropic(&server, false, logs.path(), CostBudget::unlimited());
    let rule = |plan: &Plan| {
        if plan.action == Action::Launch && plan.experiments.is_empty() {
            vec![JsonProblem::new(
                "experiments",
                "launch with nothing to launch",
            )]
        } else {
            Vec::new()
        }
    };
    let (plan, _) = client
        .call_json_checked(AgentCall::new("plan", "Plan."), rule)
        .await
        .unwrap();
    assert_eq!(plan.experiments.len(), 1);
    let repair = server.requests()[1].body["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        repair.contains("`experiments`: launch with nothing to launch"),
        "{repair}"
    );
    // Both answers breaking the rule: the error names it.
    let server = ScriptedServer::start(vec![Turn::Text(empty.into()), Turn::Text(empty.into())])
        .await
        .unwrap();
    let client = anthropic(&server, false, logs.path(), CostBudget::unlimited());
    let err = client
        .call_json_checked(AgentCall::new("plan", "Plan."), rule)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("launch with nothing to launch"),
        "{err}"
    );
}

#[tokio::test]
async fn a_huge_answer_is_capped_when_read_and_when_quoted_back() {
    let huge = "y".repeat(200_000);
    let first =
        json!({"action": "launch", "reasoning": huge, "experiments": [{"name": "a"}]}).to_string();
    let second = json!({"action": "stop", "reasoning": huge}).to_string();
    let server = ScriptedServer::start(vec![Turn::Text(first), Turn::Text(second)])
        .await
        .unwrap();
    let logs = tempfile::tempdir().unwrap();
    let client = anthropic(&server, false, logs.path(), CostBudget::unlimited());
    let (plan, reply) = client
        .call_json::<Plan>(AgentCall::new("plan", "Plan."))
        .await
        .unwrap();
    assert!(plan.reasoning.len() < MAX_STRING_BYTES + 64);
    assert!(reply.json.unwrap()["reasoning"].as_str().unwrap().len() < MAX_STRING_BYTES + 64);
    let repair = server.requests()[1].body["messages"][0]["content"]
        .as_str()
        .unwrap()
        .len();
    assert!(
        repair < 3 * MAX_STRING_BYTES,
        "the repair prompt is {repair} bytes"
    );
}
