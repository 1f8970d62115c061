//! Recording a finished experiment: gathers the facts of the best decision
//! ([`crate::policy::best`]), writes the run's own files (`analysis.md`, findings) and
//! hands the rest to [`Books::apply_completion`]. Every write is atomic or an append
//! that tolerates a torn line, and each is idempotent by run id, so recording again
//! after a crash changes nothing twice.

use std::fmt::Write as _;

use autoresearch_hypothesis_tree::{FailureRecord, NodeMetrics};
use autoresearch_metrics::{Comparison, Measured, RunSummary, Verdict, compare, headspace};

use crate::books::master_table::MasterRow;
use crate::books::state::HistoryEntry;
use crate::books::{Books, CompletionEntry};
use crate::config::RunConfig;
use crate::describe;
use crate::error::WorkflowError;
use crate::policy::{
    BestDecision, BestFacts, NoiseEstimate, Practice, decide_best, keep_threshold_pct, needs_repeat,
};
use crate::prompts::AnalysisAnswer;
use crate::spec::{ExperimentKind, ExperimentSpec};

/// Findings kept per analysis.
pub const MAX_FINDINGS: usize = 3;
/// A finding is one line of `findings.md`; longer ones are cut to this many bytes.
pub const MAX_FINDING_BYTES: usize = 600;

/// Everything known about a finished experiment.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The node.
    pub id: String,
    /// Its spec.
    pub spec: ExperimentSpec,
    /// The computed summary.
    pub summary: RunSummary,
    /// Why it failed, if it did.
    pub failure: Option<FailureRecord>,
    /// The agent's interpretation.
    pub analysis: Option<AnalysisAnswer>,
    /// Why the interpretation failed, if it did (the numbers still count).
    pub analysis_failure: Option<FailureRecord>,
    /// Job wall time, seconds.
    pub duration_s: Option<f64>,
    /// The end of the job's log.
    pub log_tail: String,
}

/// What recording decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// It became the best (or confirmed a candidate that did).
    pub new_best: bool,
    /// It failed.
    pub failed: bool,
    /// It beat the best and waits for a confirmation run.
    pub needs_confirmation: bool,
}

/// A result judged against the best: what the prompts and the analysis read, the
/// comparison, and whether a win this size is repeated before it counts.
#[derive(Debug, Clone)]
pub struct AgainstBest {
    /// The comparison in words, with the noise rule it was judged by.
    pub text: String,
    /// The comparison, when there was a best to compare with.
    pub comparison: Option<Measured<Comparison>>,
    /// It won, by less than a lucky run could explain (or `--confirm-best` is on).
    pub needs_repeat: bool,
    /// σ_between with this run counted (it was judged by this one).
    pub noise: NoiseEstimate,
}

/// The comparison of `summary` (node `id`) with the current best (for a confirmation
/// run: the best its candidate beat), judged by [`crate::policy::noise`]: the best's
/// runs together are the reference, and the bar is max(`--min-improvement-pct`,
/// 2·σ_between) as well as the within-run interval.
pub fn against_best(
    books: &mut Books,
    config: &RunConfig,
    id: &str,
    spec: &ExperimentSpec,
    summary: &RunSummary,
) -> AgainstBest {
    let noise = books.noise(Some(id));
    let judged = |text: String, comparison| AgainstBest {
        text,
        comparison,
        needs_repeat: false,
        noise,
    };
    if spec.kind == ExperimentKind::Headspace {
        return judged(
            "This is the headspace run: it measures the compute-only floor and is never compared as a candidate."
                .to_owned(),
            None,
        );
    }
    let reference = match spec.kind {
        ExperimentKind::Confirm => books
            .state()
            .pending_confirmation
            .as_ref()
            .and_then(|p| p.previous_best.clone()),
        _ => books.state().current_best.clone(),
    };
    let Some(best) = reference else {
        return judged(
            "There is no best yet: this run is the reference.".to_owned(),
            None,
        );
    };
    let Some((best_summary, runs)) = books.reference_summary(&best) else {
        return judged(
            format!("The best ({best}) has no summary to compare with."),
            None,
        );
    };
    let bar = keep_threshold_pct(config.min_improvement_pct, &noise);
    let mut c = compare(&best_summary, summary, bar);
    if let Measured::Value(v) = &c {
        let best_spec = books.spec_of(&best);
        let batch =
            |s: Option<&ExperimentSpec>| batch_setting(books, &config.base_launch_command, s);
        if let Some(why) = crate::policy::per_step_verdict_blocked(
            v.basis,
            batch(best_spec.as_ref()).as_deref(),
            batch(Some(spec)).as_deref(),
        ) {
            c = Measured::Unavailable(why);
        }
    }
    let needs_repeat = c
        .value()
        .is_some_and(|v| needs_repeat(-v.delta_pct, &noise, config.confirm_best));
    let against = if runs > 1 {
        format!("{best} ({runs} runs together)")
    } else {
        best
    };
    let text = format!(
        "{} {}",
        describe::comparison(&against, &c),
        describe::noise_rule(&noise, config.min_improvement_pct)
    );
    AgainstBest {
        text,
        comparison: Some(c),
        needs_repeat,
        noise,
    }
}

