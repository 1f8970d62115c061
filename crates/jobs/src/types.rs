//! The values a platform exchanges with its caller.

use std::path::PathBuf;

/// A job to launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRequest {
    /// Unique name, and the idempotency key: launching a name twice launches once.
    /// Letters, digits, `_`, `.` and `-` only.
    pub name: String,
    /// The shell command line to run (already templated).
    pub command: String,
    /// Working directory.
    pub cwd: PathBuf,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Where the job's `stdout.log` and `stderr.log` go.
    pub log_dir: PathBuf,
}

/// A platform's id for a launched job.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub String);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a job is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobStatus {
    /// Accepted, not started.
    Pending,
    /// Started, not finished.
    Running,
    /// Finished with exit code 0.
    Succeeded,
    /// Finished otherwise.
    Failed(Failure),
    /// Stopped by a cancel.
    Cancelled,
    /// The platform cannot say (a lost record, an unrecognised state); never read this
    /// as running.
    Unknown(String),
}

impl JobStatus {
    /// Whether the job has ended (succeeded, failed or cancelled).
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed(_) | Self::Cancelled)
    }
}

/// How a job failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// It exited with this non-zero code.
    ExitCode(i32),
    /// It was killed by this signal (without a cancel).
    Signal(i32),
    /// The platform gave another reason (a timeout, out of memory, a node failure).
    Reason(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ExitCode(code) => write!(f, "exit code {code}"),
            Self::Signal(signal) => write!(f, "killed by signal {signal}"),
            Self::Reason(reason) => f.write_str(reason),
        }
    }
}

/// Where a job's output is, and when it ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLogs {
    /// The job's standard output.
    pub stdout: PathBuf,
    /// The job's standard error.
    pub stderr: PathBuf,
    /// UTC wall-clock start, RFC 3339.
    pub started_at: Option<String>,
    /// UTC wall-clock end, RFC 3339.
    pub ended_at: Option<String>,
}

/// Checks a job name: it becomes a file name and a scheduler job name.
pub fn validate_name(name: &str) -> Result<(), crate::JobsError> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if valid {
        Ok(())
    } else {
        Err(crate::JobsError::InvalidName(name.to_owned()))
    }
}
