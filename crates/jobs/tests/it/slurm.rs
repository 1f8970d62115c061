//! The Slurm backend against the real single-node cluster the suite's set-up starts.

use std::time::Duration;

use autoresearch_jobs::{Failure, JobStatus, Platform, SlurmPlatform};

use crate::support::{request, require_slurm, wait_for, wait_terminal};

fn slurm(dir: &std::path::Path) -> Platform {
    require_slurm();
    Platform::Slurm(
        SlurmPlatform::new(dir.join("slurm"), Duration::from_secs(30), Vec::new()).unwrap(),
    )
}

fn unique(name: &str) -> String {
    format!(
        "{name}_{}_{}",
        std::process::id(),
        jiff::Timestamp::now().as_millisecond()
    )
}

#[tokio::test]
async fn a_job_is_submitted_polled_to_success_and_its_logs_fetched() {
    let dir = tempfile::tempdir().unwrap();
    let platform = slurm(dir.path());
    let name = unique("ok");
    let id = platform
        .launch(&request(dir.path(), &name, "echo hello $AR_TEST"))
        .await
        .unwrap();
    assert!(id.0.chars().all(|c| c.is_ascii_digit()), "{id}");
    assert_eq!(wait_terminal(&platform, &id).await, JobStatus::Succeeded);
    let logs = platform.logs(&id).await.unwrap();
    assert_eq!(
        logs.stdout,
        dir.path().join("runs").join(&name).join("stdout.log")
    );
    wait_for("the output file", || {
        std::fs::read_to_string(&logs.stdout).is_ok_and(|s| !s.is_empty())
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(&logs.stdout).unwrap(),
        "hello set\n"
    );
    let started: jiff::Timestamp = logs.started_at.unwrap().parse().unwrap();
    let ended: jiff::Timestamp = logs.ended_at.unwrap().parse().unwrap();
    assert!(started <= ended);
    // Launching the name again re-attaches.
    assert_eq!(
        platform
            .launch(&request(dir.path(), &name, "exit 1"))
            .await
            .unwrap(),
        id
    );
}

#[tokio::test]
async fn a_non_zero_exit_is_a_failure_with_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let platform = slurm(dir.path());
    let id = platform
        .launch(&request(dir.path(), &unique("exit3"), "exit 3"))
        .await
        .unwrap();
    assert_eq!(
        wait_terminal(&platform, &id).await,
        JobStatus::Failed(Failure::ExitCode(3))
    );
}

#[tokio::test]
async fn cancel_is_reported_as_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let platform = slurm(dir.path());
    let id = platform
        .launch(&request(dir.path(), &unique("long"), "sleep 300"))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while platform.status(&id).await.unwrap() != JobStatus::Running {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the job never started"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    platform.cancel(&id).await.unwrap();
    assert_eq!(wait_terminal(&platform, &id).await, JobStatus::Cancelled);
}

#[tokio::test]
async fn a_job_is_found_by_name_even_without_the_local_record() {
    let dir = tempfile::tempdir().unwrap();
    let platform = slurm(dir.path());
    let name = unique("findme");
    let id = platform
        .launch(&request(dir.path(), &name, "true"))
        .await
        .unwrap();
    // The engine died between sbatch and writing its record.
    std::fs::remove_file(dir.path().join("slurm").join(format!("{name}.json"))).unwrap();
    assert_eq!(platform.find(&name).await.unwrap(), Some(id));
    assert_eq!(platform.find(&unique("nobody")).await.unwrap(), None);
}

#[tokio::test]
async fn environment_names_that_are_not_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let platform = slurm(dir.path());
    let mut req = request(dir.path(), &unique("env"), "true");
    req.env = vec![("X; touch /tmp/pwned; Y".into(), "1".into())];
    let err = platform.launch(&req).await.unwrap_err();
    assert!(
        matches!(err, autoresearch_jobs::JobsError::InvalidEnvName(_)),
        "{err}"
    );
}
