//! `autoresearch run`: flags into a [`RunRequest`], then the workflow; progress lines on
//! stderr and the full log in `<workdir>/logs/autoresearch.log`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use autoresearch_workflow::{
    AgentChoice, AgentEnv, PlatformChoice, RunOptions, RunOutcome, RunRequest, RunStatus, Workdir,
    policy::describe_stop,
};
use autoresearch_workflow::{forward_signals, shutdown_channel};
use clap::{Args, ValueEnum};

use crate::{EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_SUCCESS, EXIT_USAGE, eprint_error};

/// Where jobs run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlatformArg {
    /// This machine.
    Local,
    /// A Slurm cluster (sbatch, squeue, sacct, scancel on PATH).
    Slurm,
    /// Any scheduler, through --launch-template, --status-template and --cancel-template.
    Command,
}

/// Which agent plans and edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AgentArg {
    /// Claude Code if installed, else the Anthropic API if ANTHROPIC_API_KEY is set, else none.
    Auto,
    /// The Claude Code CLI.
    ClaudeCode,
    /// The Anthropic Messages API (ANTHROPIC_API_KEY).
    Anthropic,
    /// The Codex CLI.
    Codex,
    /// An OpenAI-compatible server (OPENAI_BASE_URL).
    Openai,
    /// No agent.
    None,
}

/// The flags of `autoresearch run`. On a resume, only the flags given are compared with
/// the stored configuration.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The work directory (created on the first run; give it alone to resume).
    pub workdir: PathBuf,
    /// The training script to optimise.
    #[arg(long)]
    pub pipeline_script: Option<PathBuf>,
    /// The folder with the code (inside a git or Sapling repository).
    #[arg(long)]
    pub source_dir: Option<PathBuf>,
    /// Builds the job image; its last stdout line becomes $IMAGE.
    #[arg(long)]
    pub build_command: Option<String>,
    /// Launches one job; $IMAGE, $SOURCE_DIR, $SCRIPT, $RUN_ID and $WORKDIR are substituted, quoted.
    #[arg(long)]
    pub base_launch_command: Option<String>,
    /// What the agent should know about the job.
    #[arg(long)]
    pub notes: Option<String>,
    /// Most planning rounds [default: 10, or --max-experiments when that is larger].
    #[arg(long)]
    pub max_iterations: Option<u32>,
    /// Planning rounds without a new best before stopping [default: 3].
    #[arg(long)]
    pub patience: Option<u32>,
    /// Experiments in flight at once [default: 3].
    #[arg(long)]
    pub max_concurrency: Option<u32>,
    /// Seconds without a new probe line before a job counts as stalled [default: 1800].
    #[arg(long, value_name = "SECONDS")]
    pub job_timeout: Option<u64>,
    /// Seconds between job polls [default: 30].
    #[arg(long, value_name = "SECONDS")]
    pub poll_interval: Option<u64>,
    /// Where jobs run [default: local].
    #[arg(long, value_enum)]
    pub platform: Option<PlatformArg>,
    /// --platform command: launches a job and prints its id.
    #[arg(long)]
    pub launch_template: Option<String>,
    /// --platform command: prints a job's state ($JOB_ID).
    #[arg(long)]
    pub status_template: Option<String>,
    /// --platform command: cancels a job ($JOB_ID).
    #[arg(long)]
    pub cancel_template: Option<String>,
    /// --platform command: prints a job's log (optional).
    #[arg(long)]
    pub logs_template: Option<String>,
    /// Which agent plans and edits [default: auto].
    #[arg(long, value_enum)]
    pub agent: Option<AgentArg>,
    /// The script already calls the probe: do not instrument it.
    #[arg(long)]
    pub skip_instrument: bool,
    /// Most experiments launched.
    #[arg(long)]
    pub max_experiments: Option<u32>,
    /// Most wall-clock hours.
    #[arg(long)]
    pub max_hours: Option<f64>,
    /// Most agent spend, USD.
    #[arg(long)]
    pub max_llm_usd: Option<f64>,
    /// A new best must be this much faster (percent), beyond the noise [default: 2].
    #[arg(long)]
    pub min_improvement_pct: Option<f64>,
    /// Repeat every new best before keeping it (without it, only a win a lucky run
    /// could explain, within 3×σ_between, is repeated).
    #[arg(long)]
    pub confirm_best: bool,
    /// Runs of the baseline; their spread measures the noise between runs (1: no
    /// repeat, a prior is used until some configuration runs twice) [default: 2].
    #[arg(long, value_name = "N")]
    pub baseline_repeats: Option<u32>,
    /// An extra `sbatch` argument for every job on --platform slurm, such as
    /// `--sbatch-arg=--ntasks=8` (repeatable); launch the ranks with `srun` in the
    /// base launch command.
    #[arg(long = "sbatch-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub sbatch_args: Vec<String>,
    /// Stop when the best is within this percent of the compute-only floor [default: 5].
    #[arg(long)]
    pub floor_stop_pct: Option<f64>,
    /// Add or bound a knob the built-in planner may vary: `name=int:LO..HI` (repeatable).
    #[arg(long = "knob", value_name = "NAME=int:LO..HI")]
    pub knobs: Vec<String>,
    /// Never vary this launch flag (repeatable).
    #[arg(long = "freeze", value_name = "FLAG")]
    pub frozen: Vec<String>,
    /// On a resume, apply changed settings that may change (notes, budgets, patience,
    /// max-iterations, job-timeout, poll-interval, max-concurrency, floor-stop-pct).
    #[arg(long)]
    pub update_config: bool,
}

