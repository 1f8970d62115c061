//! The two performance models the planner sizes its moves with, fitted to what earlier
//! experiments measured. Pure arithmetic: no knobs, no summaries.
//!
//! - [`Scalability`]: a stage's per-item latency against its concurrency, the contention
//!   term of the Universal Scalability Law, `t(n) = t₁ · (1 + κ·n·(n − 1))`. With κ = 0 a
//!   stage scales linearly (throughput `n / t₁`); with κ > 0 throughput peaks at
//!   `n = √(1/κ)` and falls beyond it, so less concurrency can deliver more.
//! - [`StepCost`]: the training step's compute time against the batch size,
//!   `fixed + per_sample · batch`; the fixed part is what bigger batches amortise.

/// A latency rise smaller than this (10%) between two concurrencies is noise, not
/// contention.
const CONTENTION_NOISE: f64 = 1.10;

/// A stage's per-item latency at one concurrency, as one experiment measured it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyPoint {
    /// Items in flight (the stage's concurrency).
    pub concurrency: f64,
    /// Average task time, milliseconds (wall time: waits for the GIL and cores included).
    pub task_ms: f64,
}

/// A stage's scalability, fitted to its measured latencies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scalability {
    /// Latency of one item alone, milliseconds.
    pub single_ms: f64,
    /// Contention coefficient κ (0: none seen).
    pub kappa: f64,
}

impl Scalability {
    /// Fits κ from the lowest-concurrency point and every higher one, keeping the largest
    /// (the most contention any pair shows). Overestimating it is cheap: the planner
    /// never sizes past the peak, but lowers a stage only once a run showed more
    /// concurrency delivering less. `None` without a usable point.
    pub fn fit(points: &[LatencyPoint]) -> Option<Self> {
        let usable = points
            .iter()
            .filter(|p| p.concurrency >= 1.0 && p.task_ms.is_finite() && p.task_ms > 0.0);
        let anchor = usable
            .clone()
            .min_by(|a, b| a.concurrency.total_cmp(&b.concurrency))?;
        let (n1, t1) = (anchor.concurrency, anchor.task_ms);
        let mut kappa: f64 = 0.0;
        for p in usable.filter(|p| p.concurrency > n1) {
            let growth = p.task_ms / t1;
            if growth < CONTENTION_NOISE {
                continue;
            }
            let denominator = p.concurrency * (p.concurrency - 1.0) - growth * n1 * (n1 - 1.0);
            kappa = kappa.max(if denominator > 0.0 {
                (growth - 1.0) / denominator
            } else {
                // A rise steeper than any κ can express: the peak is at or below the
                // lowest concurrency measured.
                1.0 / (n1 * n1)
            });
        }
        Some(Self {
            single_ms: t1 / (1.0 + kappa * n1 * (n1 - 1.0)),
            kappa,
        })
    }

    /// Predicted per-item latency at `n` in flight, milliseconds.
    pub fn latency_ms(&self, n: f64) -> f64 {
        self.single_ms * (1.0 + self.kappa * n * (n - 1.0))
    }

    /// Predicted items per millisecond at `n` in flight.
    pub fn throughput(&self, n: f64) -> f64 {
        n / self.latency_ms(n)
    }

    /// The concurrency past which throughput falls, if contention was seen.
    pub fn peak(&self) -> Option<f64> {
        (self.kappa > 0.0).then(|| (1.0 / self.kappa).sqrt())
    }

    /// The smallest concurrency that delivers `items_per_ms`, never past the peak (more
    /// would deliver less) nor past `limit`.
    pub fn concurrency_for(&self, items_per_ms: f64, limit: i64) -> i64 {
        let ceiling = self
            .peak()
            .map_or(limit, |p| (p.round() as i64).clamp(1, limit.max(1)));
        (1..=ceiling)
            .find(|&n| self.throughput(n as f64) >= items_per_ms)
            .unwrap_or(ceiling)
    }
}

/// The training step's compute time as a function of the batch size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepCost {
    /// Milliseconds every step pays whatever its batch.
    pub fixed_ms: f64,
    /// Milliseconds per sample.
    pub per_sample_ms: f64,
}

impl StepCost {
    /// Least squares over `(batch size, compute ms)`; `None` without two distinct batch
    /// sizes. Both parts are kept non-negative.
    pub fn fit(points: &[(f64, f64)]) -> Option<Self> {
        let points: Vec<(f64, f64)> = points
            .iter()
            .copied()
            .filter(|(b, c)| *b > 0.0 && c.is_finite() && *c > 0.0)
            .collect();
        if points.len() < 2 {
            return None;
        }
        let n = points.len() as f64;
        let mean_b = points.iter().map(|p| p.0).sum::<f64>() / n;
        let mean_c = points.iter().map(|p| p.1).sum::<f64>() / n;
        let var_b: f64 = points.iter().map(|p| (p.0 - mean_b).powi(2)).sum();
        if var_b <= f64::EPSILON {
            return None;
        }
        let cov: f64 = points.iter().map(|p| (p.0 - mean_b) * (p.1 - mean_c)).sum();
        let per_sample_ms = (cov / var_b).max(0.0);
        let fixed_ms = (mean_c - per_sample_ms * mean_b).max(0.0);
        Some(Self {
            fixed_ms,
            per_sample_ms,
        })
    }

    /// Predicted compute per step at `batch`, milliseconds.
    pub fn step_ms(&self, batch: f64) -> f64 {
        self.fixed_ms + self.per_sample_ms * batch
    }

    /// Predicted compute per sample at `batch`, milliseconds.
    pub fn per_sample_at(&self, batch: f64) -> f64 {
        self.step_ms(batch) / batch
    }
}
