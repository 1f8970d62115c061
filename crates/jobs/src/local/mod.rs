//! The local backend: jobs run on this machine, detached from the engine.
//!
//! Each job lives in `<root>/<name>/` with `job.json` (what to run),
//! `supervisor.json` (who watches it), `state.json` (pid, start, exit, end) and, after a
//! cancel, `cancel-requested`. The supervisor (see [`supervise`]) is a separate process
//! in its own session, so the job survives the engine's Ctrl+C, SIGKILL or exit, and a
//! job that ends while no engine runs still has its exit code recorded.

mod record;
mod supervisor;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use supervisor::supervise;

use crate::error::JobsError;
use crate::types::{Failure, JobId, JobLogs, JobRequest, JobStatus, validate_name};
use record::{CANCEL, JOB, JobSpec, JobState, STATE, SUPERVISOR, SupervisorRecord};

/// How long `launch` waits for the supervisor to start the job.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `cancel` waits after SIGTERM before SIGKILL.
const CANCEL_GRACE: Duration = Duration::from_secs(10);

static REQUESTS: AtomicU64 = AtomicU64::new(0);

/// Jobs on this machine.
#[derive(Debug, Clone)]
pub struct LocalPlatform {
    root: PathBuf,
    supervisor: Vec<OsString>,
}

impl LocalPlatform {
    /// Jobs recorded under `root`, supervised by running `supervisor` (a program and its
    /// leading arguments; two more are appended: the request file and `root`). The
    /// `autoresearch` binary serves as `[<autoresearch>, "__supervise-job"]`.
    pub fn new(root: impl Into<PathBuf>, supervisor: Vec<OsString>) -> Result<Self, JobsError> {
        let root = root.into();
        std::fs::create_dir_all(&root)
            .map_err(|err| JobsError::io("create directory", &root, err))?;
        if supervisor.is_empty() {
            return Err(JobsError::Command {
                command: String::new(),
                reason: "no supervisor program was configured".to_owned(),
                tail: String::new(),
            });
        }
        Ok(Self { root, supervisor })
    }

    fn dir(&self, id: &str) -> Result<PathBuf, JobsError> {
        validate_name(id).map_err(|_| JobsError::UnknownJob(id.to_owned()))?;
        let dir = self.root.join(id);
        if dir.join(JOB).exists() {
            Ok(dir)
        } else {
            Err(JobsError::UnknownJob(id.to_owned()))
        }
    }

