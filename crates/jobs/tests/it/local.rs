//! The local backend: detached, supervised jobs that outlive the engine.

use std::io::BufRead;
use std::os::unix::process::CommandExt;
use std::time::Duration;

use autoresearch_jobs::{Failure, JobId, JobStatus, JobsError, Platform};

use crate::support::{local, process_alive, request, supervisor, wait_for, wait_terminal};

#[tokio::test]
async fn a_job_runs_to_success_with_its_logs_env_and_times() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::Local(local(dir.path()));
    let id = platform
        .launch(&request(
            dir.path(),
            "001_ok",
            "echo hello $AR_TEST; echo oops >&2; pwd",
        ))
        .await
        .unwrap();
    assert_eq!(wait_terminal(&platform, &id).await, JobStatus::Succeeded);
    let logs = platform.logs(&id).await.unwrap();
    let stdout = std::fs::read_to_string(&logs.stdout).unwrap();
    assert_eq!(stdout, format!("hello set\n{}\n", dir.path().display()));
    assert_eq!(std::fs::read_to_string(&logs.stderr).unwrap(), "oops\n");
    let started: jiff::Timestamp = logs.started_at.unwrap().parse().unwrap();
    let ended: jiff::Timestamp = logs.ended_at.unwrap().parse().unwrap();
    assert!(started <= ended);
    assert_eq!(platform.find("001_ok").await.unwrap(), Some(id));
    assert_eq!(platform.find("never").await.unwrap(), None);
}

#[tokio::test]
async fn exit_codes_and_signals_are_reported_as_failures() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::Local(local(dir.path()));
    let failed = platform
        .launch(&request(dir.path(), "exit3", "exit 3"))
        .await
        .unwrap();
    let killed = platform
        .launch(&request(dir.path(), "sig9", "kill -9 $$"))
        .await
        .unwrap();
    let missing = platform
        .launch(&request(dir.path(), "missing", "no-such-program"))
        .await
        .unwrap();
    assert_eq!(
        wait_terminal(&platform, &failed).await,
        JobStatus::Failed(Failure::ExitCode(3))
    );
    assert_eq!(
        wait_terminal(&platform, &killed).await,
        JobStatus::Failed(Failure::Signal(9))
    );
    assert_eq!(
        wait_terminal(&platform, &missing).await,
        JobStatus::Failed(Failure::ExitCode(127))
    );
}

#[tokio::test]
async fn launching_a_name_twice_runs_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::Local(local(dir.path()));
    let counter = dir.path().join("runs.txt");
    let command = format!("echo ran >> '{}'", counter.display());
    let first = platform
        .launch(&request(dir.path(), "once", &command))
        .await
        .unwrap();
    let second = platform
        .launch(&request(dir.path(), "once", &command))
        .await
        .unwrap();
    assert_eq!(first, second);
    wait_terminal(&platform, &first).await;
    // Two platforms racing on one name also start one job.
    let race = request(dir.path(), "race", &command);
    let other = Platform::Local(local(dir.path()));
    let (a, b) = tokio::join!(platform.launch(&race), other.launch(&race));
    assert_eq!(a.unwrap(), b.unwrap());
    wait_terminal(&platform, &JobId("race".into())).await;
    assert_eq!(std::fs::read_to_string(&counter).unwrap(), "ran\nran\n");
}

#[tokio::test]
async fn cancel_stops_the_job_and_its_grandchildren() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::Local(local(dir.path()));
    let pid_file = dir.path().join("grandchild.pid");
    let command = format!(
        "python3 -c \"import subprocess, time; p = subprocess.Popen(['sleep', '300']); \
         open('{}', 'w').write(str(p.pid)); time.sleep(300)\"",
        pid_file.display()
    );
    let id = platform
        .launch(&request(dir.path(), "tree", &command))
        .await
        .unwrap();
    wait_for("the grandchild's pid", || {
        std::fs::read_to_string(&pid_file).is_ok_and(|s| !s.is_empty())
    })
    .await;
    let grandchild: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(process_alive(grandchild));
    assert_eq!(platform.status(&id).await.unwrap(), JobStatus::Running);
    platform.cancel(&id).await.unwrap();
    assert_eq!(platform.status(&id).await.unwrap(), JobStatus::Cancelled);
    wait_for("the grandchild to die", || !process_alive(grandchild)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_jobs_run_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::Local(local(dir.path()));
    let mut launches = Vec::new();
    for n in 0..50 {
        let platform = platform.clone();
        let request = request(
            dir.path(),
            &format!("many_{n:02}"),
            &format!("sleep 0.2; echo {n}"),
        );
        launches.push(tokio::spawn(async move { platform.launch(&request).await }));
    }
    let mut ids = Vec::new();
    for launch in launches {
        ids.push(launch.await.unwrap().unwrap());
    }
    for (n, id) in ids.iter().enumerate() {
        assert_eq!(wait_terminal(&platform, id).await, JobStatus::Succeeded);
        let logs = platform.logs(id).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(logs.stdout).unwrap(),
            format!("{n}\n")
        );
    }
}

