//! The first phases: admission, preparation (checkout, change, build), the launch, and
//! the watch to the job's end.

use autoresearch_hypothesis_tree::HypothesisNode;
use autoresearch_jobs::JobId;
use autoresearch_runner_core::WorkContext;
use autoresearch_vcs::CommitId;

use super::{Driven, ExperimentWorkflow};
use crate::error::WorkflowError;
use crate::execute::{self, PollStop};
use crate::policy::{Admission, admit, describe_stop};
use crate::spec::ExperimentSpec;
use crate::{planning, prepare};

/// The working copy's turn, when experiments take turns (no isolated checkouts): held
/// from preparation to the job's end.
type Turn<'a> = Option<tokio::sync::MutexGuard<'a, ()>>;

/// How preparing and launching ended.
enum Launch {
    /// The job runs.
    Launched { job: JobId, at: String },
    /// Something failed before a job existed.
    Failed(autoresearch_hypothesis_tree::FailureRecord),
    /// A signal came first.
    Interrupted,
}

impl ExperimentWorkflow {
    /// Whether a queued node may start ([`crate::policy::admit`]); counts it against the
    /// experiment budget, or accepts the stop a used budget calls for.
    pub(super) fn admit(&self, id: &str) -> Result<bool, WorkflowError> {
        let ctx = &self.ctx;
        let mut books = ctx.books();
        let progress = planning::progress(ctx, &books);
        match admit(
            books.state().stop.is_some(),
            &progress,
            &planning::limits(ctx),
        ) {
            Admission::Start => {
                books.count_launch(ctx.llm_spent())?;
                Ok(true)
            }
            Admission::AlreadyStopped => {
                if let Some(stop) = &books.state().stop {
                    ctx.say(&format!(
                        "[{id}] not started: the run stopped ({})",
                        describe_stop(stop)
                    ));
                }
                Ok(false)
            }
            Admission::Stop(reason) => {
                ctx.say(&format!("stopping: {}", describe_stop(&reason)));
                ctx.say(&format!("[{id}] not started"));
                books.accept_stop(reason)?;
                Ok(false)
            }
        }
    }

    /// Waits for the working copy's turn; `None` when a signal came first.
    async fn take_turn<'a>(&'a self, wctx: &WorkContext) -> Option<Turn<'a>> {
        match &self.ctx.exclusive {
            Some(lock) => tokio::select! {
                () = wctx.cancel.cancelled() => None,
                guard = lock.lock() => Some(Some(guard)),
            },
            None => Some(None),
        }
    }

    /// Prepares and launches node `id`, then watches its job to the end.
    pub(super) async fn prepare_and_run(
        &self,
        id: &str,
        node: &HypothesisNode,
        mut spec: ExperimentSpec,
        wctx: &WorkContext,
    ) -> Result<Driven, WorkflowError> {
        let Some(turn) = self.take_turn(wctx).await else {
            return Ok(Driven::Interrupted);
        };
        match self.prepare_and_launch(id, node, &mut spec, wctx).await? {
            Launch::Launched { job, at } => {
                self.watch_to_end(id, spec, job, Some(at), wctx, turn).await
            }
            Launch::Failed(failure) => {
                drop(turn);
                self.fail_early(id, failure).await
            }
            Launch::Interrupted => Ok(Driven::Interrupted),
        }
    }

    /// Re-attaches to node `id`'s running job and watches it to the end.
    pub(super) async fn reattach(
        &self,
        id: &str,
        spec: ExperimentSpec,
        job: String,
        launched_at: Option<String>,
        wctx: &WorkContext,
    ) -> Result<Driven, WorkflowError> {
        let Some(turn) = self.take_turn(wctx).await else {
            return Ok(Driven::Interrupted);
        };
        self.watch_to_end(id, spec, JobId(job), launched_at, wctx, turn)
            .await
    }

    async fn prepare_and_launch(
        &self,
        id: &str,
        node: &HypothesisNode,
        spec: &mut ExperimentSpec,
        wctx: &WorkContext,
    ) -> Result<Launch, WorkflowError> {
        let ctx = &self.ctx;
        ctx.books().start_preparing(id, wctx.attempt)?;
        ctx.say(&format!(
            "[{id}] preparing: {}",
            if spec.change_summary.is_empty() {
                &spec.name
            } else {
                &spec.change_summary
            }
        ));
        let anchor = ctx
            .books()
            .state()
            .anchor_commit
            .clone()
            .unwrap_or_default();
        let base = CommitId(spec.base_commit.clone().unwrap_or(anchor));
        let known = node
            .commit
            .clone()
            .filter(|_| spec.changes_code())
            .map(CommitId);
        let prepared = tokio::select! {
            () = wctx.cancel.cancelled() => return Ok(Launch::Interrupted),
            result = prepare::prepare(ctx, id, spec, &base, known) => result,
        };
        let prepared = match prepared {
            Ok(p) => p,
            Err(failure) => return Ok(Launch::Failed(failure)),
        };
        spec.image = Some(prepared.image.clone());
        ctx.books()
            .set_prepared(id, prepared.commit.as_str(), spec)?;
        if wctx.cancel.is_cancelled() {
            return Ok(Launch::Interrupted);
        }
        let (job, command) =
            match execute::launch(ctx, id, spec, &prepared.checkout, &prepared.image).await {
                Ok(launched) => launched,
                Err(failure) => return Ok(Launch::Failed(failure)),
            };
        let at = jiff::Timestamp::now().to_string();
        ctx.books().mark_launched(id, &job.0, &at)?;
        // Readable copies for a person; the node file is what counts.
        let run_dir = ctx.workdir.run(id);
        let _ = std::fs::write(run_dir.join("job_id.txt"), format!("{job}\n"));
        let _ = std::fs::write(run_dir.join("command.txt"), format!("{command}\n"));
        ctx.say(&format!("[{id}] launched job {job}"));
        Ok(Launch::Launched { job, at })
    }

    async fn watch_to_end(
        &self,
        id: &str,
        spec: ExperimentSpec,
        job: JobId,
        launched_at: Option<String>,
        wctx: &WorkContext,
        turn: Turn<'_>,
    ) -> Result<Driven, WorkflowError> {
        let ctx = &self.ctx;
        let end = match execute::watch(ctx, id, &job, launched_at.as_deref(), &wctx.cancel).await {
            Ok(end) => end,
            Err(PollStop::Interrupted) => return Ok(Driven::Interrupted),
        };
        drop(turn);
        ctx.books().mark_job_ended(id, &end)?;
        self.finish(id, &spec, Some(&job), &end, wctx).await
    }
}
