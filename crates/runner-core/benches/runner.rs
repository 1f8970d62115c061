//! Scheduler benchmark: prints figures, asserts nothing. Run with
//! `cargo xtask bench runner` (or `cargo bench -p autoresearch-runner-core`).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use autoresearch_runner_core::{
    BoxError, CompactionPolicy, Engine, EngineConfig, RunReport, ShutdownListener, Start,
    WorkContext, WorkOutcome, WorkSpec, Workflow,
};

struct Synthetic {
    specs: usize,
    work: Option<Duration>,
    starts: Mutex<Vec<Instant>>,
    ends: Mutex<Vec<Instant>>,
}

impl Workflow for Synthetic {
    async fn initial_specs(&self, _start: &Start) -> Result<Vec<WorkSpec>, BoxError> {
        Ok((0..self.specs)
            .map(|i| WorkSpec::new(format!("spec-{i:06}"), (i % 10) as f64))
            .collect())
    }

    async fn run(self: Arc<Self>, _ctx: WorkContext) -> WorkOutcome {
        self.starts.lock().unwrap().push(Instant::now());
        if let Some(work) = self.work {
            tokio::time::sleep(work).await;
        }
        self.ends.lock().unwrap().push(Instant::now());
        WorkOutcome::completed()
    }
}

struct Figures {
    report: RunReport,
    wall: Duration,
    latencies: Vec<Duration>,
}

fn measure(
    specs: usize,
    concurrency: usize,
    work: Option<Duration>,
    policy: CompactionPolicy,
) -> Figures {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let workflow = Arc::new(Synthetic {
        specs,
        work,
        starts: Mutex::new(Vec::with_capacity(specs)),
        ends: Mutex::new(Vec::with_capacity(specs)),
    });
    let config = EngineConfig::new(dir.path().join("engine"))
        .with_max_concurrency(concurrency)
        .with_compaction(policy);
    let began = Instant::now();
    let report = runtime
        .block_on(
            Engine::new(Arc::clone(&workflow), config)
                .unwrap()
                .run(ShutdownListener::never()),
        )
        .unwrap();
    let wall = began.elapsed();
    assert_eq!(report.counts.completed, specs);
    // With the queue never empty, the k-th completion frees the slot that the
    // (k + concurrency)-th start takes: the gap is the scheduling latency.
    let mut starts = workflow.starts.lock().unwrap().clone();
    let mut ends = workflow.ends.lock().unwrap().clone();
    starts.sort();
    ends.sort();
    let latencies = ends
        .iter()
        .zip(starts.iter().skip(concurrency))
        .map(|(end, start)| start.saturating_duration_since(*end))
        .collect();
    Figures {
        report,
        wall,
        latencies,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

fn print_row(name: &str, specs: usize, figures: &mut Figures) {
    figures.latencies.sort();
    let io = figures.report.checkpoint;
    println!(
        "{name:<34} {specs:>7} {:>10.0} {:>12.1} {:>10.3} {:>9} {:>10.1} {:>10.1}",
        specs as f64 / figures.wall.as_secs_f64(),
        io.total_bytes() as f64 / 1e6,
        io.total_writes() as f64 / specs as f64,
        io.snapshot_writes,
        percentile(&figures.latencies, 0.5).as_secs_f64() * 1e6,
        percentile(&figures.latencies, 0.99).as_secs_f64() * 1e6,
    );
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    println!(
        "{:<34} {:>7} {:>10} {:>12} {:>10} {:>9} {:>10} {:>10}",
        "scenario", "specs", "specs/s", "ckpt MB", "writes/sp", "snapshots", "p50 µs", "p99 µs"
    );
    let journal = CompactionPolicy::default();
    let mut noop = measure(100_000, 8, None, journal);
    print_row("no-op, concurrency 8", 100_000, &mut noop);
    let mut sleepy = measure(10_000, 8, Some(Duration::from_millis(1)), journal);
    print_row("1 ms sleep, concurrency 8", 10_000, &mut sleepy);

    // Side by side: the journal against rewriting the snapshot on every change.
    let every_change = CompactionPolicy {
        min_journal_bytes: 0,
        journal_ratio: 0,
        fresh_snapshot_bytes: 0,
    };
    for specs in [2_500, 5_000] {
        let mut journaled = measure(specs, 8, None, journal);
        print_row("no-op, journal + compaction", specs, &mut journaled);
        let mut rewritten = measure(specs, 8, None, every_change);
        print_row("no-op, snapshot on every change", specs, &mut rewritten);
        println!(
            "  -> at {specs} specs the per-change snapshot writes {:.0}x the bytes and runs {:.1}x slower",
            rewritten.report.checkpoint.total_bytes() as f64
                / journaled.report.checkpoint.total_bytes() as f64,
            rewritten.wall.as_secs_f64() / journaled.wall.as_secs_f64()
        );
    }
}
