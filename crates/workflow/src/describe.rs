//! Computed summaries as Markdown, for analyses, prompts and reports. Deterministic:
//! the same summary always reads the same.

use autoresearch_metrics::{Comparison, Measured, RankSummary, RunSummary};

/// `12.3` or `n/a (reason)`.
fn measured(value: &Measured<f64>, unit: &str) -> String {
    match value {
        Measured::Value(v) => format!("{v:.2}{unit}"),
        Measured::Unavailable(why) => format!("n/a ({why})"),
    }
}

/// The headline figures of a run as a Markdown list.
pub fn measurements(summary: &RunSummary) -> String {
    let mut out = String::new();
    let step = match &summary.step_time {
        Measured::Value(s) => format!(
            "{:.2} ms (p10 {:.2}, p90 {:.2}; 95% interval of the median {:.2}–{:.2})",
            s.median_ms, s.p10_ms, s.p90_ms, s.ci95_low_ms, s.ci95_high_ms
        ),
        Measured::Unavailable(why) => format!("n/a ({why})"),
    };
    let lines = [
        ("Steady step time", step),
        (
            "Throughput",
            measured(&summary.throughput_samples_per_s, " samples/s"),
        ),
        (
            "Steps",
            format!(
                "{} ({} in the steady window)",
                summary.steps, summary.steady_steps
            ),
        ),
        (
            "Batch size",
            summary
                .batch_size
                .map_or_else(|| "unknown".to_owned(), |b| b.to_string()),
        ),
        (
            "Mean step (all steps)",
            measured(&summary.mean_step_ms, " ms"),
        ),
        ("Median data wait", measured(&summary.median_wait_ms, " ms")),
        (
            "Median compute",
            measured(&summary.median_compute_ms, " ms"),
        ),
        ("Data readiness", measured(&summary.data_readiness_pct, "%")),
        (
            "Data wait share",
            measured(&summary.data_wait_share_pct, "%"),
        ),
        ("Time to first batch", measured(&summary.ttfb_ms, " ms")),
        ("Sink occupancy", measured(&summary.sink_occupancy_pct, "%")),
        ("Host CPU", measured(&summary.host_cpu_pct, "%")),
        ("Job CPU", measured(&summary.job_cpu_pct, "%")),
        (
            "GPU SM utilisation p50",
            measured(&summary.sm_util_p50_pct, "%"),
        ),
        (
            "Bottleneck",
            match &summary.bottleneck {
                Measured::Value(b) => format!(
                    "{}{} — {}",
                    b.kind,
                    b.stage
                        .as_ref()
                        .map(|s| format!(" ({s})"))
                        .unwrap_or_default(),
                    b.reason
                ),
                Measured::Unavailable(why) => format!("n/a ({why})"),
            },
        ),
    ];
    for (name, value) in lines {
        out.push_str(&format!("- {name}: {value}\n"));
    }
    out.push_str(&afterwords(summary));
    out
}

/// What follows the headline figures: torn lines, the headspace note, the ranks.
fn afterwords(summary: &RunSummary) -> String {
    let mut out = String::new();
    if summary.torn_lines > 0 {
        out.push_str(&format!(
            "- Torn lines dropped: {} (pieces of several writers' lines, never read as records)\n",
            summary.torn_lines
        ));
    }
    if summary.headspace_run {
        out.push_str("- This was a headspace run (cached batches replayed): its step time is the compute-only floor.\n");
    }
    out.push_str(&ranks(summary));
    out
}

/// Ranks shown in full up to this many; beyond, the slowest, the median and the fastest.
const RANKS_IN_FULL: usize = 8;

