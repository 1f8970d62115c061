//! Running an agent CLI through the project's process runner: prompt on stdin, output
//! captured, the whole process group killed when the call is dropped (a timeout, a
//! cancelled experiment).

use std::path::Path;

use autoresearch_fs::process::{Command, ProcessError};

use crate::error::LlmError;

/// How much of an agent's stderr an error keeps.
const STDERR_TAIL: usize = 4000;

/// The output of a finished agent program.
pub(crate) struct ProgramOutput {
    pub(crate) success: bool,
    pub(crate) status: String,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `program args…` in `cwd` with `env`, writing `stdin` to it.
pub(crate) async fn run_program(
    program: &Path,
    args: &[String],
    cwd: &Path,
    env: &[(String, String)],
    stdin: &str,
    install_hint: &str,
) -> Result<ProgramOutput, LlmError> {
    let finished = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(stdin)
        .run()
        .await
        .map_err(|err| {
            if err.is_not_found() {
                return LlmError::NotInstalled {
                    program: program.display().to_string(),
                    hint: install_hint.to_owned(),
                };
            }
            let status = match err {
                ProcessError::Start { source, .. } => format!("could not start: {source}"),
                ProcessError::Wait { source, .. } => format!("could not be waited for: {source}"),
                ProcessError::TimedOut { after, .. } => format!("timed out after {after:?}"),
            };
            LlmError::ProgramFailed {
                program: program.display().to_string(),
                status,
                stderr: String::new(),
            }
        })?;
    Ok(ProgramOutput {
        success: finished.status.success(),
        status: finished.status.to_string(),
        stderr: autoresearch_fs::text::tail(&finished.stderr, STDERR_TAIL).to_owned(),
        stdout: finished.stdout,
    })
}

/// A scratch folder for calls that must not edit anything; removed when dropped, also
/// when the call is abandoned mid-way.
pub(crate) fn scratch_dir() -> Result<tempfile::TempDir, LlmError> {
    tempfile::Builder::new()
        .prefix("autoresearch-agent-")
        .tempdir()
        .map_err(|source| LlmError::Io {
            path: std::env::temp_dir(),
            source,
        })
}
