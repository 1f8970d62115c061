//! Running external commands: a timeout, captured output, and the whole process group
//! killed on timeout or drop.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::Command;

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

/// A finished command.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Finished {
    /// The last `TAIL_BYTES` of stdout and stderr, for error messages.
    pub(crate) fn tail(&self) -> String {
        tail(&format!("{}{}", self.stdout, self.stderr))
    }
}

pub(crate) fn tail(text: &str) -> String {
    let mut start = text.len().saturating_sub(TAIL_BYTES);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
}

/// Runs `sh -c <script>` (or a plain argv when `argv` has more than one word) in `cwd`
/// with `env`, killing its process group if it outlives `timeout`.
pub(crate) async fn run(
    argv: &[String],
    cwd: &Path,
    env: &[(String, String)],
    timeout: Duration,
    capture: Capture,
) -> Result<Finished, JobsError> {
    let display = argv.join(" ");
    let fail = |reason: String, tail: String| JobsError::Command {
        command: display.clone(),
        reason,
        tail,
    };
    let Some((program, args)) = argv.split_first() else {
        return Err(fail("is empty".to_owned(), String::new()));
    };
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(cwd)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    match &capture {
        Capture::Memory => {
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        Capture::Files { stdout, stderr } => {
            let open = |path: &PathBuf| {
                std::fs::File::create(path).map_err(|err| JobsError::io("create", path, err))
            };
            command.stdout(open(stdout)?).stderr(open(stderr)?);
        }
    }
    let mut child = command
        .spawn()
        .map_err(|err| fail(format!("could not start: {err}"), String::new()))?;
    let group = child
        .id()
        .and_then(|pid| rustix::process::Pid::from_raw(pid as i32));
    // If this future is dropped (an aborted build), the whole group goes, not just `sh`.
    let mut guard = GroupGuard(group);
    let mut out_pipe = child.stdout.take();
    let mut err_pipe = child.stderr.take();
    let work = async {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let read_out = async {
            if let Some(pipe) = out_pipe.as_mut() {
                let _ = pipe.read_to_end(&mut out).await;
            }
        };
        let read_err = async {
            if let Some(pipe) = err_pipe.as_mut() {
                let _ = pipe.read_to_end(&mut err).await;
            }
        };
        let ((), (), status) = tokio::join!(read_out, read_err, child.wait());
        (status, out, err)
    };
    let waited = tokio::time::timeout(timeout, work).await;
    // The command ended (or is killed below): its group id must not be signalled later.
    guard.0 = None;
    let Ok((status, out, err)) = waited else {
        if let Some(group) = group {
            // The whole group: a build may have started compilers and the like.
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
        let output = match &capture {
            Capture::Files { stdout, stderr } => read_files(stdout, stderr),
            Capture::Memory => String::new(),
        };
        return Err(fail(format!("timed out after {timeout:?}"), tail(&output)));
    };
    let status =
        status.map_err(|err| fail(format!("could not be waited for: {err}"), String::new()))?;
    let (stdout, stderr) = match &capture {
        Capture::Memory => (
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        ),
        Capture::Files { stdout, stderr } => (read_lossy(stdout), read_lossy(stderr)),
    };
    Ok(Finished {
        status,
        stdout,
        stderr,
    })
}

fn read_files(stdout: &Path, stderr: &Path) -> String {
    format!("{}{}", read_lossy(stdout), read_lossy(stderr))
}

/// A log file as text; bytes that are not UTF-8 are replaced, never the whole file lost.
fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// Kills a process group when dropped; a finished group is gone and the kill is a no-op.
struct GroupGuard(Option<rustix::process::Pid>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(group) = self.0 {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    }
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
            tail: finished.tail(),
        })
    }
}

/// `sh -c <script>` as an argv.
pub(crate) fn shell(script: &str) -> Vec<String> {
    vec!["/bin/sh".to_owned(), "-c".to_owned(), script.to_owned()]
}
