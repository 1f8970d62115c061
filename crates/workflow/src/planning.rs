//! Planning rounds: the gate (seeds done, no confirmation pending), the plateau and stop
//! rules, the planner call, and turning proposals into queued children (deduplicated,
//! validated, with their base commits resolved). Also the seeds, repairs and
//! confirmation runs, which are children the policy makes on its own.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use autoresearch_hypothesis_tree::{FailureKind, FailurePhase, FailureRecord, NodeStatus};
use autoresearch_llm_client::AgentCall;
use autoresearch_runner_core::WorkSpec;

use crate::books::{Books, NewExperiment, Skipped, spec_of_node};
use crate::context::Context;
use crate::error::WorkflowError;
use crate::policy::{
    ExperimentIdentity, GateFacts, Practice, RoundFacts, RunProgress, StopLimits, StopReason,
    before_job, practices_left, round_opens, round_stop,
};
use crate::prompts::{self, PlanAnswer, PromptError};
use crate::spec::{ExperimentKind, ExperimentSpec};

/// The scheduler kind of every experiment spec.
pub const SPEC_KIND: &str = "experiment";
pub use crate::policy::proposals::MAX_PROPOSALS;
/// Priority of confirmation runs: before anything else.
pub const CONFIRM_PRIORITY: f64 = -100.0;

/// The scheduler's spec for node `id`.
pub fn work_spec(id: &str, priority: f64) -> WorkSpec {
    WorkSpec::new(id, priority)
        .with_kind(SPEC_KIND)
        .with_payload(serde_json::json!({ "node": { "node_id": id } }))
}

/// The MTP seed's instructions.
const MTP_DESCRIPTION: &str = "Move the data-loading pipeline into a subprocess with \
`spdl.pipeline.run_pipeline_in_subprocess`: build the pipeline's `PipelineConfig` with \
`builder.get_config()` (instead of `build()`), pass it to `run_pipeline_in_subprocess(config, \
num_threads=...)`, and iterate the returned object where the loop iterated the pipeline. \
Every stage callable must pickle: use module-level functions and functools.partial, never \
lambdas or nested functions. Keep the probe wrapper on the loop.";

/// Why the MTP seed is skipped: without an agent it can only run through a flag, and
/// the knob reader found none whose branch calls `run_pipeline_in_subprocess` (or the
/// user froze it).
pub const MTP_SKIP_REASON: &str = "no coding agent is configured, and no unfrozen flag of the script \
selects run_pipeline_in_subprocess (the knob reader looks for an if/else on the flag with the \
subprocess call in one branch); moving the pipeline into a subprocess would be a code change";

/// Priorities of the seeds: before anything else, in this order.
const SEED_PRIORITIES: [f64; 3] = [-1000.0, -999.0, -998.0];

/// Adds the seed experiments to an empty tree; returns their specs.
pub fn add_seeds(ctx: &Context, books: &mut Books) -> Result<Vec<WorkSpec>, WorkflowError> {
    let anchor = books.state().anchor_commit.clone();
    let mut baseline = ExperimentSpec::new(ExperimentKind::Baseline, "baseline");
    baseline.hypothesis =
        "The instrumented script as it is: the reference for every comparison.".to_owned();
    baseline.change_summary = "baseline".to_owned();
    let mut head = ExperimentSpec::new(ExperimentKind::Headspace, "headspace");
    head.hypothesis = "Replaying cached batches removes data loading: the step time left is the compute-only floor.".to_owned();
    head.change_summary = "cached batches (floor)".to_owned();
    head.changes = vec!["headspace_cache".to_owned()];
    head.env
        .insert("AUTORESEARCH_HEADSPACE".to_owned(), "1".to_owned());
    let (mtp, skipped) = match mtp_seed(ctx, books) {
        Some(mtp) => (Some(mtp), None),
        None => (
            None,
            Some(Skipped {
                name: Practice::Mtp.tag().to_owned(),
                reason: MTP_SKIP_REASON.to_owned(),
                practice: Some(Practice::Mtp),
            }),
        ),
    };
    let mut seeds: Vec<ExperimentSpec> = [Some(baseline), Some(head), mtp]
        .into_iter()
        .flatten()
        .collect();
    for seed in &mut seeds {
        seed.base_commit.clone_from(&anchor);
    }
    let new: Vec<NewExperiment<'_>> = seeds
        .iter()
        .zip(SEED_PRIORITIES)
        .map(|(spec, priority)| NewExperiment {
            spec,
            parent: None,
            priority,
        })
        .collect();
    let repeats = ctx.config.baseline_repeats.saturating_sub(1);
    let ids = books.add_seeds(
        &new,
        |baseline| repeat_seeds(&seeds[0], baseline, repeats),
        skipped,
    )?;
    let priority_of = |id: &String| books.tree().get(id).map_or(0.0, |n| n.priority);
    Ok(ids
        .iter()
        .map(|id| work_spec(id, priority_of(id)))
        .collect())
}

