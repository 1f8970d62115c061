//! Damaged checkpoint files: clear errors naming the file, nothing overwritten.

use std::path::Path;
use std::sync::Arc;

use autoresearch_runner_core::{
    Checkpoint, CheckpointError, CheckpointStatus, EngineError, SpecRecord, checkpoint,
};

use crate::support::{Recorder, run_recorder, specs};

/// Runs an engine over a directory holding `snapshot` (and `journal`), expecting it to
/// refuse; returns the message and checks the files were left as they were.
async fn refused(snapshot: &[u8], journal: Option<&[u8]>) -> (CheckpointError, String) {
    let dir = tempfile::tempdir().unwrap();
    let engine = dir.path().join("engine");
    std::fs::create_dir_all(&engine).unwrap();
    std::fs::write(engine.join("checkpoint.json"), snapshot).unwrap();
    if let Some(journal) = journal {
        std::fs::write(engine.join("checkpoint.journal"), journal).unwrap();
    }
    let workflow = Arc::new(Recorder::with_initial(specs(&[("fresh", 0.0)])));
    let err = match run_recorder(workflow.clone(), dir.path(), 1).await {
        Ok(report) => panic!("a damaged checkpoint was accepted: {report:?}"),
        Err(EngineError::Checkpoint(err)) => err,
        Err(other) => panic!("unexpected error: {other}"),
    };
    assert!(
        workflow.started().is_empty(),
        "work ran on a damaged checkpoint"
    );
    assert_eq!(
        std::fs::read(engine.join("checkpoint.json")).unwrap(),
        snapshot
    );
    let message = err.to_string();
    assert!(
        message.contains(
            &engine
                .join(if matches!(err, CheckpointError::Journal { .. }) {
                    "checkpoint.journal"
                } else {
                    "checkpoint.json"
                })
                .display()
                .to_string()
        ),
        "the message does not name the file: {message}"
    );
    (err, message)
}

fn valid_snapshot() -> Vec<u8> {
    let mut checkpoint = Checkpoint::empty(CheckpointStatus::Interrupted);
    checkpoint.generation = 4;
    checkpoint.queued = vec![
        SpecRecord::new(autoresearch_runner_core::WorkSpec::new("q1", 1.0), 0),
        SpecRecord::new(autoresearch_runner_core::WorkSpec::new("q2", 2.0), 0),
    ];
    checkpoint.running = vec![SpecRecord::new(
        autoresearch_runner_core::WorkSpec::new("r1", 0.0),
        1,
    )];
    serde_json::to_vec_pretty(&checkpoint).unwrap()
}

#[tokio::test]
async fn an_empty_file_is_an_error() {
    let (err, message) = refused(b"", None).await;
    assert!(matches!(err, CheckpointError::Parse { .. }), "{message}");
    assert!(message.contains("EOF"), "{message}");
}

#[tokio::test]
async fn a_truncated_file_is_an_error() {
    let full = valid_snapshot();
    for cut in [1, full.len() / 3, full.len() / 2, full.len() - 2] {
        let (err, message) = refused(&full[..cut], None).await;
        assert!(
            matches!(err, CheckpointError::Parse { .. }),
            "cut at {cut}: {message}"
        );
    }
}

#[tokio::test]
async fn binary_garbage_is_an_error() {
    let (err, _) = refused(&[0, 159, 146, 150, 255, 0, 1], None).await;
    assert!(matches!(err, CheckpointError::Parse { .. }));
}

#[tokio::test]
async fn a_wrongly_typed_field_is_reported_with_its_path() {
    let text = r#"{"status":"interrupted","queued":[{"id":"a","priority":"high","kind":"x","payload":{}}],"running":[]}"#;
    let (_, message) = refused(text.as_bytes(), None).await;
    assert!(message.contains("queued[0].priority"), "{message}");
}

#[tokio::test]
async fn an_unknown_status_or_field_is_an_error() {
    let (_, message) = refused(br#"{"status":"paused","queued":[],"running":[]}"#, None).await;
    assert!(message.contains("paused"), "{message}");
    let (_, message) = refused(
        br#"{"status":"stopped","queued":[{"id":"a","priority":0,"priorty":1}],"running":[]}"#,
        None,
    )
    .await;
    assert!(message.contains("priorty"), "{message}");
}

#[tokio::test]
async fn duplicate_and_empty_ids_are_errors() {
    let text = r#"{"status":"interrupted","queued":[{"id":"a","priority":0}],"running":[{"id":"a","priority":1}]}"#;
    let (err, message) = refused(text.as_bytes(), None).await;
    assert!(matches!(err, CheckpointError::Invalid { .. }), "{message}");
    assert!(message.contains("`a` appears more than once"), "{message}");
    let text = r#"{"status":"interrupted","queued":[{"id":"","priority":0}],"running":[]}"#;
    let (_, message) = refused(text.as_bytes(), None).await;
    assert!(
        message.contains("queued[0]") && message.contains("empty id"),
        "{message}"
    );
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let text = br#"{"schema_version":99,"status":"stopped","queued":[],"running":[]}"#;
    let (err, message) = refused(text, None).await;
    assert!(
        matches!(err, CheckpointError::UnsupportedVersion { found: 99, .. }),
        "{message}"
    );
}

#[tokio::test]
async fn a_damaged_journal_line_before_the_end_is_an_error() {
    let journal = b"{\"op\":\"header\",\"generation\":4,\"schema_version\":1}\n\
{\"op\":\"start\",\"ids\":[\"q1\"]}\n\
{\"op\":\"fin\n\
{\"op\":\"finish\",\"id\":\"q1\"}\n";
    let (err, message) = refused(&valid_snapshot(), Some(journal)).await;
    assert!(
        matches!(err, CheckpointError::Journal { line: 3, .. }),
        "{message}"
    );
}

#[test]
fn a_torn_last_journal_line_is_ignored_and_complete_lines_are_replayed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("checkpoint.json"), valid_snapshot()).unwrap();
    let journal = b"{\"op\":\"header\",\"generation\":4,\"schema_version\":1}\n\
{\"op\":\"start\",\"ids\":[\"q1\"]}\n\
{\"op\":\"finish\",\"id\":\"q1\",\"children\":[{\"id\":\"c1\",\"priority\":0.5}]}\n\
{\"op\":\"finish\",\"id\":\"q2\",\"chil";
    std::fs::write(dir.path().join("checkpoint.journal"), journal).unwrap();
    let loaded = checkpoint::load(dir.path()).unwrap().unwrap();
    let ids = |records: &[SpecRecord]| records.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&loaded.running), ["r1"]);
    assert_eq!(ids(&loaded.queued), ["c1", "q2"]);
}

