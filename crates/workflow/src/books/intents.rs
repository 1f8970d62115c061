//! Every change to the books, one method per event. Each changes what its event changes
//! and saves before it returns, in the documented order: table row → `state.json` →
//! node files (a terminal status is the commit point) → `tree.json`, `summary.md`,
//! views. Which change to make is decided before, by [`crate::policy`].

use autoresearch_hypothesis_tree::{FailureRecord, NodeMetrics, NodeStatus};
use serde_json::Value;

use super::Books;
use super::master_table::MasterRow;
use super::state::{HistoryEntry, PendingConfirmation, RunStatus};
use crate::error::WorkflowError;
use crate::execute::JobEnd;
use crate::knobs::Knob;
use crate::policy::{BestDecision, NoiseEstimate, Practice, StopReason, structural_settled};
use crate::prompts::AnalysisAnswer;
use crate::spec::ExperimentSpec;

/// A node to add: its spec, its parent in the tree, its priority.
#[derive(Debug, Clone, Copy)]
pub struct NewExperiment<'a> {
    /// What it runs.
    pub spec: &'a ExperimentSpec,
    /// The node it hangs under (`None` for a root).
    pub parent: Option<&'a str>,
    /// Its scheduling priority (lower first).
    pub priority: f64,
}

/// A seed that does not run, and why; it may settle a practice as tried.
#[derive(Debug, Clone)]
pub struct Skipped {
    /// The seed's name.
    pub name: String,
    /// Why it does not run.
    pub reason: String,
    /// The practice it would have tried, now counted as tried.
    pub practice: Option<Practice>,
}

/// What set-up established.
#[derive(Debug, Clone)]
pub struct SetupDone {
    /// The commit experiments start from.
    pub anchor: String,
    /// The user's commit when the run began.
    pub user_head: String,
    /// The knobs read from the script.
    pub knobs: Vec<Knob>,
    /// Practices the script offers no way to try: they count as tried.
    pub untryable: Vec<Practice>,
}

/// Everything recording a finished experiment writes, decided beforehand.
#[derive(Debug, Clone)]
pub struct CompletionEntry {
    /// The master-table row.
    pub row: MasterRow,
    /// The history entry.
    pub history: HistoryEntry,
    /// What it does to the best.
    pub best: BestDecision,
    /// Its steady step, ms (the floor when it is the headspace run).
    pub step_ms: Option<f64>,
    /// Headspace percent and the floor it measured, once baseline and headspace are known.
    pub headspace: Option<(f64, f64)>,
    /// It was an attempt at the structural practice.
    pub structural: bool,
    /// Why it failed.
    pub failure: Option<FailureRecord>,
    /// Job wall time, seconds.
    pub duration_s: Option<f64>,
    /// The node's figures for the pictures.
    pub metrics: NodeMetrics,
    /// The comparison with the best, as recorded.
    pub comparison: Option<Value>,
    /// The agent's interpretation.
    pub analysis: Option<AnalysisAnswer>,
    /// Why the interpretation failed.
    pub analysis_failure: Option<FailureRecord>,
    /// σ_between with this run counted.
    pub noise: NoiseEstimate,
}

impl Books {
    fn add_node(&mut self, new: NewExperiment<'_>) -> Result<String, WorkflowError> {
        let value = serde_json::to_value(new.spec)?;
        Ok(self
            .tree
            .add(&new.spec.name, new.parent, value, new.priority)?)
    }

