//! The files of a local job: what to run, and what happened.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::JobsError;

/// `job.json`: the request, as the supervisor needs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct JobSpec {
    pub(crate) name: String,
    pub(crate) command: String,
    pub(crate) cwd: PathBuf,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) stdout: PathBuf,
    pub(crate) stderr: PathBuf,
}

/// `supervisor.json`: who watches the job (written before the job directory exists).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SupervisorRecord {
    pub(crate) pid: i32,
    pub(crate) boot_id: String,
}

/// `state.json`: rewritten atomically at start and at end.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct JobState {
    /// The job's pid, which is also its process group.
    pub(crate) pid: Option<i32>,
    pub(crate) started_at: Option<String>,
    pub(crate) ended_at: Option<String>,
    pub(crate) exit_code: Option<i32>,
    pub(crate) signal: Option<i32>,
    /// The job never started: it was cancelled first, or could not be spawned.
    pub(crate) not_started: Option<String>,
    /// The boot the pid belongs to: a pid means nothing in another boot.
    #[serde(default)]
    pub(crate) boot_id: Option<String>,
}

pub(crate) const JOB: &str = "job.json";
pub(crate) const SUPERVISOR: &str = "supervisor.json";
pub(crate) const STATE: &str = "state.json";
pub(crate) const CANCEL: &str = "cancel-requested";

pub(crate) fn read<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, JobsError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|err| JobsError::Record {
                path: path.to_owned(),
                detail: err.to_string(),
            }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(JobsError::io("read", path, err)),
    }
}

pub(crate) fn write<T: Serialize>(path: &Path, value: &T) -> Result<(), JobsError> {
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|err| JobsError::io("serialise", path, std::io::Error::other(err)))?;
    autoresearch_fs::write_atomic(path, &bytes).map_err(|err| JobsError::io("write", path, err))
}

/// This boot's id: a pid is only meaningful within one boot.
pub(crate) fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|id| id.trim().to_owned())
        .unwrap_or_default()
}

pub(crate) fn now() -> String {
    jiff::Timestamp::now().to_string()
}

/// Whether process `pid` exists in this boot.
pub(crate) fn alive(pid: i32, boot: &str) -> bool {
    if boot != boot_id() {
        return false;
    }
    rustix::process::Pid::from_raw(pid).is_some_and(|pid| {
        rustix::process::test_kill_process(pid).is_ok() && !is_zombie(pid.as_raw_nonzero().get())
    })
}

/// Whether process group `pgid` has members.
pub(crate) fn group_alive(pgid: i32) -> bool {
    rustix::process::Pid::from_raw(pgid)
        .is_some_and(|pid| rustix::process::test_kill_process_group(pid).is_ok())
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}
