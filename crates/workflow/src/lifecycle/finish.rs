//! The last phases: collect the evidence, ask for the analysis, record the result, then
//! the children the result calls for (a repair, a confirmation, a planning round).

use autoresearch_hypothesis_tree::FailureRecord;
use autoresearch_jobs::JobId;
use autoresearch_metrics::RunSummary;
use autoresearch_runner_core::{WorkContext, WorkSpec};

use super::{Driven, ExperimentWorkflow};
use crate::collect::{self, Collected};
use crate::context::Context;
use crate::error::WorkflowError;
use crate::execute::JobEnd;
use crate::planning;
use crate::prompts::AnalysisAnswer;
use crate::record::{self, Completion, Recorded};
use crate::spec::ExperimentSpec;

impl ExperimentWorkflow {
    /// Collects, analyses, records and plans.
    pub(super) async fn finish(
        &self,
        id: &str,
        spec: &ExperimentSpec,
        job: Option<&JobId>,
        end: &JobEnd,
        wctx: &WorkContext,
    ) -> Result<Driven, WorkflowError> {
        let ctx = &self.ctx;
        let collected: Collected = collect::collect(ctx, id, job, end).await;
        let run_dir = ctx.workdir.run(id);
        collect::write_summary(&run_dir, &collected.summary)
            .map_err(WorkflowError::io("write", run_dir.join("summary.json")))?;
        let Some((analysis, analysis_failure)) = self.analysis(id, spec, &collected, wctx).await
        else {
            return Ok(Driven::Interrupted);
        };
        let failure = collected.failure.clone();
        let recorded = self.record(Completion {
            id: id.to_owned(),
            spec: spec.clone(),
            summary: collected.summary.clone(),
            failure: failure.clone(),
            analysis,
            analysis_failure,
            duration_s: job_duration(ctx, job).await,
            log_tail: collected.log_tail.clone(),
        })?;
        ctx.say(&result_line(
            id,
            failure.as_ref(),
            &collected.summary,
            &recorded,
        ));
        let mut children = Vec::new();
        if let Some(f) = &failure {
            let repair = {
                let mut books = ctx.books();
                planning::repair_child(ctx, &mut books, id, f, &collected.log_tail)?
            };
            if let Some(repair) = repair {
                ctx.books().mark_planned(id)?;
                return Ok(Driven::Failed(f.message.clone(), vec![repair]));
            }
        }
        if recorded.needs_confirmation {
            let mut books = ctx.books();
            children.extend(planning::confirm_child(ctx, &mut books, id)?);
        }
        children.extend(self.plan_after(id).await?);
        Ok(match failure {
            Some(f) => Driven::Failed(f.message, children),
            None => Driven::Done(children),
        })
    }

    /// The agent's analysis of a job that did not fail (none without an agent); `None`
    /// when a signal came first.
    async fn analysis(
        &self,
        id: &str,
        spec: &ExperimentSpec,
        collected: &Collected,
        wctx: &WorkContext,
    ) -> Option<(Option<AnalysisAnswer>, Option<FailureRecord>)> {
        let ctx = &self.ctx;
        // A repeat of a configuration already run tells an agent nothing new: its
        // numbers join that configuration's, and no agent call is spent on it.
        if collected.failure.is_some() || spec.kind == crate::spec::ExperimentKind::Repeat {
            return Some((None, None));
        }
        let (comparison, history) = {
            let mut books = ctx.books();
            let text =
                record::against_best(&mut books, &ctx.config, id, spec, &collected.summary).text;
            (text, planning::history_table(&books))
        };
        let analysis = tokio::select! {
            () = wctx.cancel.cancelled() => return None,
            result = collect::analyse(ctx, id, spec, collected, &comparison, &history) => result,
        };
        Some(match analysis {
            Ok(a) => (a, None),
            Err(f) => (None, Some(f)),
        })
    }

    /// Records a completion under the books' lock, then redraws the pictures.
    fn record(&self, done: Completion) -> Result<Recorded, WorkflowError> {
        let ctx = &self.ctx;
        let mut books = ctx.books();
        let recorded = record::record(&mut books, &ctx.config, done)?;
        ctx.maybe_pictures(&books);
        Ok(recorded)
    }

    /// Records a failure before a job produced anything (prepare, build, launch).
    pub(super) async fn fail_early(
        &self,
        id: &str,
        failure: FailureRecord,
    ) -> Result<Driven, WorkflowError> {
        let ctx = &self.ctx;
        let Some(spec) = ctx.books().spec_of(id) else {
            return Ok(Driven::Failed(failure.message, Vec::new()));
        };
        ctx.say(&format!(
            "[{id}] failed ({}): {}",
            record::kind_name(&failure),
            failure.message
        ));
        self.record(Completion {
            id: id.to_owned(),
            spec,
            summary: RunSummary::from_evidence(&autoresearch_metrics::Evidence::default(), None),
            failure: Some(failure.clone()),
            analysis: None,
            analysis_failure: None,
            duration_s: None,
            log_tail: String::new(),
        })?;
        // A failed preparation still ends a round: otherwise a run whose last
        // experiment failed to build would end without planning again.
        let children: Vec<WorkSpec> = self.plan_after(id).await?;
        Ok(Driven::Failed(failure.message, children))
    }
}

/// The progress line of a recorded result.
fn result_line(
    id: &str,
    failure: Option<&FailureRecord>,
    summary: &RunSummary,
    recorded: &Recorded,
) -> String {
    match (failure, summary.step_time.value()) {
        (Some(f), _) => format!("[{id}] failed ({}): {}", record::kind_name(f), f.message),
        (None, Some(s)) => format!(
            "[{id}] steady step {:.2} ms{}{}",
            s.median_ms,
            summary
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
    }
}

/// The job's wall time from the platform's log record.
async fn job_duration(ctx: &Context, job: Option<&JobId>) -> Option<f64> {
    let logs = ctx.platform.logs(job?).await.ok()?;
    let start: jiff::Timestamp = logs.started_at?.parse().ok()?;
    let end: jiff::Timestamp = logs.ended_at?.parse().ok()?;
    Some(end.duration_since(start).as_secs_f64())
}
