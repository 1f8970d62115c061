//! The supervisor: a small process that owns one local job.
//!
//! It leaves the engine's session (so Ctrl+C at the engine's terminal and the engine's
//! death do not reach the job), claims the job's name by renaming a prepared directory
//! into place (so two launches of one name start one job), runs the command in a process
//! group of its own, and records the pid, start, exit and end atomically.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};

use super::record::{self, CANCEL, JOB, JobSpec, JobState, STATE, SUPERVISOR, SupervisorRecord};

/// Runs the supervisor for the request in `request` under the jobs folder `root`.
/// Returns the supervisor's exit status: 0 when the job ran (whatever its own exit), or
/// when the name was already taken; 1 when the request could not be read or claimed.
pub fn supervise(request: &Path, root: &Path) -> i32 {
    // Leaving the engine's session; fails only if already a group leader, which is harmless.
    let _ = rustix::process::setsid();
    let spec: JobSpec = match record::read(request) {
        Ok(Some(spec)) => spec,
        Ok(None) => return fail(&format!("no request at {}", request.display())),
        Err(err) => return fail(&err.to_string()),
    };
    let dir = root.join(&spec.name);
    let claim = root.join(format!(".claim-{}-{}", spec.name, std::process::id()));
    let prepared = std::fs::create_dir_all(&claim)
        .map_err(|err| err.to_string())
        .and_then(|()| record::write(&claim.join(JOB), &spec).map_err(|err| err.to_string()))
        .and_then(|()| {
            let me = SupervisorRecord {
                pid: std::process::id() as i32,
                boot_id: record::boot_id(),
            };
            record::write(&claim.join(SUPERVISOR), &me).map_err(|err| err.to_string())
        });
    if let Err(err) = prepared {
        let _ = std::fs::remove_dir_all(&claim);
        return fail(&err);
    }
    // The atomic claim: renaming onto an existing (non-empty) directory fails.
    if std::fs::rename(&claim, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&claim);
        let _ = std::fs::remove_file(request);
        return if dir.join(JOB).exists() {
            0
        } else {
            fail("cannot claim the job directory")
        };
    }
    let _ = std::fs::File::open(root).and_then(|d| d.sync_all());
    let _ = std::fs::remove_file(request);

    let state_path = dir.join(STATE);
    let mut state = JobState::default();
    if dir.join(CANCEL).exists() {
        state.not_started = Some("cancelled before it started".to_owned());
        state.ended_at = Some(record::now());
        let _ = record::write(&state_path, &state);
        return 0;
    }
    let open = |path: &Path| {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    };
    let spawned = open(&spec.stdout).and_then(|out| {
        let err = open(&spec.stderr)?;
        Command::new("/bin/sh")
            .arg("-c")
            .arg(&spec.command)
            .current_dir(&spec.cwd)
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
    });
    let mut child = match spawned {
        Ok(child) => child,
        Err(err) => {
            state.not_started = Some(format!("could not start: {err}"));
            state.ended_at = Some(record::now());
            let _ = record::write(&state_path, &state);
            return 0;
        }
    };
    state.pid = Some(child.id() as i32);
    state.boot_id = Some(record::boot_id());
    state.started_at = Some(record::now());
    if let Err(err) = record::write(&state_path, &state) {
        eprintln_safe(&format!("cannot record the start: {err}"));
    }
    let status = child.wait();
    state.ended_at = Some(record::now());
    match status {
        Ok(status) => {
            state.exit_code = status.code();
            state.signal = status.signal();
        }
        Err(err) => state.not_started = Some(format!("could not wait for the job: {err}")),
    }
    if let Err(err) = record::write(&state_path, &state) {
        eprintln_safe(&format!("cannot record the end: {err}"));
    }
    0
}

fn fail(message: &str) -> i32 {
    eprintln_safe(message);
    1
}

fn eprintln_safe(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "autoresearch job supervisor: {message}");
}
