//! Decisions that need no I/O: is a proposal a duplicate, is the run on a plateau, must
//! it stop, what kind of failure a job had; [`proposals`]: which of a plan's proposals
//! may run.

pub mod proposals;

use std::collections::{BTreeMap, BTreeSet};

use autoresearch_hypothesis_tree::FailureKind;
use serde::{Deserialize, Serialize};

/// What makes two experiments the same: their code changes, their launch-flag changes
/// and the commit they build on.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ExperimentIdentity {
    /// Canonical ids of the code changes.
    pub changes: BTreeSet<String>,
    /// Launch flags that differ from the base launch command (flag → value).
    pub launch_flags: BTreeMap<String, String>,
    /// The commit the experiment starts from.
    pub base_commit: String,
}

impl ExperimentIdentity {
    /// Whether `candidate` repeats one of `existing`. An explicit repeat (a confirmation
    /// run) is never a duplicate; an experiment that changes nothing repeats its base.
    pub fn is_duplicate<'a>(
        candidate: &Self,
        existing: impl IntoIterator<Item = &'a Self>,
        explicit_repeat: bool,
    ) -> bool {
        !explicit_repeat && existing.into_iter().any(|other| other == candidate)
    }
}

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

/// The practices tried before a plateau may stop the run.
pub const BEST_PRACTICES: [&str; 3] = ["mtp", BATCH_PRACTICE, "concurrency_tuning"];

/// The practice tag of batch-size moves.
pub const BATCH_PRACTICE: &str = "batch_size_tuning";

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
    /// Tags of the practices tried so far.
    pub practices_tried: BTreeSet<String>,
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
    if let Some(limit) = limits.max_experiments
        && progress.experiments >= limit
    {
        return Some(StopReason::MaxExperiments { limit });
    }
    if let Some(limit) = limits.max_hours
        && progress.hours >= limit
    {
        return Some(StopReason::MaxHours { limit });
    }
    if let Some(limit) = limits.max_llm_usd
        && progress.llm_usd >= limit
    {
        return Some(StopReason::MaxLlmUsd { limit });
    }
    // The floor is the step at the baseline's batch: a bigger batch can still beat it
    // per sample, so it ends a run only once the batch size was tried (or cannot be).
    if let (Some(best_ms), Some(floor_ms)) = (progress.best_ms, progress.floor_ms)
        && progress.practices_tried.contains(BATCH_PRACTICE)
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
    let all_tried = BEST_PRACTICES
        .iter()
        .all(|p| progress.practices_tried.contains(*p));
    if progress.plateau.rounds_without_best >= limits.patience && all_tried {
        return Some(StopReason::Plateau {
            rounds: progress.plateau.rounds_without_best,
        });
    }
    None
}

/// Why a comparison of two runs measured per step (a batch size unknown) cannot judge
/// them, if it cannot: their batch settings differ, so a bigger batch looks slower and a
/// smaller one faster per step whatever their throughput. `None` when it may judge.
/// A batch is the batch knob's value in each run (its default where not set).
pub fn per_step_verdict_blocked(
    basis: &str,
    best_batch: Option<&str>,
    candidate_batch: Option<&str>,
) -> Option<String> {
    if basis != "step_ms" || best_batch == candidate_batch {
        return None;
    }
    let show = |b: Option<&str>| b.unwrap_or("the script's default").to_owned();
    Some(format!(
        "the batch sizes differ ({} against the best's {}) and a run's batch size is unknown, so time per step cannot say which has the higher throughput; it is not judged",
        show(candidate_batch),
        show(best_batch)
    ))
}

/// What is known about a job that failed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobEvidence {
    /// The probe saw a first batch.
    pub saw_first_batch: bool,
    /// Steps the probe recorded.
    pub steps: u64,
    /// The job stopped making progress and was cancelled.
    pub stalled: bool,
    /// The tail of the job's logs.
    pub log_tail: String,
}

/// The failure kind of a job, by evidence rather than by words in its log: a stall is a
/// stall; a job that produced a batch failed at run time; a job that left no output at
/// all failed in a way the evidence cannot place; any other job failed while starting
/// (imports, pickling, configuration: the kind that gets repair attempts).
pub fn classify_job_failure(evidence: &JobEvidence) -> FailureKind {
    if evidence.stalled {
        FailureKind::JobStalled
    } else if evidence.saw_first_batch || evidence.steps > 0 {
        FailureKind::JobRuntimeFailed
    } else if evidence.log_tail.trim().is_empty() {
        FailureKind::JobFailed
    } else {
        FailureKind::JobStartupFailed
    }
}
