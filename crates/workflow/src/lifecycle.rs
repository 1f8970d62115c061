//! One experiment's lifecycle on the scheduler: queued → preparing → running → analyzing
//! → completed | failed, with the node persisted at each boundary so a resume picks up
//! where the last engine stopped (a running job is re-attached, never relaunched).

use std::sync::Arc;

use autoresearch_hypothesis_tree::{FailureRecord, NodeStatus};
use autoresearch_jobs::JobId;
use autoresearch_runner_core::{
    BoxError, RunReport, Start, WorkContext, WorkOutcome, WorkSpec, Workflow,
};
use autoresearch_vcs::CommitId;

use crate::collect::{self, Collected};
use crate::context::Context;
use crate::error::WorkflowError;
use crate::execute::{self, JobEnd, PollStop};
use crate::planning::{self, RoundDecision, spec_of, work_spec};
use crate::prepare;
use crate::record::{self, Completion};

/// The workflow the scheduler runs: every spec is one experiment node.
pub struct ExperimentWorkflow {
    ctx: Arc<Context>,
}

/// How driving a node ended.
enum Driven {
    Done(Vec<WorkSpec>),
    Failed(String, Vec<WorkSpec>),
    Interrupted,
}

impl ExperimentWorkflow {
    /// The workflow over `ctx`.
    pub fn new(ctx: Arc<Context>) -> Self {
        Self { ctx }
    }

    /// The shared context.
    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// Whether a queued node may start; counts it against the experiment budget.
    fn admit(&self, id: &str) -> Result<bool, WorkflowError> {
        let ctx = &self.ctx;
        let mut books = ctx.books();
        if let Some(stop) = &books.state.stop {
            ctx.say(&format!(
                "[{id}] not started: the run stopped ({})",
                crate::policy::describe_stop(stop)
            ));
            return Ok(false);
        }
        let progress = planning::progress(ctx, &books);
        let limits = planning::limits(ctx);
        let over = match (limits.max_experiments, limits.max_hours, limits.max_llm_usd) {
            (Some(n), _, _) if progress.experiments >= n => {
                Some(crate::policy::StopReason::MaxExperiments { limit: n })
            }
            (_, Some(h), _) if progress.hours >= h => {
                Some(crate::policy::StopReason::MaxHours { limit: h })
            }
            (_, _, Some(d)) if progress.llm_usd >= d => {
                Some(crate::policy::StopReason::MaxLlmUsd { limit: d })
            }
            _ => None,
        };
        if let Some(reason) = over {
            ctx.say(&format!(
                "stopping: {}",
                crate::policy::describe_stop(&reason)
            ));
            ctx.say(&format!("[{id}] not started"));
            books.state.stop = Some(reason);
            books.save_state()?;
            return Ok(false);
        }
        books.state.launched += 1;
        books.state.llm_usd = ctx.llm_spent();
        books.save_state()?;
        Ok(true)
    }