#[tokio::test]
async fn a_job_that_ends_while_no_engine_runs_keeps_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let platform = Platform::Local(local(dir.path()));
        platform
            .launch(&request(dir.path(), "offline", "sleep 0.3; exit 4"))
            .await
            .unwrap()
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    let fresh = Platform::Local(local(dir.path()));
    assert_eq!(
        wait_terminal(&fresh, &id).await,
        JobStatus::Failed(Failure::ExitCode(4))
    );
}

/// Starts `jobs-launch` (a stand-in engine) in a process group of its own and returns it
/// with the job id it printed.
fn launch_from_another_process(
    dir: &std::path::Path,
    name: &str,
    command: &str,
) -> (std::process::Child, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_jobs-launch"))
        .arg(dir.join("jobs"))
        .arg(supervisor())
        .arg(name)
        .arg(dir.join("runs").join(name))
        .arg(command)
        .stdout(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line.trim().to_owned())
}

#[tokio::test]
async fn a_killed_engine_neither_kills_the_job_nor_loses_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut engine, id) =
        launch_from_another_process(dir.path(), "survivor", "sleep 0.5; echo done");
    assert_eq!(id, "survivor");
    engine.kill().unwrap(); // SIGKILL
    engine.wait().unwrap();
    let platform = Platform::Local(local(dir.path()));
    let found = platform.find("survivor").await.unwrap().unwrap();
    assert_eq!(wait_terminal(&platform, &found).await, JobStatus::Succeeded);
    let logs = platform.logs(&found).await.unwrap();
    assert_eq!(std::fs::read_to_string(logs.stdout).unwrap(), "done\n");
}

#[tokio::test]
async fn ctrl_c_at_the_engines_terminal_does_not_reach_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let (mut engine, id) =
        launch_from_another_process(dir.path(), "ctrl_c", "sleep 0.5; echo done");
    // What a terminal's Ctrl+C does: SIGINT to the engine's whole process group.
    let status = std::process::Command::new("kill")
        .args(["-INT", "--", &format!("-{}", engine.id())])
        .status()
        .unwrap();
    assert!(status.success());
    engine.wait().unwrap();
    let platform = Platform::Local(local(dir.path()));
    assert_eq!(
        wait_terminal(&platform, &JobId(id)).await,
        JobStatus::Succeeded
    );
}

#[tokio::test]
async fn bad_names_and_unknown_jobs_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let platform = Platform::Local(local(dir.path()));
    for name in ["", "../escape", "has space", ".hidden", "semi;colon"] {
        let err = platform
            .launch(&request(dir.path(), name, "true"))
            .await
            .unwrap_err();
        assert!(matches!(err, JobsError::InvalidName(_)), "{name}: {err}");
    }
    let unknown = JobId("never_launched".into());
    assert!(matches!(
        platform.status(&unknown).await,
        Err(JobsError::UnknownJob(_))
    ));
    assert!(matches!(
        platform.cancel(&unknown).await,
        Err(JobsError::UnknownJob(_))
    ));
    assert!(matches!(
        platform.logs(&unknown).await,
        Err(JobsError::UnknownJob(_))
    ));
}

#[tokio::test]
async fn a_broken_supervisor_is_a_launch_error_with_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let broken =
        autoresearch_jobs::LocalPlatform::new(dir.path().join("jobs"), vec!["/bin/false".into()])
            .unwrap();
    let err = Platform::Local(broken)
        .launch(&request(dir.path(), "x", "true"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("supervisor exited"), "{err}");
}
