//! Comparing runs: headspace, and "is B better than A beyond noise".

use serde::{Deserialize, Serialize};

use crate::stats::{BOOTSTRAP_SEED, SplitMix, bootstrap_means};
use crate::summary::{Measured, RunSummary};

/// How much a baseline could gain from faster data loading.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Headspace {
    /// `(baseline − cached) ÷ baseline`, percent (clamped at 0 when the cached run is slower).
    pub pct: f64,
    /// The baseline's steady median step, ms.
    pub baseline_ms: f64,
    /// The cached (compute-only) run's steady median step, ms.
    pub cached_ms: f64,
}

/// The headspace of `baseline` given a cached-replay run of the same job.
pub fn headspace(baseline: &RunSummary, cached: &RunSummary) -> Measured<Headspace> {
    let (Some(b), Some(c)) = (baseline.step_time.value(), cached.step_time.value()) else {
        return Measured::Unavailable("both runs need a steady step time".to_owned());
    };
    if b.median_ms <= 0.0 {
        return Measured::Unavailable("the baseline's step time is zero".to_owned());
    }
    Measured::Value(Headspace {
        pct: (100.0 * (b.median_ms - c.median_ms) / b.median_ms).max(0.0),
        baseline_ms: b.median_ms,
        cached_ms: c.median_ms,
    })
}

/// The verdict of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Faster beyond the noise and by at least the required margin.
    Better,
    /// Slower beyond the noise.
    Worse,
    /// Within the noise, or faster by less than the margin.
    Indistinguishable,
}

/// B against A.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// `per_sample_ms` when both batch sizes are known (time per sample), else `step_ms`.
    pub basis: &'static str,
    /// Change of B's mean steady step (per sample when known) against A's, percent (negative = B is faster).
    pub delta_pct: f64,
    /// 95% bootstrap interval of that change.
    pub ci95_low_pct: f64,
    /// Upper end.
    pub ci95_high_pct: f64,
    /// The verdict.
    pub verdict: Verdict,
}

fn unknown_batch(which: &str, run: &RunSummary) -> String {
    format!(
        "{which}'s batch size is unknown ({}) while the other's is known, so they cannot be compared per sample; it is not judged",
        run.batch_size_source
            .as_deref()
            .unwrap_or("neither given to the probe nor measured")
    )
}

/// Whether `b` beats `a` beyond noise: the 95% bootstrap interval of the change in the
/// mean steady step (per sample when batch sizes are known) lies entirely below zero, and the
/// point change is at least `min_improvement_pct`. Runs of which only one has a known
/// batch size are not compared.
pub fn compare(a: &RunSummary, b: &RunSummary, min_improvement_pct: f64) -> Measured<Comparison> {
    if a.steady_steps_ms.len() < 2 || b.steady_steps_ms.len() < 2 {
        return Measured::Unavailable("both runs need at least two steady steps".to_owned());
    }
    let per = |s: &RunSummary| {
        s.batch_size
            .map(|batch| batch as f64 * f64::from(s.world_size))
    };
    let (scale_a, scale_b, basis) = match (per(a), per(b)) {
        (Some(x), Some(y)) if x > 0.0 && y > 0.0 => (x, y, "per_sample_ms"),
        // Per step, a run of unknown batch could beat a known one only by doing less per
        // step: it is never judged against one whose batch size is known.
        (Some(_), None) => {
            return Measured::Unavailable(unknown_batch("the candidate", b));
        }
        (None, Some(_)) => {
            return Measured::Unavailable(unknown_batch("the reference", a));
        }
        _ => (1.0, 1.0, "step_ms"),
    };
    let values_a: Vec<f64> = a.steady_steps_ms.iter().map(|v| v / scale_a).collect();
    let values_b: Vec<f64> = b.steady_steps_ms.iter().map(|v| v / scale_b).collect();
    // The mean, not the median: the job's wall time is the sum of its steps, so a stall
    // every few steps (a slow read, a collection) is a real cost a median would hide.
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (mean_a, mean_b) = (mean(&values_a), mean(&values_b));
    if mean_a <= 0.0 {
        return Measured::Unavailable("run A's mean is zero".to_owned());
    }
    let mut rng = SplitMix::new(BOOTSTRAP_SEED);
    let boot_a = bootstrap_means(&values_a, &mut rng);
    let boot_b = bootstrap_means(&values_b, &mut rng);
    let deltas = crate::stats::sorted(
        &boot_a
            .iter()
            .zip(&boot_b)
            .map(|(x, y)| 100.0 * (y - x) / x)
            .collect::<Vec<_>>(),
    );
    let (Some(low), Some(high)) = (
        crate::stats::quantile(&deltas, 0.025),
        crate::stats::quantile(&deltas, 0.975),
    ) else {
        return Measured::Unavailable("the bootstrap produced no interval".to_owned());
    };
    let delta_pct = 100.0 * (mean_b - mean_a) / mean_a;
    let verdict = if high < 0.0 && -delta_pct >= min_improvement_pct {
        Verdict::Better
    } else if low > 0.0 {
        Verdict::Worse
    } else {
        Verdict::Indistinguishable
    };
    Measured::Value(Comparison {
        basis,
        delta_pct,
        ci95_low_pct: low,
        ci95_high_pct: high,
        verdict,
    })
}
