//! `autoresearch run`: lock the work directory, settle the configuration, set up the
//! source, and run the experiments on the scheduler until a stop rule, a drained queue
//! or a signal ends the run.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use autoresearch_jobs::{
    CommandPlatform, CommandTemplates, LocalPlatform, Platform, SlurmPlatform, Vars,
};
use autoresearch_runner_core::{CheckpointStatus, Engine, EngineConfig, ShutdownListener};
use autoresearch_vcs::VcsHandle;

use crate::agent::{AgentEnv, backend_for, client};
use crate::books::{Books, SetupDone};
use crate::config::{ConfigDifference, PlatformChoice, RunConfig, RunRequest};
use crate::context::{Context, ProgressSink, SourceLayout};
use crate::error::WorkflowError;
use crate::lifecycle::ExperimentWorkflow;
use crate::lock::WorkdirLock;
use crate::policy::{Practice, StopReason};
use crate::state::RunStatus;
use crate::workdir::Workdir;

/// How to run, beyond the configuration: things only the caller knows.
#[derive(Clone)]
pub struct RunOptions {
    /// The program (and leading arguments) that supervises a local job; the
    /// `autoresearch` binary serves as `[<exe>, "__supervise-job"]`.
    pub supervisor: Vec<OsString>,
    /// The environment agent selection reads.
    pub agent_env: AgentEnv,
    /// The Python that checks edited scripts (`python3` by default).
    pub python: PathBuf,
    /// Receives progress lines.
    pub progress: ProgressSink,
    /// How long running work may take to wind down after Ctrl+C.
    pub grace_period: Duration,
    /// How often jobs are polled, overriding the configuration's `poll_interval_s`:
    /// simulated jobs in tests and benchmarks finish in milliseconds. `None` in real runs.
    pub poll_interval: Option<Duration>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// `stopped` or `interrupted`.
    pub status: RunStatus,
    /// Why it stopped, when a rule fired.
    pub stop: Option<StopReason>,
    /// The settings a resume changed (`--update-config`).
    pub updated: Vec<ConfigDifference>,
    /// The best node and its steady step, ms.
    pub best: Option<(String, f64)>,
    /// The baseline's steady step, ms.
    pub baseline_ms: Option<f64>,
    /// The best against the baseline (per sample when both runs know their batch).
    pub speedup: Option<crate::speedup::Speedup>,
    /// The compute-only floor, ms.
    pub floor_ms: Option<f64>,
    /// The scheduler's one-line summary.
    pub summary: String,
}

/// Settles the configuration of `workdir`: a new run's from `request`, or the stored one
/// compared with the request's flags.
pub fn settle_config(
    workdir: &Path,
    request: &RunRequest,
) -> Result<(RunConfig, Vec<ConfigDifference>, bool), WorkflowError> {
    match RunConfig::load(workdir)? {
        Some(stored) => {
            let (config, updated) = RunConfig::resume(&stored, request)?;
            Ok((config, updated, false))
        }
        None => Ok((RunConfig::from_request(workdir, request)?, Vec::new(), true)),
    }
}

fn platform(
    config: &RunConfig,
    workdir: &Workdir,
    options: &RunOptions,
) -> Result<Platform, WorkflowError> {
    let root = workdir.jobs();
    let fail = |err: autoresearch_jobs::JobsError| WorkflowError::Platform(err.to_string());
    Ok(match &config.platform {
        PlatformChoice::Local => {
            Platform::Local(LocalPlatform::new(root, options.supervisor.clone()).map_err(fail)?)
        }
        PlatformChoice::Slurm => Platform::Slurm(
            SlurmPlatform::new(root, Duration::from_secs(60), config.sbatch_args.clone())
                .map_err(fail)?,
        ),
        PlatformChoice::Command {
            launch,
            status,
            cancel,
            logs,
        } => Platform::Command(Box::new(
            CommandPlatform::new(
                root,
                CommandTemplates {
                    launch: launch.clone(),
                    status: status.clone(),
                    cancel: cancel.clone(),
                    logs: logs.clone(),
                    find: None,
                    id_patterns: autoresearch_jobs::DEFAULT_ID_PATTERNS
                        .iter()
                        .map(|p| (*p).to_owned())
                        .collect(),
                    state_patterns: autoresearch_jobs::default_state_patterns(),
                },
                Vars::new(),
                Duration::from_secs(120),
            )
            .map_err(fail)?,
        )),
    })
}