/// Priority of the baseline's repeats: after the baseline, before the other seeds, so
/// that the noise between runs is measured before the first comparison that needs it.
const REPEAT_PRIORITY: f64 = -999.5;

/// `count` repeats of the baseline (node `baseline`, spec `spec`): the same commit and
/// flags; their spread measures the noise between runs.
fn repeat_seeds(spec: &ExperimentSpec, baseline: &str, count: u32) -> Vec<(ExperimentSpec, f64)> {
    (1..=count)
        .map(|n| {
            let mut repeat = spec.clone();
            repeat.kind = ExperimentKind::Repeat;
            repeat.name = format!("baseline_repeat_{n}");
            repeat.hypothesis =
                "The baseline again: how far two runs of one configuration differ.".to_owned();
            repeat.change_summary = format!("repeat {n} of the baseline");
            repeat.repeat = true;
            repeat.of_node = Some(baseline.to_owned());
            (repeat, REPEAT_PRIORITY + f64::from(n) * 0.01)
        })
        .collect()
}

/// The subprocess seed: a code change when an agent can make it, else the script's own
/// flag that selects the subprocess; `None` when neither exists.
fn mtp_seed(ctx: &Context, books: &Books) -> Option<ExperimentSpec> {
    let mut mtp = ExperimentSpec::new(ExperimentKind::Mtp, Practice::Mtp.tag());
    mtp.hypothesis = "Running the pipeline in a subprocess stops loader threads competing with the training loop for the GIL.".to_owned();
    mtp.changes = vec![Practice::Mtp.tag().to_owned()];
    mtp.tags = vec![Practice::Mtp.tag().to_owned()];
    if ctx.agent.is_some() {
        mtp.description = MTP_DESCRIPTION.to_owned();
        mtp.change_summary = "pipeline in a subprocess".to_owned();
        return Some(mtp);
    }
    // No agent, but a flag of the script may already select the subprocess.
    let (knob, value) = books.state().knobs.iter().find_map(|k| match &k.role {
        crate::knobs::KnobRole::Subprocess { value } => Some((k, value.clone())),
        _ => None,
    })?;
    mtp.change_summary = knob.setting_text(&value);
    if knob.env {
        mtp.env.insert(knob.flag.clone(), value);
    } else {
        mtp.launch_args.insert(knob.flag.clone(), value);
    }
    Some(mtp)
}

/// A start-up repair child of failed node `id`, when the policy allows one.
pub fn repair_child(
    ctx: &Context,
    books: &mut Books,
    id: &str,
    failure: &FailureRecord,
    log_tail: &str,
) -> Result<Option<WorkSpec>, WorkflowError> {
    let Some(spec) = books.spec_of(id) else {
        return Ok(None);
    };
    if !crate::policy::may_repair(
        failure.kind,
        spec.kind,
        spec.repair_attempt,
        ctx.agent.is_some(),
    ) {
        return Ok(None);
    }
    let mut repair = spec.clone();
    repair.kind = ExperimentKind::Repair;
    repair.repair_attempt = spec.repair_attempt + 1;
    let base_name = spec.of_node.as_ref().map_or(spec.name.clone(), |_| {
        spec.name
            .split("_repair_")
            .next()
            .unwrap_or(&spec.name)
            .to_owned()
    });
    repair.name = format!("{base_name}_repair_{}", repair.repair_attempt);
    repair.of_node = Some(id.to_owned());
    repair.startup_failure = Some(log_tail.to_owned());
    repair.change_summary = format!("start-up repair {}", repair.repair_attempt);
    repair.repeat = true;
    let priority = books.tree().get(id).map_or(0.0, |n| n.priority) - 0.01;
    let child = books.add_child(NewExperiment {
        spec: &repair,
        parent: Some(id),
        priority,
    })?;
    ctx.say(&format!(
        "[{id}] failed while starting; queued repair {child}"
    ));
    Ok(Some(work_spec(&child, priority)))
}

