//! The `autoresearch` command line: parses arguments into a validated configuration
//! before any work starts, then hands over to the workflow crate.
//!
//! **What it must not know:** anything a library user would need — no experiment logic
//! lives here. It is the only crate that knows clap.
//!
//! Main items: [`Cli`] (the argument definitions) and [`run`] (the entry point used by
//! `main`).
//!
//! # Exit codes
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | the command failed (the message says why) |
//! | 2 | invalid arguments or configuration (the message names the problem and the fix) |
//! | 130 | `run` was interrupted (Ctrl+C or SIGTERM); running jobs keep running, and `run <workdir>` resumes |

mod demo;
mod inspect_cmd;
mod knobs_cmd;
mod run_cmd;
mod sample;
mod workdir_cmds;

pub use demo::DemoArgs;
pub use run_cmd::{AgentArg, PlatformArg, RunArgs};
pub use workdir_cmds::QueueAction;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for success.
pub const EXIT_SUCCESS: u8 = 0;
/// Exit code for a failed command.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for invalid arguments or configuration.
pub const EXIT_USAGE: u8 = 2;
/// Exit code for a run stopped by a signal (resumable).
pub const EXIT_INTERRUPTED: u8 = 130;

/// An async runtime (`multi_thread` for runs), or the exit code after saying why not.
pub(crate) fn runtime(multi_thread: bool) -> Result<tokio::runtime::Runtime, ExitCode> {
    let mut builder = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder.enable_all().build().map_err(|err| {
        eprint_error(&format!("cannot start the async runtime: {err}"));
        ExitCode::from(EXIT_FAILURE)
    })
}

/// Prints an error to stderr, prefixed like every other error of the tool.
pub(crate) fn eprint_error(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "error: {message}");
}

