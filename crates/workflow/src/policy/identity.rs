//! Identity: when two experiments are the same one (the duplicate rule).

use std::collections::{BTreeMap, BTreeSet};

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
