//! Admission: whether a queued experiment may start (a stop accepted, or a budget used).

use super::round::{RunProgress, StopLimits, StopReason};

/// The hard budget used, if one is: experiments launched, hours, agent spend, in that
/// order. The round's stop rules apply the same budgets first.
pub fn budget_stop(progress: &RunProgress, limits: &StopLimits) -> Option<StopReason> {
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
    None
}

/// What happens to a queued experiment whose turn came.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// It starts and counts against the experiment budget.
    Start,
    /// The run already stopped: it does not start.
    AlreadyStopped,
    /// A budget is used: the run stops for this reason, and it does not start.
    Stop(StopReason),
}

/// Whether an experiment may start, given the stop accepted so far (if any).
pub fn admit(stopped: bool, progress: &RunProgress, limits: &StopLimits) -> Admission {
    if stopped {
        return Admission::AlreadyStopped;
    }
    match budget_stop(progress, limits) {
        Some(reason) => Admission::Stop(reason),
        None => Admission::Start,
    }
}