/// The batch knob's value in `spec` (where the spec does not set it, the base command's
/// or the script's default).
fn batch_setting(
    books: &Books,
    base_command: &str,
    spec: Option<&ExperimentSpec>,
) -> Option<String> {
    let knob = crate::knobs::with_command_defaults(&books.state().knobs, base_command)
        .into_iter()
        .find(|k| k.role == crate::knobs::KnobRole::BatchSize)?;
    spec.and_then(|s| {
        s.launch_args
            .iter()
            .find(|(flag, _)| crate::spec::normalise_flag(flag) == knob.name)
            .map(|(_, v)| v.trim().to_owned())
    })
    .or_else(|| knob.default.clone())
}

fn better(c: &Option<Measured<Comparison>>) -> bool {
    matches!(c, Some(Measured::Value(c)) if c.verdict == Verdict::Better)
}

/// Records `done` in the books and on disk (everything but the pictures): the run's
/// files, then the books' completion (see [`Books::apply_completion`]).
pub fn record(
    books: &mut Books,
    config: &RunConfig,
    done: Completion,
) -> Result<Recorded, WorkflowError> {
    let id = done.id.clone();
    let run_dir = books.workdir().run(&id);
    std::fs::create_dir_all(&run_dir).map_err(WorkflowError::io("create", &run_dir))?;
    let failed = done.failure.is_some();
    if !failed {
        books.remember_summary(&id, done.summary.clone());
    }
    let judged = if failed {
        // A failed run is no measurement of its configuration: σ_between without it.
        AgainstBest {
            text: "The run failed; nothing to compare.".to_owned(),
            comparison: None,
            needs_repeat: false,
            noise: books.noise(None),
        }
    } else {
        against_best(books, config, &id, &done.spec, &done.summary)
    };
    let (comparison_text, comparison) = (judged.text, judged.comparison);
    let best = decide_best(&BestFacts {
        id: &id,
        kind: done.spec.kind,
        failed,
        better: better(&comparison),
        has_best: books.state().current_best.is_some(),
        needs_repeat: judged.needs_repeat,
        pending: books.state().pending_confirmation.as_ref(),
    });
    let verdict = comparison.as_ref().and_then(|c| c.value()).copied();
    let entry = completion_entry(books, &done, &best, verdict, judged.noise);
    // The run's own files first: each is idempotent, and the books' commit point comes
    // after them.
    let interpretation = analysis_markdown(&id, &done, &comparison_text);
    autoresearch_fs::write_atomic(&run_dir.join("analysis.md"), interpretation.as_bytes())
        .map_err(WorkflowError::io("write", run_dir.join("analysis.md")))?;
    append_findings(&books.workdir().findings(), &id, &done)?;
    let recorded = Recorded {
        new_best: matches!(&best, BestDecision::NewBest(_))
            || matches!(&best, BestDecision::Settled { confirmed: Some(_) }),
        failed,
        needs_confirmation: best == BestDecision::AwaitConfirmation,
    };
    books.apply_completion(entry)?;
    Ok(recorded)
}

