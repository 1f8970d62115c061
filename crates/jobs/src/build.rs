//! Building an image from a checkout.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::JobsError;
use crate::exec::{Capture, run, shell, tail};

/// Where a build's output goes.
#[derive(Debug, Clone)]
pub struct BuildLogs {
    /// The build's standard output.
    pub stdout: PathBuf,
    /// The build's standard error.
    pub stderr: PathBuf,
}

/// Runs the (already templated) shell `command` in `cwd` and returns the image: the last
/// non-empty line of its stdout. Output is saved to `logs`. A non-zero exit, a timeout
/// or an empty stdout is an error carrying the tail of the output.
pub async fn build(
    command: &str,
    cwd: &Path,
    env: &[(String, String)],
    timeout: Duration,
    logs: &BuildLogs,
) -> Result<String, JobsError> {
    for path in [&logs.stdout, &logs.stderr] {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|err| JobsError::io("create directory", parent, err))?;
        }
    }
    let capture = Capture::Files {
        stdout: logs.stdout.clone(),
        stderr: logs.stderr.clone(),
    };
    let finished = run(&shell(command), cwd, env, timeout, capture)
        .await
        .map_err(|err| match err {
            JobsError::Command { reason, tail, .. } => JobsError::Command {
                command: command.to_owned(),
                reason,
                tail,
            },
            other => other,
        })?;
    if !finished.status.success() {
        return Err(JobsError::Command {
            command: command.to_owned(),
            reason: format!("exited with {}", finished.status),
            tail: tail(&format!("{}{}", finished.stdout, finished.stderr)),
        });
    }
    finished
        .stdout
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| JobsError::NoImage {
            command: command.to_owned(),
        })
}
