//! Local jobs benchmark: prints figures, asserts nothing. Run with `cargo xtask bench jobs`.
//!
//! Launches, polls to completion and collects 200 trivial local jobs (`true`), 8 at a
//! time, polling each every 10 ms. Reports the total time, the per-job overhead (from
//! the launch call to the engine seeing the job end, minus the command's own run time)
//! and the engine process's CPU time (user + system).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsString;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use autoresearch_jobs::{JobRequest, LocalPlatform, Platform};

const JOBS: usize = 200;
const AT_ONCE: usize = 8;
const POLL: Duration = Duration::from_millis(10);

/// This process's user + system CPU time, from /proc/self/stat (clock ticks of 10 ms).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let supervisor = std::env::var_os("AUTORESEARCH_SUPERVISOR").unwrap_or_else(|| {
        // The test supervisor sits next to this benchmark's binary, one folder up.
        let exe = std::env::current_exe().unwrap();
        OsString::from(
            exe.parent()
                .unwrap()
                .parent()
                .unwrap()
                .join("job-supervisor"),
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let platform =
        Platform::Local(LocalPlatform::new(dir.path().join("jobs"), vec![supervisor]).unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = cpu_time();
    let began = Instant::now();
    let overheads = runtime.block_on(async {
        let mut workers = Vec::new();
        for _ in 0..AT_ONCE {
            let platform = platform.clone();
            let next = Arc::clone(&next);
            let root = dir.path().to_owned();
            workers.push(tokio::spawn(async move {
                let mut overheads = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= JOBS {
                        return overheads;
                    }
                    let name = format!("job_{n:04}");
                    let request = JobRequest {
                        name: name.clone(),
                        command: "true".to_owned(),
                        cwd: root.clone(),
                        env: Vec::new(),
                        log_dir: root.join("runs").join(&name),
                    };
                    let launched = Instant::now();
                    let id = platform.launch(&request).await.unwrap();
                    while !platform.status(&id).await.unwrap().is_terminal() {
                        tokio::time::sleep(POLL).await;
                    }
                    let seen = launched.elapsed();
                    let logs = platform.logs(&id).await.unwrap();
                    let start: jiff::Timestamp = logs.started_at.unwrap().parse().unwrap();
                    let end: jiff::Timestamp = logs.ended_at.unwrap().parse().unwrap();
                    let own = Duration::try_from(end.duration_since(start)).unwrap_or_default();
                    overheads.push(seen.saturating_sub(own));
                }
            }));
        }
        let mut all = Vec::new();
        for worker in workers {
            all.extend(worker.await.unwrap());
        }
        all
    });
    let wall = began.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_before);
    let mut overheads = overheads;
    overheads.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("{JOBS} trivial local jobs, {AT_ONCE} at a time, polled every {POLL:?}");
    println!(
        "total wall time            {:>8.0} ms ({:.1} jobs/s)",
        ms(wall),
        JOBS as f64 / wall.as_secs_f64()
    );
    println!(
        "per-job overhead p50       {:>8.1} ms",
        ms(percentile(&overheads, 0.5))
    );
    println!(
        "per-job overhead p95       {:>8.1} ms",
        ms(percentile(&overheads, 0.95))
    );
    println!(
        "engine CPU (user+system)   {:>8.0} ms ({:.2} ms per job)",
        ms(cpu),
        ms(cpu) / JOBS as f64
    );
}