/// Headspace percent and floor, once both the baseline and the headspace run are measured.
fn headspace_of(books: &mut Books) -> Option<(f64, f64)> {
    let base = books.node_of_kind(ExperimentKind::Baseline)?;
    let cached = books.node_of_kind(ExperimentKind::Headspace)?;
    let (b, c) = (books.summary(&base)?, books.summary(&cached)?);
    match headspace(&b, &c) {
        Measured::Value(h) => Some((h.pct, h.cached_ms)),
        Measured::Unavailable(_) => None,
    }
}

/// Everything the books write for `done`, given the best decision and the verdict.
fn completion_entry(
    books: &mut Books,
    done: &Completion,
    best: &BestDecision,
    comparison: Option<Comparison>,
    noise: NoiseEstimate,
) -> CompletionEntry {
    let id = done.id.as_str();
    let failed = done.failure.is_some();
    let step_ms = done.summary.step_time.value().map(|s| s.median_ms);
    let throughput = done.summary.throughput_samples_per_s.value().copied();
    let bottleneck = done.summary.bottleneck.value().map(|b| match &b.stage {
        Some(stage) => format!("{} ({stage})", b.kind),
        None => b.kind.clone(),
    });
    let delta = comparison.map(|c| c.delta_pct);
    let node = books.tree().get(id).cloned();
    let job_id = node.as_ref().and_then(|n| n.job_id.clone());
    let status = if failed { "failed" } else { "completed" };
    let row = MasterRow {
        run_id: id.to_owned(),
        name: done.spec.name.clone(),
        job_id: job_id.clone().unwrap_or_default(),
        status: status.to_owned(),
        throughput_samples_per_s: throughput,
        step_time_ms: done.summary.mean_step_ms.value().copied(),
        steady_step_time_ms: step_ms,
        ttfb_s: done.summary.ttfb_ms.value().map(|ms| ms / 1000.0),
        sm_util_pct: done.summary.sm_util_p75_pct.value().copied(),
        steady_sm_util_pct: done.summary.sm_util_p50_pct.value().copied(),
        data_readiness_pct: done.summary.data_readiness_pct.value().copied(),
        duration_s: done.duration_s,
        changes: done.spec.changes_text(),
        change_summary: done.spec.change_summary.clone(),
        notes: row_notes(done, bottleneck.as_deref(), delta, best),
    };
    let history = HistoryEntry {
        run_id: id.to_owned(),
        name: done.spec.name.clone(),
        status: status.to_owned(),
        job_id,
        commit: node.as_ref().and_then(|n| n.commit.clone()),
        completed_at: jiff::Timestamp::now().to_string(),
        steady_step_ms: step_ms,
        throughput,
        improved: *best == BestDecision::NewBest(id.to_owned()),
        delta_vs_best_pct: delta,
        verdict: comparison.map(|c| format!("{:?}", c.verdict).to_lowercase()),
        bottleneck,
        changes: done.spec.changes_text(),
        failure: done.failure.clone(),
    };
    let structural = done.spec.kind == ExperimentKind::Mtp
        || (done.spec.kind == ExperimentKind::Repair
            && done.spec.tags.iter().any(|t| t == Practice::Mtp.tag()));
    CompletionEntry {
        noise,
        row,
        history,
        best: best.clone(),
        step_ms,
        headspace: headspace_of(books),
        structural,
        failure: done.failure.clone(),
        duration_s: done.duration_s,
        metrics: NodeMetrics {
            step_ms,
            throughput,
            sm_util_pct: done.summary.sm_util_p50_pct.value().copied(),
        },
        comparison: comparison.and_then(|c| serde_json::to_value(c).ok()),
        analysis: done.analysis.clone(),
        analysis_failure: done.analysis_failure.clone(),
    }
}

