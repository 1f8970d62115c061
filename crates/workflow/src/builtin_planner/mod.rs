//! The built-in planner: deterministic proposals from the computed summaries, for runs
//! without an agent (and for data that cannot leave the building).
//!
//! Each round starts from the best configuration so far:
//!
//! 1. `balance`: *sized* moves. Little's law says how many items each stage must keep
//!    in flight to feed the measured training step, a contention fit of the latencies
//!    measured so far says where more concurrency stops paying ([`model`]), and the step's
//!    fixed cost says how far to grow the batch. They change several knobs at once, the
//!    way a performance engineer would after reading the statistics.
//! 2. `levers`: one lever at a time: subprocess mode flipped, then in the order the facts
//!    suggest (the bottleneck stage's concurrency, the other stages, buffer, threads,
//!    batch size), garbage-collection alignment, refinement around the best and seeded
//!    samples near it.
//!
//! Configurations already tried are skipped, so as the sized moves are used up the
//! single-lever ones take over.

mod balance;
mod cost;
mod levers;
pub mod model;
mod moves;

use std::collections::{BTreeMap, BTreeSet};

use autoresearch_metrics::RunSummary;

use crate::knobs::{Knob, KnobRole};
use crate::policy::Practice;
use crate::prompts::{PlanAction, PlanAnswer, Proposal};
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
    /// The compute-only floor: the headspace run's steady step (ms) and its batch size.
    /// Its step is the training step without the loader's threads competing for the
    /// interpreter, so it is the compute the loader must feed.
    pub floor: Option<(f64, Option<i64>)>,
    /// Every configuration tried so far (flags, normalised; env as `env:NAME`).
    pub tried: BTreeSet<BTreeMap<String, String>>,
    /// Every finished experiment with a summary (headspace runs excluded): what the
    /// models are fitted to.
    pub observations: Vec<Observation>,
    /// Proposals wanted.
    pub wanted: usize,
    /// Seeds the sampling phase.
    pub seed: u64,
    /// The smallest batch size that failed (out of memory, say): never tried again, nor
    /// anything larger.
    pub failed_batch: Option<i64>,
    /// The longest an experiment may run, seconds: the job timeout, or the run's time
    /// budget left when that is shorter. `None`: no limit.
    pub time_limit_s: Option<f64>,
}

/// One finished experiment the planner learns from.
#[derive(Debug, Clone)]
pub struct Observation {
    /// Its launch flags.
    pub config: BTreeMap<String, String>,
    /// Its environment additions.
    pub env: BTreeMap<String, String>,
    /// What it measured.
    pub summary: RunSummary,
    /// The configuration it was made from and what that measured (`None` for the
    /// baseline, or when the base has no summary): the move it made, and whether it won.
    pub base: Option<ObservedBase>,
}

/// The base an observation was made from.
#[derive(Debug, Clone)]
pub struct ObservedBase {
    /// Its launch flags.
    pub config: BTreeMap<String, String>,
    /// Its environment additions.
    pub env: BTreeMap<String, String>,
    /// What it measured.
    pub summary: RunSummary,
}

/// The practice tag of a move that changes a stage's concurrency or the thread pool.
const CONCURRENCY_TAG: &str = Practice::ConcurrencyTuning.tag();
/// The practice tag of a move that changes the batch size.
const BATCH_TAG: &str = Practice::BatchSizeTuning.tag();
/// The practice tag of a move that switches subprocess mode.
const SUBPROCESS_TAG: &str = Practice::Mtp.tag();

/// A configuration: normalised flag name → value.
type Config = BTreeMap<String, String>;

/// A configuration's identity, as stored in `tried`.
pub fn config_key(args: &BTreeMap<String, String>, env: &BTreeMap<String, String>) -> Config {
    let mut key: Config = args
        .iter()
        .map(|(k, v)| {
            // An environment knob's entry (`env:NAME`) is already a key.
            let name = if k.starts_with("env:") {
                k.clone()
            } else {
                normalise_flag(k)
            };
            (name, v.trim().to_owned())
        })
        .collect();
    for (k, v) in env {
        key.insert(format!("env:{k}"), v.clone());
    }
    key
}

/// One proposal before it is checked against what was tried.
struct Candidate {
    config: Config,
    env: BTreeMap<String, String>,
    name: String,
    hypothesis: String,
    summary: String,
    tags: Vec<String>,
}

/// The round's candidates, in the order they should run, all built from `base`.
struct Proposals<'a> {
    view: &'a PlannerView<'a>,
    base: Config,
    /// Why the best is where it is, for hypotheses.
    why: String,
    /// Whether the best still waits for data.
    data_bound: bool,
    /// Whether contention holds a loader stage below what the step needs (set by the
    /// sizing): then a bigger batch cannot help until something else changes.
    loader_capped: bool,
    /// The observations, flag names normalised, environment as `env:NAME`.
    observed: Vec<(Config, &'a RunSummary)>,
    candidates: Vec<Candidate>,
}