    async fn drive(&self, id: &str, wctx: &WorkContext) -> Result<Driven, WorkflowError> {
        let ctx = &self.ctx;
        let (node, spec) = {
            let books = ctx.books();
            let node = books.tree.get(id).cloned();
            (node, spec_of(&books, id))
        };
        let (Some(node), Some(mut spec)) = (node, spec) else {
            return Ok(Driven::Failed(
                format!("{id} is not in the tree"),
                Vec::new(),
            ));
        };
        if node.result.get(crate::queue::REMOVED_FLAG).is_some() {
            ctx.say(&format!("[{id}] skipped: removed from the queue"));
            return Ok(Driven::Done(Vec::new()));
        }
        if node.status.is_terminal() {
            // Finished before a crash; plan if that round was lost.
            let due = node
                .result
                .get("plan_due")
                .and_then(serde_json::Value::as_bool)
                == Some(true);
            return Ok(Driven::Done(if due {
                self.plan_after(id).await?
            } else {
                Vec::new()
            }));
        }
        if node.status == NodeStatus::Queued && !self.admit(id)? {
            return Ok(Driven::Done(Vec::new()));
        }
        // Without isolated checkouts the one working copy belongs to one experiment
        // from its preparation to its job's end.
        let turn = match &ctx.exclusive {
            Some(lock) if node.status != NodeStatus::Analyzing => Some(tokio::select! {
                () = wctx.cancel.cancelled() => return Ok(Driven::Interrupted),
                guard = lock.lock() => guard,
            }),
            _ => None,
        };
        let mut job: Option<JobId> = node.job_id.clone().map(JobId);
        let mut launched_at = node.launched_at.clone();
        if matches!(node.status, NodeStatus::Queued | NodeStatus::Preparing)
            || (node.status == NodeStatus::Running && job.is_none())
        {
            {
                let mut books = ctx.books();
                books.transition(id, NodeStatus::Preparing)?;
                books.update_node(id, |n| n.attempt = n.attempt.max(1).max(wctx.attempt))?;
                books.save_views("running")?;
            }
            ctx.say(&format!(
                "[{id}] preparing: {}",
                if spec.change_summary.is_empty() {
                    &spec.name
                } else {
                    &spec.change_summary
                }
            ));
            let anchor = ctx.books().state.anchor_commit.clone().unwrap_or_default();
            let base = CommitId(spec.base_commit.clone().unwrap_or(anchor));
            let known = node
                .commit
                .clone()
                .filter(|_| spec.changes_code())
                .map(CommitId);
            let prepared = tokio::select! {
                () = wctx.cancel.cancelled() => return Ok(Driven::Interrupted),
                result = prepare::prepare(ctx, id, &mut spec, &base, known) => result,
            };
            let prepared = match prepared {
                Ok(p) => p,
                Err(failure) => return self.fail_early(id, failure).await,
            };
            spec.image = Some(prepared.image.clone());
            {
                let mut books = ctx.books();
                let value = serde_json::to_value(&spec)
                    .map_err(|e| WorkflowError::Engine(e.to_string()))?;
                let commit = prepared.commit.as_str().to_owned();
                books.update_node(id, |n| {
                    n.commit = Some(commit);
                    n.spec = value;
                })?;
            }
            if wctx.cancel.is_cancelled() {
                return Ok(Driven::Interrupted);
            }
            let (job_id, command) =
                match execute::launch(ctx, id, &spec, &prepared.checkout, &prepared.image).await {
                    Ok(launched) => launched,
                    Err(failure) => return self.fail_early(id, failure).await,
                };
            let now = jiff::Timestamp::now().to_string();
            {
                let mut books = ctx.books();
                let order = books
                    .tree
                    .nodes()
                    .filter_map(|n| n.launch_order)
                    .max()
                    .unwrap_or(0)
                    + 1;
                let (jid, at) = (job_id.0.clone(), now.clone());
                books.update_node(id, |n| {
                    n.job_id = Some(jid);
                    n.launched_at = Some(at);
                    n.launch_order = n.launch_order.or(Some(order));
                })?;
                books.transition(id, NodeStatus::Running)?;
                books.save_views("running")?;
            }
            let _ = std::fs::write(
                ctx.workdir.run(id).join("job_id.txt"),
                format!("{job_id}\n"),
            );
            let _ = std::fs::write(
                ctx.workdir.run(id).join("command.txt"),
                format!("{command}\n"),
            );
            ctx.say(&format!("[{id}] launched job {job_id}"));
            job = Some(job_id);
            launched_at = Some(now);
        }
        let end: JobEnd = if node.status == NodeStatus::Analyzing {
            node.result
                .get("job_end")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or(JobEnd {
                    status: "unknown".to_owned(),
                    detail: "the job's end was not recorded".to_owned(),
                    stalled: false,
                    hard_capped: false,
                    probe_lines: 0,
                })
        } else {
            let Some(job_id) = job.clone() else {
                return Ok(Driven::Failed(
                    format!("{id} has no job to watch"),
                    Vec::new(),
                ));
            };
            if node.status == NodeStatus::Running {
                ctx.say(&format!("[{id}] re-attached to job {job_id}"));
            }
            match execute::watch(ctx, id, &job_id, launched_at.as_deref(), &wctx.cancel).await {
                Ok(end) => end,
                Err(PollStop::Interrupted) => return Ok(Driven::Interrupted),
            }
        };
        drop(turn);
        {
            let mut books = ctx.books();
            let value =
                serde_json::to_value(&end).map_err(|e| WorkflowError::Engine(e.to_string()))?;
            books.update_node(id, |n| crate::books::set_result_key(n, "job_end", value))?;
            books.transition(id, NodeStatus::Analyzing)?;
        }
        self.finish(id, &spec, job.as_ref(), &end, wctx).await
    }

