//! Failure kinds, decided by evidence rather than by words in a log.

use autoresearch_hypothesis_tree::{FailureKind, FailurePhase};

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

/// Whether a failure in `phase` happened before the experiment's job ran (the source,
/// the build or the launch): several in a row say something outside the experiments is
/// broken.
pub fn before_job(phase: FailurePhase) -> bool {
    matches!(
        phase,
        FailurePhase::Source | FailurePhase::Build | FailurePhase::Launch
    )
}

/// Start-up repairs per experiment.
pub const MAX_REPAIRS: u32 = 2;

/// Whether a failed experiment gets a start-up repair: it failed while starting, it is
/// the subprocess change (or a repair of it) with repairs left, and an agent can edit.
pub fn may_repair(
    failure: FailureKind,
    kind: crate::spec::ExperimentKind,
    repair_attempt: u32,
    has_agent: bool,
) -> bool {
    use crate::spec::ExperimentKind;
    failure == FailureKind::JobStartupFailed
        && matches!(kind, ExperimentKind::Mtp | ExperimentKind::Repair)
        && repair_attempt < MAX_REPAIRS
        && has_agent
}
