//! Running an agent CLI: prompt on stdin, output captured, the whole process group
//! killed when the call is dropped (a timeout, a cancelled experiment).

use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use crate::error::LlmError;

/// Kills a process group when dropped.
struct GroupGuard(Option<rustix::process::Pid>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(group) = self.0 {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    }
}

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
    let mut child = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                LlmError::NotInstalled {
                    program: program.display().to_string(),
                    hint: install_hint.to_owned(),
                }
            }
            _ => LlmError::ProgramFailed {
                program: program.display().to_string(),
                status: format!("could not start: {err}"),
                stderr: String::new(),
            },
        })?;
    let _group = GroupGuard(
        child
            .id()
            .and_then(|pid| rustix::process::Pid::from_raw(pid as i32)),
    );
    let mut input = child.stdin.take();
    let mut out_pipe = child.stdout.take();
    let mut err_pipe = child.stderr.take();
    let write = async {
        if let Some(mut pipe) = input.take() {
            let _ = pipe.write_all(stdin.as_bytes()).await;
            let _ = pipe.shutdown().await;
        }
    };
    let read_out = async {
        let mut bytes = Vec::new();
        if let Some(pipe) = out_pipe.as_mut() {
            let _ = pipe.read_to_end(&mut bytes).await;
        }
        bytes
    };
    let read_err = async {
        let mut bytes = Vec::new();
        if let Some(pipe) = err_pipe.as_mut() {
            let _ = pipe.read_to_end(&mut bytes).await;
        }
        bytes
    };
    let ((), out, err, status) = tokio::join!(write, read_out, read_err, child.wait());
    let status = status.map_err(|err| LlmError::ProgramFailed {
        program: program.display().to_string(),
        status: format!("could not be waited for: {err}"),
        stderr: String::new(),
    })?;
    let stderr = String::from_utf8_lossy(&err).into_owned();
    Ok(ProgramOutput {
        success: status.success(),
        status: status.to_string(),
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: stderr
            .chars()
            .rev()
            .take(4000)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect(),
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
