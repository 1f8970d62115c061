//! Developer tasks, run as `cargo xtask <task>`.
//!
//! - `ci` — the project's test command: sets up what the suite needs, then runs formatting,
//!   lint, every test and the doc tests. `.ci/run` calls exactly this.
//! - `bench runner|vcs|jobs|metrics|llm|tree|bookkeeping` — benchmarks that print figures
//!   (never pass/fail); `bench search` and `bench pipelines` — the built-in planner's
//!   search benchmarks, on the simulator and on the corpus of real jobs; `bench noise` —
//!   false keeps, missed wins and repeats under the noise between runs.
//! - `report <workdir>` — the final report; `chaos --kills N` — a longer crash campaign.
//!
//! Deliberately light: std and anyhow only, because it compiles before any task runs.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod ci;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  ci              set up the test environment and run the whole suite (the README's test command)
  setup           only install and start what the tests need (.venv with the pinned Python
                  packages, the Claude Code CLI from npm, a single-node Slurm cluster)
  slurm up        start the single-node Slurm cluster the jobs tests use (needs root)
  bench runner    print the scheduler benchmark's figures
  bench vcs       print the checkout benchmark's figures (gix against the git CLI)
  bench jobs      print the local jobs benchmark's figures (200 trivial jobs, 8 at a time)
  bench metrics   print the parser's MB/s and peak RSS on a 1 GB log, and the probe's overhead
  bench llm       print the agent-call overhead per backend and the Claude Code CLI's start-up cost
  bench tree      print the time and memory of the tree pictures and of saving one change
  bench bookkeeping
                  print one experiment completion's bookkeeping and a resume at 1,000 experiments
  bench search [ARGS]
                  the search-efficiency benchmark: the built-in planner through the engine
                  against Optuna TPE, random search and grid order on the simulator
                  (ARGS go to fixtures/sim/bench_search.py, e.g. --seeds 3)
  bench pipelines [ARGS]
                  the corpus benchmark: the built-in planner through the engine on every job of
                  fixtures/pipelines against its answer key, at concurrency 1 and 3 (ARGS go to
                  fixtures/pipelines/bench_pipelines.py, e.g. --jobs text_bpe --concurrency 1)
  bench noise [ARGS]
                  the noise benchmark: A/A campaigns and campaigns with true effects of 2%, 5%
                  and 10% on the simulator, and A/A campaigns on the corpus job noise_only;
                  prints false keeps, missed wins and repeats (ARGS go to
                  fixtures/sim/bench_noise.py, e.g. --campaigns 5 --jobs aa)
  report <workdir>
                  write <workdir>/report.md (as `autoresearch report`)
  chaos [--kills N]
                  the crash campaign: kill -9 the engine N times (default 100), resume, check";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["ci"] => ci::run(),
        ["setup"] => ci::setup(),
        ["slurm", "up"] => ci::slurm_up(),
        ["bench", "search", rest @ ..] => bench_search(rest),
        ["bench", "pipelines", rest @ ..] => bench_pipelines(rest),
        ["bench", "noise", rest @ ..] => bench_noise(rest),
        ["bench", name] => bench(name),
        ["report", workdir] => cargo(&[
            "run",
            "--quiet",
            "-p",
            "autoresearch-cli",
            "--",
            "report",
            workdir,
        ]),
        ["chaos"] => chaos("100"),
        ["chaos", "--kills", n] => chaos(n),
        ["help" | "--help" | "-h"] | [] => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown task `{}`\n\n{USAGE}", other.join(" ")),
    }
}

/// The benchmarks: name, package, bench target, features.
const BENCHES: [(&str, &str, &str, &str); 7] = [
    ("runner", "autoresearch-runner-core", "runner", ""),
    ("vcs", "autoresearch-vcs", "checkout", ""),
    ("jobs", "autoresearch-jobs", "local_jobs", ""),
    ("metrics", "autoresearch-metrics", "parse", ""),
    ("llm", "autoresearch-llm-client", "calls", "test-support"),
    ("tree", "autoresearch-hypothesis-tree", "render", ""),
    ("bookkeeping", "autoresearch-workflow", "bookkeeping", ""),
];