/// A confirmation run of candidate `id` (same commit, same flags).
pub fn confirm_child(
    ctx: &Context,
    books: &mut Books,
    id: &str,
) -> Result<Option<WorkSpec>, WorkflowError> {
    let Some(spec) = books.spec_of(id) else {
        return Ok(None);
    };
    let commit = books.tree().get(id).and_then(|n| n.commit.clone());
    let mut confirm = spec;
    confirm.kind = ExperimentKind::Confirm;
    confirm.name = format!("{}_confirm", confirm.name);
    confirm.description.clear();
    confirm.base_commit = commit;
    confirm.repeat = true;
    confirm.of_node = Some(id.to_owned());
    confirm.change_summary = "confirmation repeat".to_owned();
    let child = books.add_confirmation(NewExperiment {
        spec: &confirm,
        parent: Some(id),
        priority: CONFIRM_PRIORITY,
    })?;
    ctx.say(&format!(
        "[{id}] beat the best; queued {child} to confirm it"
    ));
    Ok(Some(work_spec(&child, CONFIRM_PRIORITY)))
}

/// Whether every seed has finished (and there is a baseline).
fn seeds_done(books: &Books) -> bool {
    books.baseline().is_some()
        && books
            .tree()
            .nodes()
            .filter(|n| spec_of_node(n).is_some_and(|s| s.kind.is_seed()))
            .all(|n| n.status.is_terminal())
}

/// What a finished node leads to.
#[derive(Debug, Clone, PartialEq)]
pub enum RoundDecision {
    /// No planning round (seeds still running, a confirmation pending, or stopped).
    None,
    /// A stop was accepted.
    Stop(StopReason),
    /// Plan children of `parent`.
    Plan {
        /// The node the children hang under by default.
        parent: String,
    },
}

/// The stop limits of the configuration.
pub fn limits(ctx: &Context) -> StopLimits {
    StopLimits {
        patience: ctx.config.patience,
        max_iterations: ctx.config.max_iterations,
        max_experiments: ctx.config.budgets.max_experiments,
        max_hours: ctx.config.budgets.max_hours,
        max_llm_usd: ctx.config.budgets.max_llm_usd,
        floor_stop_pct: ctx.config.floor_stop_pct,
    }
}

/// The run's progress against the stop rules.
pub fn progress(ctx: &Context, books: &Books) -> RunProgress {
    let state = books.state();
    RunProgress {
        plateau: state.plateau,
        experiments: state.launched,
        hours: ctx.hours_used(state.elapsed_before_s),
        llm_usd: ctx.llm_spent(),
        practices_tried: state.practices_tried.clone(),
        best_ms: state.best_step_ms,
        floor_ms: state.floor_ms,
    }
}

/// The planning gate's facts about node `id` finishing.
fn gate_facts(books: &Books, id: &str) -> GateFacts {
    let state = books.state();
    GateFacts {
        stopped: state.stop.is_some(),
        seeds_done: seeds_done(books),
        confirmation_pending: state
            .pending_confirmation
            .as_ref()
            .is_some_and(|p| p.candidate == id || !p.confirm_node.is_empty()),
        is_seed: books.spec_of(id).is_some_and(|s| s.kind.is_seed()),
        seed_round_done: state.seed_round_done,
    }
}

/// The round's facts beyond the progress: a failed baseline, failures before jobs ran.
fn round_facts(books: &Books) -> RoundFacts {
    let baseline_failed = books
        .baseline()
        .and_then(|(b, _)| books.tree().get(&b).map(|n| n.status == NodeStatus::Failed))
        .unwrap_or(false);
    let streak = books
        .state()
        .history
        .iter()
        .rev()
        .take_while(|h| h.failure.as_ref().is_some_and(|f| before_job(f.phase)))
        .count();
    RoundFacts {
        baseline_failed,
        failures_before_jobs: u32::try_from(streak).unwrap_or(u32::MAX),
    }
}

