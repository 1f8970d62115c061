//! The planning round: when a finished experiment starts one, and every rule that stops
//! the run instead.

use serde::{Deserialize, Serialize};

use super::admit::budget_stop;
use super::practice::{Practice, PracticeSet};

/// Planning rounds since the last new best.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plateau {
    /// Rounds in a row without a new best.
    pub rounds_without_best: u32,
    /// Planning rounds so far.
    pub rounds: u32,
}

impl Plateau {
    /// Records one planning round, after a result that was (or was not) a new best.
    /// Rounds triggered by failed experiments do not count toward patience, so the
    /// meaning of patience does not depend on how many jobs fail or run at once.
    pub fn record_round(&mut self, new_best: bool, after_failure: bool) {
        self.rounds += 1;
        if new_best {
            self.rounds_without_best = 0;
        } else if !after_failure {
            self.rounds_without_best += 1;
        }
    }
}

/// Why a run stops planning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum StopReason {
    /// `patience` rounds without a new best, and every best practice was tried.
    Plateau {
        /// Rounds without a new best.
        rounds: u32,
    },
    /// `max_iterations` planning rounds.
    MaxIterations {
        /// The limit.
        limit: u32,
    },
    /// The experiment budget is used.
    MaxExperiments {
        /// The limit.
        limit: u32,
    },
    /// The wall-clock budget is used.
    MaxHours {
        /// The limit.
        limit: f64,
    },
    /// The agent budget is used.
    MaxLlmUsd {
        /// The limit.
        limit: f64,
    },
    /// The best is within the allowed distance of the compute-only floor.
    NearFloor {
        /// The best step, ms.
        best_ms: f64,
        /// The floor, ms.
        floor_ms: f64,
    },
    /// Nothing was left to run and no planner proposed more.
    QueueDrained,
    /// The baseline failed: there is nothing to compare experiments with.
    BaselineFailed,
    /// The last experiments all failed before their jobs ran (source, build, launch):
    /// something outside the experiments is broken.
    RepeatedFailures {
        /// How many in a row.
        count: u32,
    },
}

/// Failures before a job ran, in a row, that stop the run.
pub const MAX_FAILURES_BEFORE_JOBS: u32 = 3;

/// One sentence saying why the run stopped.
pub fn describe_stop(reason: &StopReason) -> String {
    match reason {
        StopReason::Plateau { rounds } => format!(
            "plateau: {rounds} planning rounds without a new best, and every best practice was tried"
        ),
        StopReason::MaxIterations { limit } => {
            format!("the limit of {limit} planning rounds (--max-iterations)")
        }
        StopReason::MaxExperiments { limit } => {
            format!("the budget of {limit} experiments (--max-experiments)")
        }
        StopReason::MaxHours { limit } => format!("the budget of {limit} hours (--max-hours)"),
        StopReason::MaxLlmUsd { limit } => {
            format!("the agent budget of ${limit:.2} (--max-llm-usd)")
        }
        StopReason::NearFloor { best_ms, floor_ms } => format!(
            "the best ({best_ms:.2} ms) is within --floor-stop-pct of the compute-only floor ({floor_ms:.2} ms)"
        ),
        StopReason::QueueDrained => {
            "nothing was left to run, and no planner proposed more".to_owned()
        }
        StopReason::BaselineFailed => {
            "the baseline failed, so there is nothing to compare experiments with (see its failure; fix the job, then start a new work directory)".to_owned()
        }
        StopReason::RepeatedFailures { count } => format!(
            "{count} experiments in a row failed before their jobs ran (see the failures; fix the build or launch command, then resume with --update-config)"
        ),
    }
}

/// What the stop decision looks at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunProgress {
    /// Planning state.
    pub plateau: Plateau,
    /// Experiments launched.
    pub experiments: u32,
    /// Hours since the run began.
    pub hours: f64,
    /// Agent spend, USD.
    pub llm_usd: f64,
    /// The best practices tried so far.
    pub practices_tried: PracticeSet,
    /// Best steady step, ms.
    pub best_ms: Option<f64>,
    /// Headspace floor, ms.
    pub floor_ms: Option<f64>,
}

