//! Running an external command with a timeout and captured output.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::VcsError;

/// How much of a failed command's output an error carries.
const OUTPUT_TAIL: usize = 2000;

/// Runs `program args…` in `cwd`; returns stdout on success. A non-zero exit or a
/// timeout (the process is killed) is a [`VcsError::Command`] carrying the output's tail.
pub(crate) fn run(
    program: &Path,
    args: &[&str],
    cwd: &Path,
    timeout: Duration,
) -> Result<String, VcsError> {
    let command_line = std::iter::once(program.display().to_string())
        .chain(args.iter().map(|arg| (*arg).to_owned()))
        .collect::<Vec<_>>()
        .join(" ");
    let failure = |reason: String, output: String| VcsError::Command {
        command: command_line.clone(),
        cwd: cwd.to_owned(),
        reason,
        output,
    };
    let mut child = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| failure(format!("cannot start it: {err}"), String::new()))?;
    // Drain both pipes on their own threads so a chatty command cannot block on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("timed out after {timeout:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(err) => break Err(format!("cannot wait for it: {err}")),
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let tail = |text: &str| {
        let start = text.len().saturating_sub(OUTPUT_TAIL);
        let start = (start..=text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(text.len());
        text[start..].to_owned()
    };
    match status {
        Ok(status) if status.success() => Ok(stdout),
        Ok(status) => Err(failure(
            format!("exited with {status}"),
            tail(&format!("{stderr}{stdout}")),
        )),
        Err(reason) => Err(failure(reason, tail(&format!("{stderr}{stdout}")))),
    }
}
