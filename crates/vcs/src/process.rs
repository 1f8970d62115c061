//! Running an external command (`sl`) through the project's process runner: its own
//! process group, a time limit, captured output, the whole group killed on timeout.

use std::path::Path;
use std::time::Duration;

use autoresearch_fs::process::{Command, ProcessError};

use crate::error::VcsError;

/// How much of a failed command's output an error carries.
const OUTPUT_TAIL: usize = 2000;

/// Runs `program args…` in `cwd`; returns stdout on success. A non-zero exit or a
/// timeout (the process group is killed) is a [`VcsError::Command`] carrying the
/// output's tail.
pub(crate) fn run(
    program: &Path,
    args: &[&str],
    cwd: &Path,
    timeout: Duration,
) -> Result<String, VcsError> {
    let command = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .timeout(timeout);
    let failure = |reason: String, output: &str| VcsError::Command {
        command: command.display(),
        cwd: cwd.to_owned(),
        reason,
        output: autoresearch_fs::text::tail(output, OUTPUT_TAIL).to_owned(),
    };
    match command.clone().run_blocking() {
        Ok(done) if done.status.success() => Ok(done.stdout),
        Ok(done) => Err(failure(
            format!("exited with {}", done.status),
            &format!("{}{}", done.stderr, done.stdout),
        )),
        Err(ProcessError::Start { source, .. }) => {
            Err(failure(format!("cannot start it: {source}"), ""))
        }
        Err(ProcessError::Wait { source, .. }) => {
            Err(failure(format!("cannot wait for it: {source}"), ""))
        }
        Err(ProcessError::TimedOut { after, output, .. }) => {
            Err(failure(format!("timed out after {after:?}"), &output))
        }
    }
}
