//! Recording a finished experiment: the noise-aware best decision, the node, the master
//! table row, history, findings, analysis.md, summary.md, the engine views and the
//! pictures. Every write is atomic or an append that tolerates a torn line, and each is
//! idempotent by run id, so recording again after a crash changes nothing twice.

use std::fmt::Write as _;

use autoresearch_hypothesis_tree::{FailureRecord, NodeMetrics, NodeStatus};
use autoresearch_metrics::{Comparison, Measured, RunSummary, Verdict, compare, headspace};
use serde_json::json;

use crate::books::Books;
use crate::config::RunConfig;
use crate::describe;
use crate::error::WorkflowError;
use crate::master_table::MasterRow;
use crate::prompts::AnalysisAnswer;
use crate::spec::{ExperimentKind, ExperimentSpec};
use crate::state::{HistoryEntry, PendingConfirmation};

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

/// The comparison of `summary` with the current best (for prompts and the analysis).
pub fn against_best(
    books: &mut Books,
    config: &RunConfig,
    spec: &ExperimentSpec,
    summary: &RunSummary,
) -> (String, Option<Measured<Comparison>>) {
    let (min_pct, base_command) = (
        config.min_improvement_pct,
        config.base_launch_command.as_str(),
    );
    let reference = match spec.kind {
        ExperimentKind::Confirm => books
            .state
            .pending_confirmation
            .as_ref()
            .and_then(|p| p.previous_best.clone()),
        _ => books.state.current_best.clone(),
    };
    match reference {
        Some(best) if spec.kind != ExperimentKind::Headspace => match books.summary(&best) {
            Some(best_summary) => {
                let mut c = compare(&best_summary, summary, min_pct);
                if let Measured::Value(v) = &c {
                    let best_spec = crate::planning::spec_of(books, &best);
                    let batch =
                        |s: Option<&ExperimentSpec>| batch_setting(books, base_command, s);
                    if let Some(why) = crate::policy::per_step_verdict_blocked(
                        v.basis,
                        batch(best_spec.as_ref()).as_deref(),
                        batch(Some(spec)).as_deref(),
                    ) {
                        c = Measured::Unavailable(why);
                    }
                }
                (describe::comparison(&best, &c), Some(c))
            }
            None => (format!("The best ({best}) has no summary to compare with."), None),
        },
        _ if spec.kind == ExperimentKind::Headspace => (
            "This is the headspace run: it measures the compute-only floor and is never compared as a candidate."
                .to_owned(),
            None,
        ),
        _ => ("There is no best yet: this run is the reference.".to_owned(), None),
    }
}