    /// Launches `request` unless a job of that name exists; returns its id (the name).
    pub async fn launch(&self, request: &JobRequest) -> Result<JobId, JobsError> {
        validate_name(&request.name)?;
        let dir = self.root.join(&request.name);
        if dir.join(JOB).exists() {
            tracing::info!(name = %request.name, "job already launched; re-attaching");
            return Ok(JobId(request.name.clone()));
        }
        let spec = JobSpec {
            name: request.name.clone(),
            command: request.command.clone(),
            cwd: request.cwd.clone(),
            env: request.env.clone(),
            stdout: request.log_dir.join("stdout.log"),
            stderr: request.log_dir.join("stderr.log"),
        };
        let unique = format!(
            "{}-{}-{}",
            request.name,
            std::process::id(),
            REQUESTS.fetch_add(1, Ordering::Relaxed)
        );
        let request_path = self.root.join(format!(".request-{unique}.json"));
        let log_path = self.root.join(format!(".request-{unique}.log"));
        record::write(&request_path, &spec)?;
        let log = std::fs::File::create(&log_path)
            .map_err(|err| JobsError::io("create", &log_path, err))?;
        let (program, args) = self
            .supervisor
            .split_first()
            .ok_or_else(|| JobsError::UnknownJob(String::new()))?;
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .arg(&request_path)
            .arg(&self.root)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|err| JobsError::Command {
                command: format!("{} …", program.to_string_lossy()),
                reason: format!("could not start the job supervisor: {err}"),
                tail: String::new(),
            })?;
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        let outcome = loop {
            if dir.join(STATE).exists() {
                break Ok(());
            }
            if let Ok(Some(status)) = child.try_wait() {
                if dir.join(STATE).exists() || (status.success() && dir.join(JOB).exists()) {
                    break Ok(());
                }
                if !status.success() {
                    break Err(format!("the job supervisor exited with {status}"));
                }
            }
            if tokio::time::Instant::now() > deadline {
                // A supervisor that cannot start the job in time must not start it later.
                let _ = child.start_kill();
                break Err(format!("the job did not start within {START_TIMEOUT:?}"));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        // Reap the supervisor when it ends, without waiting for it here.
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        match outcome {
            Ok(()) => {
                // The supervisor keeps writing its own errors here: move, don't delete.
                if std::fs::rename(&log_path, dir.join("supervisor.log")).is_err() {
                    let _ = std::fs::remove_file(&log_path);
                }
                Ok(JobId(request.name.clone()))
            }
            Err(reason) => {
                let tail = std::fs::read_to_string(&log_path).unwrap_or_default();
                let _ = std::fs::remove_file(&request_path);
                Err(JobsError::Command {
                    command: format!("launch {}", request.name),
                    reason,
                    tail,
                })
            }
        }
    }

    /// The job of this name, if one was ever launched here.
    pub async fn find(&self, name: &str) -> Result<Option<JobId>, JobsError> {
        Ok(self.dir(name).ok().map(|_| JobId(name.to_owned())))
    }

    /// Where the job is.
    pub async fn status(&self, id: &JobId) -> Result<JobStatus, JobsError> {
        let dir = self.dir(&id.0)?;
        let state: Option<JobState> = record::read(&dir.join(STATE))?;
        let supervisor: Option<SupervisorRecord> = record::read(&dir.join(SUPERVISOR))?;
        let cancelled = dir.join(CANCEL).exists();
        let supervisor_alive = supervisor.is_some_and(|s| record::alive(s.pid, &s.boot_id));
        Ok(match state {
            Some(state) if state.ended_at.is_some() => {
                if let Some(reason) = state.not_started {
                    if cancelled {
                        JobStatus::Cancelled
                    } else {
                        JobStatus::Failed(Failure::Reason(reason))
                    }
                } else {
                    match (state.exit_code, state.signal) {
                        (Some(0), _) => JobStatus::Succeeded,
                        (_, _) if cancelled => JobStatus::Cancelled,
                        (Some(code), _) => JobStatus::Failed(Failure::ExitCode(code)),
                        (None, Some(signal)) => JobStatus::Failed(Failure::Signal(signal)),
                        (None, None) => {
                            JobStatus::Unknown("the job ended without an exit status".to_owned())
                        }
                    }
                }
            }
            Some(JobState {
                pid: Some(pid),
                boot_id,
                ..
            }) => {
                let same_boot = boot_id.is_none_or(|b| b == record::boot_id());
                if supervisor_alive || (same_boot && record::group_alive(pid)) {
                    JobStatus::Running
                } else {
                    JobStatus::Unknown(
                        "the job's supervisor was killed; its exit code is lost".to_owned(),
                    )
                }
            }
            _ if supervisor_alive => JobStatus::Pending,
            _ => JobStatus::Unknown("the job's supervisor died before starting it".to_owned()),
        })
    }

    /// Stops the job and all its descendants: SIGTERM to its process group, then SIGKILL
    /// after a grace period. A job that has not started yet never starts; a job that
    /// has already ended is left alone (its group id may belong to someone else now).
    pub async fn cancel(&self, id: &JobId) -> Result<(), JobsError> {
        let dir = self.dir(&id.0)?;
        if self.status(id).await?.is_terminal() {
            return Ok(());
        }
        let marker = dir.join(CANCEL);
        autoresearch_fs::write_atomic(&marker, record::now().as_bytes())
            .map_err(|err| JobsError::io("write", &marker, err))?;
        let started = tokio::time::Instant::now();
        let mut termed: Option<i32> = None;
        loop {
            let state: Option<JobState> = record::read(&dir.join(STATE))?;
            let status = self.status(id).await?;
            if status.is_terminal() || matches!(status, JobStatus::Unknown(_)) {
                if let Some(pid) = termed {
                    // Descendants that outlived the shell share its group, which keeps
                    // the group id reserved while they live.
                    signal_group(pid, rustix::process::Signal::KILL);
                }
                return Ok(());
            }
            let live_pid = state
                .filter(|s| {
                    s.ended_at.is_none()
                        && s.boot_id.as_deref().is_none_or(|b| b == record::boot_id())
                })
                .and_then(|s| s.pid);
            if let Some(pid) = live_pid {
                if termed.is_none() {
                    signal_group(pid, rustix::process::Signal::TERM);
                    termed = Some(pid);
                } else if started.elapsed() > CANCEL_GRACE {
                    signal_group(pid, rustix::process::Signal::KILL);
                }
            }
            if started.elapsed() > CANCEL_GRACE * 3 {
                return Err(JobsError::Command {
                    command: format!("cancel {id}"),
                    reason: format!(
                        "the job did not stop within {:?} (pid {})",
                        CANCEL_GRACE * 3,
                        live_pid.map_or_else(|| "not started".to_owned(), |p| p.to_string())
                    ),
                    tail: String::new(),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The job's log files and times.
    pub async fn logs(&self, id: &JobId) -> Result<JobLogs, JobsError> {
        let dir = self.dir(&id.0)?;
        let spec: JobSpec =
            record::read(&dir.join(JOB))?.ok_or_else(|| JobsError::UnknownJob(id.0.clone()))?;
        let state: JobState = record::read(&dir.join(STATE))?.unwrap_or_default();
        Ok(JobLogs {
            stdout: spec.stdout,
            stderr: spec.stderr,
            started_at: state.started_at,
            ended_at: state.ended_at,
        })
    }

    /// The folder holding the job records.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

fn signal_group(pgid: i32, signal: rustix::process::Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(pgid) {
        let _ = rustix::process::kill_process_group(pid, signal);
    }
}
