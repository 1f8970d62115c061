//! The best against the baseline, said one way everywhere (the run's last line, the
//! demo, `summary.md`, `report.md`, `status`): as throughput, per sample, when both runs
//! know their samples per step, and per step, saying so, only when one does not. A best
//! with a larger batch is slower per step and faster per sample; a per-step ratio would
//! call it a slowdown.

use autoresearch_hypothesis_tree::HypothesisTree;

use crate::spec::{ExperimentKind, node_of_kind};

/// The best result against the baseline's.
#[derive(Debug, Clone, PartialEq)]
pub struct Speedup {
    /// The best node.
    pub best: String,
    /// Its steady step, ms.
    pub best_step_ms: f64,
    /// The baseline's steady step, ms.
    pub baseline_step_ms: f64,
    /// Its time per sample, ms, when its throughput is known.
    pub best_sample_ms: Option<f64>,
    /// The baseline's time per sample, ms, when its throughput is known.
    pub baseline_sample_ms: Option<f64>,
}

impl Speedup {
    /// The speed-up of `best` over the tree's baseline, when both have a steady step.
    pub fn of(tree: &HypothesisTree, best: &str) -> Option<Self> {
        let baseline = tree.get(&node_of_kind(tree, ExperimentKind::Baseline)?)?;
        let best_node = tree.get(best)?;
        let per_sample = |t: Option<f64>| t.filter(|t| *t > 0.0).map(|t| 1000.0 / t);
        Some(Self {
            best: best.to_owned(),
            best_step_ms: best_node.metrics.step_ms?,
            baseline_step_ms: baseline.metrics.step_ms?,
            best_sample_ms: per_sample(best_node.metrics.throughput),
            baseline_sample_ms: per_sample(baseline.metrics.throughput),
        })
    }

    /// Whether the comparison is per sample.
    pub fn per_sample(&self) -> bool {
        self.best_sample_ms.is_some() && self.baseline_sample_ms.is_some()
    }

    /// How many times the baseline's speed the best runs at: throughput when known,
    /// steps per second otherwise.
    pub fn ratio(&self) -> f64 {
        match (self.best_sample_ms, self.baseline_sample_ms) {
            (Some(best), Some(base)) if best > 0.0 => base / best,
            _ if self.best_step_ms > 0.0 => self.baseline_step_ms / self.best_step_ms,
            _ => f64::NAN,
        }
    }

    /// `5.52× the baseline's throughput`, or `1.60× the baseline's steps per second
    /// (a batch size is unknown)`.
    pub fn headline(&self) -> String {
        if self.per_sample() {
            format!("{:.2}× the baseline's throughput", self.ratio())
        } else {
            format!(
                "{:.2}× the baseline's steps per second (a batch size is unknown)",
                self.ratio()
            )
        }
    }

    /// `5.52× the baseline's throughput (2.57 ms per sample against 14.19; 164.41 ms per
    /// step against 113.52)`, or, without throughput, the same per step and why.
    pub fn describe(&self) -> String {
        match (self.best_sample_ms, self.baseline_sample_ms) {
            (Some(best), Some(base)) => format!(
                "{:.2}× the baseline's throughput ({best:.2} ms per sample against {base:.2}; {:.2} ms per step against {:.2})",
                self.ratio(),
                self.best_step_ms,
                self.baseline_step_ms
            ),
            _ => format!(
                "{:.2}× the baseline's steps per second ({:.2} ms per step against {:.2}; per step because a batch size is unknown)",
                self.ratio(),
                self.best_step_ms,
                self.baseline_step_ms
            ),
        }
    }
}
