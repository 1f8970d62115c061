//! Moves already spent: a move (the knobs a candidate changes, each from → to) that was
//! tried from some base and did not beat it is not tried again from another base unless
//! the evidence changed since. A performance engineer does not re-run "batch 8 → 32"
//! from every new best: it lost when the loader was the bottleneck, and it will lose
//! again while the same stage is.
//!
//! The evidence a move is judged under is what the planner reads first: whether the base
//! still waits for data, and which stage the statistics name. A move that lost while
//! `read` was the bottleneck may pay once `tokenize` is; a move that lost while the job
//! waited for data may pay once it computes.

use std::collections::BTreeMap;

use autoresearch_metrics::{RunSummary, Verdict, compare};

use super::{Config, without_defaults};
use crate::knobs::{Knob, KnobRole};

/// A best that waits for data at least this share of its step (percent) is data-bound.
pub(super) const DATA_BOUND_WAIT_PCT: f64 = 10.0;

/// What changes from a base to a configuration: knob → (from, to), `None` for "at its
/// default". Threads fixed up to serve a stage's concurrency are a consequence, not the
/// move, unless they are all that changes.
pub(super) type Move = BTreeMap<String, (Option<String>, Option<String>)>;

/// The move from `base` to `config`.
pub(super) fn move_between(knobs: &[Knob], base: &Config, config: &Config) -> Move {
    let base = without_defaults(knobs, base);
    let config = without_defaults(knobs, config);
    let mut names: Vec<&String> = base.keys().chain(config.keys()).collect();
    names.sort();
    names.dedup();
    let all: Move = names
        .into_iter()
        .filter(|name| base.get(*name) != config.get(*name))
        .map(|name| {
            (
                name.clone(),
                (base.get(name).cloned(), config.get(name).cloned()),
            )
        })
        .collect();
    let is_threads = |name: &str| {
        knobs
            .iter()
            .any(|k| k.name == name && k.role == KnobRole::Threads)
    };
    let without_threads: Move = all
        .iter()
        .filter(|(name, _)| !is_threads(name))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if without_threads.is_empty() {
        all
    } else {
        without_threads
    }
}

/// The evidence a move was chosen under: data-bound or not, and the named bottleneck
/// stage (its bare name: `read[4]` and `read` are one stage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Evidence {
    data_bound: bool,
    stage: Option<String>,
}

impl Evidence {
    /// What `summary` says.
    pub(super) fn of(summary: &RunSummary) -> Self {
        let wait = summary.data_wait_share_pct.value().copied().unwrap_or(0.0);
        let stage = summary
            .bottleneck
            .value()
            .and_then(|b| b.stage.as_deref())
            .map(|s| {
                s.split(['[', '('])
                    .next()
                    .unwrap_or(s)
                    .trim()
                    .to_lowercase()
            });
        Self {
            data_bound: wait >= DATA_BOUND_WAIT_PCT,
            stage,
        }
    }
}

/// One move tried earlier, under the evidence of its base, and whether it may have won
/// (it was not slower).
#[derive(Debug, Clone)]
pub(super) struct TriedMove {
    change: Move,
    evidence: Evidence,
    may_have_won: bool,
}

impl TriedMove {
    /// The move from `base` (with its summary) to `config` (with its summary).
    pub(super) fn new(
        knobs: &[Knob],
        base: (&Config, &RunSummary),
        config: (&Config, &RunSummary),
    ) -> Self {
        // Only a move that measurably lost, or came out no faster at all, is spent: on a
        // noisy job a real gain is often "indistinguishable" in one run, and banning it
        // would hide the way to the best.
        let may_have_won = compare(base.1, config.1, 0.0)
            .value()
            .is_none_or(|c| c.verdict != Verdict::Worse && c.delta_pct < 0.0);
        Self {
            change: move_between(knobs, base.0, config.0),
            evidence: Evidence::of(base.1),
            may_have_won,
        }
    }
}

/// Whether `change`, made now under `now`, repeats a move that lost under the same
/// evidence.
pub(super) fn spent(tried: &[TriedMove], change: &Move, now: &Evidence) -> bool {
    !change.is_empty()
        && tried
            .iter()
            .any(|t| !t.may_have_won && &t.change == change && &t.evidence == now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knob(name: &str, role: KnobRole, default: &str) -> Knob {
        Knob {
            name: name.to_owned(),
            flag: format!("--{name}"),
            role,
            default: Some(default.to_owned()),
            range: Some((1, 256)),
            choices: Vec::new(),
            value_kind: None,
            evidence: None,
            pipeline: None,
            env: false,
        }
    }

    fn config(pairs: &[(&str, &str)]) -> Config {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn knobs() -> Vec<Knob> {
        vec![
            knob("batch", KnobRole::BatchSize, "8"),
            knob("read", KnobRole::Concurrency { stage: None }, "1"),
            knob("threads", KnobRole::Threads, "2"),
        ]
    }

    #[test]
    fn a_move_is_the_same_from_bases_that_differ_elsewhere() {
        let knobs = knobs();
        let a = move_between(&knobs, &config(&[]), &config(&[("batch", "32")]));
        let b = move_between(
            &knobs,
            &config(&[("read", "4"), ("threads", "4")]),
            &config(&[("read", "4"), ("threads", "4"), ("batch", "32")]),
        );
        assert_eq!(a, b);
        assert_eq!(
            a.get("batch"),
            Some(&(None, Some("32".to_owned()))),
            "from the default to 32"
        );
        // From another batch it is another move.
        let c = move_between(
            &knobs,
            &config(&[("batch", "16")]),
            &config(&[("batch", "32")]),
        );
        assert_ne!(a, c);
    }

    #[test]
    fn threads_raised_to_serve_a_stage_are_not_the_move() {
        let knobs = knobs();
        let with_fix = move_between(
            &knobs,
            &config(&[]),
            &config(&[("read", "4"), ("threads", "4")]),
        );
        let without = move_between(&knobs, &config(&[]), &config(&[("read", "4")]));
        assert_eq!(with_fix, without);
        // A threads-only move keeps its threads.
        let threads = move_between(&knobs, &config(&[]), &config(&[("threads", "4")]));
        assert!(threads.contains_key("threads"));
    }

    #[test]
    fn a_lost_move_is_spent_only_under_the_same_evidence() {
        let change = move_between(&knobs(), &config(&[]), &config(&[("batch", "32")]));
        let read = Evidence {
            data_bound: true,
            stage: Some("read".to_owned()),
        };
        let tokenize = Evidence {
            data_bound: true,
            stage: Some("tokenize".to_owned()),
        };
        let lost = TriedMove {
            change: change.clone(),
            evidence: read.clone(),
            may_have_won: false,
        };
        assert!(spent(std::slice::from_ref(&lost), &change, &read));
        assert!(!spent(std::slice::from_ref(&lost), &change, &tokenize));
        let won = TriedMove {
            may_have_won: true,
            ..lost
        };
        assert!(
            !spent(&[won], &change, &read),
            "a move that won but lost to a sibling may be combined with the new best"
        );
    }
}
