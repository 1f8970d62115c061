//! Sized moves: the configuration a performance engineer would compute from the
//! measurements, several knobs at once.
//!
//! - **Stage concurrency** by Little's law: a stage must keep `rate × latency` items in
//!   flight, where the rate is what the training step consumes (items per step over the
//!   step's compute time, with [`HEADROOM`]) and the latency comes from a contention fit
//!   of every latency measured for that stage ([`Scalability`]), never past its peak.
//! - **Threads** enough for the stages; the **buffer** at least [`DEEP_BUFFER`].
//! - **Subprocess mode** when an experiment pair that differed only in it showed the
//!   step computing faster in it (the loader's threads were taking the interpreter from
//!   the training loop).
//! - **Batch size** ×2, or ×4 when the step's fitted fixed cost says the next doubling
//!   would still save a fifth per sample ([`StepCost`]); the concurrency is sized for the
//!   new batch.

use std::fmt::Write as _;

use autoresearch_metrics::RunSummary;

use super::model::{LatencyPoint, Scalability, StepCost};
use super::{
    Candidate, Config, Proposals, clamp, fix_threads, int_value, stage_matches, without_defaults,
};
use crate::knobs::{Knob, KnobRole};

/// The loader is sized to deliver this much more than the step consumes: rates
/// fluctuate, and a larger batch computes faster per sample.
pub(super) const HEADROOM: f64 = 1.5;

/// The smallest sink buffer a sized move leaves.
pub(super) const DEEP_BUFFER: i64 = 8;

/// Subprocess mode is adopted when it cut the step's compute by at least this (percent).
pub(super) const SUBPROCESS_GAIN_PCT: f64 = 3.0;

/// The tag of a sized move that changes a stage's concurrency.
const LOADER_TAG: &str = "concurrency_tuning";

/// A batch step is worth an experiment only when the fit predicts this much less time
/// per sample (fraction).
const BATCH_GAIN: f64 = 0.01;

/// Appends the sized moves: at the best's batch size first while the best waits for
/// data, at a larger batch first when it does not.
pub(super) fn propose(p: &mut Proposals<'_>, data_bound: bool) {
    let Some(best) = p.view.best_summary else {
        return;
    };
    let Some(&compute_ms) = best.median_compute_ms.value() else {
        return;
    };
    if compute_ms <= 0.0 {
        return;
    }
    let same_batch = sized(p, best, compute_ms, 1);
    let larger_batch = match batch_factor(p, best) {
        1 => None,
        factor => sized(p, best, compute_ms, factor),
    };
    // While the loader falls short, feeding it comes first; when it already keeps up
    // (the sized move would change no stage), the batch goes first.
    let loader_short = same_batch
        .as_ref()
        .is_some_and(|c| c.tags.iter().any(|t| t == LOADER_TAG));
    let order = if data_bound && loader_short {
        [same_batch, larger_batch]
    } else {
        [larger_batch, same_batch]
    };
    p.candidates.extend(order.into_iter().flatten());
}

fn batch_knob<'a>(p: &Proposals<'a>) -> Option<&'a Knob> {
    p.view.knobs.iter().find(|k| k.role == KnobRole::BatchSize)
}

fn subprocess_knob<'a>(p: &Proposals<'a>) -> Option<(&'a Knob, &'a str)> {
    p.view.knobs.iter().find_map(|k| match &k.role {
        KnobRole::Subprocess { value } => Some((k, value.as_str())),
        _ => None,
    })
}

fn batch_of(p: &Proposals<'_>, config: &Config, summary: &RunSummary) -> Option<i64> {
    batch_knob(p)
        .and_then(|k| int_value(k, config))
        .or(summary.batch_size.map(|b| b as i64))
}

fn in_subprocess(p: &Proposals<'_>, config: &Config) -> bool {
    subprocess_knob(p).is_some_and(|(k, value)| {
        config
            .get(&k.name)
            .or(k.default.as_ref())
            .map(String::as_str)
            == Some(value)
    })
}

