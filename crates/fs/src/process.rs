//! The one way this project runs an external command to completion: its own process
//! group, input written and output captured concurrently (a chatty command never blocks
//! on a full pipe), a time limit, and the whole group killed when the limit passes or
//! the caller stops waiting (a dropped future, an abandoned build). A command that
//! spawns helpers leaves none behind.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::text;

/// Where a command's output goes.
#[derive(Debug, Clone, Default)]
enum Capture {
    /// Into memory.
    #[default]
    Memory,
    /// Into these files (a build log the caller keeps).
    Files { stdout: PathBuf, stderr: PathBuf },
}

/// A command to run: program, arguments, folder, environment, input, time limit.
#[derive(Debug, Clone)]
pub struct Command {
    program: OsString,
    args: Vec<OsString>,
    cwd: Option<PathBuf>,
    env: Vec<(OsString, OsString)>,
    stdin: Option<Vec<u8>>,
    timeout: Option<Duration>,
    capture: Capture,
}

/// A command that ran to its end.
#[derive(Debug)]
pub struct Finished {
    /// How it exited.
    pub status: ExitStatus,
    /// Its standard output (bytes that are not UTF-8 replaced).
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Finished {
    /// The last `max` bytes of stdout and stderr together, for error messages.
    pub fn tail(&self, max: usize) -> String {
        text::tail(&format!("{}{}", self.stdout, self.stderr), max).to_owned()
    }
}

/// Why a command did not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The program could not be started (missing, not executable, bad folder).
    #[error("cannot start {command}: {source}")]
    Start {
        /// The command line, for the message.
        command: String,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// It ran past its time limit; its whole process group was killed.
    #[error("{command} timed out after {after:?}")]
    TimedOut {
        /// The command line.
        command: String,
        /// The limit.
        after: Duration,
        /// What it had written by then (the end of it).
        output: String,
    },
    /// Waiting for it or opening its output files failed.
    #[error("cannot run {command}: {source}")]
    Wait {
        /// The command line.
        command: String,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
}

impl ProcessError {
    /// Whether the program itself was not found or may not be run.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ProcessError::Start { source, .. }
            if matches!(source.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied))
    }
}

/// How much output a timeout error keeps.
const TIMEOUT_TAIL: usize = 4000;

impl Command {
    /// `program` with no arguments, in the current folder, with no time limit (the
    /// caller may still drop the call, which kills the group).
    pub fn new(program: impl Into<OsString>) -> Self {
        Command {
            program: program.into(),
            args: Vec::new(),
            cwd: None,
            env: Vec::new(),
            stdin: None,
            timeout: None,
            capture: Capture::Memory,
        }
    }

    /// `sh -c script`.
    pub fn shell(script: &str) -> Self {
        Command::new("/bin/sh").arg("-c").arg(script)
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Runs it in `dir`.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Sets variables on top of the inherited environment.
    pub fn envs<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        self.env
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Writes `bytes` to its standard input, then closes it (otherwise it reads nothing).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Kills it (with its group) after `limit`.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// Sends its output to these files instead of memory; [`Finished`] reads them back.
    pub fn output_files(mut self, stdout: impl Into<PathBuf>, stderr: impl Into<PathBuf>) -> Self {
        self.capture = Capture::Files {
            stdout: stdout.into(),
            stderr: stderr.into(),
        };
        self
    }

    /// The command line, for messages.
    pub fn display(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs it to its end (or its limit).
    pub async fn run(self) -> Result<Finished, ProcessError> {
        let display = self.display();
        let wait_error = |source| ProcessError::Wait {
            command: display.clone(),
            source,
        };
        let mut command = tokio::process::Command::new(&self.program);
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = &self.cwd {
            command.current_dir(dir);
        }
        match &self.capture {
            Capture::Memory => {
                command.stdout(Stdio::piped()).stderr(Stdio::piped());
            }
            Capture::Files { stdout, stderr } => {
                command
                    .stdout(std::fs::File::create(stdout).map_err(wait_error)?)
                    .stderr(std::fs::File::create(stderr).map_err(wait_error)?);
            }
        }
        let mut child = command.spawn().map_err(|source| ProcessError::Start {
            command: display.clone(),
            source,
        })?;
        // Dropping this future (a cancelled caller) kills the group, not just the child.
        let mut guard = GroupGuard::of(child.id());
        let input = child.stdin.take();
        let mut out_pipe = child.stdout.take();
        let mut err_pipe = child.stderr.take();
        let stdin_bytes = self.stdin.unwrap_or_default();
        let work = async {
            let write = async {
                if let Some(mut pipe) = input {
                    // A program that exits without reading its input is not an error here.
                    let _ = pipe.write_all(&stdin_bytes).await;
                    let _ = pipe.shutdown().await;
                }
            };
            let (_, out, err, status) = tokio::join!(
                write,
                read_all(out_pipe.as_mut()),
                read_all(err_pipe.as_mut()),
                child.wait()
            );
            (status, out, err)
        };
        let waited = match self.timeout {
            Some(limit) => tokio::time::timeout(limit, work).await.map_err(|_| limit),
            None => Ok(work.await),
        };
        let (status, out, err) = match waited {
            Ok(done) => done,
            Err(limit) => {
                guard.kill();
                let output = match &self.capture {
                    Capture::Files { stdout, stderr } => {
                        format!("{}{}", read_lossy(stdout), read_lossy(stderr))
                    }
                    Capture::Memory => String::new(),
                };
                return Err(ProcessError::TimedOut {
                    command: display,
                    after: limit,
                    output: text::tail(&output, TIMEOUT_TAIL).to_owned(),
                });
            }
        };
        // The leader is reaped, so its id may be reused: never signal it again.
        guard.disarm();
        let status = status.map_err(wait_error)?;
        let (stdout, stderr) = match &self.capture {
            Capture::Memory => (lossy(out), lossy(err)),
            Capture::Files { stdout, stderr } => (read_lossy(stdout), read_lossy(stderr)),
        };
        Ok(Finished {
            status,
            stdout,
            stderr,
        })
    }

    /// [`Command::run`] for callers that are not async: it runs on a small runtime of
    /// its own thread, so it may be called from inside another runtime too.
    pub fn run_blocking(self) -> Result<Finished, ProcessError> {
        let display = self.display();
        let failed = |source| ProcessError::Wait {
            command: display.clone(),
            source,
        };
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(failed)?
                        .block_on(self.run())
                })
                .join()
                .unwrap_or_else(|_| {
                    Err(failed(std::io::Error::other("the runner thread panicked")))
                })
        })
    }
}

async fn read_all<R: AsyncReadExt + Unpin>(pipe: Option<&mut R>) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Some(pipe) = pipe {
        // A pipe that breaks mid-way keeps what was read.
        let _ = pipe.read_to_end(&mut bytes).await;
    }
    bytes
}

fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A log file as text; bytes that are not UTF-8 are replaced, never the whole file lost.
fn read_lossy(path: &Path) -> String {
    std::fs::read(path).map(lossy).unwrap_or_default()
}

/// Kills a process group when dropped or asked; once killed it never signals again (the
/// group id could be reused).
struct GroupGuard(Option<rustix::process::Pid>);

impl GroupGuard {
    fn of(pid: Option<u32>) -> Self {
        GroupGuard(pid.and_then(|pid| rustix::process::Pid::from_raw(pid as i32)))
    }

    fn disarm(&mut self) {
        self.0 = None;
    }

    fn kill(&mut self) {
        if let Some(group) = self.0.take() {
            // A group that is already gone is fine.
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}
