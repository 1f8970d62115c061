//! Single-lever moves: each changes one knob of the best (threads kept sufficient), so
//! a win is attributable and orthogonal wins stack. Big steps first: an experiment is
//! expensive, and a doubling that helps is followed by another from the new best.

use super::{
    BATCH_TAG, CONCURRENCY_TAG, Candidate, Proposals, SUBPROCESS_TAG, fix_threads, int_value,
    stage_matches,
};
use crate::knobs::{Knob, KnobRole};

/// Appends the single-lever moves, then refinement and seeded samples near the best.
pub(super) fn propose(p: &mut Proposals<'_>, data_bound: bool) {
    subprocess_flip(p);
    if data_bound {
        data_bound_levers(p);
    } else {
        compute_bound_levers(p);
    }
    gc_alignment(p);
    refine(p);
    sample(p);
}

/// Subprocess mode on (or off, when the best has it): its effect depends on everything
/// else, so it is retried from each new best.
fn subprocess_flip(p: &mut Proposals<'_>) {
    let knobs = p.view.knobs;
    for knob in knobs
        .iter()
        .filter(|k| matches!(k.role, KnobRole::Subprocess { .. }))
    {
        let KnobRole::Subprocess { value } = &knob.role else {
            continue;
        };
        let current = p.base.get(&knob.name).or(knob.default.as_ref());
        if current == Some(value) {
            let Some(other) = knob.default.clone().filter(|d| d != value) else {
                continue;
            };
            p.set(
                knob,
                other,
                format!(
                    "{}: without the subprocess the loader saves its IPC cost per batch.",
                    p.why
                ),
                SUBPROCESS_TAG,
            );
        } else {
            p.set(
                knob,
                value.clone(),
                format!(
                    "{}: running the pipeline in a subprocess keeps loader threads off the training loop's interpreter.",
                    p.why
                ),
                SUBPROCESS_TAG,
            );
        }
    }
}

/// Why a deeper buffer may help.
const DEEPER_BUFFER: &str = "a deeper buffer absorbs jitter between batches";
/// Why bigger batches may help.
const BIGGER_BATCHES: &str = "bigger batches amortise each step's fixed costs (judged per sample)";

fn concurrency_knobs<'a>(p: &Proposals<'a>) -> Vec<&'a Knob> {
    p.view
        .knobs
        .iter()
        .filter(|k| matches!(k.role, KnobRole::Concurrency { .. }))
        .collect()
}

/// Scales every knob with `role` by each of `factors`, one candidate each.
fn raise_role(p: &mut Proposals<'_>, role: KnobRole, factors: &[f64], reason: &str, tag: &str) {
    let knobs = p.view.knobs;
    for knob in knobs.iter().filter(|k| k.role == role) {
        p.raise(knob, factors, reason, tag);
    }
}

fn data_bound_levers(p: &mut Proposals<'_>) {
    let why = p.why.clone();
    let stage = p
        .view
        .best_summary
        .and_then(|s| s.bottleneck.value())
        .and_then(|b| b.stage.clone());
    let concurrency = concurrency_knobs(p);
    let bottleneck: Vec<&Knob> = concurrency
        .iter()
        .copied()
        .filter(|k| stage.as_deref().is_some_and(|s| stage_matches(k, s)))
        .collect();
    for knob in &bottleneck {
        let name = match &knob.role {
            KnobRole::Concurrency { stage: Some(s) } => s.clone(),
            _ => knob.name.clone(),
        };
        // ×1.5 brackets a contention knee between the doublings.
        p.raise(
            knob,
            &[4.0, 2.0, 1.5],
            &format!("{why} and {name} is the bottleneck stage"),
            CONCURRENCY_TAG,
        );
    }
    for knob in concurrency.iter().filter(|k| !bottleneck.contains(k)) {
        p.raise(knob, &[4.0, 2.0], &why, CONCURRENCY_TAG);
    }
    raise_role(
        p,
        KnobRole::Buffer,
        &[4.0],
        &format!("{why}: {DEEPER_BUFFER}"),
        "",
    );
    raise_role(
        p,
        KnobRole::Threads,
        &[2.0],
        &format!("{why}: a larger thread budget lets every stage reach its concurrency"),
        CONCURRENCY_TAG,
    );
    if !p.loader_capped {
        raise_role(
            p,
            KnobRole::BatchSize,
            &[2.0],
            &format!("{why}: {BIGGER_BATCHES}"),
            BATCH_TAG,
        );
    }
    for knob in &bottleneck {
        p.raise(knob, &[0.5], &why, CONCURRENCY_TAG);
    }
}

