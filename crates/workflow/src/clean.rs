//! `autoresearch clean`: takes what a run added to the user's repository back out — its
//! experiment checkouts (linked worktrees under `<workdir>/checkouts/`) and its branches
//! — keeping the best experiment's branch unless asked not to. The work directory's own
//! files (tables, runs, pictures) stay; only the repository is tidied.
//!
//! Only what is provably this run's is touched: the worktrees registered under its
//! `checkouts/` folder, the branches in its namespace (see [`crate::branches`]), and, for
//! a work directory from before namespaces, an `autoresearch/<name>` branch only when
//! it points at a commit this run recorded.

use std::collections::BTreeSet;

use autoresearch_hypothesis_tree::NodeStatus;
use serde::Serialize;

use crate::branches::Branches;
use crate::config::RunConfig;
use crate::error::WorkflowError;
use crate::lock::WorkdirLock;
use crate::state::{RunState, RunStatus};
use crate::workdir::Workdir;

/// What `clean` may remove.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanOptions {
    /// Also delete the best experiment's branch.
    pub all: bool,
    /// Clean a run that has not stopped (it cannot be resumed reliably afterwards: its
    /// commits are no longer on any branch).
    pub force: bool,
}

/// What `clean` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CleanReport {
    /// Checkouts removed (paths).
    pub checkouts_removed: Vec<String>,
    /// Branches deleted.
    pub branches_deleted: Vec<String>,
    /// Branches kept, with why.
    pub branches_kept: Vec<(String, String)>,
}

fn clean_error(problem: impl Into<String>, hint: impl Into<String>) -> WorkflowError {
    WorkflowError::Clean {
        problem: problem.into(),
        hint: hint.into(),
    }
}

fn vcs_error(err: autoresearch_vcs::VcsError) -> WorkflowError {
    WorkflowError::Source {
        problem: err.to_string(),
        hint: "fix the cause and run clean again (what is listed above was already removed)"
            .to_owned(),
    }
}

/// Removes the run's checkouts and branches from the repository of `workdir`.
pub fn clean(workdir: &Workdir, options: CleanOptions) -> Result<CleanReport, WorkflowError> {
    let Some(config) = RunConfig::load(workdir.root())? else {
        return Err(WorkflowError::NotAWorkdir(workdir.root().to_owned()));
    };
    let _lock = WorkdirLock::acquire(workdir.root())?;
    let state = RunState::load(&workdir.state())?.unwrap_or_default();
    let tree = crate::books::load_tree(workdir)?;
    check_finished(workdir, &state, &tree, options)?;
    let (_, vcs) =
        autoresearch_vcs::open(&config.source_dir).map_err(|err| WorkflowError::Source {
            problem: format!(
                "cannot open the repository of {}: {err}",
                config.source_dir.display()
            ),
            hint: "clean needs the repository the run used".to_owned(),
        })?;
    let mut report = CleanReport::default();
    remove_checkouts(workdir, vcs.as_ref(), &mut report)?;
    delete_branches(&state, &tree, vcs.as_ref(), options, &mut report)?;
    Ok(report)
}

/// Refuses a run whose checkouts are still needed: experiments in flight, or a run that
/// may be resumed (unless `force`).
fn check_finished(
    workdir: &Workdir,
    state: &RunState,
    tree: &autoresearch_hypothesis_tree::HypothesisTree,
    options: CleanOptions,
) -> Result<(), WorkflowError> {
    let in_flight: Vec<&str> = tree
        .nodes()
        .filter(|n| {
            matches!(
                n.status,
                NodeStatus::Preparing | NodeStatus::Running | NodeStatus::Analyzing
            )
        })
        .map(|n| n.node_id.as_str())
        .collect();
    let resume = format!("autoresearch run {}", workdir.root().display());
    if !in_flight.is_empty() {
        return Err(clean_error(
            format!(
                "the run has experiments in flight ({}), whose checkouts it still needs",
                in_flight.join(", ")
            ),
            format!("resume it (`{resume}`) and let it finish, then clean"),
        ));
    }
    if state.status != RunStatus::Stopped && !options.force {
        return Err(clean_error(
            format!(
                "the run has not stopped (its state is {}), and a resume needs its branches",
                serde_json::to_value(state.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
            format!("let it finish (`{resume}`), or pass --force if you will not resume it"),
        ));
    }
    Ok(())
}

/// Removes the linked worktrees registered under the work directory's `checkouts/`.
fn remove_checkouts(
    workdir: &Workdir,
    vcs: &dyn autoresearch_vcs::Vcs,
    report: &mut CleanReport,
) -> Result<(), WorkflowError> {
    let checkouts =
        std::fs::canonicalize(workdir.checkouts()).unwrap_or_else(|_| workdir.checkouts());
    for info in vcs.list_checkouts().map_err(vcs_error)? {
        let path = std::fs::canonicalize(&info.path).unwrap_or(info.path.clone());
        if path.starts_with(&checkouts) {
            vcs.remove_checkout(&info.path).map_err(vcs_error)?;
            report
                .checkouts_removed
                .push(info.path.display().to_string());
        }
    }
    Ok(())
}

/// Deletes the run's branches but the best's (unless `all`); a branch checked out
/// somewhere (the user's own checkout, say) is kept and said so.
fn delete_branches(
    state: &RunState,
    tree: &autoresearch_hypothesis_tree::HypothesisTree,
    vcs: &dyn autoresearch_vcs::Vcs,
    options: CleanOptions,
    report: &mut CleanReport,
) -> Result<(), WorkflowError> {
    let keep = state
        .current_best
        .as_ref()
        .filter(|_| !options.all)
        .cloned();
    let branches = state.branch_namespace.as_deref().map(Branches::new);
    let recorded: BTreeSet<String> = tree
        .nodes()
        .filter_map(|n| n.commit.clone())
        .chain(state.anchor_commit.clone())
        .collect();
    for (branch, commit) in vcs
        .list_branches(&format!("{}/", crate::branches::ROOT))
        .map_err(vcs_error)?
    {
        let ours = branches.as_ref().is_some_and(|b| b.owns(&branch))
            || (crate::branches::is_legacy(&branch, |id| tree.get(id).is_some())
                && recorded.contains(commit.as_str()));
        if !ours {
            continue;
        }
        let node = branch.rsplit('/').next().unwrap_or_default();
        if keep.as_deref() == Some(node) {
            report.branches_kept.push((
                branch,
                "the best experiment's (pass --all to delete it too)".to_owned(),
            ));
            continue;
        }
        match vcs.delete_branch(&branch) {
            Ok(()) => report.branches_deleted.push(branch),
            Err(autoresearch_vcs::VcsError::BranchInUse { path, .. }) => {
                report
                    .branches_kept
                    .push((branch, format!("checked out at {}", path.display())));
            }
            Err(err) => return Err(vcs_error(err)),
        }
    }
    Ok(())
}
