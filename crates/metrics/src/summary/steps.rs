//! The steady window of one writer's steps (or of every writer's, for a log with one
//! rank), and the step figures computed from it.

use crate::evidence::Evidence;
use crate::probe_event::{StartEvent, TtfbEvent};
use crate::stats::{median_ci95, quantile, sorted};

use super::{MAX_WARMUP_STEPS, Measured, REPLAY_SETTLE_STEPS, StepStats};

/// One writer's steps, split into warm-up and steady window.
pub(super) struct StepWindow<'a> {
    /// Steps taken.
    pub(super) steps: u64,
    /// The first steady step.
    pub(super) first_steady: u64,
    pub(super) steady_step: Vec<f64>,
    pub(super) steady_wait: Vec<f64>,
    pub(super) steady_compute: Vec<f64>,
    pub(super) all_sum: f64,
    pub(super) all_count: u64,
    /// Time spent in warm-up steps, ms.
    pub(super) warmup_ms: f64,
    /// The writer's first `ttfb` event.
    pub(super) ttfb: Option<&'a TtfbEvent>,
    /// The writer's first `start` event.
    pub(super) start: Option<&'a StartEvent>,
    /// The writer's loop wall time, ms, from its last `end` event.
    pub(super) wall_ms: Option<f64>,
    /// Why there are no steady steps, when there are none.
    pub(super) no_steps: &'static str,
}

impl<'a> StepWindow<'a> {
    /// The steps of `writer` (every writer when `None`).
    pub(super) fn of(evidence: &'a Evidence, writer: Option<u32>) -> Self {
        let mine = |w: u32| writer.is_none_or(|id| id == w);
        let end = evidence.ends.iter().rev().find(|e| mine(e.writer));
        let steps = end.map(|e| e.steps).unwrap_or_else(|| {
            evidence.steps.iter().filter(|s| mine(s.writer)).count() as u64
                + evidence
                    .windows
                    .iter()
                    .filter(|w| mine(w.writer))
                    .map(|w| w.step_ms.count)
                    .sum::<u64>()
        });
        let first_steady = match evidence.replay_after {
            Some(after) => after + REPLAY_SETTLE_STEPS + 1,
            None => steps.min(MAX_WARMUP_STEPS.min(steps / 4)) + 1,
        };
        let mut window = Self {
            steps,
            first_steady,
            steady_step: Vec::new(),
            steady_wait: Vec::new(),
            steady_compute: Vec::new(),
            all_sum: 0.0,
            all_count: 0,
            warmup_ms: 0.0,
            ttfb: evidence.ttfbs.iter().find(|t| mine(t.writer)),
            // Every writer: the first start with the later ones' gaps filled in.
            start: match writer {
                None => evidence.start.as_ref(),
                Some(_) => evidence.starts.iter().find(|s| mine(s.writer)),
            },
            wall_ms: end.and_then(|e| e.wall_ms),
            no_steps: "",
        };
        for step in evidence.steps.iter().filter(|s| mine(s.writer)) {
            window.all_sum += step.step_ms;
            window.all_count += 1;
            if step.step >= first_steady {
                window.steady_step.push(step.step_ms);
                window.steady_wait.push(step.wait_ms);
                window.steady_compute.push(step.compute_ms);
            } else {
                window.warmup_ms += step.step_ms;
            }
        }
        for w in evidence.windows.iter().filter(|w| mine(w.writer)) {
            window.all_sum += w.step_ms.sum;
            window.all_count += w.step_ms.count;
            if w.first_step >= first_steady {
                // Windowed runs: each window stands for its steps by its median.
                for _ in 0..w.step_ms.count {
                    window.steady_step.push(w.step_ms.p50);
                    window.steady_wait.push(w.wait_ms.p50);
                    window.steady_compute.push(w.compute_ms.p50);
                }
            }
        }
        let no_start = writer.map_or(evidence.start.is_none(), |_| window.start.is_none());
        window.no_steps = if no_start && window.all_count == 0 {
            "no probe lines in the log (is the training loop wrapped with the probe?)"
        } else if steps == 0 {
            "the job ended before its first batch"
        } else {
            "no steps after the warm-up window"
        };
        window
    }

    /// The steady step time.
    pub(super) fn step_time(&self) -> Measured<StepStats> {
        let steady_sorted = sorted(&self.steady_step);
        match quantile(&steady_sorted, 0.5) {
            Some(median_ms) => {
                let (low, high) = median_ci95(&self.steady_step).unwrap_or((median_ms, median_ms));
                Measured::Value(StepStats {
                    median_ms,
                    p10_ms: quantile(&steady_sorted, 0.1).unwrap_or(median_ms),
                    p90_ms: quantile(&steady_sorted, 0.9).unwrap_or(median_ms),
                    ci95_low_ms: low,
                    ci95_high_ms: high,
                })
            }
            None => Measured::Unavailable(self.no_steps.to_owned()),
        }
    }

    /// The median of `values`, or why there is none.
    pub(super) fn median(&self, values: &[f64]) -> Measured<f64> {
        Measured::from_option(quantile(&sorted(values), 0.5), self.no_steps)
    }

    /// Share of steady steps whose batch was ready (waited at most 2% of the median
    /// step, or 0.5 ms).
    pub(super) fn data_readiness(&self, median: Option<f64>) -> Measured<f64> {
        match median.map(|m| (m * 0.02).max(0.5)) {
            Some(limit) if !self.steady_wait.is_empty() => {
                let ready = self.steady_wait.iter().filter(|w| **w <= limit).count();
                Measured::Value(100.0 * ready as f64 / self.steady_wait.len() as f64)
            }
            _ => Measured::Unavailable(self.no_steps.to_owned()),
        }
    }

    /// Share of steady step time spent waiting for data.
    pub(super) fn data_wait_share(&self) -> Measured<f64> {
        let wait_sum: f64 = self.steady_wait.iter().sum();
        let step_sum: f64 = self.steady_step.iter().sum();
        if step_sum > 0.0 {
            Measured::Value(100.0 * wait_sum / step_sum)
        } else {
            Measured::Unavailable(self.no_steps.to_owned())
        }
    }

    /// Mean step time over every step.
    pub(super) fn mean_step(&self) -> Measured<f64> {
        if self.all_count > 0 {
            Measured::Value(self.all_sum / self.all_count as f64)
        } else {
            Measured::Unavailable(self.no_steps.to_owned())
        }
    }

    /// Time to first batch from the loop's start.
    pub(super) fn ttfb_ms(&self) -> Measured<f64> {
        Measured::from_option(self.ttfb.map(|t| t.ttfb_ms), "no first batch was recorded")
    }

    /// The steady window in wall-clock time (Unix seconds), where the start is known.
    pub(super) fn wall_clock(&self) -> (Option<f64>, Option<f64>) {
        let t0 = self.start.and_then(|s| s.unix_time);
        let start =
            t0.map(|t0| t0 + (self.ttfb.map_or(0.0, |t| t.ttfb_ms) + self.warmup_ms) / 1000.0);
        let end = match (t0, self.wall_ms) {
            (Some(t0), Some(wall)) => Some(t0 + wall / 1000.0),
            _ => None,
        };
        (start, end)
    }
}