/// Decides, under the lock, whether node `id` finishing starts a planning round; counts
/// the round and applies the stop rules (all decided by [`crate::policy::round`]).
pub fn decide(ctx: &Context, books: &mut Books, id: &str) -> Result<RoundDecision, WorkflowError> {
    if !round_opens(&gate_facts(books, id)) {
        return Ok(RoundDecision::None);
    }
    let node = books.tree().get(id).cloned();
    let failed = node
        .as_ref()
        .is_some_and(|n| n.status == NodeStatus::Failed);
    books.open_round(failed)?;
    // The iteration limit counts rounds already planned: round N may plan while N ≤ limit.
    let mut before = progress(ctx, books);
    before.plateau.rounds = books.state().plateau.rounds.saturating_sub(1);
    if let Some(reason) = round_stop(&before, &limits(ctx), round_facts(books)) {
        books.accept_stop(reason.clone())?;
        ctx.say(&format!(
            "stopping: {}",
            crate::policy::describe_stop(&reason)
        ));
        return Ok(RoundDecision::Stop(reason));
    }
    let parent = match node {
        Some(n)
            if n.status == NodeStatus::Completed
                && books.spec_of(id).is_some_and(|s| {
                    !matches!(s.kind, ExperimentKind::Headspace | ExperimentKind::Repeat)
                }) =>
        {
            id.to_owned()
        }
        _ => match books
            .state()
            .current_best
            .clone()
            .or_else(|| books.baseline().map(|(b, _)| b))
        {
            Some(p) => p,
            None => return Ok(RoundDecision::None),
        },
    };
    Ok(RoundDecision::Plan { parent })
}

/// The history as a compact Markdown table.
pub fn history_table(books: &Books) -> String {
    if books.state().history.is_empty() {
        return "(none yet)\n".to_owned();
    }
    let mut out = String::from(
        "| run | status | steady step ms | samples/s | vs best then | verdict | bottleneck | changes |\n|---|---|---|---|---|---|---|---|\n",
    );
    for h in &books.state().history {
        let c = h.cells();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            h.run_id,
            c.status,
            c.step_ms,
            c.throughput,
            c.delta,
            h.verdict.clone().unwrap_or_else(|| "–".to_owned()),
            h.bottleneck.clone().unwrap_or_else(|| "–".to_owned()),
            if h.changes.is_empty() {
                "none"
            } else {
                h.changes.as_str()
            },
        );
    }
    out
}

/// The script as it is in node `id`'s code (its checkout, else the anchor's).
fn script_of(ctx: &Context, id: &str) -> String {
    let candidates = [
        ctx.workdir.checkout(id),
        ctx.workdir.checkout(crate::setup::SETUP_CHECKOUT),
    ];
    candidates
        .iter()
        .find_map(|dir| std::fs::read_to_string(ctx.layout.script_in(dir)).ok())
        .or_else(|| std::fs::read_to_string(&ctx.config.pipeline_script).ok())
        .unwrap_or_default()
}

