//! The best practices a run tries before a plateau may stop it.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A best practice. Its tag (`mtp`, `batch_size_tuning`, `concurrency_tuning`) is how
/// proposals name it and how `state.json` lists it; the variants are declared in the
/// tags' alphabetical order, so a set of them writes as the set of tags did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Practice {
    /// Batch-size moves.
    BatchSizeTuning,
    /// Concurrency, thread and buffer moves.
    ConcurrencyTuning,
    /// The pipeline moved into a subprocess (the structural practice: a code change or
    /// the script's own flag).
    Mtp,
}

/// The practices tried, as `state.json` keeps them.
pub type PracticeSet = BTreeSet<Practice>;

/// Attempts at the structural practice (with its start-up repairs) after which it counts
/// as tried even though none ran.
pub const MAX_STRUCTURAL_ATTEMPTS: u32 = 3;

impl Practice {
    /// Every practice, in the order the planning prompt lists them.
    pub const ALL: [Self; 3] = [Self::Mtp, Self::BatchSizeTuning, Self::ConcurrencyTuning];

    /// The practice's tag.
    pub const fn tag(self) -> &'static str {
        match self {
            Self::Mtp => "mtp",
            Self::BatchSizeTuning => "batch_size_tuning",
            Self::ConcurrencyTuning => "concurrency_tuning",
        }
    }

    /// The practice a proposal's tag names, if it names one.
    pub fn from_tag(tag: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.tag() == tag)
    }

    /// The practices a queued proposal with `tags` counts as tried. The structural
    /// practice counts only once it ran (see [`structural_settled`]), never when queued.
    pub fn tried_by_queueing<'a>(tags: impl IntoIterator<Item = &'a String>) -> Vec<Self> {
        tags.into_iter()
            .filter_map(|t| Self::from_tag(t))
            .filter(|p| *p != Self::Mtp)
            .collect()
    }
}

impl fmt::Display for Practice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

/// Whether the structural practice counts as tried after an attempt: it ran, or it was
/// attempted [`MAX_STRUCTURAL_ATTEMPTS`] times (`attempts` includes this one).
pub fn structural_settled(attempts: u32, failed: bool) -> bool {
    !failed || attempts >= MAX_STRUCTURAL_ATTEMPTS
}

/// The practices of [`Practice::ALL`] not in `tried`, in that order.
pub fn practices_left(tried: &PracticeSet) -> Vec<Practice> {
    Practice::ALL
        .into_iter()
        .filter(|p| !tried.contains(p))
        .collect()
}