/// The per-rank view of a job with several ranks (empty for one rank): who sets the
/// pace, the imbalance, whose loader waits longest, and a compact table.
pub fn ranks(summary: &RunSummary) -> String {
    if summary.ranks.len() <= 1 {
        return String::new();
    }
    let label = |i: Option<usize>| {
        i.and_then(|i| summary.ranks.get(i))
            .map_or_else(|| "unknown".to_owned(), RankSummary::label)
    };
    let mut out = format!(
        "- Ranks: {}; the slowest, {}, sets the job's pace; imbalance (slowest ÷ fastest) {}; the bottleneck is read from {}\n\n",
        summary.ranks.len(),
        label(summary.slowest_rank),
        match &summary.imbalance {
            Measured::Value(v) => format!("{v:.2}×"),
            Measured::Unavailable(why) => format!("n/a ({why})"),
        },
        label(summary.bottleneck_rank),
    );
    if summary.ranks.len() > RANKS_IN_FULL {
        out.push_str(&format!(
            "The slowest, the median and the fastest of {} ranks (by steady median step):\n\n",
            summary.ranks.len()
        ));
    }
    out.push_str(
        "| rank | pid | steady median ms | p90 ms | data wait % | TTFB ms | samples/s | GPU SM p50 % | stage processes |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for (i, rank) in shown_ranks(summary) {
        let mut name = rank.label();
        if Some(i) == summary.slowest_rank {
            name.push_str(" (slowest)");
        } else if Some(i) == summary.fastest_rank {
            name.push_str(" (fastest)");
        }
        let step = rank.step_time.value();
        out.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            rank.pid.map_or_else(|| "–".to_owned(), |p| p.to_string()),
            opt(step.map(|s| s.median_ms), 2),
            opt(step.map(|s| s.p90_ms), 2),
            opt(rank.data_wait_share_pct.value().copied(), 1),
            opt(rank.ttfb_ms.value().copied(), 1),
            opt(rank.throughput_samples_per_s.value().copied(), 1),
            opt(rank.sm_util_p50_pct.value().copied(), 1),
            if rank.stage_pids.is_empty() {
                "–".to_owned()
            } else {
                rank.stage_pids
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        ));
    }
    out
}

/// One line on a job's ranks (`None` for one rank): how many, who sets the pace, the
/// imbalance. For table notes and the progress summary.
pub fn rank_note(summary: &RunSummary) -> Option<String> {
    let slowest = summary.pace_setter()?;
    Some(format!(
        "{} ranks, {} slowest ({}), imbalance {}",
        summary.ranks.len(),
        slowest.label(),
        slowest
            .step_time
            .value()
            .map_or_else(|| "n/a".to_owned(), |s| format!("{:.2} ms", s.median_ms)),
        summary
            .imbalance
            .value()
            .map_or_else(|| "n/a".to_owned(), |v| format!("{v:.2}×")),
    ))
}

/// Every rank, or for many the slowest, the median and the fastest (by steady median).
fn shown_ranks(summary: &RunSummary) -> Vec<(usize, &RankSummary)> {
    let all: Vec<(usize, &RankSummary)> = summary.ranks.iter().enumerate().collect();
    if all.len() <= RANKS_IN_FULL {
        return all;
    }
    let mut by_median: Vec<(usize, &RankSummary)> = all
        .into_iter()
        .filter(|(_, r)| r.step_time.value().is_some())
        .collect();
    by_median.sort_by(|a, b| {
        let median = |r: &RankSummary| r.step_time.value().map_or(0.0, |s| s.median_ms);
        median(b.1).total_cmp(&median(a.1))
    });
    let mut picked = Vec::new();
    for index in [0, by_median.len() / 2, by_median.len().saturating_sub(1)] {
        if let Some(entry) = by_median.get(index)
            && !picked
                .iter()
                .any(|(i, _): &(usize, &RankSummary)| *i == entry.0)
        {
            picked.push(*entry);
        }
    }
    picked
}

fn opt(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.digits$}"))
}

