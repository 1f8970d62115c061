//! A program that embeds the engine for the integration tests to interrupt and kill.
//!
//! It runs a deterministic tree of short sleeps: `--roots` root specs, each proposing
//! 0–3 children (chosen by a hash of the seed and the id) down to `--max-depth`. Every
//! completion is appended to `<dir>/sink.log` (an idempotent sink: readers take the set
//! of lines), and every start, finish and interruption to `<dir>/events.log`.
//!
//! Usage: `runner-fixture <dir> [--roots N] [--seed S] [--concurrency C] [--grace-ms G]
//! [--min-ms A] [--max-ms B] [--max-depth D] [--ignore-cancel] [--compact-bytes N]
//! [--print-tree]`
//!
//! Exit status: 0 when the queue drained, 3 when interrupted, 2 on bad arguments,
//! 1 on an engine error.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use autoresearch_runner_core::{
    BoxError, CheckpointStatus, CompactionPolicy, Engine, EngineConfig, Start, WorkContext,
    WorkOutcome, WorkSpec, Workflow, forward_signals, shutdown_channel,
};

#[derive(Debug, Clone)]
struct Options {
    dir: PathBuf,
    roots: u64,
    seed: u64,
    concurrency: usize,
    grace_ms: u64,
    min_ms: u64,
    max_ms: u64,
    max_depth: usize,
    ignore_cancel: bool,
    compact_bytes: Option<u64>,
    print_tree: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("missing <dir>")?;
    let mut options = Options {
        dir: PathBuf::from(dir),
        roots: 40,
        seed: 7,
        concurrency: 4,
        grace_ms: 30_000,
        min_ms: 1,
        max_ms: 10,
        max_depth: 2,
        ignore_cancel: false,
        compact_bytes: None,
        print_tree: false,
    };
    while let Some(flag) = args.next() {
        let mut value = || -> Result<u64, String> {
            let raw = args.next().ok_or(format!("{flag} needs a value"))?;
            raw.parse()
                .map_err(|_| format!("{flag}: `{raw}` is not a number"))
        };
        match flag.as_str() {
            "--roots" => options.roots = value()?,
            "--seed" => options.seed = value()?,
            "--concurrency" => options.concurrency = value()? as usize,
            "--grace-ms" => options.grace_ms = value()?,
            "--min-ms" => options.min_ms = value()?,
            "--max-ms" => options.max_ms = value()?,
            "--max-depth" => options.max_depth = value()? as usize,
            "--compact-bytes" => options.compact_bytes = Some(value()?),
            "--ignore-cancel" => options.ignore_cancel = true,
            "--print-tree" => options.print_tree = true,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if options.min_ms > options.max_ms {
        return Err("--min-ms is larger than --max-ms".to_owned());
    }
    Ok(options)
}

/// FNV-1a over the parts, finished with a splitmix step: stable across runs and builds.
fn hash(seed: u64, id: &str, salt: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for byte in id.bytes().chain([0]).chain(salt.bytes()) {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

fn priority(seed: u64, id: &str) -> f64 {
    (hash(seed, id, "priority") % 7) as f64 - 3.0
}

fn children(options: &Options, id: &str) -> Vec<WorkSpec> {
    let depth = id.matches('.').count();
    if depth >= options.max_depth {
        return Vec::new();
    }
    let count = hash(options.seed, id, "children") % 4;
    (0..count)
        .map(|k| {
            let child = format!("{id}.{k}");
            WorkSpec::new(child.clone(), priority(options.seed, &child))
        })
        .collect()
}

fn roots(options: &Options) -> Vec<WorkSpec> {
    (0..options.roots)
        .map(|i| {
            let id = format!("r{i:03}");
            WorkSpec::new(id.clone(), priority(options.seed, &id))
        })
        .collect()
}

fn append_line(path: &Path, line: &str) {
    let written = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(format!("{line}\n").as_bytes()));
    if let Err(err) = written {
        eprintln!("runner-fixture: cannot append to {}: {err}", path.display());
    }
}

struct SleepTree {
    options: Options,
}

impl Workflow for SleepTree {
    async fn initial_specs(&self, start: &Start) -> Result<Vec<WorkSpec>, BoxError> {
        Ok(match start {
            Start::Fresh => roots(&self.options),
            Start::Resumed(_) => Vec::new(),
        })
    }

    async fn run(self: Arc<Self>, ctx: WorkContext) -> WorkOutcome {
        let o = &self.options;
        let id = &ctx.spec.id;
        let events = o.dir.join("events.log");
        append_line(
            &events,
            &format!("start {id} {} {}", ctx.attempt, ctx.resumed),
        );
        let span = o.max_ms - o.min_ms + 1;
        let sleep = Duration::from_millis(o.min_ms + hash(o.seed, id, "sleep") % span);
        if o.ignore_cancel {
            tokio::time::sleep(sleep).await;
        } else {
            tokio::select! {
                () = tokio::time::sleep(sleep) => {}
                () = ctx.cancel.cancelled() => {
                    append_line(&events, &format!("interrupted {id}"));
                    return WorkOutcome::Interrupted;
                }
            }
        }
        append_line(&o.dir.join("sink.log"), id);
        append_line(&events, &format!("finish {id}"));
        WorkOutcome::completed_with(children(o, id))
    }
}

fn print_tree(options: &Options) {
    let mut stack = roots(options);
    while let Some(spec) = stack.pop() {
        println!("{}", spec.id);
        stack.extend(children(options, &spec.id));
    }
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(err) => {
            eprintln!("runner-fixture: {err}");
            return ExitCode::from(2);
        }
    };
    if options.print_tree {
        print_tree(&options);
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("runner-fixture: cannot start a runtime: {err}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async {
        let (handle, listener) = shutdown_channel();
        if let Err(err) = forward_signals(handle) {
            eprintln!("runner-fixture: cannot listen for signals: {err}");
            return ExitCode::from(1);
        }
        let mut config = EngineConfig::new(options.dir.join("engine"))
            .with_max_concurrency(options.concurrency)
            .with_grace_period(Duration::from_millis(options.grace_ms))
            .with_sync_interval(Duration::from_millis(50));
        if let Some(bytes) = options.compact_bytes {
            config = config.with_compaction(CompactionPolicy {
                min_journal_bytes: bytes,
                journal_ratio: 1,
                fresh_snapshot_bytes: bytes,
            });
        }
        let workflow = Arc::new(SleepTree { options });
        let result = match Engine::new(workflow, config) {
            Ok(engine) => engine.run(listener).await,
            Err(err) => Err(err),
        };
        match result {
            Ok(report) => {
                println!("{}", serde_json::to_string(&report).unwrap_or_default());
                match report.status {
                    CheckpointStatus::Interrupted => ExitCode::from(3),
                    _ => ExitCode::SUCCESS,
                }
            }
            Err(err) => {
                eprintln!("runner-fixture: {err}");
                ExitCode::from(1)
            }
        }
    })
}