impl Proposals<'_> {
    /// The best's configuration with one knob set to `value` (threads kept sufficient).
    fn set(&mut self, knob: &Knob, value: String, hypothesis: String, tag: &str) {
        let mut config = self.base.clone();
        let old = config
            .get(&knob.name)
            .cloned()
            .or(knob.default.clone())
            .unwrap_or_else(|| "unset".to_owned());
        if old == value {
            return;
        }
        config.insert(knob.name.clone(), value.clone());
        fix_threads(self.view.knobs, &mut config);
        self.candidates.push(Candidate {
            config,
            env: self.view.best_env.clone(),
            name: format!("{}_{}", knob.name, value),
            hypothesis,
            summary: format!("{} {old} → {value}", knob.name.replace('_', " ")),
            tags: if tag.is_empty() {
                Vec::new()
            } else {
                vec![tag.to_owned()]
            },
        });
    }

    /// The knob's value in the best scaled by `factor`, if that changes it.
    fn scale(&self, knob: &Knob, factor: f64) -> Option<String> {
        let current = int_value(knob, &self.base)?;
        let next = clamp(knob, ((current as f64) * factor).round() as i64);
        (next != current).then(|| next.to_string())
    }

    /// One candidate per factor, each scaling `knob` alone.
    fn raise(&mut self, knob: &Knob, factors: &[f64], reason: &str, tag: &str) {
        for factor in factors {
            if let Some(v) = self.scale(knob, *factor) {
                let (direction, effect) = if *factor > 1.0 {
                    ("raising", "should deliver more")
                } else {
                    ("lowering", "may cut contention (less can be more)")
                };
                self.set(
                    knob,
                    v.clone(),
                    format!("{reason}: {direction} {} to {v} {effect}.", knob.name),
                    tag,
                );
            }
        }
    }
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
    for (threads, needed) in pool_needs(knobs, config) {
        let current = int_value(threads, config).unwrap_or(1);
        if needed > current {
            config.insert(threads.name.clone(), clamp(threads, needed).to_string());
        }
    }
}

/// Each thread-pool knob with the concurrency its pipeline's stages ask for in
/// `config` (a script with two pipelines has a pool for each).
fn pool_needs<'a>(knobs: &'a [Knob], config: &Config) -> Vec<(&'a Knob, i64)> {
    knobs
        .iter()
        .filter(|k| k.role == KnobRole::Threads)
        .map(|threads| {
            let needed = knobs
                .iter()
                .filter(|k| matches!(k.role, KnobRole::Concurrency { .. }))
                .filter(|k| k.same_pipeline(threads))
                .filter_map(|k| int_value(k, config))
                .sum();
            (threads, needed)
        })
        .collect()
}

/// Whether a concurrency knob belongs to the SPDL stage named `stage` (`fetch[8]`).
fn stage_matches(knob: &Knob, stage: &str) -> bool {
    let KnobRole::Concurrency { stage: Some(name) } = &knob.role else {
        return false;
    };
    let stage = stage.to_lowercase();
    let name = name.to_lowercase();
    stage.contains(&name) || name.contains(stage.split(['[', '(']).next().unwrap_or(&stage))
}

