//! One experiment's lifecycle on the scheduler: queued → preparing → running → analyzing
//! → completed | failed, with the node persisted at each boundary so a resume picks up
//! where the last engine stopped (a running job is re-attached, never relaunched).
//!
//! A node enters at the phase [`crate::policy::resume::phase_of`] reads from its files;
//! the phases live in their own modules: `launch` (admission, preparation, launch, the
//! watch to the job's end), `finish` (collect, analyse, record) and `plan` (the planning
//! round after a node).

mod finish;
mod launch;
mod plan;

use std::sync::Arc;

use autoresearch_runner_core::{
    BoxError, RunReport, Start, WorkContext, WorkOutcome, WorkSpec, Workflow,
};

use crate::books::NodeResult;
use crate::context::Context;
use crate::error::WorkflowError;
use crate::planning::{self, work_spec};
use crate::policy::{Phase, phase_of, reschedule};

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

    /// Runs node `id` from the phase its files say it is in to its end.
    async fn drive(&self, id: &str, wctx: &WorkContext) -> Result<Driven, WorkflowError> {
        let ctx = &self.ctx;
        let (node, spec) = {
            let books = ctx.books();
            (books.tree().get(id).cloned(), books.spec_of(id))
        };
        let (Some(node), Some(spec)) = (node, spec) else {
            return Ok(Driven::Failed(
                format!("{id} is not in the tree"),
                Vec::new(),
            ));
        };
        let phase = phase_of(
            node.status,
            &NodeResult::of(&node.result),
            node.job_id.as_deref(),
        );
        match phase {
            Phase::Removed => {
                ctx.say(&format!("[{id}] skipped: removed from the queue"));
                Ok(Driven::Done(Vec::new()))
            }
            // Finished before a crash; plan if that round was lost.
            Phase::Finished { plan_due } => Ok(Driven::Done(if plan_due {
                self.plan_after(id).await?
            } else {
                Vec::new()
            })),
            Phase::Admit => {
                if !self.admit(id)? {
                    return Ok(Driven::Done(Vec::new()));
                }
                self.prepare_and_run(id, &node, spec, wctx).await
            }
            Phase::Prepare => self.prepare_and_run(id, &node, spec, wctx).await,
            Phase::Watch { job } => {
                ctx.say(&format!("[{id}] re-attached to job {job}"));
                let launched_at = node.launched_at.clone();
                self.reattach(id, spec, job, launched_at, wctx).await
            }
            Phase::Analyse { end } => {
                let job = node.job_id.clone().map(autoresearch_jobs::JobId);
                self.finish(id, &spec, job.as_ref(), &end, wctx).await
            }
        }
    }
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
        if books.tree().is_empty() {
            return Ok(planning::add_seeds(ctx, &mut books)?);
        }
        // Nodes the checkpoint does not hold come back by the resume policy.
        let stopped = books.state().stop.is_some();
        let mut specs: Vec<WorkSpec> = books
            .tree()
            .nodes()
            .filter(|n| !scheduled.contains(&n.node_id))
            .filter(|n| {
                let phase = phase_of(n.status, &NodeResult::of(&n.result), n.job_id.as_deref());
                reschedule(&phase, stopped)
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
        let state = books.state();
        let best = match (&state.current_best, state.best_step_ms) {
            (Some(id), Some(ms)) => format!("best {id} at {ms:.2} ms"),
            _ => "no best".to_owned(),
        };
        format!("{}; {best}", report.describe())
    }
}
