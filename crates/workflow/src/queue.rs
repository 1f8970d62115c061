//! `autoresearch queue`: list, remove, reprioritise or add queued experiments. Edits go
//! to the checkpoint (the resume source of truth) and the tree together, and only while
//! no engine runs.

use autoresearch_hypothesis_tree::NodeStatus;
use autoresearch_runner_core::checkpoint;
use serde::Serialize;

use crate::books::Books;
use crate::books::NewExperiment;
use crate::config::RunConfig;
use crate::error::WorkflowError;
use crate::lock::WorkdirLock;
use crate::planning::work_spec;
use crate::spec::{ExperimentKind, ExperimentSpec, check_flag};
use crate::workdir::Workdir;

/// One queued experiment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueEntry {
    /// The node.
    pub node_id: String,
    /// Lower runs first.
    pub priority: f64,
    /// Its hypothesis.
    pub hypothesis: String,
    /// Its changes.
    pub changes: String,
}

fn queue_error(problem: impl Into<String>, hint: impl Into<String>) -> WorkflowError {
    WorkflowError::Queue {
        problem: problem.into(),
        hint: hint.into(),
    }
}

fn load_checkpoint(workdir: &Workdir) -> Result<checkpoint::Checkpoint, WorkflowError> {
    checkpoint::load(&workdir.engine())
        .map_err(|err| WorkflowError::Corrupt {
            path: workdir.engine().join(checkpoint::SNAPSHOT_FILE),
            detail: err.to_string(),
            hint: "restore the file from a backup".to_owned(),
        })?
        .ok_or_else(|| queue_error("the run has no checkpoint yet", "start the run first"))
}

fn check_workdir(workdir: &Workdir) -> Result<(), WorkflowError> {
    if RunConfig::load(workdir.root())?.is_none() {
        return Err(WorkflowError::NotAWorkdir(workdir.root().to_owned()));
    }
    Ok(())
}

/// The queued experiments, in start order.
pub fn list(workdir: &Workdir) -> Result<Vec<QueueEntry>, WorkflowError> {
    check_workdir(workdir)?;
    let checkpoint = load_checkpoint(workdir)?;
    let books = Books::open(workdir)?;
    let mut entries: Vec<QueueEntry> = checkpoint
        .queued
        .iter()
        .map(|record| {
            let spec = books.spec_of(&record.id);
            QueueEntry {
                node_id: record.id.clone(),
                priority: record.priority,
                hypothesis: spec
                    .as_ref()
                    .map(|s| s.hypothesis.clone())
                    .unwrap_or_default(),
                changes: spec
                    .as_ref()
                    .map(ExperimentSpec::changes_text)
                    .unwrap_or_default(),
            }
        })
        .collect();
    entries.sort_by(|a, b| a.priority.total_cmp(&b.priority));
    Ok(entries)
}

/// Takes the work directory's lock for an edit: refused while an engine runs.
fn edit_lock(workdir: &Workdir) -> Result<WorkdirLock, WorkflowError> {
    check_workdir(workdir)?;
    WorkdirLock::acquire(workdir.root()).map_err(|err| match WorkdirLock::holder(workdir.root()) {
        Some(pid) => queue_error(
            format!("an engine (pid {pid}) is running on this work directory"),
            format!("stop it first (Ctrl+C, or `kill -INT {pid}`), edit the queue, then resume"),
        ),
        None => WorkflowError::Lock(err),
    })
}

/// Removes `id` from the queue; it stays in the tree, marked as removed.
pub fn remove(workdir: &Workdir, id: &str) -> Result<(), WorkflowError> {
    let _lock = edit_lock(workdir)?;
    let mut checkpoint = load_checkpoint(workdir)?;
    let before = checkpoint.queued.len();
    checkpoint.queued.retain(|r| r.id != id);
    if checkpoint.queued.len() == before {
        return Err(queue_error(
            format!("{id} is not queued"),
            "see `autoresearch queue <workdir> list` for the queued ids",
        ));
    }
    let mut books = Books::open(workdir)?;
    books.mark_removed(id)?;
    store(workdir, &checkpoint)
}

