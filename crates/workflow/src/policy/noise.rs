//! Noise between runs: how far apart two runs of one configuration land, and how far a
//! result must beat the best to count. The rule, with its parameters, is stated in
//! `docs/metrics.md`.
//!
//! A run's bootstrap interval covers the noise inside it (step to step). Two launches
//! of the same configuration differ by more than that (another job on the host, a
//! different node, file-system load), so a result is judged against both: the
//! within-run interval, and σ_between, the relative standard deviation of whole runs
//! of one configuration (the baseline and its repeats, a candidate and its
//! confirmation), pooled over every configuration that ran more than once.

use serde::{Deserialize, Serialize};

/// A new best must beat the best by more than `K_SIGMA`·σ_between (and by the
/// configured minimum improvement, whichever is larger).
pub const K_SIGMA: f64 = 2.0;
/// A win of less than `SURE_SIGMA`·σ_between is repeated once before it becomes the
/// base of new experiments.
pub const SURE_SIGMA: f64 = 3.0;
/// The prior σ_between, percent: a little above what shared machines show (1–1.4%),
/// so that a run with few repeats errs towards keeping less.
pub const PRIOR_SIGMA_PCT: f64 = 1.5;
/// How many degrees of freedom the prior weighs as. One pair of runs is one degree of
/// freedom, and a σ from one pair is often far too small (a fifth of the time under a
/// quarter of the truth); pooled with the prior it cannot fall below 0.8 of it.
pub const PRIOR_DOF: f64 = 2.0;

/// σ_between as the run knows it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NoiseEstimate {
    /// The relative standard deviation of one run's mean time, percent.
    pub sigma_pct: f64,
    /// Degrees of freedom measured: runs beyond the first of each configuration.
    pub measured_dof: u32,
    /// Configurations that ran more than once.
    pub configurations: u32,
    /// The measured σ alone, percent (`None` before a second run of anything).
    pub measured_pct: Option<f64>,
}

impl NoiseEstimate {
    /// Whether nothing has been measured yet: σ is the prior alone.
    pub fn is_prior_only(&self) -> bool {
        self.measured_dof == 0
    }
}

impl Default for NoiseEstimate {
    fn default() -> Self {
        between_run_sigma(&[])
    }
}

/// σ_between from `groups`: each is the mean times (ms, any positive scale shared
/// within the group) of the runs of one configuration. The pooled relative variance of
/// the groups with two runs or more, combined with the prior weighted as
/// [`PRIOR_DOF`] degrees of freedom.
pub fn between_run_sigma(groups: &[Vec<f64>]) -> NoiseEstimate {
    let mut squares = 0.0;
    let mut dof = 0u32;
    let mut configurations = 0u32;
    for runs in groups {
        let runs: Vec<f64> = runs
            .iter()
            .copied()
            .filter(|v| v.is_finite() && *v > 0.0)
            .collect();
        if runs.len() < 2 {
            continue;
        }
        let mean = runs.iter().sum::<f64>() / runs.len() as f64;
        squares += runs
            .iter()
            .map(|v| (100.0 * (v / mean - 1.0)).powi(2))
            .sum::<f64>();
        dof += u32::try_from(runs.len() - 1).unwrap_or(u32::MAX);
        configurations += 1;
    }
    let measured_pct = (dof > 0).then(|| (squares / f64::from(dof)).sqrt());
    let pooled = (PRIOR_DOF * PRIOR_SIGMA_PCT.powi(2) + squares) / (PRIOR_DOF + f64::from(dof));
    NoiseEstimate {
        sigma_pct: pooled.sqrt(),
        measured_dof: dof,
        configurations,
        measured_pct,
    }
}

/// How much faster (percent of the best's time per sample) a result must be to become
/// the new best: max(`min_improvement_pct`, [`K_SIGMA`]·σ_between).
pub fn keep_threshold_pct(min_improvement_pct: f64, noise: &NoiseEstimate) -> f64 {
    min_improvement_pct.max(K_SIGMA * noise.sigma_pct)
}

/// Whether a win of `gain_pct` (how much faster than the best, percent) is repeated
/// before it counts: always with `--confirm-best`, else when it is within
/// [`SURE_SIGMA`]·σ_between, where one lucky run could explain it.
pub fn needs_repeat(gain_pct: f64, noise: &NoiseEstimate, confirm_best: bool) -> bool {
    confirm_best || gain_pct < SURE_SIGMA * noise.sigma_pct
}
