//! Helpers shared by the platform tests.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use autoresearch_jobs::{JobId, JobRequest, JobStatus, LocalPlatform, Platform};

pub(crate) fn supervisor() -> OsString {
    OsString::from(env!("CARGO_BIN_EXE_job-supervisor"))
}

pub(crate) fn local(root: &Path) -> LocalPlatform {
    LocalPlatform::new(root.join("jobs"), vec![supervisor()]).unwrap()
}

pub(crate) fn request(dir: &Path, name: &str, command: &str) -> JobRequest {
    JobRequest {
        name: name.to_owned(),
        command: command.to_owned(),
        cwd: dir.to_owned(),
        env: vec![("AR_TEST".to_owned(), "set".to_owned())],
        log_dir: dir.join("runs").join(name),
    }
}

/// Polls until the job ends; a hang fails the test (a liveness bound, not a timing check).
pub(crate) async fn wait_terminal(platform: &Platform, id: &JobId) -> JobStatus {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let status = platform.status(id).await.unwrap();
        if status.is_terminal() {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {id} still {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls until `condition` holds, failing after a generous bound.
pub(crate) async fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Whether a process exists and is not a zombie.
pub(crate) fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// The Slurm cluster the suite's set-up starts; its absence is a failure with a hint.
pub(crate) fn require_slurm() {
    let output = std::process::Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .output();
    let state = output
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    // Any state a job can be scheduled in or is finishing in counts as up; a busy node
    // (`allocated`, `completing` while another test's job ends) is still a live cluster.
    let usable = ["idle", "mix", "alloc", "comp", "planned"];
    let broken = ["down", "drain", "fail", "unk", "not_resp", "*"];
    assert!(
        usable.iter().any(|s| state.starts_with(s)) && !broken.iter().any(|b| state.contains(b)),
        "no Slurm cluster is up (sinfo says `{state}`): run `cargo xtask slurm up` as root \
         (`cargo xtask ci` does it)"
    );
}