/// The limits the stop decision applies (from the run configuration).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StopLimits {
    /// Planning rounds without a new best.
    pub patience: u32,
    /// Planning rounds in all.
    pub max_iterations: u32,
    /// Experiments launched.
    pub max_experiments: Option<u32>,
    /// Hours.
    pub max_hours: Option<f64>,
    /// Agent spend.
    pub max_llm_usd: Option<f64>,
    /// Stop when the best is within this percent of the floor.
    pub floor_stop_pct: f64,
}

/// A best this far (percent) *below* the compute-only floor computes differently from
/// the run the floor was measured on (subprocess mode freed the step's interpreter, say),
/// so that floor no longer bounds it and is no reason to stop.
pub const STALE_FLOOR_PCT: f64 = 5.0;

/// The first reason to stop, if any. Budgets come first (they are hard limits), then the
/// floor, then iterations, then the plateau (which also needs every best practice
/// tried).
pub fn should_stop(progress: &RunProgress, limits: &StopLimits) -> Option<StopReason> {
    if let Some(budget) = budget_stop(progress, limits) {
        return Some(budget);
    }
    // The floor is the step at the baseline's batch: a bigger batch can still beat it
    // per sample, so it ends a run only once the batch size was tried (or cannot be).
    if let (Some(best_ms), Some(floor_ms)) = (progress.best_ms, progress.floor_ms)
        && progress
            .practices_tried
            .contains(&Practice::BatchSizeTuning)
        && floor_ms > 0.0
        && (-STALE_FLOOR_PCT..=limits.floor_stop_pct)
            .contains(&((best_ms - floor_ms) / floor_ms * 100.0))
    {
        return Some(StopReason::NearFloor { best_ms, floor_ms });
    }
    if progress.plateau.rounds >= limits.max_iterations {
        return Some(StopReason::MaxIterations {
            limit: limits.max_iterations,
        });
    }
    let all_tried = Practice::ALL
        .iter()
        .all(|p| progress.practices_tried.contains(p));
    if progress.plateau.rounds_without_best >= limits.patience && all_tried {
        return Some(StopReason::Plateau {
            rounds: progress.plateau.rounds_without_best,
        });
    }
    None
}

/// What a round's stop decision knows beyond the progress: the run's own failures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundFacts {
    /// The baseline failed.
    pub baseline_failed: bool,
    /// Experiments that failed before their jobs ran, in a row, counted back from the
    /// newest (see [`super::failure::before_job`]).
    pub failures_before_jobs: u32,
}

/// The stop a planning round accepts, if any: [`should_stop`] first (budgets, floor,
/// iterations, plateau), then a failed baseline, then failures before the jobs ran.
/// `progress` counts the rounds planned *before* this one: round N may plan while N is
/// within the iteration limit.
pub fn round_stop(
    progress: &RunProgress,
    limits: &StopLimits,
    facts: RoundFacts,
) -> Option<StopReason> {
    should_stop(progress, limits)
        .or_else(|| facts.baseline_failed.then_some(StopReason::BaselineFailed))
        .or_else(|| {
            (facts.failures_before_jobs >= MAX_FAILURES_BEFORE_JOBS).then_some(
                StopReason::RepeatedFailures {
                    count: facts.failures_before_jobs,
                },
            )
        })
}

/// What the planning gate looks at when an experiment finishes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GateFacts {
    /// A stop was already accepted.
    pub stopped: bool,
    /// Every seed (baseline, headspace, subprocess) has finished, and there is a baseline.
    pub seeds_done: bool,
    /// A new best waits for its confirmation: the finished node is the candidate, or its
    /// confirmation run is queued. The confirmation's own end decides.
    pub confirmation_pending: bool,
    /// The finished node is a seed.
    pub is_seed: bool,
    /// The seeds' one round has already started.
    pub seed_round_done: bool,
}

/// Whether a finished experiment starts a planning round. The seeds make one round
/// together: the first to see them all finished starts it, and a seed whose turn comes
/// after that starts none.
pub fn round_opens(facts: &GateFacts) -> bool {
    let seed_too_late = facts.is_seed && facts.seed_round_done;
    !facts.stopped && facts.seeds_done && !facts.confirmation_pending && !seed_too_late
}
