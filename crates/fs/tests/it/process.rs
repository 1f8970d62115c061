//! The process runner with real programs: input, output, exit codes, time limits, and
//! no process left behind.

use std::time::{Duration, Instant};

use autoresearch_fs::process::{Command, ProcessError};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

/// Fails unless the helper whose pid is in `pid_file` is gone within a few seconds.
fn assert_helper_gone(pid_file: &std::path::Path, after: &str) {
    let helper: i32 = std::fs::read_to_string(pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(helper) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !alive(helper),
        "the background helper {helper} outlived {after}"
    );
}

#[test]
fn input_goes_in_and_both_outputs_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let done = runtime()
        .block_on(
            Command::shell("cat; echo warn >&2; pwd; echo $GREETING; exit 3")
                .current_dir(dir.path())
                .envs([("GREETING", "hello")])
                .stdin("from stdin\n")
                .timeout(Duration::from_secs(10))
                .run(),
        )
        .unwrap();
    assert_eq!(done.status.code(), Some(3));
    let here = dir.path().canonicalize().unwrap();
    assert_eq!(
        done.stdout,
        format!("from stdin\n{}\nhello\n", here.display())
    );
    assert_eq!(done.stderr, "warn\n");
    assert!(done.tail(6).ends_with("warn\n"));
}

#[test]
fn a_large_output_does_not_block_on_a_full_pipe() {
    let done =
        Command::shell("head -c 1000000 /dev/zero | tr '\\0' x; head -c 300000 /dev/zero >&2")
            .timeout(Duration::from_secs(20))
            .run_blocking()
            .unwrap();
    assert_eq!(done.stdout.len(), 1_000_000);
    assert_eq!(done.stderr.len(), 300_000);
}

#[test]
fn a_timeout_kills_the_whole_group_and_keeps_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.log");
    let err = dir.path().join("err.log");
    let pid_file = dir.path().join("helper.pid");
    let script = format!(
        "sleep 300 & echo $! > {}; echo started; wait",
        pid_file.display()
    );
    let started = Instant::now();
    let failed = runtime()
        .block_on(
            Command::shell(&script)
                .output_files(&out, &err)
                .timeout(Duration::from_millis(500))
                .run(),
        )
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(20));
    match &failed {
        ProcessError::TimedOut { output, after, .. } => {
            assert_eq!(output, "started\n");
            assert_eq!(*after, Duration::from_millis(500));
        }
        other => panic!("expected a timeout, got {other}"),
    }
    assert_helper_gone(&pid_file, "the timeout");
}

#[test]
fn a_dropped_call_kills_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("helper.pid");
    let script = format!("sleep 300 & echo $! > {}; wait", pid_file.display());
    let rt = runtime();
    rt.block_on(async {
        let call = Command::shell(&script)
            .timeout(Duration::from_secs(300))
            .run();
        // Give the shell time to start its helper, then abandon the call.
        let _ = tokio::time::timeout(Duration::from_millis(500), call).await;
    });
    assert_helper_gone(&pid_file, "the abandoned call");
}

#[test]
fn a_missing_program_is_a_start_error_that_says_so() {
    let failed = Command::new("/no/such/program")
        .arg("x")
        .run_blocking()
        .unwrap_err();
    assert!(failed.is_not_found(), "{failed}");
    assert!(
        failed
            .to_string()
            .contains("cannot start /no/such/program x"),
        "{failed}"
    );
    let in_missing_dir = Command::new("true")
        .current_dir("/no/such/folder")
        .run_blocking()
        .unwrap_err();
    assert!(
        matches!(in_missing_dir, ProcessError::Start { .. }),
        "{in_missing_dir}"
    );
}

#[test]
fn the_blocking_runner_works_inside_a_runtime() {
    let done = runtime().block_on(async { Command::new("echo").arg("inside").run_blocking() });
    assert_eq!(done.unwrap().stdout, "inside\n");
}
