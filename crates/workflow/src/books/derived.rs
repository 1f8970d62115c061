//! The files derived from the books: `summary.md` and the pictures.

use std::fmt::Write as _;

use autoresearch_hypothesis_tree::NodeStatus;

use super::Books;
use crate::error::WorkflowError;

fn fmt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.2} ms"))
}

/// Regenerates `summary.md`.
pub fn write_summary_md(books: &Books) -> Result<(), WorkflowError> {
    let state = books.state();
    let counts = books.tree().counts_by_status();
    let count = |s: NodeStatus| counts.get(&s).copied().unwrap_or(0);
    let mut md = String::from("# Autoresearch progress\n\n");
    let _ = writeln!(
        md,
        "- Experiments: {} ({} completed, {} failed, {} queued, {} in flight)",
        books.tree().len(),
        count(NodeStatus::Completed),
        count(NodeStatus::Failed),
        count(NodeStatus::Queued),
        count(NodeStatus::Preparing) + count(NodeStatus::Running) + count(NodeStatus::Analyzing)
    );
    let baseline_ms = books.baseline().and_then(|(_, ms)| ms);
    let _ = writeln!(md, "- Baseline steady step: {}", fmt_ms(baseline_ms));
    match (&state.current_best, state.best_step_ms) {
        (Some(best), Some(ms)) => {
            let speedup = crate::speedup::Speedup::of(books.tree(), best)
                .map(|s| format!(" ({})", s.headline()))
                .unwrap_or_default();
            let _ = writeln!(md, "- Best: {best}, steady step {ms:.2} ms{speedup}");
            if let Some(ranks) = books
                .peek_summary(best)
                .as_ref()
                .and_then(crate::describe::rank_note)
            {
                let _ = writeln!(
                    md,
                    "- Best's ranks: {ranks} (the job steps at its slowest rank's pace)"
                );
            }
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
        "- Noise between runs: {}",
        crate::describe::noise_line(&state.noise)
    );
    let _ = writeln!(
        md,
        "- Planning rounds: {}; without a new best: {}",
        state.plateau.rounds, state.plateau.rounds_without_best
    );
    let tried: Vec<&str> = state.practices_tried.iter().map(|p| p.tag()).collect();
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
    md.push_str(&recent_and_failures(books));
    let path = books.workdir().summary();
    autoresearch_fs::write_atomic(&path, md.as_bytes()).map_err(WorkflowError::io("write", &path))
}

/// `summary.md`'s last sections: the ten newest results and the failures by kind.
fn recent_and_failures(books: &Books) -> String {
    let mut md = String::new();
    md.push_str("\n## Recent results\n\n| run | status | steady step ms | samples/s | vs best | changes |\n|---|---|---|---|---|---|\n");
    for h in books.state().history.iter().rev().take(10) {
        let c = h.cells();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            h.run_id, c.status, c.step_ms, c.throughput, c.delta, h.changes
        );
    }
    let failures = books.tree().counts_by_failure();
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
    md
}

/// Each node's change in words, for its box in the tree picture.
fn box_labels(books: &Books) -> autoresearch_hypothesis_tree::BoxLabels {
    let spec_of = |id: &str| {
        books
            .tree()
            .get(id)
            .and_then(|n| serde_json::from_value::<crate::ExperimentSpec>(n.spec.clone()).ok())
    };
    let defaults: std::collections::BTreeMap<String, String> = books
        .state()
        .knobs
        .iter()
        .filter_map(|k| Some((k.flag.clone(), k.default.clone()?)))
        .collect();
    books
        .tree()
        .nodes()
        .filter_map(|node| {
            let spec = spec_of(&node.node_id)?;
            // Against the box above it: the edge the picture draws.
            let base = node.parent_id.as_deref().and_then(spec_of);
            Some((
                node.node_id.clone(),
                crate::change_words::change_words(&spec, base.as_ref(), &defaults),
            ))
        })
        .collect()
}

/// The name a seed is marked with on the progress chart.
fn seed_label(kind: crate::ExperimentKind) -> Option<String> {
    match kind {
        crate::ExperimentKind::Baseline => Some("baseline".to_owned()),
        crate::ExperimentKind::Headspace => Some("floor".to_owned()),
        crate::ExperimentKind::Mtp => Some("MTP".to_owned()),
        _ => None,
    }
}

/// Redraws `hypothesis_tree.png` (and `.svg`) and `progress.png`. Drawing problems are
/// logged, not fatal: the pictures are derived from files that are already safe.
pub fn write_pictures(books: &Books) {
    let workdir = books.workdir();
    let best = books.state().current_best.as_deref();
    if let Err(err) = autoresearch_hypothesis_tree::write_tree_pictures(
        books.tree(),
        best,
        &box_labels(books),
        workdir.root(),
    ) {
        tracing::warn!(%err, "cannot draw the hypothesis tree");
    }
    let mut points = autoresearch_hypothesis_tree::progress_points(books.tree());
    for point in &mut points {
        point.label = books
            .tree()
            .get(&point.node_id)
            .and_then(|n| serde_json::from_value::<crate::ExperimentSpec>(n.spec.clone()).ok())
            .and_then(|spec| seed_label(spec.kind));
    }
    if !points.is_empty()
        && let Err(err) = autoresearch_hypothesis_tree::write_progress(
            &points,
            books.state().floor_ms,
            &workdir.progress_png(),
        )
    {
        tracing::warn!(%err, "cannot draw the progress plot");
    }
}