/// The configuration without flags set to their defaults: a flag at its default is the
/// same experiment as no flag.
fn without_defaults(knobs: &[Knob], config: &Config) -> Config {
    config
        .iter()
        .filter(|(name, value)| {
            !knobs
                .iter()
                .any(|k| &&k.name == name && k.default.as_ref() == Some(*value))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The built-in plan for this round.
pub fn plan(view: &PlannerView<'_>) -> PlanAnswer {
    let mut base: Config = view
        .best_args
        .iter()
        .map(|(k, v)| (normalise_flag(k), v.clone()))
        .collect();
    // Knobs the job reads from its environment are part of the configuration too.
    for knob in view.knobs.iter().filter(|k| k.env) {
        if let Some(value) = view.best_env.get(&knob.flag) {
            base.insert(knob.name.clone(), value.clone());
        }
    }
    let wait_share = view
        .best_summary
        .and_then(|s| s.data_wait_share_pct.value().copied())
        .unwrap_or(0.0);
    let headspace = view.headspace_pct.unwrap_or(wait_share);
    // Whether the *best* still waits for data: the baseline's headspace says where the
    // run started, the best's own wait share says where it is now.
    let data_bound = match view.best_summary {
        Some(_) => wait_share >= moves::DATA_BOUND_WAIT_PCT,
        None => headspace >= moves::DATA_BOUND_WAIT_PCT,
    };
    let why = if data_bound {
        format!("the best still waits for data ({wait_share:.0}% of each step)")
    } else {
        format!("the best is compute-bound (it waits {wait_share:.0}% of each step)")
    };
    let observed = view
        .observations
        .iter()
        .map(|o| (config_key(&o.config, &o.env), &o.summary))
        .collect();
    let mut proposals = Proposals {
        view,
        base,
        why,
        data_bound,
        loader_capped: false,
        observed,
        candidates: Vec::new(),
    };
    balance::propose(&mut proposals, data_bound);
    levers::propose(&mut proposals, data_bound);
    let over_time = priced(&mut proposals);
    let Proposals {
        why,
        candidates,
        base,
        ..
    } = proposals;
    let spent = Spent {
        base: config_key(&base, &view.best_env),
        tried: tried_moves(view),
        now: view.best_summary.map(moves::Evidence::of),
    };
    finish(view, &why, &spent, candidates, over_time)
}

/// Drops the candidates predicted to outlast the time an experiment may take, and says
/// the cost of the expensive ones in their hypotheses. How many were dropped.
fn priced(p: &mut Proposals<'_>) -> usize {
    let ratios: Vec<f64> = p
        .candidates
        .iter()
        .map(|c| cost::relative(p, &c.config))
        .collect();
    let fits: Vec<bool> = ratios.iter().map(|r| cost::fits(p, *r)).collect();
    let before = p.candidates.len();
    let mut kept = Vec::with_capacity(before);
    for ((mut c, ratio), fits) in p.candidates.drain(..).zip(ratios).zip(fits) {
        if !fits {
            continue;
        }
        if ratio >= cost::NOTABLE {
            c.hypothesis.push_str(&format!(
                " It should take about {ratio:.1}× the best's wall time (the batch grows)."
            ));
        }
        kept.push(c);
    }
    p.candidates = kept;
    before - p.candidates.len()
}

/// The moves that may not be repeated: what was tried, and the evidence now.
struct Spent {
    /// The best's configuration (environment as `env:NAME`).
    base: Config,
    tried: Vec<moves::TriedMove>,
    /// What the best's statistics say (`None` before the baseline is measured).
    now: Option<moves::Evidence>,
}

impl Spent {
    /// Whether the candidate repeats a move that lost from another base under the same
    /// evidence.
    fn repeats(&self, knobs: &[Knob], candidate: &Candidate) -> bool {
        let Some(now) = &self.now else {
            return false;
        };
        let change = moves::move_between(
            knobs,
            &self.base,
            &config_key(&candidate.config, &candidate.env),
        );
        moves::spent(&self.tried, &change, now)
    }
}

/// Every observation's move from its base.
fn tried_moves(view: &PlannerView<'_>) -> Vec<moves::TriedMove> {
    view.observations
        .iter()
        .filter_map(|o| {
            let base = o.base.as_ref()?;
            Some(moves::TriedMove::new(
                view.knobs,
                (&config_key(&base.config, &base.env), &base.summary),
                (&config_key(&o.config, &o.env), &o.summary),
            ))
        })
        .collect()
}

/// The candidate with its environment knobs moved from the flags to the environment:
/// `config` keeps the flags, `env` gets each variable (an environment knob at its
/// default is left unset).
fn with_env_knobs(knobs: &[Knob], mut c: Candidate) -> Candidate {
    for knob in knobs.iter().filter(|k| k.env) {
        let Some(value) = c.config.remove(&knob.name) else {
            continue;
        };
        if knob.default.as_ref() == Some(&value) {
            c.env.remove(&knob.flag);
        } else {
            c.env.insert(knob.flag.clone(), value);
        }
    }
    c
}

/// Drops what was tried (or may not run) and turns the first `wanted` candidates into
/// proposals.
// Long on purpose: the screening steps run in this order and each says what it dropped.
fn finish(
    view: &PlannerView<'_>,
    why: &str,
    spent: &Spent,
    mut candidates: Vec<Candidate>,
    over_time: usize,
) -> PlanAnswer {
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
    let canonical = |config: &Config| without_defaults(view.knobs, config);
    let mut seen: BTreeSet<Config> = view.tried.iter().map(&canonical).collect();
    let mut experiments = Vec::new();
    let mut repeats = 0;
    for c in candidates {
        let c = with_env_knobs(view.knobs, c);
        let config = canonical(&c.config);
        let key = canonical(&config_key(&config, &c.env));
        let c = Candidate { config, ..c };
        if seen.contains(&key) {
            continue;
        }
        seen.insert(key);
        if spent.repeats(view.knobs, &c) {
            repeats += 1;
            continue;
        }
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
    let mut skipped = match repeats {
        0 => String::new(),
        n => format!(
            "; {n} move(s) left out that already lost from another base while the same stage was the bottleneck"
        ),
    };
    if over_time > 0 {
        skipped.push_str(&format!(
            "; {over_time} left out that would outlast the time an experiment may take"
        ));
    }
    if experiments.is_empty() {
        return PlanAnswer {
            action: PlanAction::Stop,
            reasoning: format!(
                "every configuration the built-in planner would try has been tried{skipped}"
            ),
            experiments,
        };
    }
    PlanAnswer {
        action: PlanAction::Launch,
        reasoning: format!("built-in planner: {why}{skipped}"),
        experiments,
    }
}