/// The planning prompt for a round under `parent`.
// Long on purpose: one value per placeholder of the planning prompt, in its order.
pub fn plan_prompt(ctx: &Context, books: &Books, parent: &str) -> Result<String, PromptError> {
    let state = books.state();
    let tried: Vec<&str> = state.practices_tried.iter().map(|p| p.tag()).collect();
    let left: Vec<&str> = practices_left(&state.practices_tried)
        .into_iter()
        .map(Practice::tag)
        .collect();
    let best = match (&state.current_best, state.best_step_ms) {
        (Some(id), Some(ms)) => format!(
            "{id}, steady step {ms:.2} ms{}",
            state
                .best_throughput
                .map(|t| format!(", {t:.1} samples/s"))
                .unwrap_or_default()
        ),
        _ => "none yet".to_owned(),
    };
    let floor = match (state.floor_ms, state.headspace_pct) {
        (Some(f), Some(h)) => format!("{f:.2} ms (headspace {h:.1}%)"),
        (Some(f), None) => format!("{f:.2} ms"),
        _ => "not measured".to_owned(),
    };
    let latest =
        std::fs::read_to_string(ctx.workdir.run(parent).join("analysis.md")).unwrap_or_default();
    let findings = std::fs::read_to_string(ctx.workdir.findings()).unwrap_or_default();
    let findings = autoresearch_fs::text::tail(&findings, 4000).to_owned();
    let values = BTreeMap::from([
        ("ITERATION", state.plateau.rounds.to_string()),
        ("MAX_ITERATIONS", ctx.config.max_iterations.to_string()),
        ("PLATEAU", state.plateau.rounds_without_best.to_string()),
        ("PATIENCE", ctx.config.patience.to_string()),
        ("BEST", best),
        ("FLOOR", floor),
        (
            "NOISE",
            crate::describe::noise_rule(&state.noise, ctx.config.min_improvement_pct),
        ),
        (
            "PRACTICES_TRIED",
            if tried.is_empty() {
                "none".to_owned()
            } else {
                tried.join(", ")
            },
        ),
        (
            "PRACTICES_LEFT",
            if left.is_empty() {
                "none".to_owned()
            } else {
                left.join(", ")
            },
        ),
        (
            "NOTES",
            if ctx.config.notes.trim().is_empty() {
                "(none)".to_owned()
            } else {
                ctx.config.notes.clone()
            },
        ),
        ("BASE_COMMAND", ctx.config.base_launch_command.clone()),
        (
            "KNOBS",
            crate::knobs::table_markdown(&crate::knobs::with_command_defaults(
                &state.knobs,
                &ctx.config.base_launch_command,
            )),
        ),
        ("HISTORY", history_table(books)),
        ("PARENT", parent.to_owned()),
        (
            "LATEST",
            autoresearch_fs::text::truncate_lines(&latest, 8000),
        ),
        (
            "FINDINGS",
            if findings.trim().is_empty() {
                "(none yet)".to_owned()
            } else {
                findings
            },
        ),
        ("CODE", script_of(ctx, parent)),
        ("KNOWLEDGE", prompts::knowledge()),
    ]);
    prompts::render(prompts::PLAN, &values)
}

/// Asks the agent for a plan. `None` when no agent is configured. A plan that launches
/// nothing, or whose every proposal sets flags that are not knobs, gets the call's
/// repair round like a malformed answer.
pub async fn ask_planner(
    ctx: &Context,
    prompt: String,
) -> Result<Option<PlanAnswer>, FailureRecord> {
    let Some(agent) = &ctx.agent else {
        return Ok(None);
    };
    let knobs = ctx.books().state().knobs.clone();
    let frozen = ctx.config.frozen.clone();
    let call = AgentCall::new("plan", prompt);
    agent
        .call_json_checked::<PlanAnswer, _>(call, |plan| {
            crate::policy::proposals::plan_problems(plan, &knobs, &frozen)
        })
        .await
        .map(|(plan, _)| Some(plan))
        .map_err(|err| {
            FailureRecord::new(
                FailureKind::PlanningFailed,
                FailurePhase::Planning,
                format!("the planner failed: {err}"),
            )
        })
}