    /// Collects, analyses, records and plans.
    async fn finish(
        &self,
        id: &str,
        spec: &crate::spec::ExperimentSpec,
        job: Option<&JobId>,
        end: &JobEnd,
        wctx: &WorkContext,
    ) -> Result<Driven, WorkflowError> {
        let ctx = &self.ctx;
        let collected: Collected = collect::collect(ctx, id, job, end).await;
        let run_dir = ctx.workdir.run(id);
        collect::write_summary(&run_dir, &collected.summary)
            .map_err(WorkflowError::io("write", run_dir.join("summary.json")))?;
        let (comparison, history) = {
            let mut books = ctx.books();
            let (text, _) = record::against_best(&mut books, &ctx.config, spec, &collected.summary);
            (text, planning::history_table(&books))
        };
        let analysis = if collected.failure.is_none() {
            tokio::select! {
                () = wctx.cancel.cancelled() => return Ok(Driven::Interrupted),
                result = collect::analyse(ctx, id, spec, &collected, &comparison, &history) => result,
            }
        } else {
            Ok(None)
        };
        let (analysis, analysis_failure) = match analysis {
            Ok(a) => (a, None),
            Err(f) => (None, Some(f)),
        };
        let duration_s = job_duration(ctx, job).await;
        let failure = collected.failure.clone();
        let recorded = {
            let mut books = ctx.books();
            let recorded = record::record(
                &mut books,
                &ctx.config,
                Completion {
                    id: id.to_owned(),
                    spec: spec.clone(),
                    summary: collected.summary.clone(),
                    failure: failure.clone(),
                    analysis,
                    analysis_failure,
                    duration_s,
                    log_tail: collected.log_tail.clone(),
                },
            )?;
            ctx.maybe_pictures(&books);
            recorded
        };
        let line = match (&failure, collected.summary.step_time.value()) {
            (Some(f), _) => format!("[{id}] failed ({}): {}", record::kind_name(f), f.message),
            (None, Some(s)) => format!(
                "[{id}] steady step {:.2} ms{}{}",
                s.median_ms,
                collected
                    .summary
                    .throughput_samples_per_s
                    .value()
                    .map(|t| format!(", {t:.1} samples/s"))
                    .unwrap_or_default(),
                if recorded.new_best {
                    " — new best"
                } else {
                    ""
                }
            ),
            (None, None) => format!("[{id}] completed"),
        };
        ctx.say(&line);
        let mut children = Vec::new();
        if let Some(f) = &failure {
            let repair = {
                let mut books = ctx.books();
                planning::repair_child(ctx, &mut books, id, f, &collected.log_tail)?
            };
            if let Some(repair) = repair {
                self.mark_planned(id)?;
                return Ok(Driven::Failed(f.message.clone(), vec![repair]));
            }
        }
        if recorded.needs_confirmation {
            let mut books = ctx.books();
            if let Some(c) = planning::confirm_child(ctx, &mut books, id)? {
                children.push(c);
            }
        }
        children.extend(self.plan_after(id).await?);
        match failure {
            Some(f) => Ok(Driven::Failed(f.message, children)),
            None => Ok(Driven::Done(children)),
        }
    }

    /// A planning round after node `id` finished, if one is due.
    async fn plan_after(&self, id: &str) -> Result<Vec<WorkSpec>, WorkflowError> {
        let ctx = &self.ctx;
        let (decision, prompt, builtin) = {
            let mut books = ctx.books();
            let decision = planning::decide(ctx, &mut books, id)?;
            let prompt = match &decision {
                RoundDecision::Plan { parent } if ctx.agent.is_some() => {
                    Some(planning::plan_prompt(ctx, &mut books, parent))
                }
                _ => None,
            };
            // Without an agent, the built-in planner decides from the summaries.
            let builtin = match &decision {
                RoundDecision::Plan { .. }
                    if ctx.agent.is_none() && !books.state.knobs.is_empty() =>
                {
                    Some(planning::builtin_plan(ctx, &mut books, id))
                }
                _ => None,
            };
            (decision, prompt, builtin)
        };
        let RoundDecision::Plan { parent } = decision else {
            self.mark_planned(id)?;
            return Ok(Vec::new());
        };
        // The built-in planner varies the best configuration: its proposals hang under
        // the best in the tree.
        let parent = match &builtin {
            Some(_) => {
                let books = ctx.books();
                books.state.current_best.clone().unwrap_or(parent)
            }
            None => parent,
        };
        let plan = match (builtin, prompt) {
            (Some(plan), _) => Ok(Some(plan)),
            (None, prompt) => match prompt {
                Some(Ok(prompt)) => planning::ask_planner(ctx, prompt).await,
                Some(Err(err)) => Err(prepare::failure(
                    autoresearch_hypothesis_tree::FailureKind::PlanningFailed,
                    autoresearch_hypothesis_tree::FailurePhase::Planning,
                    err,
                )),
                None => Ok(None),
            },
        };
        let source = if ctx.agent.is_some() {
            planning::PlanSource::Agent
        } else {
            planning::PlanSource::Builtin
        };
        let children = match plan {
            Ok(Some(plan)) => {
                let mut books = ctx.books();
                planning::add_children(ctx, &mut books, &parent, id, &plan, source)?
            }
            Ok(None) => {
                ctx.say(&format!(
                    "[{parent}] no planner is available (no agent, and the script has no knobs): nothing new is queued"
                ));
                Vec::new()
            }
            Err(failure) => {
                ctx.say(&format!("[{parent}] planning failed: {}", failure.message));
                let mut books = ctx.books();
                books.state.setup_failures.push(failure);
                books.save_state()?;
                Vec::new()
            }
        };
        self.mark_planned(id)?;
        Ok(children)
    }

