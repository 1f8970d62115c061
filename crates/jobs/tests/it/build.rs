//! Builds: the image is the last stdout line; failures carry the log's tail.

use std::time::Duration;

use autoresearch_jobs::{BuildLogs, JobsError, build};

fn logs(dir: &std::path::Path) -> BuildLogs {
    BuildLogs {
        stdout: dir.join("build/stdout.log"),
        stderr: dir.join("build/stderr.log"),
    }
}

async fn run(dir: &std::path::Path, command: &str, timeout: Duration) -> Result<String, JobsError> {
    build(command, dir, &[], timeout, &logs(dir)).await
}

#[tokio::test]
async fn the_image_is_the_last_non_empty_stdout_line() {
    let dir = tempfile::tempdir().unwrap();
    let logs = logs(dir.path());
    let image = build(
        "echo step 1; echo warning >&2; printf 'registry/img:42\\n\\n  \\n'",
        dir.path(),
        &[],
        Duration::from_secs(30),
        &logs,
    )
    .await
    .unwrap();
    assert_eq!(image, "registry/img:42");
    assert!(
        std::fs::read_to_string(&logs.stdout)
            .unwrap()
            .contains("step 1")
    );
    assert_eq!(std::fs::read_to_string(&logs.stderr).unwrap(), "warning\n");
}

#[tokio::test]
async fn a_failing_build_carries_the_tail_of_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let err = run(
        dir.path(),
        "echo compiling; echo 'error: no such file' >&2; exit 2",
        Duration::from_secs(30),
    )
    .await
    .unwrap_err();
    let JobsError::Command { reason, tail, .. } = &err else {
        panic!("{err}")
    };
    assert!(reason.contains("exit status: 2"), "{reason}");
    assert!(
        tail.contains("error: no such file") && tail.contains("compiling"),
        "{tail}"
    );
}

#[tokio::test]
async fn a_build_that_prints_nothing_has_no_image() {
    let dir = tempfile::tempdir().unwrap();
    let err = run(dir.path(), "true", Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(matches!(err, JobsError::NoImage { .. }), "{err}");
    assert!(err.to_string().contains("echo local"), "{err}");
}

#[tokio::test]
async fn a_build_past_its_timeout_is_killed_with_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("child-survived");
    let command = format!(
        "(sleep 1; touch '{}') & echo started; sleep 30",
        marker.display()
    );
    let err = run(dir.path(), &command, Duration::from_millis(300))
        .await
        .unwrap_err();
    let JobsError::Command { reason, tail, .. } = &err else {
        panic!("{err}")
    };
    assert!(reason.contains("timed out"), "{reason}");
    assert!(tail.contains("started"), "{tail}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !marker.exists(),
        "a child of the timed-out build kept running"
    );
}

#[tokio::test]
async fn a_missing_program_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = run(
        dir.path(),
        "no-such-builder --fast",
        Duration::from_secs(30),
    )
    .await
    .unwrap_err();
    let JobsError::Command { reason, tail, .. } = &err else {
        panic!("{err}")
    };
    assert!(reason.contains("127"), "{reason}");
    assert!(tail.contains("no-such-builder"), "{tail}");
}