#[tokio::test]
async fn specs_the_journal_saw_start_are_resumed_by_the_next_engine() {
    // A crash after the journal recorded a start, before any snapshot did: the next
    // engine must run that spec again (it used to stop at once, the spec left running).
    let dir = tempfile::tempdir().unwrap();
    let engine = dir.path().join("engine");
    std::fs::create_dir_all(&engine).unwrap();
    std::fs::write(engine.join("checkpoint.json"), valid_snapshot()).unwrap();
    let journal = b"{\"op\":\"header\",\"generation\":4,\"schema_version\":1}\n\
{\"op\":\"finish\",\"id\":\"r1\",\"children\":[{\"id\":\"c1\",\"priority\":0.5}]}\n\
{\"op\":\"start\",\"ids\":[\"q1\",\"c1\"]}\n";
    std::fs::write(engine.join("checkpoint.journal"), journal).unwrap();
    let loaded = checkpoint::load(&engine).unwrap().unwrap();
    let ids = |records: &[SpecRecord]| records.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    let mut running = ids(&loaded.running);
    running.sort();
    assert_eq!(running, ["c1", "q1"]);
    assert_eq!(ids(&loaded.queued), ["q2"]);
    let workflow = Arc::new(Recorder::default());
    let report = run_recorder(workflow.clone(), dir.path(), 1).await.unwrap();
    let mut started = workflow.started();
    started.sort();
    assert_eq!(started, ["c1", "q1", "q2"]);
    assert_eq!(report.status, CheckpointStatus::Stopped);
    let after = checkpoint::load(&engine).unwrap().unwrap();
    assert!(after.running.is_empty() && after.queued.is_empty());
}

#[test]
fn a_journal_of_another_generation_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("checkpoint.json"), valid_snapshot()).unwrap();
    let journal = b"{\"op\":\"header\",\"generation\":3,\"schema_version\":1}\n\
{\"op\":\"start\",\"ids\":[\"q1\"]}\n";
    std::fs::write(dir.path().join("checkpoint.journal"), journal).unwrap();
    let loaded = checkpoint::load(dir.path()).unwrap().unwrap();
    assert_eq!(loaded.queued.len(), 2);
    assert_eq!(loaded.running.len(), 1);
}

#[tokio::test]
async fn the_example_checkpoint_of_the_original_tool_loads_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let engine = dir.path().join("engine");
    std::fs::create_dir_all(&engine).unwrap();
    let example = r#"{
      "status": "interrupted",
      "queued": [
        {
          "id": "010_compile_fused_bs6",
          "priority": -100,
          "kind": "experiment",
          "payload": {"node": {"node_id": "010_compile_fused_bs6"}}
        }
      ],
      "running": []
    }"#;
    std::fs::write(engine.join("checkpoint.json"), example).unwrap();
    let loaded = checkpoint::load(&engine).unwrap().unwrap();
    assert_eq!(loaded.queued[0].priority, -100.0);
    assert_eq!(loaded.queued[0].kind, "experiment");
    assert_eq!(
        loaded.queued[0].payload["node"]["node_id"],
        "010_compile_fused_bs6"
    );
    let workflow = Arc::new(Recorder::default());
    let report = run_recorder(workflow.clone(), dir.path(), 1).await.unwrap();
    assert_eq!(workflow.started(), ["010_compile_fused_bs6"]);
    assert_eq!(report.status, CheckpointStatus::Stopped);
}

#[test]
fn store_validates_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let mut bad = Checkpoint::empty(CheckpointStatus::Interrupted);
    bad.queued = vec![
        SpecRecord::new(autoresearch_runner_core::WorkSpec::new("a", 0.0), 0),
        SpecRecord::new(autoresearch_runner_core::WorkSpec::new("a", 1.0), 0),
    ];
    assert!(checkpoint::store(dir.path(), &bad).is_err());
    assert!(!Path::new(&dir.path().join("checkpoint.json")).exists());
}
