//! The best: which run is kept as the one to beat, when a new best needs a confirmation
//! run, and when a comparison may judge at all.

use crate::spec::ExperimentKind;
use crate::state::PendingConfirmation;

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

/// What the best decision looks at when an experiment finishes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BestFacts<'a> {
    /// The finished node.
    pub id: &'a str,
    /// Its kind.
    pub kind: ExperimentKind,
    /// It failed.
    pub failed: bool,
    /// Its comparison with the best (for a confirmation run: with the best the candidate
    /// beat) says it is better, beyond noise.
    pub better: bool,
    /// There is a best already.
    pub has_best: bool,
    /// A win this size is repeated before it counts (`--confirm-best`, or within
    /// [`super::noise::SURE_SIGMA`]·σ_between; see [`super::noise::needs_repeat`]).
    pub needs_repeat: bool,
    /// The candidate waiting for its confirmation, if one does.
    pub pending: Option<&'a PendingConfirmation>,
}

/// What a finished experiment does to the best.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BestDecision {
    /// Nothing changes.
    Unchanged,
    /// The headspace run measured the compute-only floor (it is never a candidate).
    Floor,
    /// This node becomes the best.
    NewBest(String),
    /// It beat the best; a confirmation run decides.
    AwaitConfirmation,
    /// A confirmation run ended (or failed): the pending candidate is settled, and
    /// becomes the best when the repeat confirmed it.
    Settled {
        /// The candidate, when its repeat beat the best it had beaten.
        confirmed: Option<String>,
    },
}

/// The best decision. The first completed run is the reference; a later one becomes
/// the best only when its comparison says *better* (beyond the noise inside and
/// between runs), and, when the win is one a lucky run could explain, only after a
/// repeat says so too. A repeat of a configuration that already ran (the baseline's)
/// adds to its measurements and is never a candidate. A failed confirmation settles its
/// candidate as not confirmed, so planning goes on.
pub fn decide_best(facts: &BestFacts<'_>) -> BestDecision {
    if facts.kind == ExperimentKind::Confirm {
        let confirmed = facts
            .pending
            .filter(|p| p.confirm_node == facts.id && facts.better && !facts.failed)
            .map(|p| p.candidate.clone());
        return BestDecision::Settled { confirmed };
    }
    if facts.failed {
        return BestDecision::Unchanged;
    }
    match facts.kind {
        ExperimentKind::Headspace => BestDecision::Floor,
        _ if !facts.has_best => BestDecision::NewBest(facts.id.to_owned()),
        ExperimentKind::Repeat => BestDecision::Unchanged,
        _ if facts.better && facts.needs_repeat => BestDecision::AwaitConfirmation,
        _ if facts.better => BestDecision::NewBest(facts.id.to_owned()),
        _ => BestDecision::Unchanged,
    }
}