/// Optimises the data-loading pipeline of an ML training job, on its own.
#[derive(Debug, Parser)]
#[command(
    name = "autoresearch",
    version,
    about = "Optimise an ML training job's data-loading pipeline, on its own",
    long_about = "Optimise an ML training job's data-loading pipeline, on its own.\n\n\
        autoresearch instruments a training script, measures a baseline and the \
        compute-only floor, then runs rounds of experiments (code and launch-flag \
        changes, organised as a hypothesis tree) on your compute, keeping only what \
        measurably helps. All state lives in one work directory and survives \
        Ctrl+C and kill -9.",
    arg_required_else_help = true
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Optimise a real SPDL demo pipeline end to end on this machine (no account needed).
    Demo(DemoArgs),
    /// Run (or resume) the optimisation of a training job in a work directory.
    Run(Box<RunArgs>),
    /// Show a work directory's state: counts, best against baseline, jobs in flight.
    Status {
        /// The work directory.
        workdir: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write the final report (report.md) of a work directory.
    Report {
        /// The work directory.
        workdir: PathBuf,
        /// Write only the deterministic facts, without the agent's synthesis.
        #[arg(long)]
        no_agent: bool,
    },
    /// List or edit the queued experiments (edits need the engine to be stopped).
    Queue {
        /// The work directory.
        workdir: PathBuf,
        /// What to do.
        #[command(subcommand)]
        action: QueueAction,
    },
    /// Remove a finished run's experiment checkouts and branches from your repository
    /// (the best experiment's branch is kept; the work directory's files stay).
    Clean {
        /// The work directory.
        workdir: PathBuf,
        /// Also delete the best experiment's branch.
        #[arg(long)]
        all: bool,
        /// Clean a run that has not stopped (it cannot be resumed reliably afterwards).
        #[arg(long)]
        force: bool,
    },
    /// Print the knobs a run would vary in a training script: each flag whose value
    /// reaches a pipeline parameter, with the line that shows it, and the workload flags.
    Knobs {
        /// The training script.
        script: PathBuf,
        /// Add or bound a knob: `name=int:LO..HI` (repeatable), as for `run`.
        #[arg(long = "knob", value_name = "NAME=int:LO..HI")]
        knobs: Vec<String>,
        /// Never vary this flag (repeatable), as for `run`.
        #[arg(long = "freeze", value_name = "FLAG")]
        frozen: Vec<String>,
        /// The launch command, whose flags become the defaults.
        #[arg(long, value_name = "COMMAND")]
        command: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Summarise existing job logs (no run, no work directory): the per-rank view, the
    /// stage table per process, the bottleneck and the torn lines dropped.
    Inspect {
        /// The job's log files (stdout and stderr, or the one file several ranks share).
        #[arg(required = true, value_name = "LOG")]
        logs: Vec<PathBuf>,
        /// Samples per batch, when the probe was not told and could not measure it.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        batch_size: Option<u64>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a work directory's experiment tree.
    Tree {
        /// The work directory.
        workdir: PathBuf,
    },
    /// Run a command and print samples of its host (CPU, memory, GPUs) as probe lines
    /// into its output, so they travel with the job's logs on any scheduler.
    Sample {
        /// Milliseconds between samples.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(50..))]
        interval_ms: u64,
        /// The command and its arguments.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<std::ffi::OsString>,
    },
    /// Internal: supervises one local job (started by the engine, not by people).
    #[command(name = "__supervise-job", hide = true)]
    SuperviseJob {
        /// The job request file.
        request: PathBuf,
        /// The local jobs folder.
        root: PathBuf,
    },
}

/// Parses the process arguments and runs the command.
pub fn run() -> ExitCode {
    match Cli::try_parse() {
        Ok(Cli {
            command: Some(Command::SuperviseJob { request, root }),
        }) => {
            let code = autoresearch_jobs::local::supervise(&request, &root);
            ExitCode::from(u8::try_from(code).unwrap_or(EXIT_FAILURE))
        }
        Ok(Cli {
            command:
                Some(Command::Sample {
                    interval_ms,
                    command,
                }),
        }) => sample::run(std::time::Duration::from_millis(interval_ms), &command),
        Ok(Cli {
            command: Some(Command::Tree { workdir }),
        }) => tree(&workdir),
        Ok(Cli {
            command:
                Some(Command::Inspect {
                    logs,
                    batch_size,
                    json,
                }),
        }) => inspect_cmd::run(&inspect_cmd::InspectRequest {
            logs: &logs,
            batch_size,
            json,
        }),
        Ok(Cli {
            command:
                Some(Command::Knobs {
                    script,
                    knobs,
                    frozen,
                    command,
                    json,
                }),
        }) => knobs_cmd::run(&knobs_cmd::KnobsRequest {
            script: &script,
            added: &knobs,
            frozen: &frozen,
            base_command: command.as_deref(),
            json,
        }),
        Ok(Cli {
            command: Some(Command::Run(args)),
        }) => run_cmd::run(&args),
        Ok(Cli {
            command: Some(Command::Demo(args)),
        }) => demo::run(&args),
        Ok(Cli {
            command: Some(Command::Status { workdir, json }),
        }) => workdir_cmds::status(&workdir, json),
        Ok(Cli {
            command: Some(Command::Report { workdir, no_agent }),
        }) => workdir_cmds::report(&workdir, no_agent),
        Ok(Cli {
            command: Some(Command::Queue { workdir, action }),
        }) => workdir_cmds::queue(&workdir, action),
        Ok(Cli {
            command:
                Some(Command::Clean {
                    workdir,
                    all,
                    force,
                }),
        }) => workdir_cmds::clean(&workdir, all, force),
        Ok(Cli { command: None }) => ExitCode::from(EXIT_SUCCESS),
        Err(err) => {
            // clap prints help and version to stdout (exit 0) and errors to stderr (exit 2).
            let code = if err.use_stderr() {
                EXIT_USAGE
            } else {
                EXIT_SUCCESS
            };
            let _ = err.print();
            ExitCode::from(code)
        }
    }
}

/// `autoresearch tree <workdir>`: the tree as text, the run's best marked.
fn tree(workdir: &std::path::Path) -> ExitCode {
    use std::io::Write;
    match autoresearch_workflow::status::tree_text(&autoresearch_workflow::Workdir::new(workdir)) {
        Ok(text) => {
            let _ = write!(std::io::stdout(), "{text}");
            ExitCode::from(EXIT_SUCCESS)
        }
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "{err}");
            ExitCode::from(if err.is_bad_input() {
                EXIT_USAGE
            } else {
                EXIT_FAILURE
            })
        }
    }
}
