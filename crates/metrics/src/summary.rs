//! One run's summary, computed from its evidence by the rules in docs/metrics.md.

use serde::{Deserialize, Serialize};

use crate::evidence::Evidence;
use crate::spdl::StageKey;
use crate::stats::{median_ci95, quantile, sorted};

/// A figure, or why there is none. Never a made-up zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measured<T> {
    /// The figure.
    Value(T),
    /// Why it could not be computed.
    Unavailable(String),
}

impl<T> Measured<T> {
    /// The value, if any.
    pub fn value(&self) -> Option<&T> {
        match self {
            Self::Value(value) => Some(value),
            Self::Unavailable(_) => None,
        }
    }

    fn from_option(value: Option<T>, reason: impl Into<String>) -> Self {
        match value {
            Some(value) => Self::Value(value),
            None => Self::Unavailable(reason.into()),
        }
    }
}

/// Steady-state step-time statistics, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepStats {
    /// Median.
    pub median_ms: f64,
    /// 10th percentile.
    pub p10_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// Lower end of the 95% bootstrap interval of the median.
    pub ci95_low_ms: f64,
    /// Upper end.
    pub ci95_high_ms: f64,
}

/// One SPDL stage, from its final (cumulative) lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageSummary {
    /// Stage identity.
    pub key: StageKey,
    /// Stage name.
    pub name: String,
    /// Concurrency (1 when SPDL printed none).
    pub concurrency: u32,
    /// Completed tasks.
    pub tasks: Option<u64>,
    /// Failed tasks.
    pub failures: Option<u64>,
    /// Mean task time, ms.
    pub avg_task_ms: Option<f64>,
    /// 90th percentile task time, ms.
    pub p90_task_ms: Option<f64>,
    /// 99th percentile task time, ms.
    pub p99_task_ms: Option<f64>,
    /// Items per second through its output queue.
    pub qps: Option<f64>,
    /// Output-queue occupancy, percent.
    pub occupancy_pct: Option<f64>,
    /// Mean put wait into its output queue, ms.
    pub put_wait_ms: Option<f64>,
    /// Mean get wait of the next stage, ms.
    pub get_wait_ms: Option<f64>,
    /// Concurrency ÷ mean task time: the most items per second it could deliver.
    pub effective_items_per_s: Option<f64>,
}

/// What limits the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bottleneck {
    /// `training_step`, `stage` or `data_loading` (a data wait without stage figures).
    pub kind: String,
    /// The stage, when one is named.
    pub stage: Option<String>,
    /// The rule that decided, with its numbers.
    pub reason: String,
}

/// Everything computed about one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Steps the loop took (from the probe).
    pub steps: u64,
    /// Whether this was a headspace (cached replay) run.
    pub headspace_run: bool,
    /// The first step of the steady window.
    pub steady_from_step: Measured<u64>,
    /// Steps in the steady window.
    pub steady_steps: usize,
    /// Steady step time.
    pub step_time: Measured<StepStats>,
    /// Mean step time over every step, ms.
    pub mean_step_ms: Measured<f64>,
    /// Median data wait in the steady window, ms.
    pub median_wait_ms: Measured<f64>,
    /// Median compute time in the steady window, ms.
    pub median_compute_ms: Measured<f64>,
    /// Samples per second: batch × world size × 1000 ÷ steady median step ms.
    pub throughput_samples_per_s: Measured<f64>,
    /// Samples per batch.
    pub batch_size: Option<u64>,
    /// Where the batch size came from (given to the probe, measured from the first
    /// batch), or why it is unknown.
    #[serde(default)]
    pub batch_size_source: Option<String>,
    /// Ranks.
    pub world_size: u32,
    /// Time to first batch from the loop's start, ms.
    pub ttfb_ms: Measured<f64>,
    /// Time to first batch from process start, ms.
    pub init_ms: Measured<f64>,
    /// Share of steady steps whose batch was ready, percent.
    pub data_readiness_pct: Measured<f64>,
    /// SPDL sink-queue occupancy, percent.
    pub sink_occupancy_pct: Measured<f64>,
    /// Share of steady step time spent waiting for data, percent.
    pub data_wait_share_pct: Measured<f64>,
    /// GPU SM utilisation over the steady window: median.
    pub sm_util_p50_pct: Measured<f64>,
    /// GPU SM utilisation over the steady window: 75th percentile.
    pub sm_util_p75_pct: Measured<f64>,
    /// Mean host CPU use over the steady window, percent.
    pub host_cpu_pct: Measured<f64>,
    /// Mean CPU use of the job's processes over the steady window, percent of the host.
    pub job_cpu_pct: Measured<f64>,
    /// Peak resident memory of the job's processes, bytes.
    pub peak_rss_bytes: Measured<u64>,
    /// SPDL stages, by process, pipeline and index.
    pub stages: Vec<StageSummary>,
    /// What limits the run.
    pub bottleneck: Measured<Bottleneck>,
    /// The steady step times, kept for comparisons between runs.
    pub steady_steps_ms: Vec<f64>,
}

