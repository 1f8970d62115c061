//! `autoresearch demo`: optimise a real SPDL pipeline end to end on this machine, with
//! no account needed. It makes (or reuses) a Python venv with the pinned packages,
//! copies the demo job into a fresh git repository, runs the engine on it, and prints
//! what it found.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use autoresearch_workflow::{AgentChoice, PlatformChoice, RunRequest, RunStatus};
use clap::Args;

use crate::run_cmd::{AgentArg, agent_choice, run_engine};
use crate::{EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_SUCCESS, EXIT_USAGE, eprint_error};

/// The demo job.
const DEMO_SCRIPT: &str = include_str!("../../../fixtures/demo/train.py");
/// The Python packages it needs, pinned.
const REQUIREMENTS: &str = include_str!("../../../fixtures/python/requirements.txt");

/// The flags of `autoresearch demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the venv, the demo repository and the work directory go.
    #[arg(long, default_value = "autoresearch-demo")]
    pub dir: PathBuf,
    /// Use this existing venv (with spdl, numpy and pillow) instead of making one.
    #[arg(long)]
    pub venv: Option<PathBuf>,
    /// The Python that makes the venv.
    #[arg(long, default_value = "python3")]
    pub python: PathBuf,
    /// Training steps per experiment.
    #[arg(long, default_value_t = 150)]
    pub steps: u32,
    /// Most experiments.
    #[arg(long, default_value_t = 20)]
    pub max_experiments: u32,
    /// Most wall-clock hours.
    #[arg(long, default_value_t = 0.25)]
    pub max_hours: f64,
    /// Which agent plans [default: auto: Claude when present, else the built-in planner].
    #[arg(long, value_enum)]
    pub agent: Option<AgentArg>,
}

fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn run_checked(cmd: &mut Command, what: &str) -> Result<(), String> {
    let output = cmd
        .output()
        .map_err(|err| format!("{what}: cannot start: {err}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    ))
}

/// The venv's Python, made if needed.
fn venv_python(args: &DemoArgs, dir: &Path) -> Result<PathBuf, String> {
    // The jobs run in their own checkouts: a relative venv would name nothing there.
    let venv = match &args.venv {
        Some(venv) => std::path::absolute(venv)
            .map_err(|e| format!("cannot resolve --venv {}: {e}", venv.display()))?,
        None => dir.join("venv"),
    };
    let python = venv.join("bin/python");
    let ready = || {
        Command::new(&python)
            .args(["-c", "import spdl.pipeline, numpy, PIL"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if ready() {
        return Ok(python);
    }
    if args.venv.is_some() {
        return Err(format!(
            "{} cannot import spdl, numpy and PIL\nhint: leave out --venv to let the demo make one",
            python.display()
        ));
    }
    say(&format!(
        "making a Python venv in {} (spdl, numpy and pillow from PyPI)…",
        venv.display()
    ));
    run_checked(
        Command::new(&args.python).arg("-m").arg("venv").arg(&venv),
        "python -m venv",
    )
    .map_err(|e| {
        format!("{e}\nhint: install Python 3 with venv support (Debian: apt install python3-venv)")
    })?;
    let requirements = dir.join("requirements.txt");
    std::fs::write(&requirements, REQUIREMENTS).map_err(|e| e.to_string())?;
    run_checked(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements),
        "pip install",
    )
    .map_err(|e| format!("{e}\nhint: the demo needs PyPI to install its pinned packages once"))?;
    if !ready() {
        return Err("the new venv still cannot import spdl".to_owned());
    }
    Ok(python)
}

/// A fresh git repository holding the demo job.
fn demo_repo(dir: &Path) -> Result<PathBuf, String> {
    let repo = dir.join("repo");
    if repo.exists() {
        std::fs::remove_dir_all(&repo)
            .map_err(|e| format!("cannot clear {}: {e}", repo.display()))?;
    }
    std::fs::create_dir_all(&repo).map_err(|e| e.to_string())?;
    std::fs::write(repo.join("train.py"), DEMO_SCRIPT).map_err(|e| e.to_string())?;
    std::fs::write(repo.join(".gitignore"), "data/\n__pycache__/\n").map_err(|e| e.to_string())?;
    let git = |args: &[&str]| {
        run_checked(
            Command::new("git")
                .args(args)
                .current_dir(&repo)
                .env("GIT_AUTHOR_NAME", "autoresearch demo")
                .env("GIT_AUTHOR_EMAIL", "demo@autoresearch.invalid")
                .env("GIT_COMMITTER_NAME", "autoresearch demo")
                .env("GIT_COMMITTER_EMAIL", "demo@autoresearch.invalid"),
            "git",
        )
        .map_err(|e| format!("{e}\nhint: the demo needs git (Debian: apt install git)"))
    };
    git(&["init", "-q", "-b", "main"])?;
    git(&["add", "-A"])?;
    git(&["commit", "-qm", "the demo training job"])?;
    Ok(repo)
}

/// Runs `autoresearch demo`.
pub(crate) fn run(args: &DemoArgs) -> ExitCode {
    if let Err(err) = std::fs::create_dir_all(&args.dir) {
        eprint_error(&format!("cannot create {}: {err}", args.dir.display()));
        return ExitCode::from(EXIT_USAGE);
    }
    let dir = match std::fs::canonicalize(&args.dir) {
        Ok(dir) => dir,
        Err(err) => {
            eprint_error(&format!("cannot open {}: {err}", args.dir.display()));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let prepared = venv_python(args, &dir).and_then(|python| Ok((python, demo_repo(&dir)?)));
    let (python, repo) = match prepared {
        Ok(p) => p,
        Err(err) => {
            eprint_error(&err);
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let workdir = dir.join("work");
    if workdir.exists()
        && let Err(err) = std::fs::remove_dir_all(&workdir)
    {
        eprint_error(&format!("cannot clear {}: {err}", workdir.display()));
        return ExitCode::from(EXIT_FAILURE);
    }
    let data = dir.join("data");
    let launch = format!(
        "{} $SCRIPT --steps {} --data-dir {}",
        autoresearch_jobs::shell_quote(&python.display().to_string()),
        args.steps,
        autoresearch_jobs::shell_quote(&data.display().to_string())
    );
    let request = RunRequest {
        pipeline_script: Some(repo.join("train.py")),
        source_dir: Some(repo.clone()),
        base_launch_command: Some(launch),
        notes: Some(
            "The autoresearch demo: an image pipeline on a synthetic JPEG dataset.".to_owned(),
        ),
        max_iterations: Some(40),
        patience: Some(4),
        max_concurrency: Some(1),
        job_timeout_s: Some(300),
        poll_interval_s: Some(1),
        platform: Some(PlatformChoice::Local),
        agent: Some(args.agent.map_or(AgentChoice::Auto, agent_choice)),
        max_experiments: Some(args.max_experiments),
        max_hours: Some(args.max_hours),
        ..RunRequest::default()
    };
    say(&format!(
        "optimising {} (work directory {})",
        repo.join("train.py").display(),
        workdir.display()
    ));
    let outcome = match run_engine(&workdir, &request, python.clone(), true) {
        Ok(outcome) => outcome,
        Err(code) => return code,
    };
    let mut out = std::io::stdout();
    let _ = writeln!(out, "\n== autoresearch demo ==");
    if let Some(speedup) = &outcome.speedup {
        let _ = writeln!(out, "best {}: {}", speedup.best, speedup.describe());
    }
    if let Some(floor) = outcome.floor_ms {
        let _ = writeln!(
            out,
            "compute-only floor (headspace run): {floor:.2} ms per step"
        );
    }
    if let Some(stop) = &outcome.stop {
        let _ = writeln!(
            out,
            "stopped: {}",
            autoresearch_workflow::policy::describe_stop(stop)
        );
    }
    for file in [
        "report.md",
        "master_table.tsv",
        "hypothesis_tree.png",
        "progress.png",
        "summary.md",
    ] {
        let _ = writeln!(out, "  {}", workdir.join(file).display());
    }
    if outcome.status == RunStatus::Interrupted {
        let _ = writeln!(
            out,
            "interrupted; resume with `autoresearch run {}`",
            workdir.display()
        );
        return ExitCode::from(EXIT_INTERRUPTED);
    }
    ExitCode::from(EXIT_SUCCESS)
}
