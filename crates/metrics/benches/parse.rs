//! Parser and probe benchmark: prints figures, asserts nothing. Run with
//! `cargo xtask bench metrics` (`AR_BENCH_LOG_MB` sets the log size, default 1024).
//!
//! 1. Generates a log of probe lines, SPDL stats lines and noise, parses it with
//!    `Evidence::from_reader`, and reports MB/s and the process's peak RSS.
//! 2. The same for a log of 64 ranks writing at once (`AR_BENCH_RANKS_MB`, default
//!    1024): protocol-2 probe lines and tagged SPDL lines of every rank interleaved, one
//!    line in 400 torn; reports MB/s, peak RSS, the ranks found and the torn lines
//!    dropped, and the time to summarise 64 ranks.
//! 3. Times a 10 ms busy step with and without the probe (Python) and reports the
//!    probe's overhead per step.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufWriter, Write};
use std::time::Instant;

use autoresearch_metrics::{Evidence, RunSummary};

const NOISE: [&str; 4] = [
    "2026-11-29 05:36:47.444 INFO [pid 15982] train: epoch 3 iteration 1234 loss=0.4312 lr=0.0003",
    "\u{1b}[33mWARNING\u{1b}[0m torch.distributed: NCCL_ASYNC_ERROR_HANDLING is deprecated",
    "Traceback (most recent call last):   File \"train.py\", line 88, in <module>",
    "some tool printed a progress bar ███████████▌        63%",
];
const QUEUE: &str = "2026-11-29 05:36:47.444 INFO [pid 15982] spdl.pipeline._components._queue: [0:1:fetch[8]_queue]\tProcessed   478 items in    2.0 [sec] (QPS:  238.8) Ave wait time: put:    5.4 [ ms], get (by next stage):   51.5 [ us]. P90: put:   14.6 [ ms], get:    2.7 [ us]. P99: put:   22.1 [ ms], get:    0.2 [ ms]. Occupancy rate: 96%";
const TASK: &str = "2026-11-29 05:36:47.444 INFO [pid 15982] spdl.pipeline._components._hook: [0:2:decode[2]]\tCompleted   476 tasks (  0 failed). Ave task time:    8.1 [ ms]. P90:   17.9 [ ms]. P99:   29.0 [ ms].";

/// Resets the peak-RSS mark (Linux 4.0+), so each part reports its own peak.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// One line of the 64-rank log: rank `rank`'s step `step`, or one of its stats lines.
fn rank_line(n: u64, rank: u64, step: u64) -> String {
    let pid = 40_000 + rank;
    match n % 8 {
        0 => {
            let message = TASK.split(": ").last().unwrap_or(TASK);
            format!(
                "2026-11-29 05:36:47,444 INFO [pid {pid} rank {rank} #{:08x}] {message}",
                crc32fast::hash(message.as_bytes())
            )
        }
        1 => {
            let message = QUEUE.split("_queue: ").last().unwrap_or(QUEUE);
            format!(
                "2026-11-29 05:36:47,444 INFO [pid {pid} rank {rank} #{:08x}] {message}",
                crc32fast::hash(message.as_bytes())
            )
        }
        _ => autoresearch_metrics::probe_line(&format!(
            "{{\"v\":2,\"event\":\"step\",\"pid\":{pid},\"rank\":{rank},\"step\":{step},\"wait_ms\":{:.4},\"compute_ms\":{:.4},\"step_ms\":{:.4}}}",
            (step % 7) as f64 * 0.3,
            20.0 + rank as f64 * 0.01 + (step % 13) as f64 * 0.1,
            20.0 + rank as f64 * 0.01 + (step % 7) as f64 * 0.3 + (step % 13) as f64 * 0.1
        )),
    }
}

