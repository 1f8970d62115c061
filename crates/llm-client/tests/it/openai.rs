//! The chat-completions backend, and edits answered as search/replace blocks.

use autoresearch_llm_client::edits::apply_edits;
use autoresearch_llm_client::testing::{ScriptedServer, Turn};
use autoresearch_llm_client::{AgentCall, LlmError};

use crate::support::{API_KEY, openai, stable_body};

#[tokio::test]
async fn a_chat_completion_answer_and_its_request() {
    let server = ScriptedServer::start(vec![Turn::Text("Use more threads.".into())])
        .await
        .unwrap();
    let logs = tempfile::tempdir().unwrap();
    let reply = openai(&server, logs.path())
        .call(AgentCall::new("analyze", "Why slow?"))
        .await
        .unwrap();
    assert_eq!(reply.text, "Use more threads.");
    assert_eq!(
        (reply.usage.input_tokens, reply.usage.output_tokens),
        (100, 50)
    );
    assert_eq!(reply.cost_usd, Some(0.0));
    let request = &server.requests()[0];
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(
        request.headers["authorization"],
        format!("Bearer {API_KEY}")
    );
    insta::assert_json_snapshot!("openai_request", stable_body(&request.body));
}

#[tokio::test]
async fn an_edit_answer_is_parsed_checked_and_applied_by_the_caller() {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("train.py"), "BATCH = 16\nWORKERS = 2\n").unwrap();
    let answer = "I will raise the workers.\n\n### train.py\n<<<<<<< SEARCH\nWORKERS = 2\n=======\nWORKERS = 8\n>>>>>>> REPLACE\n\n\
                  ### stages/new_stage.py\n<<<<<<< SEARCH\n=======\ndef stage(x):\n    return x\n>>>>>>> REPLACE\n";
    let server = ScriptedServer::start(vec![Turn::Text(answer.into())])
        .await
        .unwrap();
    let logs = tempfile::tempdir().unwrap();
    let reply = openai(&server, logs.path())
        .call(AgentCall::new("apply", "Raise the workers.").editing(work.path()))
        .await
        .unwrap();
    assert_eq!(reply.edits.len(), 2);
    let prompt = server.requests()[0].body["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        prompt.contains("<<<<<<< SEARCH"),
        "the edit format is explained: {prompt}"
    );
    let changed = apply_edits(work.path(), &reply.edits).unwrap();
    assert_eq!(changed.len(), 2);
    assert_eq!(
        std::fs::read_to_string(work.path().join("train.py")).unwrap(),
        "BATCH = 16\nWORKERS = 8\n"
    );
    assert_eq!(
        std::fs::read_to_string(work.path().join("stages/new_stage.py")).unwrap(),
        "def stage(x):\n    return x\n"
    );
}

#[tokio::test]
async fn edits_outside_the_working_directory_are_rejected() {
    let logs = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    for path in ["../outside.py", "/etc/passwd", "a/../../b.py"] {
        let answer = format!("### {path}\n<<<<<<< SEARCH\n=======\nhacked\n>>>>>>> REPLACE\n");
        let server = ScriptedServer::start(vec![Turn::Text(answer)])
            .await
            .unwrap();
        let err = openai(&server, logs.path())
            .call(AgentCall::new("apply", "x").editing(work.path()))
            .await
            .unwrap_err();
        assert!(matches!(err, LlmError::BadEdit { .. }), "{path}: {err}");
    }
    assert!(!work.path().parent().unwrap().join("outside.py").exists());
}
