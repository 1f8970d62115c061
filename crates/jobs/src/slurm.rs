//! The Slurm backend: `sbatch`, `scontrol`/`sacct`, `scancel`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::JobsError;
use crate::exec::run_ok;
use crate::template::shell_quote;
use crate::types::{Failure, JobId, JobLogs, JobRequest, JobStatus, validate_name};

/// A launched job as recorded locally (`<root>/<name>.json`), so `find` does not depend
/// on the scheduler still remembering the job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Launched {
    pub(crate) id: String,
    pub(crate) stdout: PathBuf,
    pub(crate) stderr: PathBuf,
}

pub(crate) fn record_path(root: &Path, name: &str) -> PathBuf {
    root.join(format!("{name}.json"))
}

pub(crate) fn read_record(root: &Path, name: &str) -> Result<Option<Launched>, JobsError> {
    let path = record_path(root, name);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|err| JobsError::Record {
                path,
                detail: err.to_string(),
            }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(JobsError::io("read", path, err)),
    }
}

pub(crate) fn write_record(root: &Path, name: &str, launched: &Launched) -> Result<(), JobsError> {
    let path = record_path(root, name);
    let bytes = serde_json::to_vec(launched)
        .map_err(|err| JobsError::io("serialise", &path, std::io::Error::other(err)))?;
    autoresearch_fs::write_atomic(&path, &bytes).map_err(|err| JobsError::io("write", path, err))
}

/// The name and record of the job with this id (a scan of `root`).
pub(crate) fn record_by_id(root: &Path, id: &JobId) -> Result<(String, Launched), JobsError> {
    let entries = std::fs::read_dir(root).map_err(|err| JobsError::io("list", root, err))?;
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(name) = file.strip_suffix(".json") else {
            continue;
        };
        if let Ok(Some(record)) = read_record(root, name)
            && record.id == id.0
        {
            return Ok((name.to_owned(), record));
        }
    }
    Err(JobsError::UnknownJob(id.0.clone()))
}

/// The command line a job runs: its environment exported, then its command.
pub(crate) fn wrapped_command(request: &JobRequest) -> Result<String, JobsError> {
    let mut script = String::new();
    for (key, value) in &request.env {
        let valid = key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(JobsError::InvalidEnvName(key.clone()));
        }
        script.push_str(&format!("export {key}={}; ", shell_quote(value)));
    }
    script.push_str(&request.command);
    Ok(script)
}

/// Jobs on a Slurm cluster (the log folder must be on a filesystem the nodes share).
#[derive(Debug, Clone)]
pub struct SlurmPlatform {
    root: PathBuf,
    timeout: Duration,
    extra_sbatch_args: Vec<String>,
}

impl SlurmPlatform {
    /// Records launched jobs under `root`; each Slurm command gets `timeout`.
    pub fn new(
        root: impl Into<PathBuf>,
        timeout: Duration,
        extra_sbatch_args: Vec<String>,
    ) -> Result<Self, JobsError> {
        let root = root.into();
        std::fs::create_dir_all(&root)
            .map_err(|err| JobsError::io("create directory", &root, err))?;
        Ok(Self {
            root,
            timeout,
            extra_sbatch_args,
        })
    }

    async fn slurm(&self, args: &[&str]) -> Result<String, JobsError> {
        let argv: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        Ok(run_ok(&argv, &self.root, self.timeout).await?.stdout)
    }

