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
use crate::state::RunState;
use crate::workdir::Workdir;

/// What `clean` may remove.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanOptions {
    /// Also delete the best experiment's branch.
    pub all: bool,
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

/// Removes the run's checkouts and branches from the repository of `workdir`.
pub fn clean(workdir: &Workdir, options: CleanOptions) -> Result<CleanReport, WorkflowError> {
    let Some(config) = RunConfig::load(workdir.root())? else {
        return Err(WorkflowError::NotAWorkdir(workdir.root().to_owned()));
    };
    let _lock = WorkdirLock::acquire(workdir.root())?;
    let state = RunState::load(&workdir.state())?.unwrap_or_default();
    let tree = crate::books::load_tree(workdir)?;
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
    if !in_flight.is_empty() {
        return Err(clean_error(
            format!(
                "the run has experiments in flight ({}), whose checkouts it still needs",
                in_flight.join(", ")
            ),
            format!(
                "resume it (`autoresearch run {}`) and let it finish, then clean",
                workdir.root().display()
            ),
        ));
    }
    let (_, vcs) =
        autoresearch_vcs::open(&config.source_dir).map_err(|err| WorkflowError::Source {
            problem: format!(
                "cannot open the repository of {}: {err}",
                config.source_dir.display()
            ),
            hint: "clean needs the repository the run used".to_owned(),
        })?;
    let vcs_error = |err: autoresearch_vcs::VcsError| WorkflowError::Source {
        problem: err.to_string(),
        hint: "nothing else was changed; fix the cause and run clean again".to_owned(),
    };
    let mut report = CleanReport::default();
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
            || (legacy_name(&branch, &tree) && recorded.contains(commit.as_str()));
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
        vcs.delete_branch(&branch).map_err(vcs_error)?;
        report.branches_deleted.push(branch);
    }
    Ok(report)
}

/// Whether `branch` is one a work directory from before namespaces would have made:
/// `autoresearch/setup`, `autoresearch/snapshot` or `autoresearch/<node id of this run>`.
fn legacy_name(branch: &str, tree: &autoresearch_hypothesis_tree::HypothesisTree) -> bool {
    let Some(rest) = branch.strip_prefix("autoresearch/") else {
        return false;
    };
    !rest.contains('/') && (rest == "setup" || rest == "snapshot" || tree.get(rest).is_some())
}