/// The master-table row's notes: failure, bottleneck, change, and what kind of run it is.
fn row_notes(
    done: &Completion,
    bottleneck: Option<&str>,
    delta: Option<f64>,
    best: &BestDecision,
) -> String {
    let mut notes = Vec::new();
    if let Some(f) = &done.failure {
        notes.push(format!("{}: {}", kind_name(f), f.message));
    }
    if let Some(b) = bottleneck {
        notes.push(format!("bottleneck: {b}"));
    }
    if let Some(d) = delta {
        notes.push(format!("vs best {d:+.1}%"));
    }
    if let Some(ranks) = describe::rank_note(&done.summary) {
        notes.push(ranks);
    }
    if done.spec.kind == ExperimentKind::Headspace {
        notes.push("headspace run (compute-only floor)".to_owned());
    }
    let of = done.spec.of_node.as_deref().unwrap_or("?");
    match done.spec.kind {
        ExperimentKind::Repeat => {
            notes.push(format!("repeat of {of}: measures the noise between runs"))
        }
        ExperimentKind::Confirm => notes.push(format!("repeat of {of}: confirms its win")),
        _ => {}
    }
    if *best == BestDecision::AwaitConfirmation {
        notes.push("beat the best; a repeat will confirm it".to_owned());
    }
    if let Some(f) = &done.analysis_failure {
        notes.push(format!("analysis failed: {}", f.message));
    }
    notes.join("; ")
}

/// A failure kind's snake_case name.
pub fn kind_name(failure: &FailureRecord) -> String {
    serde_json::to_value(failure.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn append_findings(
    path: &std::path::Path,
    id: &str,
    done: &Completion,
) -> Result<(), WorkflowError> {
    let Some(analysis) = &done.analysis else {
        return Ok(());
    };
    let current = std::fs::read_to_string(path).unwrap_or_default();
    let marker = format!("- [{id}]");
    if current.contains(&marker) {
        return Ok(());
    }
    let mut text = if current.is_empty() {
        "# Findings\n\n".to_owned()
    } else {
        current
    };
    for finding in analysis.findings.iter().take(MAX_FINDINGS) {
        let one_line =
            autoresearch_llm_client::json::cap_text(&finding.replace('\n', " "), MAX_FINDING_BYTES)
                .replace('\n', " ");
        let _ = writeln!(text, "{marker} {one_line}");
    }
    autoresearch_fs::write_atomic(path, text.as_bytes()).map_err(WorkflowError::io("write", path))
}

fn analysis_markdown(id: &str, done: &Completion, comparison: &str) -> String {
    let mut md = format!("# {id}: {}\n\n", done.spec.name);
    if !done.spec.hypothesis.is_empty() {
        let _ = writeln!(md, "Hypothesis: {}\n", done.spec.hypothesis);
    }
    let changes = done.spec.changes_text();
    let _ = writeln!(
        md,
        "Changes: {}\n",
        if changes.is_empty() { "none" } else { &changes }
    );
    if let Some(f) = &done.failure {
        let _ = writeln!(md, "**Failed** ({}): {}\n", kind_name(f), f.message);
    }
    let _ = writeln!(
        md,
        "## Measurements (computed from the job's logs)\n\n{}",
        describe::measurements(&done.summary)
    );
    let _ = writeln!(
        md,
        "## Pipeline stages\n\n{}",
        describe::stages(&done.summary)
    );
    let _ = writeln!(md, "## Compared with the best\n\n{comparison}\n");
    match (&done.analysis, &done.analysis_failure) {
        (Some(a), _) => {
            let _ = writeln!(
                md,
                "## Interpretation\n\nBottleneck: {}\nHypothesis: {}\n\n{}\n",
                a.bottleneck, a.verdict, a.interpretation
            );
            if !a.findings.is_empty() {
                md.push_str("Findings:\n");
                for f in a.findings.iter().take(MAX_FINDINGS) {
                    let _ = writeln!(md, "- {f}");
                }
                md.push('\n');
            }
        }
        (None, Some(f)) => {
            let _ = writeln!(md, "## Interpretation\n\nThe analysis agent failed: {}\n", f.message);
        }
        (None, None) if done.spec.kind == ExperimentKind::Repeat => md.push_str("## Interpretation\n\n(a repeat of a configuration already run: its numbers join that configuration's measurements and the noise between runs; no interpretation is asked for)\n\n"),
        (None, None) => md.push_str("## Interpretation\n\n(no agent configured: the measurements above are the analysis)\n\n"),
    }
    if done.failure.is_some() && !done.log_tail.is_empty() {
        let _ = writeln!(md, "## End of the log\n\n```\n{}\n```", done.log_tail);
    }
    md
}