    fn add_nodes(&mut self, new: &[NewExperiment<'_>]) -> Result<Vec<String>, WorkflowError> {
        new.iter().map(|n| self.add_node(*n)).collect()
    }

    /// Adds the seeds to an empty tree, and `repeats(first seed's id)` under the first
    /// seed (the baseline's repeats), in one write; a seed that cannot run is recorded
    /// as skipped.
    pub fn add_seeds(
        &mut self,
        seeds: &[NewExperiment<'_>],
        repeats: impl FnOnce(&str) -> Vec<(ExperimentSpec, f64)>,
        skipped: Option<Skipped>,
    ) -> Result<Vec<String>, WorkflowError> {
        let mut ids = self.add_nodes(seeds)?;
        if let Some(first) = ids.first().cloned() {
            for (spec, priority) in repeats(&first) {
                ids.push(self.add_node(NewExperiment {
                    spec: &spec,
                    parent: Some(&first),
                    priority,
                })?);
            }
        }
        if let Some(skip) = skipped {
            self.state.skipped.push(serde_json::json!({
                "name": skip.name,
                "reason": skip.reason,
            }));
            self.state.practices_tried.extend(skip.practice);
        }
        self.save_tree()?;
        self.save_state()?;
        Ok(ids)
    }

    /// Adds one child the policy made on its own (a start-up repair).
    pub fn add_child(&mut self, new: NewExperiment<'_>) -> Result<String, WorkflowError> {
        let id = self.add_node(new)?;
        self.save_tree()?;
        Ok(id)
    }

    /// Adds the confirmation run of the pending candidate.
    pub fn add_confirmation(&mut self, new: NewExperiment<'_>) -> Result<String, WorkflowError> {
        let id = self.add_node(new)?;
        if let Some(p) = self.state.pending_confirmation.as_mut() {
            p.confirm_node.clone_from(&id);
        }
        self.save_tree()?;
        self.save_state()?;
        Ok(id)
    }

    /// Adds an experiment the user queued; it extends a run that had stopped.
    pub fn add_user_experiment(&mut self, new: NewExperiment<'_>) -> Result<String, WorkflowError> {
        let id = self.add_node(new)?;
        self.save_tree()?;
        self.state.stop = None;
        self.save_state()?;
        Ok(id)
    }

    /// Records a planning round's outcome in node `finished` (which ends its round) with
    /// the children it queued; queueing a proposal tagged with a practice counts it.
    pub fn record_plan(
        &mut self,
        finished: &str,
        children: &[NewExperiment<'_>],
        record: impl FnOnce(&[String]) -> Value,
    ) -> Result<Vec<String>, WorkflowError> {
        for child in children {
            let tried = Practice::tried_by_queueing(&child.spec.tags);
            self.state.practices_tried.extend(tried);
        }
        let ids = self.add_nodes(children)?;
        let record = record(&ids);
        // The round's record and its end in one write of the node, so a resume neither
        // plans the round again nor loses what it decided.
        self.edit_result(finished, |r| {
            r.plan = Some(record);
            r.plan_due = false;
        })?;
        self.save_state()?;
        self.save_tree()?;
        Ok(ids)
    }

    /// Node `id`'s planning round is over (planned, or none was due).
    pub fn mark_planned(&mut self, id: &str) -> Result<(), WorkflowError> {
        self.edit_result(id, |r| r.plan_due = false)?;
        self.save_nodes()
    }

    /// A planning round failed: recorded with the set-up failures.
    pub fn record_planning_failure(&mut self, failure: FailureRecord) -> Result<(), WorkflowError> {
        self.state.setup_failures.push(failure);
        self.save_state()
    }

    /// A planning round starts after a result that failed (or did not): counts it and
    /// whether the best changed since the last one.
    pub fn open_round(&mut self, after_failure: bool) -> Result<(), WorkflowError> {
        let state = &mut self.state;
        state.seed_round_done = true;
        let new_best = state.current_best != state.best_at_last_round;
        state.best_at_last_round.clone_from(&state.current_best);
        state.plateau.record_round(new_best, after_failure);
        state.iteration = state.plateau.rounds;
        self.save_state()
    }

    /// The run stops for `reason`.
    pub fn accept_stop(&mut self, reason: StopReason) -> Result<(), WorkflowError> {
        self.state.stop = Some(reason);
        self.save_state()
    }

    /// Forgets an accepted stop (new limits are judged again); whether there was one.
    /// The round the stop ended is due again on the last finished experiment, so a run
    /// that stopped at a limit the user raised goes on planning.
    pub fn clear_stop(&mut self) -> Result<bool, WorkflowError> {
        if self.state.stop.take().is_none() {
            return Ok(false);
        }
        self.save_state()?;
        let last = self
            .state
            .history
            .iter()
            .rev()
            .map(|h| h.run_id.clone())
            .find(|id| self.tree.get(id).is_some_and(|n| n.status.is_terminal()));
        if let Some(id) = last {
            // When the stopped round was the seeds' one, it has not planned yet.
            let seed = self.spec_of(&id).is_some_and(|s| s.kind.is_seed());
            if seed {
                self.state.seed_round_done = false;
                self.save_state()?;
            }
            self.edit_result(&id, |r| r.plan_due = true)?;
            self.save_nodes()?;
        }
        Ok(true)
    }

    /// An experiment was admitted: it counts against the experiment budget.
    pub fn count_launch(&mut self, llm_usd: f64) -> Result<(), WorkflowError> {
        self.state.launched += 1;
        self.state.llm_usd = llm_usd;
        self.save_state()
    }

    /// Node `id` starts (or restarts) its preparation, as attempt `attempt`.
    pub fn start_preparing(&mut self, id: &str, attempt: u32) -> Result<(), WorkflowError> {
        self.move_node(id, NodeStatus::Preparing)?;
        self.edit_node(id, |n| n.attempt = n.attempt.max(1).max(attempt))?;
        self.save_nodes()?;
        self.save_views("running")
    }

    /// Node `id` was prepared at `commit` with `spec` (its image filled in).
    pub fn set_prepared(
        &mut self,
        id: &str,
        commit: &str,
        spec: &ExperimentSpec,
    ) -> Result<(), WorkflowError> {
        let value = serde_json::to_value(spec)?;
        self.edit_node(id, |n| {
            n.commit = Some(commit.to_owned());
            n.spec = value;
        })?;
        self.save_nodes()
    }

    /// Node `id`'s job `job_id` was launched at `at`.
    pub fn mark_launched(&mut self, id: &str, job_id: &str, at: &str) -> Result<(), WorkflowError> {
        let order = self
            .tree
            .nodes()
            .filter_map(|n| n.launch_order)
            .max()
            .unwrap_or(0)
            + 1;
        // The job and the status in one write of the node: a resume sees both or
        // neither (and finds a job launched just before a crash by its name).
        self.edit_node(id, |n| {
            n.job_id = Some(job_id.to_owned());
            n.launched_at = Some(at.to_owned());
            n.launch_order = n.launch_order.or(Some(order));
        })?;
        self.move_node(id, NodeStatus::Running)?;
        self.save_nodes()?;
        self.save_views("running")
    }

    /// Node `id`'s job ended: the end is kept for a resume in `analyzing`.
    pub fn mark_job_ended(&mut self, id: &str, end: &JobEnd) -> Result<(), WorkflowError> {
        self.edit_result(id, |r| r.job_end = Some(end.clone()))?;
        self.move_node(id, NodeStatus::Analyzing)?;
        self.save_nodes()
    }

    /// The user removed queued node `id`: it stays in the tree and never runs.
    pub fn mark_removed(&mut self, id: &str) -> Result<(), WorkflowError> {
        self.edit_result(id, |r| r.removed_by_user = true)?;
        self.save_nodes()
    }

    /// Queued node `id` has a new priority.
    pub fn set_priority(&mut self, id: &str, priority: f64) -> Result<(), WorkflowError> {
        self.edit_node(id, |n| n.priority = priority)?;
        self.save_nodes()
    }

    /// Records a finished experiment: table row, state (best, floor, practices,
    /// history), then the node with its terminal status (the commit point), then the
    /// derived files. Every step is idempotent by run id, so recording again after a
    /// crash between two of them changes nothing twice.
    pub fn apply_completion(&mut self, entry: CompletionEntry) -> Result<(), WorkflowError> {
        let id = entry.row.run_id.clone();
        let failed = entry.failure.is_some();
        self.table
            .append(&entry.row)
            .map_err(|err| WorkflowError::Corrupt {
                path: self.workdir.master_table(),
                detail: err.to_string(),
                hint: "check free space and permissions".to_owned(),
            })?;
        let improved_self = self.apply_best(&id, &entry.best, entry.step_ms)?;
        if let Some((pct, floor_ms)) = entry.headspace {
            self.state.headspace_pct = Some(pct);
            self.state.floor_ms = Some(floor_ms);
        }
        if entry.structural {
            let attempts = self
                .state
                .structural_attempts
                .entry(Practice::Mtp.tag().to_owned())
                .or_insert(0);
            *attempts += 1;
            if structural_settled(*attempts, failed) {
                self.state.practices_tried.insert(Practice::Mtp);
            }
        }
        if !self.state.history.iter().any(|h| h.run_id == id) {
            self.state.history.push(entry.history);
        }
        self.state.noise = entry.noise;
        // State first, node last: the node's terminal status is the commit point.
        self.save_state()?;
        self.move_node(
            &id,
            if failed {
                NodeStatus::Failed
            } else {
                NodeStatus::Completed
            },
        )?;
        self.edit_node(&id, |n| {
            n.failure.clone_from(&entry.failure);
            n.duration = entry.duration_s;
            n.improved = n.improved || improved_self;
            n.metrics = entry.metrics;
        })?;
        self.edit_result(&id, |r| {
            r.summary_file = Some(format!("runs/{id}/summary.json"));
            r.comparison = entry.comparison;
            r.analysis = entry.analysis;
            r.analysis_failure = entry.analysis_failure;
            r.plan_due = true;
        })?;
        self.save_tree()?;
        super::write_summary_md(self)?;
        self.save_views("running")
    }

    /// Applies a best decision in memory; whether node `id` itself became the best.
    fn apply_best(
        &mut self,
        id: &str,
        decision: &BestDecision,
        step_ms: Option<f64>,
    ) -> Result<bool, WorkflowError> {
        let new_best = match decision {
            BestDecision::Unchanged => None,
            BestDecision::Floor => {
                self.state.floor_ms = step_ms;
                None
            }
            BestDecision::AwaitConfirmation => {
                self.state.pending_confirmation = Some(PendingConfirmation {
                    candidate: id.to_owned(),
                    confirm_node: String::new(),
                    previous_best: self.state.current_best.clone(),
                });
                None
            }
            BestDecision::Settled { confirmed } => {
                self.state.pending_confirmation = None;
                confirmed.clone()
            }
            BestDecision::NewBest(node) => Some(node.clone()),
        };
        let Some(best) = new_best else {
            return Ok(false);
        };
        let summary = self.summary(&best);
        self.state.best_step_ms = summary
            .as_ref()
            .and_then(|s| s.step_time.value().map(|v| v.median_ms));
        self.state.best_throughput = summary
            .as_ref()
            .and_then(|s| s.throughput_samples_per_s.value().copied());
        self.state.current_best = Some(best.clone());
        if best != id {
            self.edit_node(&best, |n| n.improved = true)?;
        }
        Ok(best == id)
    }

    /// Gives the run its branch namespace, when it has none yet (work directories
    /// from before namespaces start one on their next run).
    pub fn ensure_branch_namespace(
        &mut self,
        make: impl FnOnce(&str) -> String,
    ) -> Result<(), WorkflowError> {
        if self.state.branch_namespace.is_some() {
            return Ok(());
        }
        self.state.branch_namespace = Some(make(&self.state.started_at));
        self.save_state()
    }

    /// Set-up finished: the anchor, the knobs, and the practices that cannot be tried.
    pub fn finish_setup(&mut self, done: SetupDone) -> Result<(), WorkflowError> {
        self.state.anchor_commit = Some(done.anchor);
        self.state.user_head = Some(done.user_head);
        self.state.practices_tried.extend(done.untryable);
        self.state.knobs = done.knobs;
        self.state.setup_done = true;
        self.state.status = RunStatus::Running;
        self.save_state()
    }

    /// The engine starts running experiments.
    pub fn mark_running(&mut self) -> Result<(), WorkflowError> {
        self.state.status = RunStatus::Running;
        self.save_state()?;
        self.save_views("running")
    }

    /// The engine ended after `elapsed_s` seconds: interrupted by a signal, or stopped
    /// (by a stop rule, or because nothing was left to run).
    pub fn end_engine(
        &mut self,
        interrupted: bool,
        elapsed_s: f64,
        llm_usd: f64,
    ) -> Result<(), WorkflowError> {
        if !interrupted && self.state.stop.is_none() {
            self.state.stop = Some(StopReason::QueueDrained);
        }
        self.state.status = if interrupted {
            RunStatus::Interrupted
        } else {
            RunStatus::Stopped
        };
        self.state.elapsed_before_s += elapsed_s;
        self.state.llm_usd = llm_usd;
        self.save_state()?;
        self.save_views(if interrupted {
            "interrupted"
        } else {
            "stopped"
        })?;
        super::write_summary_md(self)
    }
}