/// The per-stage table as Markdown (or a sentence when SPDL printed no statistics).
pub fn stages(summary: &RunSummary) -> String {
    if summary.stages.is_empty() {
        return "(no SPDL statistics lines in the log)\n".to_owned();
    }
    // With several ranks, each stage says whose process ran it.
    let by_rank = summary.ranks.len() > 1;
    let mut out = String::from(if by_rank {
        "| rank | pid | stage | concurrency | tasks | failures | avg ms | p90 ms | p99 ms | items/s | occupancy % | put wait ms | get wait ms | max items/s |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    } else {
        "| stage | concurrency | tasks | failures | avg ms | p90 ms | p99 ms | items/s | occupancy % | put wait ms | get wait ms | max items/s |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n"
    });
    let mut stages: Vec<&autoresearch_metrics::StageSummary> = summary.stages.iter().collect();
    if by_rank {
        stages.sort_by_key(|s| (s.rank.is_none(), s.rank, s.key));
    }
    for s in stages {
        if by_rank {
            out.push_str(&format!(
                "| {} | {} ",
                s.rank
                    .map_or_else(|| "unknown".to_owned(), |r| format!("rank {r}")),
                s.key.pid.map_or_else(|| "–".to_owned(), |p| p.to_string()),
            ));
        }
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            s.name,
            s.concurrency,
            s.tasks.map_or_else(|| "–".to_owned(), |t| t.to_string()),
            s.failures.map_or_else(|| "–".to_owned(), |t| t.to_string()),
            opt(s.avg_task_ms, 3),
            opt(s.p90_task_ms, 3),
            opt(s.p99_task_ms, 3),
            opt(s.qps, 1),
            opt(s.occupancy_pct, 1),
            opt(s.put_wait_ms, 3),
            opt(s.get_wait_ms, 3),
            opt(s.effective_items_per_s, 1),
        ));
    }
    out
}

/// The rule a result was judged by: the bar a new best must clear, and where σ_between
/// came from.
pub fn noise_rule(noise: &crate::policy::NoiseEstimate, min_improvement_pct: f64) -> String {
    let bar = crate::policy::keep_threshold_pct(min_improvement_pct, noise);
    format!(
        "σ_between {}. A new best must be faster than the best by more than {bar:.1}% (the larger of --min-improvement-pct {min_improvement_pct} and {k}×σ_between).",
        noise_source(noise),
        k = crate::policy::noise::K_SIGMA,
    )
}

/// The noise line of `summary.md` and the report (no configuration at hand: the bar
/// is stated as the rule).
pub fn noise_line(noise: &crate::policy::NoiseEstimate) -> String {
    format!(
        "σ_between {}; a new best must beat the best by more than the larger of --min-improvement-pct and {k}×σ_between = {:.1}%, and wins under {sure}×σ_between = {:.1}% are repeated once",
        noise_source(noise),
        crate::policy::noise::K_SIGMA * noise.sigma_pct,
        crate::policy::noise::SURE_SIGMA * noise.sigma_pct,
        k = crate::policy::noise::K_SIGMA,
        sure = crate::policy::noise::SURE_SIGMA,
    )
}

/// σ_between and where it came from, in words.
pub fn noise_source(noise: &crate::policy::NoiseEstimate) -> String {
    if noise.is_prior_only() {
        format!(
            "{:.2}%: a prior, as no configuration has run twice yet",
            noise.sigma_pct
        )
    } else {
        format!(
            "{:.2}%, from {} repeated run{} of {} configuration{} (measured {:.2}%, pooled with a {:.1}% prior)",
            noise.sigma_pct,
            noise.measured_dof,
            if noise.measured_dof == 1 { "" } else { "s" },
            noise.configurations,
            if noise.configurations == 1 { "" } else { "s" },
            noise.measured_pct.unwrap_or(0.0),
            crate::policy::noise::PRIOR_SIGMA_PCT,
        )
    }
}

/// A comparison as one sentence.
pub fn comparison(against: &str, comparison: &Measured<Comparison>) -> String {
    match comparison {
        Measured::Value(c) => format!(
            "Against {against}: {:+.2}% ({}; 95% interval {:+.2}% to {:+.2}%), verdict: {}.",
            c.delta_pct,
            c.basis.replace('_', " "),
            c.ci95_low_pct,
            c.ci95_high_pct,
            match c.verdict {
                autoresearch_metrics::Verdict::Better => "better beyond the noise",
                autoresearch_metrics::Verdict::Worse => "worse beyond the noise",
                autoresearch_metrics::Verdict::Indistinguishable => "no measurable difference",
            }
        ),
        Measured::Unavailable(why) => format!("Against {against}: not comparable ({why})."),
    }
}
