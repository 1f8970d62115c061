//! Running external commands through the project's one process runner
//! ([`autoresearch_fs::process`]), with its failures as [`JobsError`]s.

use std::path::{Path, PathBuf};
use std::time::Duration;

use autoresearch_fs::process::{Command, Finished, ProcessError};

use crate::error::JobsError;

/// How many bytes of output an error carries.
const TAIL_BYTES: usize = 4000;

/// Where a command's output goes.
#[derive(Debug, Clone)]
pub(crate) enum Capture {
    /// Into memory (small outputs: scheduler queries).
    Memory,
    /// Into these files (builds: the caller keeps them).
    Files { stdout: PathBuf, stderr: PathBuf },
}

/// The last `TAIL_BYTES` of `text`, for error messages.
pub(crate) fn tail(text: &str) -> String {
    autoresearch_fs::text::tail(text, TAIL_BYTES).to_owned()
}

/// Runs `argv` in `cwd` with `env`, killing its process group if it outlives `timeout`.
pub(crate) async fn run(
    argv: &[String],
    cwd: &Path,
    env: &[(String, String)],
    timeout: Duration,
    capture: Capture,
) -> Result<Finished, JobsError> {
    let display = argv.join(" ");
    let Some((program, args)) = argv.split_first() else {
        return Err(JobsError::Command {
            command: display,
            reason: "is empty".to_owned(),
            tail: String::new(),
        });
    };
    let mut command = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .timeout(timeout);
    if let Capture::Files { stdout, stderr } = capture {
        command = command.output_files(stdout, stderr);
    }
    command.run().await.map_err(|err| {
        let (reason, tail) = match err {
            ProcessError::Start { source, .. } => {
                (format!("could not start: {source}"), String::new())
            }
            ProcessError::TimedOut { after, output, .. } => {
                (format!("timed out after {after:?}"), output)
            }
            ProcessError::Wait { source, .. } => {
                (format!("could not be waited for: {source}"), String::new())
            }
        };
        JobsError::Command {
            command: display,
            reason,
            tail,
        }
    })
}

/// Runs a command and requires success.
pub(crate) async fn run_ok(
    argv: &[String],
    cwd: &Path,
    timeout: Duration,
) -> Result<Finished, JobsError> {
    let finished = run(argv, cwd, &[], timeout, Capture::Memory).await?;
    if finished.status.success() {
        Ok(finished)
    } else {
        Err(JobsError::Command {
            command: argv.join(" "),
            reason: format!("exited with {}", finished.status),
            tail: finished.tail(TAIL_BYTES),
        })
    }
}

/// `sh -c <script>` as an argv.
pub(crate) fn shell(script: &str) -> Vec<String> {
    vec!["/bin/sh".to_owned(), "-c".to_owned(), script.to_owned()]
}