fn compute_bound_levers(p: &mut Proposals<'_>) {
    let why = p.why.clone();
    raise_role(
        p,
        KnobRole::BatchSize,
        &[4.0, 2.0, 8.0],
        &format!("{why}: {BIGGER_BATCHES}"),
        BATCH_TAG,
    );
    raise_role(
        p,
        KnobRole::Buffer,
        &[4.0],
        &format!("{why}: {DEEPER_BUFFER}"),
        "",
    );
    for knob in concurrency_knobs(p) {
        p.raise(
            knob,
            &[0.5, 2.0],
            &format!("{why}: loader threads compete with the step for CPU"),
            CONCURRENCY_TAG,
        );
    }
    raise_role(
        p,
        KnobRole::Threads,
        &[0.5],
        &format!("{why}: a smaller pool leaves CPU to the step"),
        CONCURRENCY_TAG,
    );
}

/// Garbage collection at fixed steps (the probe's `AUTORESEARCH_GC_EVERY`).
fn gc_alignment(p: &mut Proposals<'_>) {
    if p.view.best_env.contains_key("AUTORESEARCH_GC_EVERY") {
        return;
    }
    let mut env = p.view.best_env.clone();
    env.insert("AUTORESEARCH_GC_EVERY".to_owned(), "50".to_owned());
    p.candidates.push(Candidate {
        config: p.base.clone(),
        env,
        name: "gc_every_50".to_owned(),
        hypothesis: "Collecting garbage every 50 steps instead of at random turns unpredictable pauses into aligned ones.".to_owned(),
        summary: "aligned GC every 50 steps".to_owned(),
        tags: Vec::new(),
    });
}

/// One knob at a time around the best: ×2, ÷2, ×1.5, ÷1.5, ×3, ÷3, ±1, every choice;
/// no measurement asks for any of them, so the cheap ones go first (a larger batch makes
/// a longer experiment).
fn refine(p: &mut Proposals<'_>) {
    let start = p.candidates.len();
    refinements(p);
    let mut priced: Vec<(f64, Candidate)> = p
        .candidates
        .split_off(start)
        .into_iter()
        .map(|c| (super::cost::relative(p, &c.config), c))
        .collect();
    // Stable: equal costs keep the order above.
    priced.sort_by(|a, b| a.0.total_cmp(&b.0));
    p.candidates.extend(priced.into_iter().map(|(_, c)| c));
}

fn refinements(p: &mut Proposals<'_>) {
    let knobs = p.view.knobs;
    for knob in knobs.iter().filter(|k| k.range.is_some()) {
        for factor in [2.0, 0.5, 1.5, 0.67, 3.0, 0.33] {
            if let Some(v) = p.scale(knob, factor) {
                p.set(
                    knob,
                    v.clone(),
                    format!("Refining around the best: {} = {v}.", knob.name),
                    "",
                );
            }
        }
        if let Some(current) = int_value(knob, &p.base) {
            for step in [1, -1] {
                let v = super::clamp(knob, current + step);
                p.set(
                    knob,
                    v.to_string(),
                    format!("Refining around the best: {} = {v}.", knob.name),
                    "",
                );
            }
        }
    }
    for knob in knobs.iter().filter(|k| !k.choices.is_empty()) {
        for choice in &knob.choices {
            p.set(
                knob,
                choice.clone(),
                format!("Trying {} = {choice}.", knob.name),
                "",
            );
        }
    }
}

/// A small deterministic generator for the sampling phase.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Seeded samples near the best that move a few knobs at once.
fn sample(p: &mut Proposals<'_>) {
    let numeric: Vec<&Knob> = p.view.knobs.iter().filter(|k| k.range.is_some()).collect();
    if numeric.is_empty() {
        return;
    }
    let mut rng = SplitMix(p.view.seed);
    for _ in 0..64 {
        let mut config = p.base.clone();
        for knob in &numeric {
            if rng.next().is_multiple_of(2) {
                continue;
            }
            let current = int_value(knob, &p.base).unwrap_or(1) as f64;
            let factor = [0.5, 0.75, 1.25, 1.5, 2.0][(rng.next() % 5) as usize];
            config.insert(
                knob.name.clone(),
                super::clamp(knob, (current * factor).round() as i64).to_string(),
            );
        }
        fix_threads(p.view.knobs, &mut config);
        let changed: Vec<String> = config
            .iter()
            .filter(|(k, v)| p.base.get(*k) != Some(*v))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if changed.is_empty() {
            continue;
        }
        p.candidates.push(Candidate {
            config,
            env: p.view.best_env.clone(),
            name: format!("sample_{}", changed.join("_")),
            hypothesis: format!("Sampling near the best: {}.", changed.join(", ")),
            summary: "sample near best".to_owned(),
            tags: Vec::new(),
        });
    }
}