/// Where the script is inside its repository.
fn layout(config: &RunConfig, repo_root: &Path) -> Result<SourceLayout, WorkflowError> {
    let root = std::fs::canonicalize(repo_root).unwrap_or_else(|_| repo_root.to_owned());
    let outside = |what: &Path| WorkflowError::Source {
        problem: format!(
            "{} is outside the repository at {}",
            what.display(),
            root.display()
        ),
        hint: "pass a --source-dir inside one repository".to_owned(),
    };
    let script = config
        .pipeline_script
        .strip_prefix(&root)
        .map_err(|_| outside(&config.pipeline_script))?;
    let source = config
        .source_dir
        .strip_prefix(&root)
        .map_err(|_| outside(&config.source_dir))?;
    Ok(SourceLayout {
        repo_root: root.clone(),
        script: script.to_owned(),
        source: source.to_owned(),
    })
}

/// Runs (or resumes) the experiments of `workdir` until they stop or `shutdown` fires.
pub async fn run(
    workdir_path: &Path,
    request: &RunRequest,
    options: RunOptions,
    shutdown: ShutdownListener,
) -> Result<RunOutcome, WorkflowError> {
    let workdir = open_workdir(workdir_path, request)?;
    let _lock = WorkdirLock::acquire(workdir.root())?;
    let (config, updated, fresh) = settle_config(workdir.root(), request)?;
    let ctx = Arc::new(context(&workdir, &config, &updated, fresh, &options)?);
    match &ctx.agent {
        Some(agent) => ctx.say(&format!("agent: {}", agent.backend().name())),
        None => ctx.say("agent: none (the built-in instrumenter and planner; no code changes)"),
    }
    if !ctx.books().state().setup_done {
        set_up(&ctx).await?;
    }
    ctx.books().mark_running()?;
    let workflow = Arc::new(ExperimentWorkflow::new(Arc::clone(&ctx)));
    let engine_config = EngineConfig::new(workdir.engine())
        .with_max_concurrency(config.max_concurrency as usize)
        .with_grace_period(options.grace_period);
    let engine = Engine::new(workflow, engine_config)?;
    let report = engine.run(shutdown).await.map_err(|err| match err {
        autoresearch_runner_core::EngineError::Checkpoint(err) => WorkflowError::Corrupt {
            path: workdir.engine().join("checkpoint.json"),
            detail: err.to_string(),
            hint: "restore engine/checkpoint.json and engine/checkpoint.journal from a backup, or start a new work directory".to_owned(),
        },
        other => WorkflowError::Engine(other),
    })?;
    let interrupted = report.status == CheckpointStatus::Interrupted;
    let mut books = ctx.books();
    books.end_engine(
        interrupted,
        ctx.started.elapsed().as_secs_f64(),
        ctx.llm_spent(),
    )?;
    crate::books::write_pictures(&books);
    Ok(outcome(&books, updated, report.summary))
}

/// The work directory at `path`, made and canonicalised; a folder without a
/// configuration needs the flags of a new run.
fn open_workdir(path: &Path, request: &RunRequest) -> Result<Workdir, WorkflowError> {
    if !RunConfig::path(path).exists() && request.pipeline_script.is_none() {
        return Err(WorkflowError::NotAWorkdir(path.to_owned()));
    }
    std::fs::create_dir_all(path).map_err(WorkflowError::io("create", path))?;
    let path = std::fs::canonicalize(path).map_err(WorkflowError::io("open", path))?;
    let workdir = Workdir::new(&path);
    for dir in [
        workdir.logs(),
        workdir.root().join("runs"),
        workdir.engine(),
    ] {
        std::fs::create_dir_all(&dir).map_err(WorkflowError::io("create", &dir))?;
    }
    Ok(workdir)
}

