//! Small statistics: quantiles and a seeded bootstrap.

/// The `q` quantile (0..=1) of `sorted` by linear interpolation; `None` if empty.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let position = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let low = position.floor() as usize;
    let high = (low + 1).min(sorted.len() - 1);
    Some(sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64))
}

/// A sorted copy without NaNs.
pub fn sorted(values: &[f64]) -> Vec<f64> {
    let mut out: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    out.sort_by(f64::total_cmp);
    out
}

/// Deterministic pseudo-random numbers (SplitMix64): the same seed, the same intervals.
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform index below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Resamples used by the bootstraps.
pub const BOOTSTRAP_RESAMPLES: usize = 1000;
/// The bootstraps' fixed seed.
pub const BOOTSTRAP_SEED: u64 = 0x00a7_0e5e_a7c4;
/// Larger samples are thinned evenly to this many values before bootstrapping.
pub const BOOTSTRAP_MAX_VALUES: usize = 5000;

/// Evenly thins `values` to at most `max` entries (keeps order).
pub fn thin(values: &[f64], max: usize) -> Vec<f64> {
    if values.len() <= max {
        return values.to_vec();
    }
    (0..max).map(|i| values[i * values.len() / max]).collect()
}

fn median_of(buffer: &mut [f64]) -> f64 {
    let mid = buffer.len() / 2;
    let (_, upper, _) = buffer.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    if buffer.len() % 2 == 1 {
        upper
    } else {
        let lower = buffer[..mid]
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        (lower + upper) / 2.0
    }
}

/// Medians of `BOOTSTRAP_RESAMPLES` resamples of `values` (which must not be empty).
pub fn bootstrap_medians(values: &[f64], rng: &mut SplitMix) -> Vec<f64> {
    let values = thin(values, BOOTSTRAP_MAX_VALUES);
    let mut buffer = vec![0.0; values.len()];
    (0..BOOTSTRAP_RESAMPLES)
        .map(|_| {
            for slot in buffer.iter_mut() {
                *slot = values[rng.below(values.len())];
            }
            median_of(&mut buffer)
        })
        .collect()
}

/// Means of `BOOTSTRAP_RESAMPLES` resamples of `values` (which must not be empty).
pub fn bootstrap_means(values: &[f64], rng: &mut SplitMix) -> Vec<f64> {
    let values = thin(values, BOOTSTRAP_MAX_VALUES);
    let n = values.len() as f64;
    (0..BOOTSTRAP_RESAMPLES)
        .map(|_| {
            (0..values.len())
                .map(|_| values[rng.below(values.len())])
                .sum::<f64>()
                / n
        })
        .collect()
}

/// 95% percentile-bootstrap interval of the median.
pub fn median_ci95(values: &[f64]) -> Option<(f64, f64)> {
    if values.len() < 2 {
        return None;
    }
    let mut rng = SplitMix::new(BOOTSTRAP_SEED);
    let medians = sorted(&bootstrap_medians(values, &mut rng));
    Some((quantile(&medians, 0.025)?, quantile(&medians, 0.975)?))
}
