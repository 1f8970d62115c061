//! The commands that read or edit a work directory: `status`, `report`, `queue`,
//! `clean`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use autoresearch_workflow::{AgentEnv, Workdir, WorkflowError, queue::UserExperiment};
use clap::Subcommand;

use crate::{EXIT_FAILURE, EXIT_SUCCESS, EXIT_USAGE, eprint_error};

/// What `queue` does.
#[derive(Debug, Subcommand)]
pub enum QueueAction {
    /// List the queued experiments in start order.
    List,
    /// Remove a queued experiment (it stays in the tree, marked as removed).
    Remove {
        /// The node id.
        node_id: String,
    },
    /// Change a queued experiment's priority (lower runs first).
    SetPriority {
        /// The node id.
        node_id: String,
        /// The new priority.
        #[arg(allow_negative_numbers = true)]
        priority: f64,
    },
    /// Queue an experiment of your own.
    Add {
        /// A short name.
        #[arg(long)]
        name: String,
        /// What it should show.
        #[arg(long, default_value = "")]
        hypothesis: String,
        /// Code instructions for the agent (leave out for a launch-flag experiment).
        #[arg(long, default_value = "")]
        description: String,
        /// A launch flag to set, as `--flag=value` (repeatable).
        #[arg(
            long = "launch-arg",
            value_name = "--FLAG=VALUE",
            allow_hyphen_values = true
        )]
        launch_args: Vec<String>,
        /// Start from this completed node's code instead of the instrumented original.
        #[arg(long)]
        base: Option<String>,
        /// Priority (lower runs first).
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        priority: f64,
    },
}

fn fail(err: &WorkflowError) -> ExitCode {
    eprint_error(&err.to_string());
    ExitCode::from(if err.is_bad_input() {
        EXIT_USAGE
    } else {
        EXIT_FAILURE
    })
}

/// `autoresearch status`.
pub(crate) fn status(workdir: &Path, json: bool) -> ExitCode {
    match autoresearch_workflow::status::status(&Workdir::new(workdir)) {
        Ok(report) => {
            let text = if json {
                serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"
            } else {
                autoresearch_workflow::status::render_status(&report)
            };
            let _ = write!(std::io::stdout(), "{text}");
            ExitCode::from(EXIT_SUCCESS)
        }
        Err(err) => fail(&err),
    }
}

/// `autoresearch clean`.
pub(crate) fn clean(workdir: &Path, all: bool, force: bool) -> ExitCode {
    let options = autoresearch_workflow::clean::CleanOptions { all, force };
    match autoresearch_workflow::clean::clean(&Workdir::new(workdir), options) {
        Ok(report) => {
            let mut out = std::io::stdout();
            for path in &report.checkouts_removed {
                let _ = writeln!(out, "removed checkout {path}");
            }
            for branch in &report.branches_deleted {
                let _ = writeln!(out, "deleted branch {branch}");
            }
            for (branch, why) in &report.branches_kept {
                let _ = writeln!(out, "kept branch {branch}: {why}");
            }
            if report.checkouts_removed.is_empty() && report.branches_deleted.is_empty() {
                let _ = writeln!(
                    out,
                    "{}",
                    if report.branches_kept.is_empty() {
                        "nothing of this run's is left in the repository"
                    } else {
                        "nothing else of this run's is left in the repository"
                    }
                );
            }
            ExitCode::from(EXIT_SUCCESS)
        }
        Err(err) => fail(&err),
    }
}

/// `autoresearch report`.
pub(crate) fn report(workdir: &Path, no_agent: bool) -> ExitCode {
    let runtime = match crate::runtime(false) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let env = (!no_agent).then(AgentEnv::from_process);
    match runtime.block_on(autoresearch_workflow::report::report(
        &Workdir::new(workdir),
        env.as_ref(),
    )) {
        Ok(path) => {
            let _ = writeln!(std::io::stdout(), "wrote {}", path.display());
            ExitCode::from(EXIT_SUCCESS)
        }
        Err(err) => fail(&err),
    }
}

/// `autoresearch queue`.
pub(crate) fn queue(workdir: &Path, action: QueueAction) -> ExitCode {
    let dir = Workdir::new(workdir);
    let mut out = std::io::stdout();
    let result = match action {
        QueueAction::List => autoresearch_workflow::queue::list(&dir).map(|entries| {
            if entries.is_empty() {
                let _ = writeln!(out, "(nothing queued)");
            }
            for e in entries {
                let _ = writeln!(
                    out,
                    "{:>8.2}  {}  {}  {}",
                    e.priority, e.node_id, e.changes, e.hypothesis
                );
            }
        }),
        QueueAction::Remove { node_id } => autoresearch_workflow::queue::remove(&dir, &node_id)
            .map(|()| {
                let _ = writeln!(out, "removed {node_id} from the queue");
            }),
        QueueAction::SetPriority { node_id, priority } => {
            autoresearch_workflow::queue::set_priority(&dir, &node_id, priority).map(|()| {
                let _ = writeln!(out, "{node_id} now has priority {priority}");
            })
        }
        QueueAction::Add {
            name,
            hypothesis,
            description,
            launch_args,
            base,
            priority,
        } => {
            let experiment = UserExperiment {
                name,
                hypothesis,
                description,
                launch_args,
                base,
            };
            autoresearch_workflow::queue::add_user(&dir, experiment, priority).map(|id| {
                let _ = writeln!(out, "queued {id}; it runs when the engine resumes");
            })
        }
    };
    match result {
        Ok(()) => ExitCode::from(EXIT_SUCCESS),
        Err(err) => fail(&err),
    }
}