/// The batch size and where it came from: the caller's, the one given to the probe, or
/// the one the probe measured from the first batch (see docs/probe-protocol.md).
fn batch_size_of(
    caller: Option<u64>,
    given: Option<u64>,
    first: Option<&crate::probe_event::TtfbEvent>,
) -> (Option<u64>, Option<String>) {
    let measured = first.and_then(|t| t.batch_size).filter(|n| *n > 0);
    let rule = first.and_then(|t| t.batch_size_rule.clone());
    let rule_text = rule.as_deref().unwrap_or("by the probe's rules");
    match (caller.or(given), measured) {
        (Some(known), Some(seen)) if known != seen => (
            Some(known),
            Some(format!(
                "given as {known}; the first batch measured {seen} ({rule_text})"
            )),
        ),
        (Some(known), _) if caller.is_some() => (Some(known), Some("set by the run".to_owned())),
        (Some(known), _) => (Some(known), Some("given to the probe".to_owned())),
        (None, Some(seen)) => (
            Some(seen),
            Some(format!("measured from the first batch: {rule_text}")),
        ),
        (None, None) => (None, rule.map(|r| format!("not measured: {r}"))),
    }
}

/// Steps discarded as warm-up: a quarter of the run, at most 20.
pub const MAX_WARMUP_STEPS: u64 = 20;
/// Steps after the switch to replay that a headspace run still discards.
pub const REPLAY_SETTLE_STEPS: u64 = 5;
/// Sink occupancy at or above which the training step is the bottleneck.
pub const SINK_READY_PCT: f64 = 80.0;
/// A queue below this occupancy is "starved".
pub const STARVED_QUEUE_PCT: f64 = 50.0;