/// The run's context: repository, agent, platform and books, with the configuration
/// saved and the books brought up to it.
fn context(
    workdir: &Workdir,
    config: &RunConfig,
    updated: &[ConfigDifference],
    fresh: bool,
    options: &RunOptions,
) -> Result<Context, WorkflowError> {
    let (_, vcs) = autoresearch_vcs::open(&config.source_dir).map_err(|err| WorkflowError::Source {
        problem: format!("{} is not in a usable repository: {err}", config.source_dir.display()),
        hint: "run `git init && git add -A && git commit -m init` in the source folder, or pass a --source-dir inside a repository".to_owned(),
    })?;
    let layout = layout(config, vcs.root())?;
    let backend = backend_for(config.agent, &options.agent_env)?;
    config.save(workdir.root())?;
    if fresh || !updated.is_empty() {
        tracing::info!(workdir = %workdir.root().display(), "configuration saved");
    }
    let mut books = Books::open(workdir)?;
    // Every run names its branches in a namespace of its own, so campaigns on one
    // repository never collide; a work directory from before namespaces starts one
    // here (its old branches stay until `autoresearch clean`).
    books.ensure_branch_namespace(|started| {
        crate::branches::Branches::new_namespace(workdir.root(), started)
    })?;
    if !updated.is_empty() {
        // New limits: the stop rules are judged again at the next round.
        books.clear_stop()?;
    }
    let agent = backend.map(|b| {
        client(
            b,
            config.budgets.max_llm_usd,
            books.state().llm_usd,
            &workdir.logs(),
            &options.agent_env,
        )
    });
    let platform = platform(config, workdir, options)?;
    let isolated = vcs.capabilities().isolated_checkouts;
    let ctx = Context::new(
        workdir.clone(),
        config.clone(),
        VcsHandle::new(vcs),
        platform,
        agent,
        options.python.clone(),
        layout,
        books,
        options.progress.clone(),
    )
    .with_poll_interval(options.poll_interval);
    Ok(if isolated { ctx } else { ctx.one_at_a_time() })
}

/// Set-up (anchor, instrumentation, knobs), recorded in the books.
async fn set_up(ctx: &Context) -> Result<(), WorkflowError> {
    let outcome = crate::setup::setup(ctx).await?;
    // Practices the script has no knob for cannot be tried; they do not hold up a
    // plateau stop.
    use crate::knobs::KnobRole;
    let has = |f: &dyn Fn(&KnobRole) -> bool| outcome.knobs.iter().any(|k| f(&k.role));
    let mut untryable = Vec::new();
    if ctx.agent.is_none() {
        if !has(&|r| *r == KnobRole::BatchSize) {
            untryable.push(Practice::BatchSizeTuning);
        }
        if !has(&|r| matches!(r, KnobRole::Concurrency { .. } | KnobRole::Threads)) {
            untryable.push(Practice::ConcurrencyTuning);
        }
    }
    if !outcome.knobs.is_empty() {
        let names: Vec<&str> = outcome.knobs.iter().map(|k| k.flag.as_str()).collect();
        ctx.say(&format!("knobs: {}", names.join(", ")));
    }
    ctx.books().finish_setup(SetupDone {
        anchor: outcome.anchor.as_str().to_owned(),
        user_head: outcome.user_head.as_str().to_owned(),
        knobs: outcome.knobs.clone(),
        untryable,
    })?;
    ctx.say(&format!(
        "experiments start from {}{}",
        outcome.anchor.short(),
        if outcome.instrumented {
            " (instrumented)"
        } else {
            ""
        }
    ));
    Ok(())
}

/// How the run ended, from the books.
fn outcome(books: &Books, updated: Vec<ConfigDifference>, summary: String) -> RunOutcome {
    let state = books.state();
    let speedup = state
        .current_best
        .as_deref()
        .and_then(|best| crate::speedup::Speedup::of(books.tree(), best));
    RunOutcome {
        status: state.status,
        stop: state.stop.clone(),
        updated,
        best: state.current_best.clone().zip(state.best_step_ms),
        baseline_ms: books.baseline().and_then(|(_, ms)| ms),
        speedup,
        floor_ms: state.floor_ms,
        summary,
    }
}
