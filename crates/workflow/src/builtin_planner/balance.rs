//! Sized moves: the configuration a performance engineer would compute from the
//! measurements, several knobs at once.
//!
//! - **Stage concurrency** by Little's law: a stage must keep `rate × latency` items in
//!   flight, where the rate is what the training step consumes (items per step over the
//!   step's compute time, with [`HEADROOM`]) and the latency comes from a contention fit
//!   of the latencies measured for that stage in comparable runs ([`Scalability`]). A
//!   stage is never sized past the fitted peak, and lowered only once a measurement
//!   showed more concurrency delivering less; until then the lowering is proposed as its
//!   own experiment, the one that tells contention from queueing.
//! - **Threads** enough for the stages; the **buffer** at least [`DEEP_BUFFER`].
//! - **Subprocess mode** when an experiment pair that differed only in it showed the
//!   step computing faster in it (the loader's threads were taking the interpreter from
//!   the training loop).
//! - **Batch size** ×2, or ×4 when the step's fitted fixed cost says the next doubling
//!   would still save a fifth per sample ([`StepCost`]); the stages are sized for the new
//!   batch.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use autoresearch_metrics::RunSummary;

use super::model::{LatencyPoint, Scalability, StepCost};
use super::{
    BATCH_TAG, CONCURRENCY_TAG, Candidate, Config, Proposals, clamp, fix_threads, int_value,
    stage_matches, without_defaults,
};
use crate::knobs::{Knob, KnobRole};

/// The loader is sized to deliver this much more than the step consumes: rates
/// fluctuate, and a larger batch computes faster per sample.
const HEADROOM: f64 = 1.5;

/// The smallest sink buffer a sized move leaves.
const DEEP_BUFFER: i64 = 8;

/// Subprocess mode is adopted when it cut the step's compute by at least this (percent).
const SUBPROCESS_GAIN_PCT: f64 = 3.0;

/// A batch step is worth an experiment only when the fit predicts this much less time
/// per sample (fraction).
const BATCH_GAIN: f64 = 0.01;

/// Throughput this much lower at a higher concurrency is evidence of contention, not
/// noise (fraction).
const RETROGRADE: f64 = 0.02;

/// A sized move that would only nudge concurrency and threads by less than this
/// (fraction) is left to the refinement levers.
const NUDGE: f64 = 0.2;

/// What the sized moves are computed from.
struct Facts<'a> {
    /// The best's median compute per step, ms.
    compute_ms: f64,
    /// The best's batch size.
    batch: Option<i64>,
    cost: Option<StepCost>,
    subprocess_gain_pct: Option<f64>,
    stages: Vec<Stage<'a>>,
}

/// One stage's concurrency knob and what was measured of it.
struct Stage<'a> {
    knob: &'a Knob,
    current: i64,
    /// Items it handles per training step (at the best's batch).
    items_per_step: f64,
    fit: Scalability,
    /// Whether some run at a higher concurrency delivered less.
    retrograde: bool,
}

/// A sized candidate and whether it raises some stage.
struct Sized {
    candidate: Candidate,
    raises_loader: bool,
    /// Some stage cannot deliver what the step needs at any concurrency: its measured
    /// throughput peaks (contention) below the need.
    capped: bool,
}

/// Appends the sized moves and contention tests. While the best waits for data, a move
/// that raises a short stage goes first, then the contention tests; otherwise the larger
/// batch does.
pub(super) fn propose(p: &mut Proposals<'_>, data_bound: bool) {
    let Some(facts) = Facts::gather(p) else {
        return;
    };
    let same_batch = sized(p, &facts, 1);
    // A stage held below the need by contention delivers no more items per ms for a
    // bigger batch, which only needs more of them: the batch waits for another fix.
    p.loader_capped = data_bound && same_batch.as_ref().is_some_and(|s| s.capped);
    let larger_batch = match batch_factor(p, &facts) {
        _ if p.loader_capped => None,
        1 => None,
        factor => sized(p, &facts, factor),
    };
    let tests = contention_tests(p, &facts);
    let raises = same_batch.as_ref().is_some_and(|s| s.raises_loader);
    let same_batch = same_batch.map(|s| s.candidate);
    let larger_batch = larger_batch.map(|s| s.candidate);
    let ordered: Vec<Candidate> = if data_bound && raises {
        same_batch
            .into_iter()
            .chain(tests)
            .chain(larger_batch)
            .collect()
    } else if data_bound {
        tests
            .into_iter()
            .chain(larger_batch)
            .chain(same_batch)
            .collect()
    } else {
        larger_batch
            .into_iter()
            .chain(same_batch)
            .chain(tests)
            .collect()
    };
    p.candidates.extend(ordered);
}