impl RunSummary {
    /// Summarises `evidence`; `batch_size` overrides the probe's when given.
    pub fn from_evidence(evidence: &Evidence, batch_size: Option<u64>) -> Self {
        let start = evidence.start.clone().unwrap_or_default();
        let (batch_size, batch_size_source) =
            batch_size_of(batch_size, start.batch_size, evidence.ttfbs.first());
        let world_size = start.world_size.unwrap_or(1).max(1);
        let steps = evidence.end.as_ref().map(|e| e.steps).unwrap_or_else(|| {
            evidence.steps.len() as u64
                + evidence
                    .windows
                    .iter()
                    .map(|w| w.step_ms.count)
                    .sum::<u64>()
        });
        let headspace_run = start.headspace || evidence.replay_after.is_some();

        // The steady window.
        let first_steady = match evidence.replay_after {
            Some(after) => after + REPLAY_SETTLE_STEPS + 1,
            None => steps.min(MAX_WARMUP_STEPS.min(steps / 4)) + 1,
        };
        let mut steady_step = Vec::new();
        let mut steady_wait = Vec::new();
        let mut steady_compute = Vec::new();
        let (mut all_sum, mut all_count) = (0.0, 0u64);
        for step in &evidence.steps {
            all_sum += step.step_ms;
            all_count += 1;
            if step.step >= first_steady {
                steady_step.push(step.step_ms);
                steady_wait.push(step.wait_ms);
                steady_compute.push(step.compute_ms);
            }
        }
        for window in &evidence.windows {
            all_sum += window.step_ms.sum;
            all_count += window.step_ms.count;
            if window.first_step >= first_steady {
                // Windowed runs: each window stands for its steps by its median.
                for _ in 0..window.step_ms.count {
                    steady_step.push(window.step_ms.p50);
                    steady_wait.push(window.wait_ms.p50);
                    steady_compute.push(window.compute_ms.p50);
                }
            }
        }
        let no_steps = if evidence.start.is_none() && evidence.steps.is_empty() {
            "no probe lines in the log (is the training loop wrapped with the probe?)"
        } else if steps == 0 {
            "the job ended before its first batch"
        } else {
            "no steps after the warm-up window"
        };
        let steady_sorted = sorted(&steady_step);
        let step_time = match (quantile(&steady_sorted, 0.5), median_ci95(&steady_step)) {
            (Some(median_ms), ci) => {
                let (low, high) = ci.unwrap_or((median_ms, median_ms));
                Measured::Value(StepStats {
                    median_ms,
                    p10_ms: quantile(&steady_sorted, 0.1).unwrap_or(median_ms),
                    p90_ms: quantile(&steady_sorted, 0.9).unwrap_or(median_ms),
                    ci95_low_ms: low,
                    ci95_high_ms: high,
                })
            }
            (None, _) => Measured::Unavailable(no_steps.to_owned()),
        };
        let median = step_time.value().map(|s| s.median_ms);
        let throughput = match (batch_size, median) {
            (Some(batch), Some(ms)) if ms > 0.0 => {
                Measured::Value(batch as f64 * f64::from(world_size) * 1000.0 / ms)
            }
            (None, Some(_)) => Measured::Unavailable(format!(
                "the batch size is unknown ({}; pass batch_size to the probe)",
                batch_size_source
                    .as_deref()
                    .unwrap_or("the probe did not measure it")
            )),
            _ => Measured::Unavailable(no_steps.to_owned()),
        };
        let ready_limit = median.map(|m| (m * 0.02).max(0.5));
        let data_readiness = match ready_limit {
            Some(limit) if !steady_wait.is_empty() => {
                let ready = steady_wait.iter().filter(|w| **w <= limit).count();
                Measured::Value(100.0 * ready as f64 / steady_wait.len() as f64)
            }
            _ => Measured::Unavailable(no_steps.to_owned()),
        };
        let wait_sum: f64 = steady_wait.iter().sum();
        let step_sum: f64 = steady_step.iter().sum();
        let data_wait_share = if step_sum > 0.0 {
            Measured::Value(100.0 * wait_sum / step_sum)
        } else {
            Measured::Unavailable(no_steps.to_owned())
        };
        let ttfb = evidence.ttfbs.first();
        let ttfb_ms = Measured::from_option(ttfb.map(|t| t.ttfb_ms), "no first batch was recorded");
        let init_ms = Measured::from_option(
            ttfb.and_then(|t| t.since_process_start_ms),
            "the probe did not record the time since process start",
        );

        // System samples over the steady window.
        let warmup_ms: f64 = evidence
            .steps
            .iter()
            .filter(|s| s.step < first_steady)
            .map(|s| s.step_ms)
            .sum();
        let steady_start = start
            .unix_time
            .map(|t0| t0 + (ttfb.map_or(0.0, |t| t.ttfb_ms) + warmup_ms) / 1000.0);
        let steady_end = match (
            start.unix_time,
            evidence.end.as_ref().and_then(|e| e.wall_ms),
        ) {
            (Some(t0), Some(wall)) => Some(t0 + wall / 1000.0),
            _ => None,
        };
        let in_window: Vec<_> = evidence
            .samples
            .iter()
            .filter(|s| {
                steady_start.is_none_or(|t| s.t >= t) && steady_end.is_none_or(|t| s.t <= t)
            })
            .collect();
        let sm: Vec<f64> = sorted(
            &in_window
                .iter()
                .flat_map(|s| s.gpus.iter().map(|g| g.sm_util_pct))
                .collect::<Vec<_>>(),
        );
        let gpu_reason = evidence
            .samples
            .iter()
            .find_map(|s| s.gpu_unavailable.clone())
            .unwrap_or_else(|| {
                if evidence.samples.is_empty() {
                    "no system samples were taken".to_owned()
                } else {
                    "no GPU samples in the steady window".to_owned()
                }
            });
        let mean = |values: Vec<f64>| {
            (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
        };
        let no_samples = if evidence.samples.is_empty() {
            "no system samples were taken"
        } else {
            "no system samples in the steady window"
        };
        let host_cpu = mean(in_window.iter().filter_map(|s| s.host_cpu_pct).collect());
        let job_cpu = mean(in_window.iter().filter_map(|s| s.job_cpu_pct).collect());
        let peak_rss = evidence
            .samples
            .iter()
            .filter_map(|s| s.job_rss_bytes)
            .max();

        let stages = stage_table(evidence);
        let sink_occupancy = sink_occupancy(evidence);
        let bottleneck = bottleneck(&stages, &sink_occupancy, &data_wait_share);
        let median_of = |values: &[f64]| quantile(&sorted(values), 0.5);
        Self {
            steps,
            headspace_run,
            steady_from_step: if steady_step.is_empty() {
                Measured::Unavailable(no_steps.to_owned())
            } else {
                Measured::Value(first_steady)
            },
            steady_steps: steady_step.len(),
            step_time,
            mean_step_ms: if all_count > 0 {
                Measured::Value(all_sum / all_count as f64)
            } else {
                Measured::Unavailable(no_steps.to_owned())
            },
            median_wait_ms: Measured::from_option(median_of(&steady_wait), no_steps),
            median_compute_ms: Measured::from_option(median_of(&steady_compute), no_steps),
            throughput_samples_per_s: throughput,
            batch_size,
            batch_size_source,
            world_size,
            ttfb_ms,
            init_ms,
            data_readiness_pct: data_readiness,
            sink_occupancy_pct: sink_occupancy,
            data_wait_share_pct: data_wait_share,
            sm_util_p50_pct: Measured::from_option(quantile(&sm, 0.5), gpu_reason.clone()),
            sm_util_p75_pct: Measured::from_option(quantile(&sm, 0.75), gpu_reason),
            host_cpu_pct: Measured::from_option(host_cpu, no_samples),
            job_cpu_pct: Measured::from_option(job_cpu, "no samples of the job's processes"),
            peak_rss_bytes: Measured::from_option(peak_rss, "no samples of the job's processes"),
            stages,
            bottleneck,
            steady_steps_ms: steady_step,
        }
    }
}

fn stage_table(evidence: &Evidence) -> Vec<StageSummary> {
    evidence
        .stages
        .iter()
        // Pipelines that workers start at shutdown move at most one item: not stages.
        .filter(|(_, s)| s.task.is_some() || s.queue.as_ref().is_some_and(|q| q.items > 1))
        .map(|(key, s)| {
            let concurrency = s.concurrency.unwrap_or(1);
            let task = s.task.as_ref();
            let queue = s.queue.as_ref();
            let avg_s = task.map(|t| t.ave_s);
            StageSummary {
                key: *key,
                name: s.name.clone(),
                concurrency,
                tasks: task.map(|t| t.tasks),
                failures: task.map(|t| t.failures),
                avg_task_ms: avg_s.map(|v| v * 1000.0),
                p90_task_ms: task.map(|t| t.p90_s * 1000.0),
                p99_task_ms: task.map(|t| t.p99_s * 1000.0),
                qps: queue.map(|q| q.qps),
                occupancy_pct: queue.map(|q| q.occupancy_pct),
                put_wait_ms: queue.map(|q| q.put_s * 1000.0),
                get_wait_ms: queue.map(|q| q.get_s * 1000.0),
                effective_items_per_s: avg_s
                    .filter(|v| *v > 0.0)
                    .map(|v| f64::from(concurrency) / v),
            }
        })
        .collect()
}

/// The sink queue that moved the most items; with three or more lines for it, the
/// median occupancy of its periodic lines (first and last excluded), else its last line.
fn sink_occupancy(evidence: &Evidence) -> Measured<f64> {
    let sink = evidence
        .stages
        .values()
        .filter(|s| s.name == "sink")
        .filter_map(|s| s.queue.as_ref().map(|q| (s, q.items)))
        .max_by_key(|(_, items)| *items);
    let Some((stage, _)) = sink else {
        return Measured::Unavailable(
            "no SPDL sink_queue lines (statistics logging off, or use_thread_output_queue)"
                .to_owned(),
        );
    };
    let history = &stage.queue_history;
    if history.len() >= 3 {
        let occupancies = sorted(
            &history[1..history.len() - 1]
                .iter()
                .map(|q| q.occupancy_pct)
                .collect::<Vec<_>>(),
        );
        if let Some(median) = quantile(&occupancies, 0.5) {
            return Measured::Value(median);
        }
    }
    Measured::from_option(
        stage.queue.as_ref().map(|q| q.occupancy_pct),
        "no sink_queue line",
    )
}

fn bottleneck(
    stages: &[StageSummary],
    sink: &Measured<f64>,
    wait_share: &Measured<f64>,
) -> Measured<Bottleneck> {
    if let Some(occupancy) = sink.value()
        && *occupancy >= SINK_READY_PCT
    {
        return Measured::Value(Bottleneck {
            kind: "training_step".to_owned(),
            stage: None,
            reason: format!(
                "the sink queue holds a batch {occupancy:.0}% of the time (≥ {SINK_READY_PCT:.0}%): \
                 data is ready and the training step sets the pace"
            ),
        });
    }
    // The pipeline that feeds the loop: the one whose sink moved most items.
    let main = stages
        .iter()
        .filter(|s| s.name == "sink")
        .max_by(|a, b| a.qps.unwrap_or(0.0).total_cmp(&b.qps.unwrap_or(0.0)))
        .map(|s| (s.key.pid, s.key.pipeline));
    if let Some((pid, pipeline)) = main {
        let chain: Vec<&StageSummary> = stages
            .iter()
            .filter(|s| s.key.pid == pid && s.key.pipeline == pipeline && s.occupancy_pct.is_some())
            .collect();
        let mut previous: Option<&StageSummary> = None;
        for stage in &chain {
            let occupancy = stage.occupancy_pct.unwrap_or(100.0);
            let upstream_full =
                previous.is_none_or(|p| p.occupancy_pct.unwrap_or(0.0) >= STARVED_QUEUE_PCT);
            if occupancy < STARVED_QUEUE_PCT && upstream_full && stage.name != "sink" {
                let upstream = previous.map_or("it is the source".to_owned(), |p| {
                    format!(
                        "the queue before it is {:.0}% full",
                        p.occupancy_pct.unwrap_or(0.0)
                    )
                });
                return Measured::Value(Bottleneck {
                    kind: "stage".to_owned(),
                    stage: Some(stage.name.clone()),
                    reason: format!(
                        "the queue after `{}` is {occupancy:.0}% full while {upstream}: \
                         `{}` cannot keep up",
                        stage.name, stage.name
                    ),
                });
            }
            previous = Some(stage);
        }
    }
    match wait_share.value() {
        Some(share) if *share >= 10.0 => Measured::Value(Bottleneck {
            kind: "data_loading".to_owned(),
            stage: None,
            reason: format!(
                "the loop waits for data {share:.0}% of the time; no stage statistics say where"
            ),
        }),
        Some(share) => Measured::Value(Bottleneck {
            kind: "training_step".to_owned(),
            stage: None,
            reason: format!("the loop waits for data only {share:.0}% of the time"),
        }),
        None => Measured::Unavailable("neither probe steps nor SPDL stage statistics".to_owned()),
    }
}
