//! Runs of one configuration: a node and its deliberate repeats (the baseline's repeats,
//! a candidate's confirmation). Their measurements together are the configuration's
//! reference in comparisons, and their spread is the noise between runs
//! ([`crate::policy::noise`]).

use autoresearch_hypothesis_tree::NodeStatus;
use autoresearch_metrics::RunSummary;

use super::{Books, spec_of_node};
use crate::policy::{NoiseEstimate, between_run_sigma};
use crate::spec::ExperimentKind;

/// A repeat points at the node it repeats; following the links ends at the run that
/// first measured the configuration. Bounded: a tree's links cannot cycle, but a
/// hand-edited node file could.
const MAX_REPEAT_LINKS: usize = 64;

/// The mean of a run's steady steps, ms (the figure comparisons judge by).
fn steady_mean_ms(summary: &RunSummary) -> Option<f64> {
    let steps = &summary.steady_steps_ms;
    (!steps.is_empty()).then(|| steps.iter().sum::<f64>() / steps.len() as f64)
}

impl Books {
    /// The node that first ran `id`'s configuration (`id` itself unless it is a repeat).
    pub fn configuration_of(&self, id: &str) -> String {
        let mut current = id.to_owned();
        for _ in 0..MAX_REPEAT_LINKS {
            let Some(spec) = self.spec_of(&current) else {
                break;
            };
            match (spec.kind, spec.of_node) {
                (ExperimentKind::Repeat | ExperimentKind::Confirm, Some(of)) => current = of,
                _ => break,
            }
        }
        current
    }

    /// The completed runs of `id`'s configuration, oldest node first.
    pub fn runs_of_configuration(&self, id: &str) -> Vec<String> {
        let root = self.configuration_of(id);
        self.tree
            .nodes()
            .filter(|n| n.status == NodeStatus::Completed)
            .filter(|n| self.configuration_of(&n.node_id) == root)
            .map(|n| n.node_id.clone())
            .collect()
    }

    /// `id`'s configuration as one measurement: the steady steps of all its completed
    /// runs together (only `id`'s own summary when it has no repeats); with how many
    /// runs it holds.
    pub fn reference_summary(&mut self, id: &str) -> Option<(RunSummary, usize)> {
        let mut merged = self.summary(id)?;
        let mut runs = 1;
        for other in self.runs_of_configuration(id) {
            if other == id {
                continue;
            }
            if let Some(s) = self.summary(&other) {
                merged.steady_steps_ms.extend_from_slice(&s.steady_steps_ms);
                runs += 1;
            }
        }
        Some((merged, runs))
    }

    /// σ_between from every configuration that completed more than once, counting
    /// `finishing` as completed (a run being recorded; its summary remembered). The
    /// headspace run replays cached batches: it is no configuration.
    pub fn noise(&mut self, finishing: Option<&str>) -> NoiseEstimate {
        let mut groups: Vec<(String, Vec<f64>)> = Vec::new();
        let completed: Vec<String> = self
            .tree
            .nodes()
            .filter(|n| n.status == NodeStatus::Completed || Some(n.node_id.as_str()) == finishing)
            .filter(|n| spec_of_node(n).is_some_and(|s| s.kind != ExperimentKind::Headspace))
            .map(|n| n.node_id.clone())
            .collect();
        for id in completed {
            let root = self.configuration_of(&id);
            let Some(mean) = self.summary(&id).as_ref().and_then(steady_mean_ms) else {
                continue;
            };
            match groups.iter_mut().find(|(r, _)| *r == root) {
                Some((_, runs)) => runs.push(mean),
                None => groups.push((root, vec![mean])),
            }
        }
        let runs: Vec<Vec<f64>> = groups.into_iter().map(|(_, runs)| runs).collect();
        between_run_sigma(&runs)
    }
}