    /// Submits the job with `sbatch`, unless one of that name exists.
    pub async fn launch(&self, request: &JobRequest) -> Result<JobId, JobsError> {
        validate_name(&request.name)?;
        if let Some(id) = self.find(&request.name).await? {
            tracing::info!(name = %request.name, %id, "job already submitted; re-attaching");
            return Ok(id);
        }
        std::fs::create_dir_all(&request.log_dir)
            .map_err(|err| JobsError::io("create directory", &request.log_dir, err))?;
        let stdout = request.log_dir.join("stdout.log");
        let stderr = request.log_dir.join("stderr.log");
        let mut args = vec![
            "sbatch".to_owned(),
            "--parsable".to_owned(),
            format!("--job-name={}", request.name),
            format!("--output={}", stdout.display()),
            format!("--error={}", stderr.display()),
            format!("--chdir={}", request.cwd.display()),
        ];
        args.extend(self.extra_sbatch_args.iter().cloned());
        args.push("--wrap".to_owned());
        args.push(wrapped_command(request)?);
        let out = run_ok(&args, &self.root, self.timeout).await?.stdout;
        let id = out
            .trim()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit() || c == '_') {
            return Err(JobsError::NoJobId {
                command: args.join(" "),
                output: out,
            });
        }
        write_record(
            &self.root,
            &request.name,
            &Launched {
                id: id.clone(),
                stdout,
                stderr,
            },
        )?;
        Ok(JobId(id))
    }

    /// The job of this name: from the local record, else from Slurm's memory.
    pub async fn find(&self, name: &str) -> Result<Option<JobId>, JobsError> {
        validate_name(name)?;
        if let Some(record) = read_record(&self.root, name)? {
            return Ok(Some(JobId(record.id)));
        }
        // Submitted, but the engine died before recording the id.
        let out = self
            .slurm(&["squeue", "-h", "--states=all", "-n", name, "-o", "%i"])
            .await?;
        if let Some(id) = out.lines().map(str::trim).find(|l| !l.is_empty()) {
            return Ok(Some(JobId(id.to_owned())));
        }
        match self
            .slurm(&["sacct", "-n", "-X", "-P", "--name", name, "-o", "JobID"])
            .await
        {
            Ok(out) => Ok(out
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(|id| JobId(id.to_owned()))),
            Err(_) => Ok(None), // Accounting is off.
        }
    }

    async fn job_fields(&self, id: &JobId) -> Result<Option<Vec<(String, String)>>, JobsError> {
        match self.slurm(&["scontrol", "show", "job", "-o", &id.0]).await {
            Ok(out) => Ok(Some(
                out.split_whitespace()
                    .filter_map(|field| field.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            )),
            Err(_) => Ok(None),
        }
    }

    /// Where the job is, from `scontrol` (or `sacct` once Slurm has forgotten it).
    pub async fn status(&self, id: &JobId) -> Result<JobStatus, JobsError> {
        if let Some(fields) = self.job_fields(id).await? {
            let get = |key: &str| {
                fields
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.as_str())
            };
            if let Some(state) = get("JobState") {
                return Ok(map_state(state, get("ExitCode")));
            }
        }
        if let Ok(out) = self
            .slurm(&[
                "sacct",
                "-n",
                "-X",
                "-P",
                "-j",
                &id.0,
                "-o",
                "State,ExitCode",
            ])
            .await
            && let Some((state, code)) = out.lines().next().and_then(|l| l.split_once('|'))
        {
            return Ok(map_state(
                state.split_whitespace().next().unwrap_or(state),
                Some(code),
            ));
        }
        Ok(JobStatus::Unknown(format!(
            "Slurm has no record of job {id}"
        )))
    }

    /// `scancel`s the job (Slurm signals every process of it).
    pub async fn cancel(&self, id: &JobId) -> Result<(), JobsError> {
        self.slurm(&["scancel", &id.0]).await.map(|_| ())
    }

    /// The job's log files (on the shared filesystem) and its times.
    pub async fn logs(&self, id: &JobId) -> Result<JobLogs, JobsError> {
        let fields = self.job_fields(id).await?.unwrap_or_default();
        let get = |key: &str| {
            fields
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let time = |key: &str| get(key).and_then(|v| slurm_time_to_utc(&v));
        Ok(JobLogs {
            stdout: get("StdOut").map(PathBuf::from).unwrap_or_default(),
            stderr: get("StdErr").map(PathBuf::from).unwrap_or_default(),
            started_at: time("StartTime"),
            ended_at: time("EndTime"),
        })
    }
}

/// Maps a Slurm job state (and `ExitCode=code:signal`) to a status.
pub(crate) fn map_state(state: &str, exit: Option<&str>) -> JobStatus {
    let state = state.trim_end_matches('+');
    match state {
        "PENDING" | "CONFIGURING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED"
        | "RESV_DEL_HOLD" | "SUSPENDED" => JobStatus::Pending,
        "RUNNING" | "COMPLETING" | "STAGE_OUT" | "SIGNALING" | "RESIZING" => JobStatus::Running,
        "COMPLETED" => JobStatus::Succeeded,
        "CANCELLED" => JobStatus::Cancelled,
        "FAILED" => {
            let (code, signal) = exit
                .and_then(|e| e.split_once(':'))
                .map(|(c, s)| (c.parse::<i32>().unwrap_or(0), s.parse::<i32>().unwrap_or(0)))
                .unwrap_or((0, 0));
            if code != 0 {
                JobStatus::Failed(Failure::ExitCode(code))
            } else if signal != 0 {
                JobStatus::Failed(Failure::Signal(signal))
            } else {
                JobStatus::Failed(Failure::Reason("failed".to_owned()))
            }
        }
        "TIMEOUT" => JobStatus::Failed(Failure::Reason("hit its time limit".to_owned())),
        "OUT_OF_MEMORY" => JobStatus::Failed(Failure::Reason("ran out of memory".to_owned())),
        "NODE_FAIL" | "BOOT_FAIL" | "PREEMPTED" | "DEADLINE" | "REVOKED" => {
            JobStatus::Failed(Failure::Reason(format!("Slurm state {state}")))
        }
        other => JobStatus::Unknown(format!("unrecognised Slurm state `{other}`")),
    }
}

/// Slurm prints local times without a zone (`2026-11-29T08:05:39`); `Unknown` and
/// `None` mean no time.
fn slurm_time_to_utc(value: &str) -> Option<String> {
    let civil: jiff::civil::DateTime = value.parse().ok()?;
    let zoned = civil.to_zoned(jiff::tz::TimeZone::system()).ok()?;
    Some(zoned.timestamp().to_string())
}