    fn mark_planned(&self, id: &str) -> Result<(), WorkflowError> {
        let mut books = self.ctx.books();
        books.update_node(id, |n| {
            if n.result.is_object() {
                crate::books::set_result_key(n, "plan_due", serde_json::Value::Bool(false));
            }
        })
    }

    /// Records a failure before a job produced anything (prepare, build, launch).
    async fn fail_early(&self, id: &str, failure: FailureRecord) -> Result<Driven, WorkflowError> {
        let ctx = &self.ctx;
        let spec = {
            let books = ctx.books();
            spec_of(&books, id)
        };
        let Some(spec) = spec else {
            return Ok(Driven::Failed(failure.message, Vec::new()));
        };
        ctx.say(&format!(
            "[{id}] failed ({}): {}",
            record::kind_name(&failure),
            failure.message
        ));
        {
            let mut books = ctx.books();
            let summary = autoresearch_metrics::RunSummary::from_evidence(
                &autoresearch_metrics::Evidence::default(),
                None,
            );
            record::record(
                &mut books,
                &ctx.config,
                Completion {
                    id: id.to_owned(),
                    spec,
                    summary,
                    failure: Some(failure.clone()),
                    analysis: None,
                    analysis_failure: None,
                    duration_s: None,
                    log_tail: String::new(),
                },
            )?;
            ctx.maybe_pictures(&books);
        }
        // A failed preparation still ends a round: otherwise a run whose last
        // experiment failed to build would end without planning again.
        let children = self.plan_after(id).await?;
        Ok(Driven::Failed(failure.message, children))
    }
}

/// The job's wall time from the platform's log record.
async fn job_duration(ctx: &Context, job: Option<&JobId>) -> Option<f64> {
    let logs = ctx.platform.logs(job?).await.ok()?;
    let start: jiff::Timestamp = logs.started_at?.parse().ok()?;
    let end: jiff::Timestamp = logs.ended_at?.parse().ok()?;
    Some(end.duration_since(start).as_secs_f64())
}

impl Workflow for ExperimentWorkflow {
    async fn initial_specs(&self, start: &Start) -> Result<Vec<WorkSpec>, BoxError> {
        let ctx = &self.ctx;
        let mut books = ctx.books();
        let scheduled: std::collections::BTreeSet<String> = match start {
            Start::Fresh => Default::default(),
            Start::Resumed(info) => info
                .running
                .iter()
                .chain(&info.queued)
                .map(|s| s.id.clone())
                .collect(),
        };
        if books.tree.is_empty() {
            return Ok(planning::add_seeds(ctx, &mut books)?);
        }
        // Nodes the checkpoint does not hold: made just before a crash, or left by a
        // stopped run. Terminal nodes whose planning round was lost come back too.
        let stopped = books.state.stop.is_some();
        let mut specs: Vec<WorkSpec> = books
            .tree
            .nodes()
            .filter(|n| !scheduled.contains(&n.node_id))
            .filter(|n| n.result.get(crate::queue::REMOVED_FLAG).is_none())
            .filter(|n| {
                let due = n
                    .result
                    .get("plan_due")
                    .and_then(serde_json::Value::as_bool)
                    == Some(true);
                if n.status.is_terminal() {
                    due && !stopped
                } else {
                    n.status != NodeStatus::Queued || !stopped
                }
            })
            .map(|n| work_spec(&n.node_id, n.priority))
            .collect();
        specs.sort_by(|a, b| a.priority.total_cmp(&b.priority));
        Ok(specs)
    }

    async fn run(self: Arc<Self>, wctx: WorkContext) -> WorkOutcome {
        let id = wctx.spec.id.clone();
        match self.drive(&id, &wctx).await {
            Ok(Driven::Done(children)) => WorkOutcome::completed_with(children),
            Ok(Driven::Failed(reason, children)) => WorkOutcome::Failed { reason, children },
            Ok(Driven::Interrupted) => WorkOutcome::Interrupted,
            Err(err) => {
                self.ctx.say(&format!(
                    "[{id}] the engine could not record this experiment: {err}"
                ));
                WorkOutcome::failed(err.to_string())
            }
        }
    }

    fn summary(&self, report: &RunReport) -> String {
        let books = self.ctx.books();
        let state = &books.state;
        let best = match (&state.current_best, state.best_step_ms) {
            (Some(id), Some(ms)) => format!("best {id} at {ms:.2} ms"),
            _ => "no best".to_owned(),
        };
        format!("{}; {best}", report.describe())
    }
}