/// Gives queued `id` a new priority (lower runs first).
pub fn set_priority(workdir: &Workdir, id: &str, priority: f64) -> Result<(), WorkflowError> {
    if !priority.is_finite() {
        return Err(queue_error(
            "the priority must be a finite number",
            "pass for example -5 or 10",
        ));
    }
    let _lock = edit_lock(workdir)?;
    let mut checkpoint = load_checkpoint(workdir)?;
    let Some(record) = checkpoint.queued.iter_mut().find(|r| r.id == id) else {
        return Err(queue_error(
            format!("{id} is not queued"),
            "see `autoresearch queue <workdir> list` for the queued ids",
        ));
    };
    record.priority = priority;
    let mut books = Books::open(workdir)?;
    books.set_priority(id, priority)?;
    store(workdir, &checkpoint)
}

/// An experiment a person queues by hand (`autoresearch queue add`).
#[derive(Debug, Clone, Default)]
pub struct UserExperiment {
    /// A short name.
    pub name: String,
    /// What it should show.
    pub hypothesis: String,
    /// Code instructions for the agent (empty for a launch-flag experiment).
    pub description: String,
    /// Launch flags to set, each as `--flag=value`.
    pub launch_args: Vec<String>,
    /// The completed node to start from (`None`: the instrumented original).
    pub base: Option<String>,
}

/// Queues `experiment` with `priority`; returns its id. A launch argument that is not
/// `--flag=value` is refused before anything is written.
pub fn add_user(
    workdir: &Workdir,
    experiment: UserExperiment,
    priority: f64,
) -> Result<String, WorkflowError> {
    let mut spec = ExperimentSpec::new(ExperimentKind::Planned, experiment.name);
    spec.hypothesis = experiment.hypothesis;
    spec.description = experiment.description;
    spec.base_node = experiment.base;
    spec.change_summary = "added by hand".to_owned();
    for arg in experiment.launch_args {
        let Some((flag, value)) = arg.split_once('=') else {
            return Err(queue_error(
                format!("--launch-arg {arg}: expected --flag=value"),
                "for example --launch-arg=--batch-size=16",
            ));
        };
        spec.changes
            .push(format!("{}={value}", crate::spec::normalise_flag(flag)));
        spec.launch_args.insert(flag.to_owned(), value.to_owned());
    }
    add(workdir, spec, priority)
}

/// Queues a new experiment of the user's: launch flags and/or code instructions, on the
/// instrumented anchor or on a completed node. Returns its id.
pub fn add(
    workdir: &Workdir,
    mut spec: ExperimentSpec,
    priority: f64,
) -> Result<String, WorkflowError> {
    let _lock = edit_lock(workdir)?;
    let mut checkpoint = load_checkpoint(workdir)?;
    for (flag, value) in &spec.launch_args {
        check_flag(flag, value).map_err(|err| {
            queue_error(err.to_string(), "pass flags as --launch-arg=--name=value")
        })?;
    }
    let mut books = Books::open(workdir)?;
    spec.kind = ExperimentKind::Planned;
    spec.base_commit = match &spec.base_node {
        Some(base) => match books.tree().get(base) {
            Some(n) if n.status == NodeStatus::Completed && n.commit.is_some() => n.commit.clone(),
            _ => {
                return Err(queue_error(
                    format!("{base} is not a completed experiment"),
                    "pass --base with a completed node id, or leave it out to start from the instrumented original",
                ));
            }
        },
        None => books.state().anchor_commit.clone(),
    };
    // A user's addition extends a run that had stopped.
    let id = books
        .add_user_experiment(NewExperiment {
            spec: &spec,
            parent: spec.base_node.as_deref(),
            priority,
        })
        .map_err(|err| match err {
            WorkflowError::Tree(err) => queue_error(err.to_string(), "check the name and --base"),
            other => other,
        })?;
    let record = checkpoint::SpecRecord::new(work_spec(&id, priority), 0);
    checkpoint.queued.push(record);
    store(workdir, &checkpoint)?;
    Ok(id)
}

fn store(workdir: &Workdir, checkpoint: &checkpoint::Checkpoint) -> Result<(), WorkflowError> {
    checkpoint::store(&workdir.engine(), checkpoint).map_err(|err| WorkflowError::Corrupt {
        path: workdir.engine().join(checkpoint::SNAPSHOT_FILE),
        detail: err.to_string(),
        hint: "the queue was not changed".to_owned(),
    })
}