/// Part 2: 64 ranks interleaved in one file.
fn many_ranks(dir: &std::path::Path) {
    const RANKS: u64 = 64;
    let megabytes: u64 = std::env::var("AR_BENCH_RANKS_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let path = dir.join("ranks.log");
    let mut out = BufWriter::new(std::fs::File::create(&path).unwrap());
    let (mut written, mut n, mut torn) = (0u64, 0u64, 0u64);
    let mut steps = [0u64; RANKS as usize];
    let mut rng = autoresearch_metrics::stats::SplitMix::new(7);
    while written < megabytes * 1024 * 1024 {
        n += 1;
        let rank = rng.below(RANKS as usize) as u64;
        steps[rank as usize] += 1;
        let mut line = rank_line(n, rank, steps[rank as usize]);
        if n % 400 == 0 {
            // Another rank's line cut into this one, as an unbuffered forwarder does.
            let other = rank_line(n + 1 + rng.below(7) as u64, (rank + 1) % RANKS, 1);
            let cut = rng.below(line.len().max(1));
            let from = rng.below(other.len().max(1));
            if line.is_char_boundary(cut) && other.is_char_boundary(from) {
                line = format!("{}{}", &line[..cut], &other[from..]);
                torn += 1;
            }
        }
        written += line.len() as u64 + 1;
        writeln!(out, "{line}").unwrap();
    }
    out.flush().unwrap();
    drop(out);
    reset_peak_rss();
    let rss_before = peak_rss_mb();
    let started = Instant::now();
    let file = std::fs::File::open(&path).unwrap();
    let evidence = Evidence::from_reader(std::io::BufReader::with_capacity(1 << 20, file)).unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let summarised = Instant::now();
    let summary = RunSummary::from_evidence(&evidence, Some(16));
    println!(
        "{RANKS} ranks interleaved: parsed {:.0} MB ({} lines, {torn} spliced) in {elapsed:.1} s: {:.0} MB/s; peak RSS {:.0} MB (before parsing {:.0} MB); {} ranks found, {} torn lines dropped, {} steps kept; summary of {} ranks in {:.2} s, job step {:.2} ms ({})",
        written as f64 / 1048576.0,
        evidence.lines,
        written as f64 / 1048576.0 / elapsed,
        peak_rss_mb(),
        rss_before,
        evidence.writers.len() - 1,
        evidence.torn_lines,
        evidence.steps.len(),
        summary.ranks.len(),
        summarised.elapsed().as_secs_f64(),
        summary.step_time.value().map_or(f64::NAN, |s| s.median_ms),
        summary.pace_setter().map_or_else(
            || "one rank".to_owned(),
            |r| format!("{} slowest", r.label())
        ),
    );
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn probe_overhead() -> Option<(f64, f64)> {
    let probe_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("probe");
    let script = r#"
import statistics, sys, time
import autoresearch_probe as probe
def spin(ms):
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass
N = 300
plain, probed = [], []
for _ in range(5):
    for target, make in ((plain, lambda: range(N)), (probed, lambda: probe.track(range(N), batch_size=1))):
        t = time.perf_counter()
        for _ in make():
            spin(10)
        target.append((time.perf_counter() - t) / N * 1e6)
print(statistics.median(plain), statistics.median(probed), file=sys.stderr)
"#;
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .env("PYTHONPATH", probe_dir)
        .stdout(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stderr);
    let mut numbers = text
        .split_whitespace()
        .filter_map(|w| w.parse::<f64>().ok());
    Some((numbers.next()?, numbers.next()?))
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let megabytes: u64 = std::env::var("AR_BENCH_LOG_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.log");
    let started = Instant::now();
    let mut out = BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut written = 0u64;
    let mut step = 0u64;
    let mut n = 0u64;
    while written < megabytes * 1024 * 1024 {
        n += 1;
        let line = match n % 10 {
            0..=2 => {
                step += 1;
                format!(
                    "[autoresearch] {{\"v\":1,\"event\":\"step\",\"step\":{step},\"wait_ms\":{:.4},\"compute_ms\":{:.4},\"step_ms\":{:.4}}}",
                    (step % 7) as f64 * 0.3,
                    20.0 + (step % 13) as f64 * 0.1,
                    20.0 + (step % 7) as f64 * 0.3 + (step % 13) as f64 * 0.1
                )
            }
            3 => QUEUE.to_owned(),
            4 => TASK.to_owned(),
            k => NOISE[(k % 4) as usize].to_owned(),
        };
        written += line.len() as u64 + 1;
        writeln!(out, "{line}").unwrap();
    }
    out.flush().unwrap();
    drop(out);
    println!(
        "generated {:.0} MB ({n} lines) in {:.1} s",
        written as f64 / 1048576.0,
        started.elapsed().as_secs_f64()
    );
    let rss_before = peak_rss_mb();
    let started = Instant::now();
    let file = std::fs::File::open(&path).unwrap();
    let evidence = Evidence::from_reader(std::io::BufReader::with_capacity(1 << 20, file)).unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let summary = RunSummary::from_evidence(&evidence, Some(16));
    println!(
        "parsed {} lines ({} steps kept) in {elapsed:.1} s: {:.0} MB/s; peak RSS {:.0} MB (before parsing {:.0} MB); summary median {:.2} ms",
        evidence.lines,
        evidence.steps.len(),
        written as f64 / 1048576.0 / elapsed,
        peak_rss_mb(),
        rss_before,
        summary.step_time.value().map_or(f64::NAN, |s| s.median_ms),
    );
    many_ranks(dir.path());
    match probe_overhead() {
        Some((plain, probed)) => println!(
            "probe on a 10 ms step: {plain:.1} µs plain, {probed:.1} µs with the probe: {:.1} µs ({:.2}%) per step",
            probed - plain,
            100.0 * (probed - plain) / plain
        ),
        None => println!("probe overhead: python3 unavailable"),
    }
}
