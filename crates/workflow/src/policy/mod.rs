//! Every decision the run makes, as pure functions over typed inputs: no files, no
//! processes, no clock. The lifecycle gathers the facts, calls one of these, and writes
//! what it decided through the books.
//!
//! | question | module |
//! |---|---|
//! | may a queued experiment start? (stop accepted, budgets) | [`admit`] |
//! | does a finished one start a planning round, or stop the run? | [`round`] |
//! | is it the new best, or does it need a confirmation run? | [`best`] |
//! | how noisy are runs, and how far must a result beat the best? | [`noise`] |
//! | is a proposal the same experiment as one already run? | [`identity`] |
//! | which of a plan's proposals may run? | [`proposals`] |
//! | what kind of failure did a job have? | [`failure`] |
//! | which best practices were tried? | [`practice`] |
//! | where does a resumed node go on? | [`resume`] |

pub mod admit;
pub mod best;
pub mod failure;
pub mod identity;
pub mod noise;
pub mod practice;
pub mod proposals;
pub mod resume;
pub mod round;

pub use admit::{Admission, admit, budget_stop};
pub use best::{BestDecision, BestFacts, decide_best, per_step_verdict_blocked};
pub use failure::{JobEvidence, MAX_REPAIRS, before_job, classify_job_failure, may_repair};
pub use identity::ExperimentIdentity;
pub use noise::{NoiseEstimate, between_run_sigma, keep_threshold_pct, needs_repeat};
pub use practice::{
    MAX_STRUCTURAL_ATTEMPTS, Practice, PracticeSet, practices_left, structural_settled,
};
pub use resume::{Phase, phase_of, reschedule};
pub use round::{
    GateFacts, MAX_FAILURES_BEFORE_JOBS, Plateau, RoundFacts, RunProgress, STALE_FLOOR_PCT,
    StopLimits, StopReason, describe_stop, round_opens, round_stop, should_stop,
};
