//! The built-in planner: deterministic proposals from the computed summaries, for runs
//! without an agent (and for data that cannot leave the building).
//!
//! Every proposal starts from the best configuration so far and changes one lever, so
//! orthogonal wins stack. The order follows the facts: a data-bound job first gets its
//! bottleneck stage's concurrency raised (and lowered: less can be more), then the other
//! stages, the thread budget, subprocess mode, the sink buffer, batch size and garbage
//! collection alignment; a compute-bound job starts at batch size and subprocess mode.
//! When those are tried, it refines around the best one knob at a time, then samples
//! near the best with a seeded generator.

use std::collections::{BTreeMap, BTreeSet};

use autoresearch_metrics::RunSummary;

use crate::knobs::{Knob, KnobRole};
use crate::prompts::{PlanAnswer, Proposal};
use crate::spec::normalise_flag;

/// What the planner knows of the run.
#[derive(Debug, Clone)]
pub struct PlannerView<'a> {
    /// The knobs.
    pub knobs: &'a [Knob],
    /// The best node's launch flags (empty for the original command).
    pub best_args: BTreeMap<String, String>,
    /// The best node's summary.
    pub best_summary: Option<&'a RunSummary>,
    /// The best node's environment additions.
    pub best_env: BTreeMap<String, String>,
    /// Headspace, percent.
    pub headspace_pct: Option<f64>,
    /// Every configuration tried so far (flags, normalised; env as `env:NAME`).
    pub tried: BTreeSet<BTreeMap<String, String>>,
    /// Proposals wanted.
    pub wanted: usize,
    /// Seeds the sampling phase.
    pub seed: u64,
    /// The smallest batch size that failed (out of memory, say): never tried again, nor
    /// anything larger.
    pub failed_batch: Option<i64>,
}

/// A configuration: normalised flag name → value.
type Config = BTreeMap<String, String>;

/// A configuration's identity, as stored in `tried`.
pub fn config_key(args: &BTreeMap<String, String>, env: &BTreeMap<String, String>) -> Config {
    let mut key: Config = args
        .iter()
        .map(|(k, v)| (normalise_flag(k), v.trim().to_owned()))
        .collect();
    for (k, v) in env {
        key.insert(format!("env:{k}"), v.clone());
    }
    key
}

struct Candidate {
    config: Config,
    env: BTreeMap<String, String>,
    name: String,
    hypothesis: String,
    summary: String,
    tags: Vec<String>,
}

fn int_value(knob: &Knob, config: &Config) -> Option<i64> {
    config
        .get(&knob.name)
        .or(knob.default.as_ref())
        .and_then(|v| v.parse().ok())
}

fn clamp(knob: &Knob, value: i64) -> i64 {
    match knob.range {
        Some((lo, hi)) => value.clamp(lo, hi),
        None => value.max(1),
    }
}

/// Keeps the thread pool at least as large as the concurrency it must serve.
fn fix_threads(knobs: &[Knob], config: &mut Config) {
    let Some(threads) = knobs.iter().find(|k| k.role == KnobRole::Threads) else {
        return;
    };
    let needed: i64 = knobs
        .iter()
        .filter(|k| matches!(k.role, KnobRole::Concurrency { .. }))
        .filter_map(|k| int_value(k, config))
        .sum();
    let current = int_value(threads, config).unwrap_or(1);
    if needed > current {
        config.insert(threads.name.clone(), clamp(threads, needed).to_string());
    }
}