/// The batch knob's value in `spec` (where the spec does not set it, the base command's
/// or the script's default).
fn batch_setting(
    books: &Books,
    base_command: &str,
    spec: Option<&ExperimentSpec>,
) -> Option<String> {
    let knob = crate::knobs::with_command_defaults(&books.state.knobs, base_command)
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

/// Records `done` in the books and on disk (everything but the pictures).
pub fn record(
    books: &mut Books,
    config: &RunConfig,
    done: Completion,
) -> Result<Recorded, WorkflowError> {
    let id = done.id.clone();
    let workdir = books.workdir().clone();
    let run_dir = workdir.run(&id);
    std::fs::create_dir_all(&run_dir).map_err(WorkflowError::io("create", &run_dir))?;
    let failed = done.failure.is_some();
    let step_ms = done.summary.step_time.value().map(|s| s.median_ms);
    let throughput = done.summary.throughput_samples_per_s.value().copied();
    if !failed {
        books.remember_summary(&id, done.summary.clone());
    }
    let (comparison_text, comparison) = if failed {
        ("The run failed; nothing to compare.".to_owned(), None)
    } else {
        against_best(books, config, &done.spec, &done.summary)
    };
    let mut new_best = false;
    let mut needs_confirmation = false;
    let mut improved_node: Option<String> = None;
    if !failed {
        match done.spec.kind {
            ExperimentKind::Headspace => {
                books.state.floor_ms = step_ms;
            }
            ExperimentKind::Confirm => {
                let pending = books.state.pending_confirmation.take();
                if let Some(p) = pending.filter(|p| p.confirm_node == id)
                    && better(&comparison)
                {
                    improved_node = Some(p.candidate);
                    new_best = true;
                }
            }
            _ if books.state.current_best.is_none() => {
                improved_node = Some(id.clone());
                new_best = true;
            }
            _ if better(&comparison) => {
                if config.confirm_best {
                    needs_confirmation = true;
                } else {
                    improved_node = Some(id.clone());
                    new_best = true;
                }
            }
            _ => {}
        }
    }
    if let Some(best) = &improved_node {
        let best_summary = books.summary(best);
        books.state.current_best = Some(best.clone());
        books.state.best_step_ms = best_summary
            .as_ref()
            .and_then(|s| s.step_time.value().map(|v| v.median_ms));
        books.state.best_throughput = best_summary
            .as_ref()
            .and_then(|s| s.throughput_samples_per_s.value().copied());
        if best != &id {
            books.edit_node(best, |n| n.improved = true)?;
        }
    }
    // Headspace, once both the baseline and the cached run are measured.
    if let (Some(base), Some(cached)) = (
        find_kind(books, ExperimentKind::Baseline),
        find_kind(books, ExperimentKind::Headspace),
    ) && let (Some(b), Some(c)) = (books.summary(&base), books.summary(&cached))
        && let Measured::Value(h) = headspace(&b, &c)
    {
        books.state.headspace_pct = Some(h.pct);
        books.state.floor_ms = Some(h.cached_ms);
    }
    // Practices: the structural one counts when it ran (or after three attempts).
    let structural = done.spec.kind == ExperimentKind::Mtp
        || (done.spec.kind == ExperimentKind::Repair && done.spec.tags.iter().any(|t| t == "mtp"));
    if structural {
        let attempts = books
            .state
            .structural_attempts
            .entry("mtp".to_owned())
            .or_insert(0);
        *attempts += 1;
        if !failed || *attempts >= 3 {
            books.state.practices_tried.insert("mtp".to_owned());
        }
    }
    // Files of the run.
    let interpretation = analysis_markdown(&id, &done, &comparison_text);
    autoresearch_fs::write_atomic(&run_dir.join("analysis.md"), interpretation.as_bytes())
        .map_err(WorkflowError::io("write", run_dir.join("analysis.md")))?;
    let verdict = comparison
        .as_ref()
        .and_then(|c| c.value())
        .map(|c| c.verdict);
    let delta = comparison
        .as_ref()
        .and_then(|c| c.value())
        .map(|c| c.delta_pct);
    let bottleneck = done.summary.bottleneck.value().map(|b| match &b.stage {
        Some(stage) => format!("{} ({stage})", b.kind),
        None => b.kind.clone(),
    });
    let mut notes = Vec::new();
    if let Some(f) = &done.failure {
        notes.push(format!("{}: {}", kind_name(f), f.message));
    }
    if let Some(b) = &bottleneck {
        notes.push(format!("bottleneck: {b}"));
    }
    if let Some(d) = delta {
        notes.push(format!("vs best {d:+.1}%"));
    }
    if done.spec.kind == ExperimentKind::Headspace {
        notes.push("headspace run (compute-only floor)".to_owned());
    }
    if needs_confirmation {
        notes.push("beat the best; a repeat will confirm it".to_owned());
    }
    if let Some(f) = &done.analysis_failure {
        notes.push(format!("analysis failed: {}", f.message));
    }
    let node = books.tree.get(&id).cloned();
    let job_id = node.as_ref().and_then(|n| n.job_id.clone());
    let commit = node.as_ref().and_then(|n| n.commit.clone());
    let row = MasterRow {
        run_id: id.clone(),
        name: done.spec.name.clone(),
        job_id: job_id.clone().unwrap_or_default(),
        status: if failed { "failed" } else { "completed" }.to_owned(),
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
        notes: notes.join("; "),
    };
    books
        .table
        .append(&row)
        .map_err(|err| WorkflowError::Corrupt {
            path: workdir.master_table(),
            detail: err.to_string(),
            hint: "check free space and permissions".to_owned(),
        })?;
    if !books.state.history.iter().any(|h| h.run_id == id) {
        books.state.history.push(HistoryEntry {
            run_id: id.clone(),
            name: done.spec.name.clone(),
            status: row.status.clone(),
            job_id,
            commit,
            completed_at: jiff::Timestamp::now().to_string(),
            steady_step_ms: step_ms,
            throughput,
            improved: new_best && improved_node.as_deref() == Some(id.as_str()),
            delta_vs_best_pct: delta,
            verdict: verdict.map(|v| format!("{v:?}").to_lowercase()),
            bottleneck,
            changes: done.spec.changes_text(),
            failure: done.failure.clone(),
        });
    }
    append_findings(&workdir.findings(), &id, &done)?;
    if needs_confirmation {
        books.state.pending_confirmation = Some(PendingConfirmation {
            candidate: id.clone(),
            confirm_node: String::new(),
            previous_best: books.state.current_best.clone(),
        });
    }
    let improved_self = improved_node.as_deref() == Some(id.as_str());
    let result = json!({
        "summary_file": format!("runs/{id}/summary.json"),
        "comparison": comparison.as_ref().and_then(|c| c.value()).map(|c| serde_json::to_value(c).unwrap_or_default()),
        "analysis": done.analysis,
        "analysis_failure": done.analysis_failure,
        "plan_due": true,
    });
    let target = if failed {
        NodeStatus::Failed
    } else {
        NodeStatus::Completed
    };
    if books.tree.get(&id).is_some_and(|n| n.status != target) {
        books
            .tree
            .transition(&id, target)
            .map_err(|err| WorkflowError::Engine(err.to_string()))?;
    }
    books.edit_node(&id, |n| {
        n.failure = done.failure.clone();
        n.duration = done.duration_s;
        n.improved = n.improved || improved_self;
        n.metrics = NodeMetrics {
            step_ms,
            throughput,
            sm_util_pct: done.summary.sm_util_p50_pct.value().copied(),
        };
        n.result = result;
    })?;
    // State first, node last: the node's terminal status is the commit point. A crash
    // between the two re-records on resume, and every write above is idempotent.
    books.save_state()?;
    books.save_tree()?;
    write_summary_md(books)?;
    books.save_views("running")?;
    Ok(Recorded {
        new_best,
        failed,
        needs_confirmation,
    })
}

/// A failure kind's snake_case name.
pub fn kind_name(failure: &FailureRecord) -> String {
    serde_json::to_value(failure.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The id of the node of `kind` (seeds are unique).
pub fn find_kind(books: &Books, kind: ExperimentKind) -> Option<String> {
    crate::spec::node_of_kind(&books.tree, kind)
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
        (None, None) => md.push_str("## Interpretation\n\n(no agent configured: the measurements above are the analysis)\n\n"),
    }
    if done.failure.is_some() && !done.log_tail.is_empty() {
        let _ = writeln!(md, "## End of the log\n\n```\n{}\n```", done.log_tail);
    }
    md
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.2} ms"))
}

/// Regenerates `summary.md`.
pub fn write_summary_md(books: &Books) -> Result<(), WorkflowError> {
    let state = &books.state;
    let counts = books.tree.counts_by_status();
    let count = |s: NodeStatus| counts.get(&s).copied().unwrap_or(0);
    let mut md = String::from("# Autoresearch progress\n\n");
    let _ = writeln!(
        md,
        "- Experiments: {} ({} completed, {} failed, {} queued, {} in flight)",
        books.tree.len(),
        count(NodeStatus::Completed),
        count(NodeStatus::Failed),
        count(NodeStatus::Queued),
        count(NodeStatus::Preparing) + count(NodeStatus::Running) + count(NodeStatus::Analyzing)
    );
    let baseline_ms = find_kind(books, ExperimentKind::Baseline)
        .and_then(|b| books.tree.get(&b).and_then(|n| n.metrics.step_ms));
    let _ = writeln!(md, "- Baseline steady step: {}", fmt_ms(baseline_ms));
    match (&state.current_best, state.best_step_ms) {
        (Some(best), Some(ms)) => {
            let speedup = crate::speedup::Speedup::of(&books.tree, best)
                .map(|s| format!(" ({})", s.headline()))
                .unwrap_or_default();
            let _ = writeln!(md, "- Best: {best}, steady step {ms:.2} ms{speedup}");
        }
        _ => md.push_str("- Best: none yet\n"),
    }
    if let Some(t) = state.best_throughput {
        let _ = writeln!(md, "- Best throughput: {t:.1} samples/s");
    }
    let _ = writeln!(
        md,
        "- Compute-only floor (headspace run): {}{}",
        fmt_ms(state.floor_ms),
        state
            .headspace_pct
            .map(|h| format!(", headspace {h:.1}%"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        md,
        "- Planning rounds: {}; without a new best: {}",
        state.plateau.rounds, state.plateau.rounds_without_best
    );
    let tried: Vec<&str> = state.practices_tried.iter().map(String::as_str).collect();
    let _ = writeln!(
        md,
        "- Best practices tried: {}",
        if tried.is_empty() {
            "none".to_owned()
        } else {
            tried.join(", ")
        }
    );
    if let Some(stop) = &state.stop {
        let _ = writeln!(md, "- Stopped: {}", crate::policy::describe_stop(stop));
    }
    md.push_str("\n## Recent results\n\n| run | status | steady step ms | samples/s | vs best | changes |\n|---|---|---|---|---|---|\n");
    for h in state.history.iter().rev().take(10) {
        let c = h.cells();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            h.run_id, c.status, c.step_ms, c.throughput, c.delta, h.changes
        );
    }
    let failures = books.tree.counts_by_failure();
    if !failures.is_empty() {
        md.push_str("\n## Failures by kind\n\n");
        for (kind, n) in failures {
            let name = serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let _ = writeln!(md, "- {name}: {n}");
        }
    }
    let path = books.workdir().summary();
    autoresearch_fs::write_atomic(&path, md.as_bytes()).map_err(WorkflowError::io("write", &path))
}

/// Redraws `hypothesis_tree.png` (and `.svg`) and `progress.png`. Drawing problems are
/// logged, not fatal: the pictures are derived from files that are already safe.
pub fn write_pictures(books: &Books) {
    let workdir = books.workdir();
    let best = books.state.current_best.as_deref();
    if let Err(err) =
        autoresearch_hypothesis_tree::write_tree_pictures(&books.tree, best, workdir.root())
    {
        tracing::warn!(%err, "cannot draw the hypothesis tree");
    }
    let points = autoresearch_hypothesis_tree::progress_points(&books.tree);
    if !points.is_empty()
        && let Err(err) = autoresearch_hypothesis_tree::write_progress(
            &points,
            books.state.floor_ms,
            &workdir.progress_png(),
        )
    {
        tracing::warn!(%err, "cannot draw the progress plot");
    }
}