/// The step's cost fitted to the observations in the best's mode (all of them when
/// those span one batch size).
fn step_cost(p: &Proposals<'_>) -> Option<StepCost> {
    let points = |same_mode: bool| -> Vec<(f64, f64)> {
        p.observed
            .iter()
            .filter(|(config, _)| {
                !same_mode || in_subprocess(p, config) == in_subprocess(p, &p.base)
            })
            .filter_map(|(config, summary)| {
                let batch = batch_of(p, config, summary)?;
                let compute = *summary.median_compute_ms.value()?;
                Some((batch as f64, compute))
            })
            .collect()
    };
    StepCost::fit(&points(true)).or_else(|| StepCost::fit(&points(false)))
}

/// How much to grow the batch: 1 when it cannot or should not grow.
fn batch_factor(p: &Proposals<'_>, best: &RunSummary) -> i64 {
    let Some(knob) = batch_knob(p) else {
        return 1;
    };
    let Some(batch) = batch_of(p, &p.base, best) else {
        return 1;
    };
    let cost = step_cost(p);
    let per_sample = |f: i64| cost.map(|c| c.per_sample_at((batch * f) as f64));
    let mut factor = match (per_sample(1), per_sample(2), per_sample(4)) {
        (Some(one), Some(two), _) if two > one * (1.0 - BATCH_GAIN) => return 1,
        (_, Some(two), Some(four)) if four < two * 0.8 => 4,
        _ => 2,
    };
    let allowed = |f: i64| {
        let next = batch * f;
        clamp(knob, next) == next && p.view.failed_batch.is_none_or(|limit| next < limit)
    };
    while factor > 1 && !allowed(factor) {
        factor /= 2;
    }
    factor
}

/// The subprocess choice's measured effect on the step's compute, percent saved: from
/// the latest pair of observations that differ in nothing else.
fn subprocess_gain_pct(p: &Proposals<'_>) -> Option<f64> {
    let (knob, _) = subprocess_knob(p)?;
    let without = |c: &Config| {
        let mut c = without_defaults(p.view.knobs, c);
        c.remove(&knob.name);
        c
    };
    let observed = &p.observed;
    observed.iter().rev().find_map(|(on, on_summary)| {
        if !in_subprocess(p, on) {
            return None;
        }
        let (_, off_summary) = observed
            .iter()
            .find(|(off, _)| !in_subprocess(p, off) && without(off) == without(on))?;
        let a = *off_summary.median_compute_ms.value()?;
        let b = *on_summary.median_compute_ms.value()?;
        (a > 0.0).then(|| 100.0 * (a - b) / a)
    })
}