fn stage_matches(knob: &Knob, stage: &str) -> bool {
    let KnobRole::Concurrency { stage: Some(name) } = &knob.role else {
        return false;
    };
    let stage = stage.to_lowercase();
    let name = name.to_lowercase();
    stage.contains(&name) || name.contains(stage.split(['[', '(']).next().unwrap_or(&stage))
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

/// The built-in plan for this round.
pub fn plan(view: &PlannerView<'_>) -> PlanAnswer {
    let base: Config = view
        .best_args
        .iter()
        .map(|(k, v)| (normalise_flag(k), v.clone()))
        .collect();
    let wait_share = view
        .best_summary
        .and_then(|s| s.data_wait_share_pct.value().copied())
        .unwrap_or(0.0);
    let headspace = view.headspace_pct.unwrap_or(wait_share);
    // Whether the *best* still waits for data: the baseline's headspace says where the
    // run started, the best's own wait share says where it is now.
    let data_bound = match view.best_summary {
        Some(_) => wait_share >= 10.0,
        None => headspace >= 10.0,
    };
    let stage = view
        .best_summary
        .and_then(|s| s.bottleneck.value())
        .and_then(|b| b.stage.clone());
    let mut candidates: Vec<Candidate> = Vec::new();
    let why = if data_bound {
        format!("the best still waits for data ({wait_share:.0}% of each step)")
    } else {
        format!("the best is compute-bound (it waits {wait_share:.0}% of each step)")
    };
    let set = |knob: &Knob,
               value: String,
               hypothesis: String,
               tag: &str,
               candidates: &mut Vec<Candidate>| {
        let mut config = base.clone();
        let old = config
            .get(&knob.name)
            .cloned()
            .or(knob.default.clone())
            .unwrap_or_else(|| "unset".to_owned());
        if old == value {
            return;
        }
        config.insert(knob.name.clone(), value.clone());
        fix_threads(view.knobs, &mut config);
        candidates.push(Candidate {
            config,
            env: view.best_env.clone(),
            name: format!("{}_{}", knob.name, value),
            hypothesis,
            summary: format!("{} {old} → {value}", knob.name.replace('_', " ")),
            tags: if tag.is_empty() {
                Vec::new()
            } else {
                vec![tag.to_owned()]
            },
        });
    };
    let concurrency: Vec<&Knob> = view
        .knobs
        .iter()
        .filter(|k| matches!(k.role, KnobRole::Concurrency { .. }))
        .collect();
    let bottleneck: Vec<&Knob> = concurrency
        .iter()
        .copied()
        .filter(|k| stage.as_deref().is_some_and(|s| stage_matches(k, s)))
        .collect();
    let by_role = |role: fn(&KnobRole) -> bool| view.knobs.iter().filter(move |k| role(&k.role));
    let scale = |knob: &Knob, factor: f64| -> Option<String> {
        let current = int_value(knob, &base)?;
        let next = clamp(knob, ((current as f64) * factor).round() as i64);
        (next != current).then(|| next.to_string())
    };
    let raise =
        |knob: &Knob, factors: &[f64], reason: &str, tag: &str, candidates: &mut Vec<Candidate>| {
            for factor in factors {
                if let Some(v) = scale(knob, *factor) {
                    let (direction, effect) = if *factor > 1.0 {
                        ("raising", "should deliver more")
                    } else {
                        ("lowering", "may cut contention (less can be more)")
                    };
                    set(
                        knob,
                        v.clone(),
                        format!("{reason}: {direction} {} to {v} {effect}.", knob.name),
                        tag,
                        candidates,
                    );
                }
            }
        };
    let mtp = |candidates: &mut Vec<Candidate>| {
        for knob in by_role(|r| matches!(r, KnobRole::Subprocess { .. })) {
            if let KnobRole::Subprocess { value } = &knob.role {
                set(
                    knob,
                    value.clone(),
                    format!(
                        "{why}: running the pipeline in a subprocess keeps loader threads off the training loop's interpreter."
                    ),
                    "mtp",
                    candidates,
                );
            }
        }
    };
    // Phase 1: the levers, in the order the facts suggest. Big steps first: an
    // experiment is expensive, and a doubling that helps is followed by another.
    if data_bound {
        for knob in &bottleneck {
            let name = match &knob.role {
                KnobRole::Concurrency { stage: Some(s) } => s.clone(),
                _ => knob.name.clone(),
            };
            // ×1.5 brackets a contention knee between the doublings.
            raise(
                knob,
                &[4.0, 2.0, 1.5],
                &format!("{why} and {name} is the bottleneck stage"),
                "concurrency_tuning",
                &mut candidates,
            );
        }
        for knob in concurrency.iter().filter(|k| !bottleneck.contains(k)) {
            raise(
                knob,
                &[4.0, 2.0],
                &why,
                "concurrency_tuning",
                &mut candidates,
            );
        }
        for knob in by_role(|r| *r == KnobRole::Buffer) {
            raise(
                knob,
                &[4.0],
                &format!("{why}: a deeper buffer absorbs jitter between batches"),
                "",
                &mut candidates,
            );
        }
        for knob in by_role(|r| *r == KnobRole::Threads) {
            raise(
                knob,
                &[2.0],
                &format!("{why}: a larger thread budget lets every stage reach its concurrency"),
                "concurrency_tuning",
                &mut candidates,
            );
        }
        mtp(&mut candidates);
        for knob in by_role(|r| *r == KnobRole::BatchSize) {
            raise(
                knob,
                &[2.0],
                &format!(
                    "{why}: bigger batches amortise each step's fixed costs (judged per sample)"
                ),
                "batch_size_tuning",
                &mut candidates,
            );
        }
        for knob in &bottleneck {
            raise(knob, &[0.5], &why, "concurrency_tuning", &mut candidates);
        }
    } else {
        for knob in by_role(|r| *r == KnobRole::BatchSize) {
            raise(
                knob,
                &[4.0, 2.0, 8.0],
                &format!(
                    "{why}: bigger batches amortise each step's fixed costs (judged per sample)"
                ),
                "batch_size_tuning",
                &mut candidates,
            );
        }
        mtp(&mut candidates);
        for knob in by_role(|r| *r == KnobRole::Buffer) {
            raise(
                knob,
                &[4.0],
                &format!("{why}: a deeper buffer absorbs jitter between batches"),
                "",
                &mut candidates,
            );
        }
        for knob in &concurrency {
            raise(
                knob,
                &[0.5, 2.0],
                &format!("{why}: loader threads compete with the step for CPU"),
                "concurrency_tuning",
                &mut candidates,
            );
        }
        for knob in by_role(|r| *r == KnobRole::Threads) {
            raise(
                knob,
                &[0.5],
                &format!("{why}: a smaller pool leaves CPU to the step"),
                "concurrency_tuning",
                &mut candidates,
            );
        }
    }
    if !view.best_env.contains_key("AUTORESEARCH_GC_EVERY") {
        let mut env = view.best_env.clone();
        env.insert("AUTORESEARCH_GC_EVERY".to_owned(), "50".to_owned());
        candidates.push(Candidate {
            config: base.clone(),
            env,
            name: "gc_every_50".to_owned(),
            hypothesis: "Collecting garbage every 50 steps instead of at random turns unpredictable pauses into aligned ones.".to_owned(),
            summary: "aligned GC every 50 steps".to_owned(),
            tags: Vec::new(),
        });
    }
    // Phase 2: one knob at a time around the best.
    for knob in view.knobs.iter().filter(|k| k.range.is_some()) {
        for factor in [2.0, 0.5, 1.5, 0.67, 3.0, 0.33] {
            if let Some(v) = scale(knob, factor) {
                set(
                    knob,
                    v.clone(),
                    format!("Refining around the best: {} = {v}.", knob.name),
                    "",
                    &mut candidates,
                );
            }
        }
        if let Some(current) = int_value(knob, &base) {
            for step in [1, -1] {
                let v = clamp(knob, current + step);
                set(
                    knob,
                    v.to_string(),
                    format!("Refining around the best: {} = {v}.", knob.name),
                    "",
                    &mut candidates,
                );
            }
        }
    }
    for knob in view.knobs.iter().filter(|k| !k.choices.is_empty()) {
        for choice in &knob.choices {
            set(
                knob,
                choice.clone(),
                format!("Trying {} = {choice}.", knob.name),
                "",
                &mut candidates,
            );
        }
    }
    // Phase 3: samples near the best (a few knobs at once), seeded.
    let numeric: Vec<&Knob> = view.knobs.iter().filter(|k| k.range.is_some()).collect();
    if !numeric.is_empty() {
        let mut rng = SplitMix(view.seed);
        for _ in 0..64 {
            let mut config = base.clone();
            for knob in &numeric {
                if rng.next().is_multiple_of(2) {
                    continue;
                }
                let current = int_value(knob, &base).unwrap_or(1) as f64;
                let factor = [0.5, 0.75, 1.25, 1.5, 2.0][(rng.next() % 5) as usize];
                config.insert(
                    knob.name.clone(),
                    clamp(knob, (current * factor).round() as i64).to_string(),
                );
            }
            fix_threads(view.knobs, &mut config);
            let changed: Vec<String> = config
                .iter()
                .filter(|(k, v)| base.get(*k) != Some(*v))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            if changed.is_empty() {
                continue;
            }
            candidates.push(Candidate {
                config,
                env: view.best_env.clone(),
                name: format!("sample_{}", changed.join("_")),
                hypothesis: format!("Sampling near the best: {}.", changed.join(", ")),
                summary: "sample near best".to_owned(),
                tags: Vec::new(),
            });
        }
    }
    // Never a batch size at or above one that failed.
    let batch_knob = view.knobs.iter().find(|k| k.role == KnobRole::BatchSize);
    if let (Some(limit), Some(knob)) = (view.failed_batch, batch_knob) {
        candidates.retain(|c| {
            c.config
                .get(&knob.name)
                .and_then(|v| v.parse::<i64>().ok())
                .is_none_or(|b| b < limit)
        });
    }
    // A flag set to its default is the same experiment as no flag.
    let canonical = |config: &Config| -> Config {
        config
            .iter()
            .filter(|(name, value)| {
                !view
                    .knobs
                    .iter()
                    .any(|k| &&k.name == name && k.default.as_ref() == Some(*value))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let mut seen: BTreeSet<Config> = view.tried.iter().map(&canonical).collect();
    let mut experiments = Vec::new();
    for c in candidates {
        let config = canonical(&c.config);
        let key = canonical(&config_key(&config, &c.env));
        let c = Candidate { config, ..c };
        if seen.contains(&key) {
            continue;
        }
        seen.insert(key);
        let launch_args: BTreeMap<String, String> = c
            .config
            .iter()
            .filter_map(|(name, v)| {
                view.knobs
                    .iter()
                    .find(|k| &k.name == name)
                    .map(|k| (k.flag.clone(), v.clone()))
            })
            .collect();
        let mut changes: Vec<String> = c.config.iter().map(|(k, v)| format!("{k}={v}")).collect();
        changes.extend(c.env.iter().map(|(k, v)| format!("env:{k}={v}")));
        experiments.push(Proposal {
            name: c.name,
            hypothesis: c.hypothesis,
            changes,
            change_summary: c.summary,
            description: String::new(),
            launch_args,
            env: c.env,
            base: None,
            tags: c.tags,
            repeat: false,
        });
        if experiments.len() >= view.wanted {
            break;
        }
    }
    if experiments.is_empty() {
        return PlanAnswer {
            action: "stop".to_owned(),
            reasoning: "every configuration the built-in planner would try has been tried"
                .to_owned(),
            experiments,
        };
    }
    PlanAnswer {
        action: "launch".to_owned(),
        reasoning: format!("built-in planner: {why}"),
        experiments,
    }
}
