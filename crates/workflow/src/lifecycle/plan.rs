//! The planning round after a node: the gate and stop rules (under the lock), then the
//! planner (the agent outside the lock, or the built-in planner), then the children.

use autoresearch_hypothesis_tree::{FailureKind, FailurePhase, FailureRecord};
use autoresearch_runner_core::WorkSpec;

use super::ExperimentWorkflow;
use crate::error::WorkflowError;
use crate::planning::{self, PlanSource, RoundDecision};

use crate::prompts::PlanAnswer;

/// What the round asks of a planner, decided under the lock.
enum Ask {
    /// The built-in planner already answered.
    Builtin(PlanAnswer),
    /// The agent gets this prompt (or the prompt could not be made).
    Agent(Result<String, crate::prompts::PromptError>),
    /// No planner is available.
    Nobody,
}

impl ExperimentWorkflow {
    /// A planning round after node `id` finished, if one is due.
    pub(super) async fn plan_after(&self, id: &str) -> Result<Vec<WorkSpec>, WorkflowError> {
        let ctx = &self.ctx;
        let (parent, ask) = {
            let mut books = ctx.books();
            let RoundDecision::Plan { parent } = planning::decide(ctx, &mut books, id)? else {
                books.mark_planned(id)?;
                return Ok(Vec::new());
            };
            if ctx.agent.is_some() {
                let prompt = planning::plan_prompt(ctx, &books, &parent);
                (parent, Ask::Agent(prompt))
            } else if books.state().knobs.is_empty() {
                (parent, Ask::Nobody)
            } else {
                // The built-in planner varies the best configuration: its proposals hang
                // under the best in the tree.
                let plan = planning::builtin_plan(ctx, &mut books, id);
                let parent = books.state().current_best.clone().unwrap_or(parent);
                (parent, Ask::Builtin(plan))
            }
        };
        let plan = match ask {
            Ask::Builtin(plan) => Ok(Some((plan, PlanSource::Builtin))),
            Ask::Agent(Ok(prompt)) => planning::ask_planner(ctx, prompt)
                .await
                .map(|plan| plan.map(|p| (p, PlanSource::Agent))),
            Ask::Agent(Err(err)) => Err(FailureRecord::new(
                FailureKind::PlanningFailed,
                FailurePhase::Planning,
                err.to_string(),
            )),
            Ask::Nobody => Ok(None),
        };
        let children = match plan {
            Ok(Some((plan, source))) => {
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
                ctx.books().record_planning_failure(failure)?;
                Vec::new()
            }
        };
        ctx.books().mark_planned(id)?;
        Ok(children)
    }
}