fn bench(name: &str) -> Result<()> {
    let Some((_, package, target, features)) = BENCHES.iter().find(|(n, ..)| *n == name) else {
        let known: Vec<&str> = BENCHES.iter().map(|(n, ..)| *n).collect();
        bail!(
            "unknown benchmark `{name}`; available: {}\n\n{USAGE}",
            known.join(", ")
        );
    };
    if name == "jobs" {
        // The benchmark runs the job supervisor, a test program of the jobs crate.
        cargo(&[
            "build",
            "--release",
            "-p",
            package,
            "--features",
            "test-fakes",
            "--bin",
            "job-supervisor",
        ])?;
    }
    let mut args = vec!["bench", "-p", package, "--bench", target];
    if !features.is_empty() {
        args.extend(["--features", features]);
    }
    cargo(&args)
}

/// The search-efficiency benchmark: builds the release binary, installs the pinned
/// Optuna into `.venv`, and runs `fixtures/sim/bench_search.py`.
fn bench_search(rest: &[&str]) -> Result<()> {
    cargo(&["build", "--release", "-p", "autoresearch-cli"])?;
    let root = workspace_root();
    let python = root.join(".venv/bin/python");
    if !python.exists() {
        ci::setup()?;
    }
    ci::pip_install(&root.join("fixtures/sim/requirements-bench.txt"))?;
    run_command(
        Command::new(&python)
            .arg(root.join("fixtures/sim/bench_search.py"))
            .arg("--autoresearch")
            .arg(root.join("target/release/autoresearch"))
            .args(["--python", "python3", "--out"])
            .arg(root.join("target/bench-search.md"))
            .args(rest)
            .current_dir(&root),
    )
}

/// The corpus benchmark: `fixtures/pipelines/bench_pipelines.py` on every corpus job;
/// the table goes to `target/bench-pipelines.md`.
fn bench_pipelines(rest: &[&str]) -> Result<()> {
    python_bench(
        "fixtures/pipelines/bench_pipelines.py",
        "target/bench-pipelines.md",
        rest,
    )
}

/// The noise benchmark: `fixtures/sim/bench_noise.py`, A/A campaigns and campaigns with
/// known true effects; the table goes to `target/bench-noise.md`.
fn bench_noise(rest: &[&str]) -> Result<()> {
    python_bench("fixtures/sim/bench_noise.py", "target/bench-noise.md", rest)
}

/// Builds the release binary and runs the benchmark `script` with the pinned `.venv`
/// (it has SPDL), writing its Markdown table to `out`.
fn python_bench(script: &str, out: &str, rest: &[&str]) -> Result<()> {
    cargo(&["build", "--release", "-p", "autoresearch-cli"])?;
    let root = workspace_root();
    let python = root.join(".venv/bin/python");
    if !python.exists() {
        ci::setup()?;
    }
    run_command(
        Command::new(&python)
            .arg(root.join(script))
            .arg("--autoresearch")
            .arg(root.join("target/release/autoresearch"))
            .arg("--python")
            .arg(&python)
            .arg("--out")
            .arg(root.join(out))
            .args(rest)
            .current_dir(&root),
    )
}

/// The crash campaign of the CLI's test suite, with `kills` kills.
fn chaos(kills: &str) -> Result<()> {
    let n: u32 = kills
        .parse()
        .with_context(|| format!("--kills {kills}: expected a number"))?;
    let cargo_bin = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    run_command(
        Command::new(cargo_bin)
            .args([
                "test",
                "-p",
                "autoresearch-cli",
                "--test",
                "it",
                "crash::",
                "--",
                "--nocapture",
            ])
            .env("AUTORESEARCH_CHAOS_KILLS", n.to_string()),
    )
}

/// The workspace root (xtask lives one level below it).
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs `cargo <args>` in the workspace root, failing if it fails.
pub(crate) fn cargo(args: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    run_command(Command::new(cargo).args(args))
}

pub(crate) fn run_command(command: &mut Command) -> Result<()> {
    command.current_dir(workspace_root());
    eprintln!("$ {}", describe(command));
    let status = command
        .status()
        .with_context(|| format!("cannot start {}", describe(command)))?;
    if !status.success() {
        bail!("{} failed ({status})", describe(command));
    }
    Ok(())
}

fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