/// The sized configuration at `factor` × the best's batch, if it differs from the best.
fn sized(p: &Proposals<'_>, best: &RunSummary, compute_ms: f64, factor: i64) -> Option<Candidate> {
    let batch = batch_of(p, &p.base, best);
    let batch_knob = batch_knob(p);
    let mut config = p.base.clone();
    let mut notes: Vec<String> = Vec::new();
    let mut tags = Vec::new();
    // The step's compute at the new batch: from the fitted cost, or assuming half of it
    // grows with the batch.
    let step_ms = match (factor, batch, step_cost(p)) {
        (1, _, _) | (_, None, _) => compute_ms,
        (f, Some(b), Some(cost)) => {
            compute_ms * cost.step_ms((b * f) as f64) / cost.step_ms(b as f64).max(1e-9)
        }
        (f, Some(_), None) => compute_ms * (1.0 + f as f64) / 2.0,
    };
    if factor > 1 {
        let (knob, b) = (batch_knob?, batch?);
        config.insert(knob.name.clone(), (b * factor).to_string());
        notes.push(format!("batch {b} → {}", b * factor));
        tags.push("batch_size_tuning".to_owned());
    }
    let concurrency: Vec<&Knob> = p
        .view
        .knobs
        .iter()
        .filter(|k| matches!(k.role, KnobRole::Concurrency { .. }))
        .collect();
    for knob in concurrency {
        let Some(stage) = best.stages.iter().find(|s| stage_matches(knob, &s.name)) else {
            continue;
        };
        let current = int_value(knob, &p.base).unwrap_or(1);
        let items_per_step = match (stage.tasks, best.steps) {
            (Some(tasks), steps) if tasks > 0 && steps > 0 => tasks as f64 / steps as f64,
            _ => batch.unwrap_or(1) as f64,
        } * factor as f64;
        let rate = items_per_step / step_ms * HEADROOM;
        let points: Vec<LatencyPoint> = p
            .view
            .observations
            .iter()
            .filter_map(|o| {
                let s = o
                    .summary
                    .stages
                    .iter()
                    .find(|s| stage_matches(knob, &s.name))?;
                Some(LatencyPoint {
                    concurrency: f64::from(s.concurrency),
                    task_ms: s.avg_task_ms?,
                })
            })
            .chain(stage.avg_task_ms.map(|t| LatencyPoint {
                concurrency: f64::from(stage.concurrency),
                task_ms: t,
            }))
            .collect();
        let Some(fit) = Scalability::fit(&points) else {
            continue;
        };
        let limit = knob.range.map_or(current.max(1) * 4, |(_, hi)| hi);
        let mut n = fit.concurrency_for(rate, limit);
        if fit.kappa == 0.0 {
            // No contention seen: fewer would only risk starving the step.
            n = n.max(current);
        }
        let n = clamp(knob, n);
        let mut note = format!(
            "{}: {rate:.2} items/ms at {:.1} ms per item",
            knob.name,
            fit.latency_ms(n as f64)
        );
        if let Some(peak) = fit.peak() {
            let _ = write!(note, " (contention: throughput peaks near {peak:.0})");
        }
        let _ = write!(note, " → {n}");
        notes.push(note);
        if n != current && !tags.iter().any(|t| t == LOADER_TAG) {
            tags.push(LOADER_TAG.to_owned());
        }
        config.insert(knob.name.clone(), n.to_string());
    }
    for knob in p.view.knobs.iter().filter(|k| k.role == KnobRole::Buffer) {
        let current = int_value(knob, &p.base).unwrap_or(1);
        if current < DEEP_BUFFER {
            let deep = clamp(knob, DEEP_BUFFER);
            config.insert(knob.name.clone(), deep.to_string());
            notes.push(format!("{} {current} → {deep}", knob.name));
        }
    }
    if let (Some((knob, value)), Some(gain)) = (subprocess_knob(p), subprocess_gain_pct(p))
        && gain >= SUBPROCESS_GAIN_PCT
        && !in_subprocess(p, &config)
    {
        config.insert(knob.name.clone(), value.to_owned());
        notes.push(format!(
            "{} = {value} (it cut the step's compute by {gain:.0}%)",
            knob.name
        ));
    }
    fix_threads(p.view.knobs, &mut config);
    if without_defaults(p.view.knobs, &config) == without_defaults(p.view.knobs, &p.base) {
        return None;
    }
    let before = without_defaults(p.view.knobs, &p.base);
    let changed: Vec<String> = without_defaults(p.view.knobs, &config)
        .into_iter()
        .filter(|(k, v)| before.get(k) != Some(v))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    Some(Candidate {
        name: if factor > 1 {
            format!("sized_for_batch_{}", batch.unwrap_or(0) * factor)
        } else {
            "sized_loader".to_owned()
        },
        hypothesis: format!(
            "Sized from the measurements for a step that computes in {step_ms:.1} ms ({}% headroom): {}.",
            ((HEADROOM - 1.0) * 100.0).round(),
            notes.join("; ")
        ),
        summary: format!("sized: {}", changed.join(", ")),
        config,
        env: p.view.best_env.clone(),
        tags,
    })
}
