//! Resume: which phase of its lifecycle a node re-enters when an engine picks it up,
//! from what its files say, and which nodes a resumed engine schedules again.

use autoresearch_hypothesis_tree::NodeStatus;

use crate::books::NodeResult;
use crate::execute::JobEnd;

/// Where a node's lifecycle goes on.
///
/// | status | notes | phase |
/// |---|---|---|
/// | any | removed by the user | [`Phase::Removed`] |
/// | completed, failed | — | [`Phase::Finished`] (plans when its round was lost) |
/// | queued | — | [`Phase::Admit`] |
/// | preparing; running without a job | — | [`Phase::Prepare`] |
/// | running with a job | — | [`Phase::Watch`] (re-attached, never relaunched) |
/// | analyzing | the job's end | [`Phase::Analyse`] |
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// The user removed it from the queue: it never runs.
    Removed,
    /// It finished; `plan_due` when its planning round was lost in a crash.
    Finished {
        /// Its round is still to plan.
        plan_due: bool,
    },
    /// Queued: admission (stop, budgets), then preparation.
    Admit,
    /// Prepare (again): nothing was launched, or no job was recorded.
    Prepare,
    /// Its job was launched: watch it to its end.
    Watch {
        /// The platform's job id.
        job: String,
    },
    /// Its job ended: collect, analyse, record.
    Analyse {
        /// How it ended (an unknown end when it was not recorded).
        end: JobEnd,
    },
}

/// The phase a node in `status` with `notes` and `job` re-enters.
pub fn phase_of(status: NodeStatus, notes: &NodeResult, job: Option<&str>) -> Phase {
    if notes.removed_by_user {
        return Phase::Removed;
    }
    match (status, job) {
        (NodeStatus::Completed | NodeStatus::Failed, _) => Phase::Finished {
            plan_due: notes.plan_due,
        },
        (NodeStatus::Queued, _) => Phase::Admit,
        (NodeStatus::Preparing, _) | (NodeStatus::Running, None) => Phase::Prepare,
        (NodeStatus::Running, Some(job)) => Phase::Watch {
            job: job.to_owned(),
        },
        (NodeStatus::Analyzing, _) => Phase::Analyse {
            end: notes.job_end.clone().unwrap_or_else(|| JobEnd {
                status: "unknown".to_owned(),
                detail: "the job's end was not recorded".to_owned(),
                stalled: false,
                hard_capped: false,
                probe_lines: 0,
            }),
        },
    }
}

/// Whether a resumed engine schedules a node the checkpoint does not hold (made just
/// before a crash, or left by a stopped run): after a stop only work already under way
/// comes back, and a finished node only when its round is still to plan.
pub fn reschedule(phase: &Phase, stopped: bool) -> bool {
    match phase {
        Phase::Removed => false,
        Phase::Finished { plan_due } => *plan_due && !stopped,
        Phase::Admit => !stopped,
        Phase::Prepare | Phase::Watch { .. } | Phase::Analyse { .. } => true,
    }
}
