//! One run's summary, computed from its evidence by the rules in docs/metrics.md: the
//! steady window of each rank ([`steps`]), the ranks and the job-level figures of a
//! synchronous job ([`ranks`]), and the stage table and bottleneck ([`stages`]).

mod ranks;
mod stages;
mod steps;

use serde::{Deserialize, Serialize};

use crate::evidence::Evidence;
use crate::spdl::StageKey;
use crate::stats::{quantile, sorted};

pub use ranks::{BALANCED_RATIO, LOADER_WAIT_PCT, RankSummary, gpu_of_rank};

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
    /// The rank whose process ran the stage, when known (docs/metrics.md).
    #[serde(default)]
    pub rank: Option<u32>,
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
    /// The steady step times, kept for comparisons between runs (the slowest rank's,
    /// when there are several).
    pub steady_steps_ms: Vec<f64>,
    /// Every rank that wrote probe lines, in rank order (one entry for a job with one).
    #[serde(default)]
    pub ranks: Vec<RankSummary>,
    /// The rank that sets the job's pace: the slowest steady median step (an index into
    /// `ranks`).
    #[serde(default)]
    pub slowest_rank: Option<usize>,
    /// The rank with the fastest steady median step.
    #[serde(default)]
    pub fastest_rank: Option<usize>,
    /// Slowest ÷ fastest rank's steady median step.
    #[serde(default = "one_rank")]
    pub imbalance: Measured<f64>,
    /// Samples per second of one rank at the job's pace: batch × 1000 ÷ the job's step.
    #[serde(default = "one_rank")]
    pub throughput_per_rank_samples_per_s: Measured<f64>,
    /// The rank the job's bottleneck is read from (an index into `ranks`): the slowest
    /// when the ranks are 10% or more apart, else the one waiting longest for data (at
    /// least 10% of its steady time). Its stages give the job's stage bottleneck.
    #[serde(default)]
    pub bottleneck_rank: Option<usize>,
    /// Lines dropped as pieces of several writers' lines.
    #[serde(default)]
    pub torn_lines: u64,
}

