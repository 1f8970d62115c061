//! For tests: launches one local job from a process of its own, prints its id, then
//! sleeps until killed, so a test can kill the launching "engine" and re-attach.
//!
//! Usage: `jobs-launch <jobs-root> <supervisor> <name> <log-dir> <command>`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::ffi::OsString;
use std::process::ExitCode;

use autoresearch_jobs::{JobRequest, LocalPlatform};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [root, supervisor, name, log_dir, command] = args.as_slice() else {
        eprintln!("usage: jobs-launch <jobs-root> <supervisor> <name> <log-dir> <command>");
        return ExitCode::from(2);
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return ExitCode::from(1);
    };
    runtime.block_on(async {
        let platform = match LocalPlatform::new(root, vec![OsString::from(supervisor)]) {
            Ok(platform) => platform,
            Err(err) => {
                eprintln!("{err}");
                return ExitCode::from(1);
            }
        };
        let request = JobRequest {
            name: name.clone(),
            command: command.clone(),
            cwd: std::env::temp_dir(),
            env: Vec::new(),
            log_dir: log_dir.into(),
        };
        match platform.launch(&request).await {
            Ok(id) => {
                println!("{id}");
                tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("{err}");
                ExitCode::from(1)
            }
        }
    })
}