fn knob_with<'a>(p: &Proposals<'a>, role: &KnobRole) -> Option<&'a Knob> {
    p.view.knobs.iter().find(|k| &k.role == role)
}

fn subprocess_knob<'a>(p: &Proposals<'a>) -> Option<(&'a Knob, &'a str)> {
    p.view.knobs.iter().find_map(|k| match &k.role {
        KnobRole::Subprocess { value } => Some((k, value.as_str())),
        _ => None,
    })
}

fn batch_of(p: &Proposals<'_>, config: &Config, summary: &RunSummary) -> Option<i64> {
    knob_with(p, &KnobRole::BatchSize)
        .and_then(|k| int_value(k, config))
        .or(summary.batch_size.and_then(|b| i64::try_from(b).ok()))
        .filter(|b| *b > 0)
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

/// Whether the pool of `stage`'s pipeline covered that pipeline's stages in `config` (a
/// starved pool adds its own waits to every task's time: queueing, not contention).
fn threads_cover(p: &Proposals<'_>, stage: &Knob, config: &Config) -> bool {
    super::pool_needs(p.view.knobs, config)
        .into_iter()
        .filter(|(threads, _)| threads.same_pipeline(stage))
        .all(|(threads, needed)| int_value(threads, config).is_none_or(|n| n >= needed))
}

impl<'a> Facts<'a> {
    fn gather(p: &Proposals<'a>) -> Option<Self> {
        let best = p.view.best_summary?;
        let measured_ms = best
            .median_compute_ms
            .value()
            .copied()
            .filter(|c| c.is_finite() && *c > 0.0)?;
        let batch = batch_of(p, &p.base, best);
        let cost = step_cost(p);
        let compute_ms =
            floor_compute_ms(p, batch, cost).map_or(measured_ms, |f| f.min(measured_ms));
        let stages = p
            .view
            .knobs
            .iter()
            .filter(|k| matches!(k.role, KnobRole::Concurrency { .. }))
            .filter_map(|knob| stage(p, best, batch, knob))
            .collect();
        Some(Self {
            compute_ms,
            batch,
            cost,
            subprocess_gain_pct: subprocess_gain_pct(p),
            stages,
        })
    }
}

/// The step's compute at `batch` from the compute-only floor: the floor itself at the
/// floor's batch, scaled by the fitted step cost at another. The loop body measured in
/// a run with the loader in process also holds the loader threads' turns on the
/// interpreter, so it overstates what the loader must feed.
fn floor_compute_ms(p: &Proposals<'_>, batch: Option<i64>, cost: Option<StepCost>) -> Option<f64> {
    let (floor_ms, floor_batch) = p.view.floor?;
    if !(floor_ms.is_finite() && floor_ms > 0.0) {
        return None;
    }
    match (batch, floor_batch, cost) {
        (Some(b), Some(f), _) if b == f => Some(floor_ms),
        (Some(b), Some(f), Some(cost)) => {
            Some(floor_ms * cost.step_ms(b as f64) / cost.step_ms(f as f64).max(1e-9))
        }
        (None, None, _) => Some(floor_ms),
        _ => None,
    }
}

/// What is known of the stage behind `knob`: `None` when the best has no statistics
/// for it or its current value is unknown.
fn stage<'a>(
    p: &Proposals<'a>,
    best: &RunSummary,
    batch: Option<i64>,
    knob: &'a Knob,
) -> Option<Stage<'a>> {
    let current = int_value(knob, &p.base)?;
    let stats = best
        .bottleneck_stages()
        .find(|s| stage_matches(knob, &s.name))?;
    let items_per_step = match (stats.tasks, best.steps) {
        (Some(tasks), steps) if tasks > 0 && steps > 0 => tasks as f64 / steps as f64,
        _ => batch.unwrap_or(1) as f64,
    };
    // A stage handling whole batches takes longer per task at a larger batch: only runs
    // at the best's batch are comparable. Per-item stages compare across batches.
    let per_item = batch.is_some_and(|b| items_per_step >= 0.5 * b as f64);
    let best_subprocess = in_subprocess(p, &p.base);
    let points: Vec<LatencyPoint> = p
        .observed
        .iter()
        .filter(|(config, _)| in_subprocess(p, config) == best_subprocess)
        .filter(|(config, _)| threads_cover(p, knob, config))
        .filter(|(config, summary)| per_item || batch_of(p, config, summary) == batch)
        .filter_map(|(config, summary)| {
            let s = summary
                .bottleneck_stages()
                .find(|s| stage_matches(knob, &s.name))?;
            Some(LatencyPoint {
                concurrency: int_value(knob, config).map_or(f64::from(s.concurrency), |n| n as f64),
                task_ms: s.avg_task_ms?,
            })
        })
        .collect();
    let fit = Scalability::fit(&points)?;
    let retrograde = points.iter().any(|a| {
        points.iter().any(|b| {
            b.concurrency > a.concurrency
                && b.concurrency / b.task_ms < (a.concurrency / a.task_ms) * (1.0 - RETROGRADE)
        })
    });
    Some(Stage {
        knob,
        current,
        items_per_step,
        fit,
        retrograde,
    })
}

