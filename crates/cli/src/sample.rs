//! `autoresearch sample -- <command…>`: runs a command and prints host samples as probe
//! lines on the same stdout as the command's own output.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use autoresearch_metrics::{PROTOCOL_VERSION, ProbeEvent, Sampler};

use crate::{EXIT_FAILURE, EXIT_USAGE};

pub(crate) fn run(interval: Duration, command: &[OsString]) -> ExitCode {
    let Some((program, args)) = command.split_first() else {
        eprintln_safe("sample: no command given\nhint: autoresearch sample -- python train.py");
        return ExitCode::from(EXIT_USAGE);
    };
    let mut child = match std::process::Command::new(program).args(args).spawn() {
        Ok(child) => child,
        Err(err) => {
            eprintln_safe(&format!(
                "sample: cannot start {}: {err}",
                program.to_string_lossy()
            ));
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let mut sampler = Sampler::new();
    sampler.sample(Some(child.id())); // primes the CPU counters
    let mut next = Instant::now() + interval;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(err) => {
                eprintln_safe(&format!("sample: cannot wait for the command: {err}"));
                return ExitCode::from(EXIT_FAILURE);
            }
        }
        if Instant::now() >= next {
            print_sample(&mut sampler, child.id());
            next += interval;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    ExitCode::from(u8::try_from(code).unwrap_or(EXIT_FAILURE))
}

fn print_sample(sampler: &mut Sampler, pid: u32) {
    let event = ProbeEvent::Sample(sampler.sample(Some(pid)));
    let Ok(mut value) = serde_json::to_value(&event) else {
        return;
    };
    if let Some(object) = value.as_object_mut() {
        object.insert("v".to_owned(), PROTOCOL_VERSION.into());
    }
    // One write per line: it cannot interleave with the command's own lines mid-way;
    // the checksum catches a forwarder that cuts it anyway.
    let line = format!("{}\n", autoresearch_metrics::probe_line(&value.to_string()));
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(line.as_bytes());
    let _ = stdout.flush();
}

fn eprintln_safe(message: &str) {
    let _ = writeln!(std::io::stderr(), "{message}");
}