impl RunArgs {
    /// The request these flags make.
    pub fn request(&self) -> Result<RunRequest, String> {
        let platform = match self.platform {
            None if self.launch_template.is_some() => {
                return Err("--launch-template needs --platform command".to_owned());
            }
            None => None,
            Some(PlatformArg::Local) => Some(PlatformChoice::Local),
            Some(PlatformArg::Slurm) => Some(PlatformChoice::Slurm),
            Some(PlatformArg::Command) => {
                let need = |value: &Option<String>, flag: &str| {
                    value
                        .clone()
                        .ok_or_else(|| format!("--platform command needs {flag}"))
                };
                Some(PlatformChoice::Command {
                    launch: need(&self.launch_template, "--launch-template")?,
                    status: need(&self.status_template, "--status-template")?,
                    cancel: need(&self.cancel_template, "--cancel-template")?,
                    logs: self.logs_template.clone(),
                })
            }
        };
        Ok(RunRequest {
            pipeline_script: self.pipeline_script.clone(),
            source_dir: self.source_dir.clone(),
            build_command: self.build_command.clone(),
            base_launch_command: self.base_launch_command.clone(),
            notes: self.notes.clone(),
            max_iterations: self.max_iterations,
            patience: self.patience,
            max_concurrency: self.max_concurrency,
            job_timeout_s: self.job_timeout,
            poll_interval_s: self.poll_interval,
            platform,
            agent: self.agent.map(agent_choice),
            skip_instrument: self.skip_instrument.then_some(true),
            max_experiments: self.max_experiments,
            max_hours: self.max_hours,
            max_llm_usd: self.max_llm_usd,
            min_improvement_pct: self.min_improvement_pct,
            confirm_best: self.confirm_best.then_some(true),
            baseline_repeats: self.baseline_repeats,
            sbatch_args: (!self.sbatch_args.is_empty()).then(|| self.sbatch_args.clone()),
            floor_stop_pct: self.floor_stop_pct,
            knobs: (!self.knobs.is_empty()).then(|| self.knobs.clone()),
            frozen: (!self.frozen.is_empty()).then(|| self.frozen.clone()),
            update_config: self.update_config,
        })
    }
}

/// The workflow's agent choice for a flag value.
pub(crate) fn agent_choice(arg: AgentArg) -> AgentChoice {
    match arg {
        AgentArg::Auto => AgentChoice::Auto,
        AgentArg::ClaudeCode => AgentChoice::ClaudeCode,
        AgentArg::Anthropic => AgentChoice::Anthropic,
        AgentArg::Codex => AgentChoice::Codex,
        AgentArg::Openai => AgentChoice::Openai,
        AgentArg::None => AgentChoice::None,
    }
}

/// A spinner with the latest event and the elapsed time, when stderr is a terminal.
pub(crate) fn terminal_spinner() -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
    {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(bar)
}

/// Progress lines: above the spinner on a terminal, plain lines otherwise (logs, CI).
pub(crate) fn progress_sink(
    spinner: Option<indicatif::ProgressBar>,
) -> autoresearch_workflow::ProgressSink {
    match spinner {
        Some(bar) => Arc::new(move |line: &str| {
            bar.println(line);
            bar.set_message(line.to_owned());
        }),
        None => Arc::new(|line: &str| {
            let _ = writeln!(std::io::stderr(), "{line}");
        }),
    }
}