/// The built-in planner's proposals for a round under the current best.
pub fn builtin_plan(ctx: &Context, books: &mut Books, finished: &str) -> PlanAnswer {
    use crate::builtin_planner::{PlannerView, config_key};
    let best = books
        .state()
        .current_best
        .clone()
        .or_else(|| books.baseline().map(|(b, _)| b));
    let best_spec = best.as_deref().and_then(|b| books.spec_of(b));
    let best_summary = best.as_deref().and_then(|b| books.summary(b));
    // Every configuration run or queued (the headspace run replays cached batches: it is
    // no configuration), each spec read once.
    let specs: Vec<ConfigRow> = books
        .tree()
        .nodes()
        .filter_map(|n| {
            let spec = spec_of_node(n)?;
            Some((n.node_id.clone(), n.status, spec, n.parent_id.clone()))
        })
        .filter(|(_, _, spec, _)| spec.kind != ExperimentKind::Headspace)
        .collect();
    let tried = specs
        .iter()
        .map(|(_, _, s, _)| config_key(&s.launch_args, &s.env))
        .collect();
    let failed_batch = failed_batch(books);
    let waiting = books
        .tree()
        .nodes()
        .filter(|n| !n.status.is_terminal() && n.node_id != finished)
        .count();
    // The built-in planner answers at once, so nothing need wait in the queue: every
    // proposal is made from the newest results instead of going stale behind another.
    let slots = ctx.config.max_concurrency as usize;
    let observations = observations(books, &specs);
    let floor = floor_of(books);
    // The base command's own flag values are the defaults the planner starts from.
    let knobs =
        crate::knobs::with_command_defaults(&books.state().knobs, &ctx.config.base_launch_command);
    let view = PlannerView {
        knobs: &knobs,
        best_args: best_spec
            .as_ref()
            .map(|s| s.launch_args.clone())
            .unwrap_or_default(),
        best_summary: best_summary.as_ref(),
        best_env: best_spec
            .as_ref()
            .map(|s| s.env.clone())
            .unwrap_or_default(),
        headspace_pct: books.state().headspace_pct,
        floor,
        tried,
        wanted: slots.saturating_sub(waiting).clamp(1, MAX_PROPOSALS),
        seed: books.tree().len() as u64,
        observations,
        failed_batch,
        time_limit_s: Some(time_limit_s(ctx, books)),
    };
    crate::builtin_planner::plan(&view)
}

/// Every configuration run or queued, with its status, spec and parent.
type ConfigRow = (String, NodeStatus, ExperimentSpec, Option<String>);

/// The smallest batch size that made a job fail (out of memory, say), if one did.
fn failed_batch(books: &Books) -> Option<i64> {
    let name = books
        .state()
        .knobs
        .iter()
        .find(|k| k.role == crate::knobs::KnobRole::BatchSize)
        .map(|k| k.name.clone())?;
    books
        .tree()
        .nodes()
        .filter(|n| {
            n.failure.as_ref().is_some_and(|f| {
                matches!(
                    f.kind,
                    FailureKind::JobRuntimeFailed
                        | FailureKind::JobStartupFailed
                        | FailureKind::JobFailed
                )
            })
        })
        .filter_map(spec_of_node)
        .filter_map(|s| {
            s.launch_args
                .iter()
                .find(|(k, _)| crate::spec::normalise_flag(k) == name)
                .and_then(|(_, v)| v.parse::<i64>().ok())
        })
        .min()
}

/// What the built-in planner learns from: every completed configuration with its
/// summary, and the summary of the configuration it varied.
fn observations(
    books: &mut Books,
    specs: &[ConfigRow],
) -> Vec<crate::builtin_planner::Observation> {
    specs
        .iter()
        .filter(|(_, status, _, _)| *status == NodeStatus::Completed)
        .filter_map(|(id, _, spec, parent)| {
            let base = parent.as_deref().and_then(|parent| {
                let (_, _, base_spec, _) = specs.iter().find(|(id, ..)| id == parent)?;
                Some(crate::builtin_planner::ObservedBase {
                    config: base_spec.launch_args.clone(),
                    env: base_spec.env.clone(),
                    summary: books.summary(parent)?,
                })
            });
            Some(crate::builtin_planner::Observation {
                config: spec.launch_args.clone(),
                env: spec.env.clone(),
                summary: books.summary(id)?,
                base,
            })
        })
        .collect()
}

/// The longest a new experiment may run, seconds: the job timeout, or what is left of
/// the run's time budget when that is shorter.
fn time_limit_s(ctx: &Context, books: &Books) -> f64 {
    let timeout = ctx.config.job_timeout_s as f64;
    match ctx.config.budgets.max_hours {
        Some(hours) => {
            let left = (hours - ctx.hours_used(books.state().elapsed_before_s)) * 3600.0;
            timeout.min(left.max(0.0))
        }
        None => timeout,
    }
}

/// The compute-only floor's steady step and batch size, once the headspace run has them.
fn floor_of(books: &mut Books) -> Option<(f64, Option<i64>)> {
    let id = books.node_of_kind(ExperimentKind::Headspace)?;
    let summary = books.summary(&id)?;
    let step = summary.step_time.value()?.median_ms;
    Some((step, summary.batch_size.and_then(|b| i64::try_from(b).ok())))
}