fn one_rank() -> Measured<f64> {
    Measured::Unavailable("summarised before ranks were measured".to_owned())
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
        let mut ranks = ranks::Ranks::of(evidence, batch_size);
        let window = ranks.pace_window(evidence);
        let headspace_run = start.headspace || evidence.replay_after.is_some();
        let world_size = start
            .world_size
            .unwrap_or(1)
            .max(u32::try_from(ranks.summaries.len()).unwrap_or(u32::MAX))
            .max(1);

        let step_time = window.step_time();
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
            _ => Measured::Unavailable(window.no_steps.to_owned()),
        };
        let per_rank = match &throughput {
            Measured::Value(total) => Measured::Value(total / f64::from(world_size)),
            Measured::Unavailable(why) => Measured::Unavailable(why.clone()),
        };
        let data_wait_share = window.data_wait_share();
        let (ttfb_ms, init_ms) = ranks.job_ttfb(&window);
        let system = SystemFigures::of(evidence, &window);

        let mut stages = stages::stage_table(evidence);
        ranks.attribute(&mut stages);
        let loader_pids = ranks.loader_pids(&stages);
        let in_loader = |key: &StageKey| {
            loader_pids
                .as_ref()
                .is_none_or(|pids| pids.contains(&key.pid))
        };
        let loader_stages: Vec<StageSummary> = stages
            .iter()
            .filter(|s| in_loader(&s.key))
            .cloned()
            .collect();
        let loader_wait = ranks
            .loader_wait_share()
            .unwrap_or_else(|| data_wait_share.clone());
        let sink_occupancy = stages::sink_occupancy(evidence, in_loader);
        let bottleneck = stages::bottleneck(&loader_stages, &sink_occupancy, &loader_wait);
        Self {
            steps: window.steps,
            headspace_run,
            steady_from_step: if window.steady_step.is_empty() {
                Measured::Unavailable(window.no_steps.to_owned())
            } else {
                Measured::Value(window.first_steady)
            },
            steady_steps: window.steady_step.len(),
            step_time,
            mean_step_ms: window.mean_step(),
            median_wait_ms: window.median(&window.steady_wait),
            median_compute_ms: window.median(&window.steady_compute),
            throughput_samples_per_s: throughput,
            batch_size,
            batch_size_source,
            world_size,
            ttfb_ms,
            init_ms,
            data_readiness_pct: window.data_readiness(median),
            sink_occupancy_pct: sink_occupancy,
            data_wait_share_pct: data_wait_share,
            sm_util_p50_pct: system.sm_p50,
            sm_util_p75_pct: system.sm_p75,
            host_cpu_pct: system.host_cpu,
            job_cpu_pct: system.job_cpu,
            peak_rss_bytes: system.peak_rss,
            stages,
            bottleneck,
            steady_steps_ms: window.steady_step.clone(),
            imbalance: ranks.imbalance(),
            throughput_per_rank_samples_per_s: per_rank,
            slowest_rank: ranks.slowest,
            fastest_rank: ranks.fastest,
            bottleneck_rank: ranks.loader,
            ranks: ranks.summaries,
            torn_lines: evidence.torn_lines,
        }
    }

    /// The stages the job's bottleneck is read from: those of `bottleneck_rank` when
    /// the job has several ranks and its stages are attributed, else every stage.
    pub fn bottleneck_stages(&self) -> impl Iterator<Item = &StageSummary> {
        let pids = (self.ranks.len() > 1)
            .then(|| self.bottleneck_rank.and_then(|i| self.ranks.get(i)))
            .flatten()
            .map(|rank| &rank.stage_pids)
            .filter(|pids| !pids.is_empty());
        self.stages
            .iter()
            .filter(move |s| pids.is_none_or(|pids| s.key.pid.is_some_and(|p| pids.contains(&p))))
    }

    /// The rank that sets the pace, when the job has more than one.
    pub fn pace_setter(&self) -> Option<&RankSummary> {
        (self.ranks.len() > 1)
            .then(|| self.slowest_rank.and_then(|i| self.ranks.get(i)))
            .flatten()
    }
}

/// System samples over the steady window.
struct SystemFigures {
    sm_p50: Measured<f64>,
    sm_p75: Measured<f64>,
    host_cpu: Measured<f64>,
    job_cpu: Measured<f64>,
    peak_rss: Measured<u64>,
}

impl SystemFigures {
    fn of(evidence: &Evidence, window: &steps::StepWindow<'_>) -> Self {
        let (steady_start, steady_end) = window.wall_clock();
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
        let gpu_reason = gpu_unavailable(evidence);
        let mean = |values: Vec<f64>| {
            (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
        };
        let no_samples = if evidence.samples.is_empty() {
            "no system samples were taken"
        } else {
            "no system samples in the steady window"
        };
        Self {
            sm_p50: Measured::from_option(quantile(&sm, 0.5), gpu_reason.clone()),
            sm_p75: Measured::from_option(quantile(&sm, 0.75), gpu_reason),
            host_cpu: Measured::from_option(
                mean(in_window.iter().filter_map(|s| s.host_cpu_pct).collect()),
                no_samples,
            ),
            job_cpu: Measured::from_option(
                mean(in_window.iter().filter_map(|s| s.job_cpu_pct).collect()),
                "no samples of the job's processes",
            ),
            peak_rss: Measured::from_option(
                evidence
                    .samples
                    .iter()
                    .filter_map(|s| s.job_rss_bytes)
                    .max(),
                "no samples of the job's processes",
            ),
        }
    }
}

/// Why there are no GPU figures: the sampler's reason, or the lack of samples.
fn gpu_unavailable(evidence: &Evidence) -> String {
    evidence
        .samples
        .iter()
        .find_map(|s| s.gpu_unavailable.clone())
        .unwrap_or_else(|| {
            if evidence.samples.is_empty() {
                "no system samples were taken".to_owned()
            } else {
                "no GPU samples in the steady window".to_owned()
            }
        })
}