/// Sends tracing output to `<workdir>/logs/autoresearch.log` (appending).
fn log_to_file(workdir: &std::path::Path) {
    let dir = workdir.join("logs");
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("autoresearch.log"))
    else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("AUTORESEARCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
}

/// Runs `autoresearch run`.
pub(crate) fn run(args: &RunArgs) -> ExitCode {
    let request = match args.request() {
        Ok(request) => request,
        Err(problem) => {
            eprint_error(&format!("{problem}\nhint: see `autoresearch run --help`"));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if args.workdir.join("config.json").exists() || request.pipeline_script.is_some() {
        log_to_file(&args.workdir);
    }
    let python = std::env::var_os("AUTORESEARCH_PYTHON")
        .map_or_else(|| PathBuf::from("python3"), PathBuf::from);
    let outcome = run_engine(&args.workdir, &request, python, false);
    match outcome {
        Ok(outcome) => {
            let mut err = std::io::stderr();
            for d in &outcome.updated {
                let _ = writeln!(err, "updated {}: {} → {}", d.field, d.stored, d.requested);
            }
            if let Some(speedup) = &outcome.speedup {
                let _ = writeln!(err, "best: {}: {}", speedup.best, speedup.describe());
            }
            if let Some(floor) = outcome.floor_ms {
                let _ = writeln!(err, "compute-only floor: {floor:.2} ms per step");
            }
            let _ = writeln!(err, "see {}", args.workdir.join("summary.md").display());
            match outcome.status {
                RunStatus::Interrupted => {
                    let _ = writeln!(
                        err,
                        "interrupted: running jobs keep running; resume with `autoresearch run {}`",
                        args.workdir.display()
                    );
                    ExitCode::from(EXIT_INTERRUPTED)
                }
                _ => {
                    if let Some(stop) = &outcome.stop {
                        let _ = writeln!(err, "stopped: {}", describe_stop(stop));
                    }
                    ExitCode::from(EXIT_SUCCESS)
                }
            }
        }
        Err(code) => code,
    }
}

/// Runs the engine on `workdir` the way every command does: job supervision through
/// this program, a spinner on a terminal, Ctrl+C and SIGTERM forwarded to the engine,
/// and, with `report`, the report written after a run that ended normally. An error is
/// printed here and comes back as its exit code.
pub(crate) fn run_engine(
    workdir: &Path,
    request: &RunRequest,
    python: PathBuf,
    report: bool,
) -> Result<RunOutcome, ExitCode> {
    let supervisor = match std::env::current_exe() {
        Ok(exe) => vec![exe.into_os_string(), "__supervise-job".into()],
        Err(err) => {
            eprint_error(&format!(
                "cannot find the autoresearch program itself: {err}"
            ));
            return Err(ExitCode::from(EXIT_FAILURE));
        }
    };
    let spinner = terminal_spinner();
    let options = RunOptions {
        supervisor,
        agent_env: AgentEnv::from_process(),
        python,
        progress: progress_sink(spinner.clone()),
        grace_period: Duration::from_secs(30),
        poll_interval: poll_interval_override(),
    };
    let runtime = crate::runtime(true)?;
    let outcome = runtime.block_on(async {
        let (handle, listener) = shutdown_channel();
        if let Err(err) = forward_signals(handle) {
            tracing::warn!(%err, "cannot listen for signals");
        }
        let outcome = autoresearch_workflow::run(workdir, request, options, listener).await;
        if report && outcome.is_ok() {
            let _ = autoresearch_workflow::report::write_report(&Workdir::new(workdir), None).await;
        }
        outcome
    });
    if let Some(bar) = &spinner {
        bar.finish_and_clear();
    }
    outcome.map_err(|err| {
        eprint_error(&err.to_string());
        ExitCode::from(if err.is_bad_input() {
            EXIT_USAGE
        } else {
            EXIT_FAILURE
        })
    })
}

/// `AUTORESEARCH_POLL_MS`: how often jobs are polled, for simulated jobs (the tests and
/// benchmarks), whose runs take milliseconds. Real runs set `--poll-interval`.
fn poll_interval_override() -> Option<Duration> {
    std::env::var("AUTORESEARCH_POLL_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis)
}