/// Where a plan came from, for its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanSource {
    /// The configured agent.
    Agent,
    /// The built-in planner.
    Builtin,
}

/// Turns a plan into queued children of `parent`, screened by
/// [`crate::policy::proposals::screen`]. Every proposal that does not run is said in the
/// log with its reason, and the whole outcome is recorded in node `finished`'s result
/// (`plan`: action, reasoning, queued ids, dropped proposals, warnings).
pub fn add_children(
    ctx: &Context,
    books: &mut Books,
    parent: &str,
    finished: &str,
    plan: &PlanAnswer,
    source: PlanSource,
) -> Result<Vec<WorkSpec>, WorkflowError> {
    let screened = screen_plan(ctx, books, plan);
    say_screened(ctx, parent, plan, &screened);
    let new: Vec<NewExperiment<'_>> = screened
        .accepted
        .iter()
        .map(|spec| NewExperiment {
            spec,
            parent: Some(spec.base_node.as_deref().unwrap_or(parent)),
            priority: 0.0,
        })
        .collect();
    let source = match source {
        PlanSource::Agent => "agent",
        PlanSource::Builtin => "builtin",
    };
    let queued = books.record_plan(finished, &new, |queued| {
        serde_json::json!({
            "source": source,
            "action": plan.action.as_str(),
            "reasoning": plan.reasoning,
            "proposed": plan.experiments.len(),
            "queued": queued,
            "dropped": screened.dropped,
            "warnings": screened.warnings,
        })
    })?;
    for (id, spec) in queued.iter().zip(&screened.accepted) {
        ctx.say(&format!(
            "[{parent}] queued {id}: {}",
            one_line(&spec.hypothesis)
        ));
    }
    Ok(queued.iter().map(|id| work_spec(id, 0.0)).collect())
}

/// Screens `plan` against what the books know (see [`crate::policy::proposals`]).
fn screen_plan(
    ctx: &Context,
    books: &Books,
    plan: &PlanAnswer,
) -> crate::policy::proposals::Screened {
    let existing: Vec<ExperimentIdentity> = books
        .tree()
        .nodes()
        .filter(|n| n.status != NodeStatus::Failed)
        .filter_map(spec_of_node)
        .filter(|s| s.kind != ExperimentKind::Headspace)
        .map(|s| s.identity())
        .collect();
    let completed: BTreeMap<String, String> = books
        .tree()
        .nodes()
        .filter(|n| n.status == NodeStatus::Completed)
        .filter_map(|n| Some((n.node_id.clone(), n.commit.clone()?)))
        .collect();
    let knobs =
        crate::knobs::with_command_defaults(&books.state().knobs, &ctx.config.base_launch_command);
    crate::policy::proposals::screen(
        plan,
        &crate::policy::proposals::Screen {
            knobs: &knobs,
            frozen: &ctx.config.frozen,
            existing: &existing,
            completed: &completed,
            anchor: books.state().anchor_commit.as_deref(),
            cap: MAX_PROPOSALS,
        },
    )
}

/// Says in the log what the screen decided about a plan: a stop, its warnings, and
/// every proposal that does not run, with why.
fn say_screened(
    ctx: &Context,
    parent: &str,
    plan: &PlanAnswer,
    screened: &crate::policy::proposals::Screened,
) {
    if plan.action == crate::prompts::PlanAction::Stop {
        ctx.say(&format!(
            "[{parent}] the planner proposes nothing more: {}",
            one_line(&plan.reasoning)
        ));
    }
    for warning in &screened.warnings {
        ctx.say(&format!("[{parent}] warning: {}", one_line(warning)));
    }
    for dropped in &screened.dropped {
        ctx.say(&format!(
            "[{parent}] dropped proposal {}: {}",
            one_line(&dropped.name),
            one_line(&dropped.reason)
        ));
    }
}

/// `text` on one line, shortened for a log line.
fn one_line(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 400 {
        format!("{}…", flat.chars().take(400).collect::<String>())
    } else {
        flat
    }
}
