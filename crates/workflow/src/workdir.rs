//! The work directory's layout: the original tool's names, plus documented additions
//! (`docs/workdir.md`).

use std::path::{Path, PathBuf};

/// Paths inside one work directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workdir {
    root: PathBuf,
}

impl Workdir {
    /// The work directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `config.json`.
    pub fn config(&self) -> PathBuf {
        self.root.join("config.json")
    }

    /// `state.json`: history, best, counters, budgets, plateau.
    pub fn state(&self) -> PathBuf {
        self.root.join("state.json")
    }

    /// `master_table.tsv`.
    pub fn master_table(&self) -> PathBuf {
        self.root.join("master_table.tsv")
    }

    /// `summary.md`.
    pub fn summary(&self) -> PathBuf {
        self.root.join("summary.md")
    }

    /// `findings.md`.
    pub fn findings(&self) -> PathBuf {
        self.root.join("findings.md")
    }

    /// `report.md`.
    pub fn report(&self) -> PathBuf {
        self.root.join("report.md")
    }

    /// `progress.png`.
    pub fn progress_png(&self) -> PathBuf {
        self.root.join("progress.png")
    }

    /// `engine/`: the scheduler's checkpoint, the tree and the monitoring views.
    pub fn engine(&self) -> PathBuf {
        self.root.join("engine")
    }

    /// `engine/engine_state.json`.
    pub fn engine_state(&self) -> PathBuf {
        self.engine().join("engine_state.json")
    }

    /// `engine/queue.json` (a view; the checkpoint is the source of truth).
    pub fn queue_view(&self) -> PathBuf {
        self.engine().join("queue.json")
    }

    /// `engine/active.json` (a view of running jobs).
    pub fn active_view(&self) -> PathBuf {
        self.engine().join("active.json")
    }

    /// `runs/<run_id>/`.
    pub fn run(&self, run_id: &str) -> PathBuf {
        self.root.join("runs").join(run_id)
    }

    /// `runs/<run_id>/metrics/`.
    pub fn run_metrics(&self, run_id: &str) -> PathBuf {
        self.run(run_id).join("metrics")
    }

    /// `logs/`: `autoresearch.log` and every agent call's files.
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// `checkouts/<run_id>/` (an addition): the experiment's own checkout.
    pub fn checkout(&self, run_id: &str) -> PathBuf {
        self.checkouts().join(run_id)
    }

    /// `checkouts/`: every experiment's linked worktree (an addition).
    pub fn checkouts(&self) -> PathBuf {
        self.root.join("checkouts")
    }

    /// `jobs/` (an addition): the platform's job records.
    pub fn jobs(&self) -> PathBuf {
        self.root.join("jobs")
    }
}