/// The step's cost fitted to the observations in the best's mode (all of them when
/// those span one batch size).
pub(super) fn step_cost(p: &Proposals<'_>) -> Option<StepCost> {
    let best_subprocess = in_subprocess(p, &p.base);
    let points = |same_mode: bool| -> Vec<(f64, f64)> {
        p.observed
            .iter()
            .filter(|(config, _)| !same_mode || in_subprocess(p, config) == best_subprocess)
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
fn batch_factor(p: &Proposals<'_>, facts: &Facts<'_>) -> i64 {
    let (Some(knob), Some(batch)) = (knob_with(p, &KnobRole::BatchSize), facts.batch) else {
        return 1;
    };
    let per_sample = |f: i64| facts.cost.map(|c| c.per_sample_at((batch * f) as f64));
    let mut factor = match (per_sample(1), per_sample(2), per_sample(4)) {
        (Some(one), Some(two), _) if two > one * (1.0 - BATCH_GAIN) => return 1,
        (_, Some(two), Some(four)) if four < two * 0.8 => 4,
        _ => 2,
    };
    let allowed = |f: i64| {
        batch.checked_mul(f).is_some_and(|next| {
            clamp(knob, next) == next && p.view.failed_batch.is_none_or(|limit| next < limit)
        })
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
    // Each observation once: its configuration without the mode, and its compute.
    let mut without_mode: BTreeMap<Config, f64> = BTreeMap::new();
    let mut with_mode: Vec<(Config, f64)> = Vec::new();
    for (config, summary) in &p.observed {
        let Some(&compute) = summary.median_compute_ms.value() else {
            continue;
        };
        let mut key = without_defaults(p.view.knobs, config);
        key.remove(&knob.name);
        if in_subprocess(p, config) {
            with_mode.push((key, compute));
        } else {
            without_mode.entry(key).or_insert(compute);
        }
    }
    with_mode.iter().rev().find_map(|(key, on)| {
        let off = *without_mode.get(key)?;
        (off > 0.0).then(|| 100.0 * (off - on) / off)
    })
}

/// The step's compute at `factor` × the best's batch: from the fitted cost, or assuming
/// half of it grows with the batch.
fn step_ms_at(facts: &Facts<'_>, factor: i64) -> f64 {
    match (factor, facts.batch, facts.cost) {
        (1, _, _) | (_, None, _) => facts.compute_ms,
        (f, Some(b), Some(cost)) => {
            facts.compute_ms * cost.step_ms((b * f) as f64) / cost.step_ms(b as f64).max(1e-9)
        }
        (f, Some(_), None) => facts.compute_ms * (1.0 + f as f64) / 2.0,
    }
}

/// The sized configuration at `factor` × the best's batch, if it differs from the best
/// by more than a nudge.
// Long on purpose: each knob's adjustment at the new batch, one after another, with
// the note it adds to the hypothesis.
fn sized(p: &Proposals<'_>, facts: &Facts<'_>, factor: i64) -> Option<Sized> {
    let step_ms = step_ms_at(facts, factor);
    let mut config = p.base.clone();
    let mut notes: Vec<String> = Vec::new();
    let mut tags = Vec::new();
    if factor > 1 {
        let knob = knob_with(p, &KnobRole::BatchSize)?;
        let b = facts.batch?;
        let next = b.checked_mul(factor)?;
        config.insert(knob.name.clone(), next.to_string());
        notes.push(format!("batch {b} → {next}"));
        tags.push(BATCH_TAG.to_owned());
    }
    let mut raises_loader = false;
    let mut capped = false;
    let mut nudges_only = factor == 1;
    for stage in &facts.stages {
        let rate = stage.items_per_step * factor as f64 / step_ms * HEADROOM;
        let (n, short) = size_stage(stage, rate, &mut notes);
        capped |= short;
        if n != stage.current {
            config.insert(stage.knob.name.clone(), n.to_string());
            raises_loader |= n > stage.current;
            nudges_only &= (n - stage.current).abs() as f64 <= NUDGE * stage.current as f64;
            if !tags.iter().any(|t| t == CONCURRENCY_TAG) {
                tags.push(CONCURRENCY_TAG.to_owned());
            }
        }
    }
    for knob in p.view.knobs.iter().filter(|k| k.role == KnobRole::Buffer) {
        let current = int_value(knob, &p.base).unwrap_or(1);
        let deep = clamp(knob, DEEP_BUFFER);
        if current < deep {
            config.insert(knob.name.clone(), deep.to_string());
            notes.push(format!("{} {current} → {deep}", knob.name));
            nudges_only = false;
        }
    }
    if let (Some((knob, value)), Some(gain)) = (subprocess_knob(p), facts.subprocess_gain_pct)
        && gain >= SUBPROCESS_GAIN_PCT
        && !in_subprocess(p, &config)
    {
        config.insert(knob.name.clone(), value.to_owned());
        notes.push(format!(
            "{} = {value} (it cut the step's compute by {gain:.0}%)",
            knob.name
        ));
        nudges_only = false;
    }
    fix_threads(p.view.knobs, &mut config);
    let before = without_defaults(p.view.knobs, &p.base);
    let after = without_defaults(p.view.knobs, &config);
    if after == before || nudges_only {
        return None;
    }
    let changed: Vec<String> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let name = match (factor, facts.batch) {
        (1, _) | (_, None) => "sized_loader".to_owned(),
        (f, Some(b)) => format!("sized_for_batch_{}", b * f),
    };
    Some(Sized {
        candidate: Candidate {
            name,
            hypothesis: format!(
                "Sized from the measurements for a step that computes in {step_ms:.1} ms ({}% headroom): {}.",
                ((HEADROOM - 1.0) * 100.0).round(),
                notes.join("; ")
            ),
            summary: format!("sized: {}", changed.join(", ")),
            config,
            env: p.view.best_env.clone(),
            tags,
        },
        raises_loader,
        capped,
    })
}

/// The concurrency that delivers `rate` items/ms, noted in `notes`: never past the
/// fitted peak, and below the current value only on evidence of contention. With it,
/// whether contention holds the stage below `rate` at every concurrency.
fn size_stage(stage: &Stage<'_>, rate: f64, notes: &mut Vec<String>) -> (i64, bool) {
    let knob = stage.knob;
    let limit = knob
        .range
        .map_or(stage.current.saturating_mul(4), |(_, hi)| hi);
    let mut n = clamp(knob, stage.fit.concurrency_for(rate, limit));
    if n < stage.current && !stage.retrograde {
        n = stage.current;
    }
    let mut note = format!("{}: {rate:.2} items/ms needed", knob.name);
    let delivers = stage.fit.throughput(n as f64);
    let capped = delivers < rate && stage.fit.peak().is_some();
    if delivers < rate {
        let _ = write!(
            note,
            ", at most {delivers:.2} deliverable ({:.1} ms per item at {n} in flight",
            stage.fit.latency_ms(n as f64)
        );
        if let Some(peak) = stage.fit.peak() {
            let _ = write!(note, "; contention: throughput peaks near {peak:.0}");
        }
        note.push(')');
    } else {
        let _ = write!(
            note,
            " at {:.1} ms per item",
            stage.fit.latency_ms(n as f64)
        );
    }
    let _ = write!(note, " → {n}");
    notes.push(note);
    (n, capped)
}

/// For each stage whose latencies put its throughput peak below its concurrency, with
/// no run yet showing more concurrency delivering less: the lowering, as its own
/// experiment. It tells contention (the lower value delivers more) from queueing for
/// the interpreter or the cores (it delivers less).
fn contention_tests(p: &Proposals<'_>, facts: &Facts<'_>) -> Vec<Candidate> {
    let mut out = Vec::new();
    for stage in facts.stages.iter().filter(|s| !s.retrograde) {
        let Some(peak) = stage.fit.peak() else {
            continue;
        };
        let lower = clamp(stage.knob, peak.round() as i64);
        if lower >= stage.current {
            continue;
        }
        let hypothesis = format!(
            "{name}'s task time grows {growth:.1}× from 1 to {current} in flight: if that is contention, throughput peaks near {peak:.0} and {lower} delivers more than {current}; if it is queueing for the interpreter or the cores, {lower} delivers less. This run tells which.",
            name = stage.knob.name,
            growth = stage.fit.latency_ms(stage.current as f64) / stage.fit.single_ms,
            current = stage.current,
        );
        let mut config = p.base.clone();
        config.insert(stage.knob.name.clone(), lower.to_string());
        out.push(Candidate {
            name: format!("{}_{lower}_contention_test", stage.knob.name),
            hypothesis,
            summary: format!(
                "{} {} → {lower} (contention test)",
                stage.knob.name.replace('_', " "),
                stage.current
            ),
            config,
            env: p.view.best_env.clone(),
            tags: vec![CONCURRENCY_TAG.to_owned()],
        });
    }
    out
}
