//! The ranks of a job: each writer's figures, the rank that sets a synchronous job's
//! pace, the rank whose loader is the bottleneck, and which rank ran each stage.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::evidence::Evidence;
use crate::stats::{quantile, sorted};

use super::steps::StepWindow;
use super::{Measured, StageSummary, StepStats, gpu_unavailable};

/// One rank (one process that wrote probe lines).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankSummary {
    /// Global rank, when the launcher set one.
    pub rank: Option<u32>,
    /// Local rank.
    pub local_rank: Option<u32>,
    /// Process id.
    pub pid: Option<u32>,
    /// Steps taken.
    pub steps: u64,
    /// Steady step time.
    pub step_time: Measured<StepStats>,
    /// Median data wait in the steady window, ms.
    pub median_wait_ms: Measured<f64>,
    /// Median compute time in the steady window, ms.
    pub median_compute_ms: Measured<f64>,
    /// Share of steady step time spent waiting for data, percent.
    pub data_wait_share_pct: Measured<f64>,
    /// Time to first batch from the loop's start, ms.
    pub ttfb_ms: Measured<f64>,
    /// Samples per second of this rank: batch × 1000 ÷ its steady median.
    pub throughput_samples_per_s: Measured<f64>,
    /// The processes whose SPDL statistics belong to this rank.
    pub stage_pids: Vec<u32>,
    /// The GPU this rank uses (NVML index), from its local rank and
    /// `CUDA_VISIBLE_DEVICES`.
    pub gpu_index: Measured<u32>,
    /// Median SM utilisation of that GPU over the rank's steady window.
    pub sm_util_p50_pct: Measured<f64>,
}

impl RankSummary {
    /// `rank 3`, or `pid 1234` for a process without a rank, or `the loop`.
    pub fn label(&self) -> String {
        match (self.rank, self.pid) {
            (Some(rank), _) => format!("rank {rank}"),
            (None, Some(pid)) => format!("pid {pid}"),
            (None, None) => "the loop".to_owned(),
        }
    }

    fn median_ms(&self) -> Option<f64> {
        self.step_time.value().map(|s| s.median_ms)
    }
}

/// The GPU (NVML index) a rank uses: the one entry of `CUDA_VISIBLE_DEVICES`, or its
/// `local_rank`-th entry, or the `local_rank`-th device when the variable is unset.
pub fn gpu_of_rank(
    local_rank: Option<u32>,
    cuda_visible_devices: Option<&str>,
) -> Result<u32, String> {
    let index = local_rank.unwrap_or(0);
    let Some(visible) = cuda_visible_devices.map(str::trim) else {
        return Ok(index);
    };
    if visible.is_empty() {
        return Err("CUDA_VISIBLE_DEVICES is empty: the rank sees no GPU".to_owned());
    }
    let entries: Vec<&str> = visible.split(',').map(str::trim).collect();
    let chosen = if entries.len() == 1 {
        entries[0]
    } else {
        match entries.get(index as usize) {
            Some(entry) => entry,
            None => {
                return Err(format!(
                    "local rank {index} but CUDA_VISIBLE_DEVICES lists {} devices",
                    entries.len()
                ));
            }
        }
    };
    chosen.parse().map_err(|_| {
        format!(
            "CUDA_VISIBLE_DEVICES names `{chosen}`, not an index: the sampler reports NVML indices"
        )
    })
}

/// The ranks of one log, and the job-level choices made from them.
pub(super) struct Ranks {
    /// One entry per rank, in rank order.
    pub(super) summaries: Vec<RankSummary>,
    /// The writer of each entry (`None`: every writer, for a job with one rank).
    writers: Vec<Option<u32>>,
    /// The slowest rank.
    pub(super) slowest: Option<usize>,
    /// The fastest rank.
    pub(super) fastest: Option<usize>,
    /// The rank the job's bottleneck is read from.
    pub(super) loader: Option<usize>,
    /// Each entry's time from process start to its first batch.
    init_ms: Vec<Option<f64>>,
    /// The rank the probe's tags named for each process that wrote SPDL statistics.
    tag_ranks: BTreeMap<u32, u32>,
}

/// A rank waiting for data at least this share of its steady time is a loader worth
/// naming as the bottleneck.
pub const LOADER_WAIT_PCT: f64 = 10.0;

/// Ranks whose steady medians are within this ratio step together (a synchronised
/// job); beyond it, the slowest sets the pace on its own.
pub const BALANCED_RATIO: f64 = 1.10;

impl Ranks {
    /// The ranks of `evidence`: one per writer with steps, or one for the whole log
    /// when at most one writer has steps.
    pub(super) fn of(evidence: &Evidence, batch_size: Option<u64>) -> Self {
        let mut writers: Vec<u32> = evidence
            .steps
            .iter()
            .map(|s| s.writer)
            .chain(evidence.windows.iter().map(|w| w.writer))
            .collect();
        writers.sort_unstable();
        writers.dedup();
        let writers: Vec<Option<u32>> = if writers.len() <= 1 {
            vec![None]
        } else {
            writers.into_iter().map(Some).collect()
        };
        let mut entries: Vec<(Option<u32>, RankSummary, Option<f64>)> = writers
            .into_iter()
            .map(|writer| {
                let window = StepWindow::of(evidence, writer);
                let summary = rank_summary(evidence, writer, &window, batch_size);
                (
                    writer,
                    summary,
                    window.ttfb.and_then(|t| t.since_process_start_ms),
                )
            })
            .collect();
        entries.sort_by_key(|(_, s, _)| (s.rank.is_none(), s.rank, s.pid));
        let summaries: Vec<RankSummary> = entries.iter().map(|(_, s, _)| s.clone()).collect();
        let medians: Vec<(usize, f64)> = summaries
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i, s.median_ms()?)))
            .collect();
        let slowest = medians
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|m| m.0);
        let fastest = medians
            .iter()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|m| m.0);
        // Ranks apart: the slowest sets the pace, and its own evidence says why. Ranks in
        // step (a synchronised job hides its straggler's data wait in the others' compute):
        // the loader that waits longest for data holds the job back.
        let median = |i: Option<usize>| medians.iter().find(|m| Some(m.0) == i).map(|m| m.1);
        let apart = match (median(slowest), median(fastest)) {
            (Some(slow), Some(fast)) => fast > 0.0 && slow / fast >= BALANCED_RATIO,
            _ => false,
        };
        let loader = if apart {
            slowest
        } else {
            summaries
                .iter()
                .enumerate()
                .filter_map(|(i, s)| Some((i, *s.data_wait_share_pct.value()?)))
                .filter(|(_, share)| *share >= LOADER_WAIT_PCT)
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(i, _)| i)
                .or(slowest)
        };
        Self {
            tag_ranks: evidence.stage_ranks.clone(),
            writers: entries.iter().map(|(w, _, _)| *w).collect(),
            init_ms: entries.iter().map(|(_, _, init)| *init).collect(),
            summaries,
            slowest,
            fastest,
            loader,
        }
    }

    /// The steady window of the rank that sets the pace.
    pub(super) fn pace_window<'a>(&self, evidence: &'a Evidence) -> StepWindow<'a> {
        let writer = self
            .slowest
            .and_then(|i| self.writers.get(i).copied())
            .flatten();
        StepWindow::of(evidence, writer)
    }

    /// The job's time to first batch and from process start: a synchronous job's first
    /// step waits for its last rank, so the largest over ranks.
    pub(super) fn job_ttfb(&self, pace: &StepWindow<'_>) -> (Measured<f64>, Measured<f64>) {
        if self.summaries.len() <= 1 {
            return (
                pace.ttfb_ms(),
                Measured::from_option(
                    pace.ttfb.and_then(|t| t.since_process_start_ms),
                    "the probe did not record the time since process start",
                ),
            );
        }
        let ttfb = self
            .summaries
            .iter()
            .filter_map(|s| s.ttfb_ms.value().copied())
            .reduce(f64::max);
        let init = self.init_ms.iter().flatten().copied().reduce(f64::max);
        (
            Measured::from_option(ttfb, "no first batch was recorded"),
            Measured::from_option(
                init,
                "the probe did not record the time since process start",
            ),
        )
    }

    /// Slowest ÷ fastest steady median.
    pub(super) fn imbalance(&self) -> Measured<f64> {
        let median = |i: Option<usize>| self.summaries.get(i?)?.median_ms();
        match (median(self.slowest), median(self.fastest)) {
            _ if self.summaries.len() <= 1 => Measured::Unavailable("one rank".to_owned()),
            (Some(slow), Some(fast)) if fast > 0.0 => Measured::Value(slow / fast),
            _ => Measured::Unavailable("no rank has a steady step time".to_owned()),
        }
    }

    /// Marks each stage with the rank that ran it: the rank whose process it is, the
    /// rank the probe's tag named for its process, or the only rank. Fills each rank's
    /// `stage_pids`.
    pub(super) fn attribute(&mut self, stages: &mut [StageSummary]) {
        for stage in stages.iter_mut() {
            let Some(index) = self.rank_of_stage(stage) else {
                continue;
            };
            let summary = &mut self.summaries[index];
            stage.rank = summary.rank;
            if let Some(pid) = stage.key.pid
                && !summary.stage_pids.contains(&pid)
            {
                summary.stage_pids.push(pid);
            }
        }
    }

    fn rank_of_stage(&self, stage: &StageSummary) -> Option<usize> {
        if self.summaries.len() == 1 {
            return Some(0);
        }
        let pid = stage.key.pid?;
        if let Some(i) = self.summaries.iter().position(|s| s.pid == Some(pid)) {
            return Some(i);
        }
        let rank = *self.tag_ranks.get(&pid)?;
        self.summaries.iter().position(|s| s.rank == Some(rank))
    }

    /// The processes of the loader rank's stages; `None` (every stage) for a job with
    /// one rank, or when no stage could be given a rank.
    pub(super) fn loader_pids(&self, stages: &[StageSummary]) -> Option<Vec<Option<u32>>> {
        if self.summaries.len() <= 1 || stages.iter().all(|s| s.rank.is_none()) {
            return None;
        }
        let rank = self.summaries.get(self.loader?)?;
        Some(rank.stage_pids.iter().copied().map(Some).collect())
    }

    /// The loader rank's share of time waiting for data (jobs with several ranks).
    pub(super) fn loader_wait_share(&self) -> Option<Measured<f64>> {
        if self.summaries.len() <= 1 {
            return None;
        }
        Some(
            self.summaries
                .get(self.loader?)?
                .data_wait_share_pct
                .clone(),
        )
    }
}

fn rank_summary(
    evidence: &Evidence,
    writer: Option<u32>,
    window: &StepWindow<'_>,
    batch_size: Option<u64>,
) -> RankSummary {
    let identity = writer.and_then(|w| evidence.writers.get(w as usize));
    let start = window.start;
    let step_time = window.step_time();
    let median = step_time.value().map(|s| s.median_ms);
    let gpu_index = match gpu_of_rank(
        start.and_then(|s| s.local_rank),
        start.and_then(|s| s.cuda_visible_devices.as_deref()),
    ) {
        Ok(index) => Measured::Value(index),
        Err(why) => Measured::Unavailable(why),
    };
    RankSummary {
        rank: identity.and_then(|w| w.rank).or(start.and_then(|s| s.rank)),
        local_rank: start.and_then(|s| s.local_rank),
        pid: identity.and_then(|w| w.pid).or(start.and_then(|s| s.pid)),
        steps: window.steps,
        median_wait_ms: window.median(&window.steady_wait),
        median_compute_ms: window.median(&window.steady_compute),
        data_wait_share_pct: window.data_wait_share(),
        ttfb_ms: window.ttfb_ms(),
        throughput_samples_per_s: match (batch_size, median) {
            (Some(batch), Some(ms)) if ms > 0.0 => Measured::Value(batch as f64 * 1000.0 / ms),
            (None, Some(_)) => Measured::Unavailable("the batch size is unknown".to_owned()),
            _ => Measured::Unavailable(window.no_steps.to_owned()),
        },
        stage_pids: Vec::new(),
        sm_util_p50_pct: rank_sm_util(evidence, window, &gpu_index),
        gpu_index,
        step_time,
    }
}

/// The median SM utilisation of the rank's GPU over its steady window.
fn rank_sm_util(
    evidence: &Evidence,
    window: &StepWindow<'_>,
    gpu: &Measured<u32>,
) -> Measured<f64> {
    let index = match gpu {
        Measured::Value(index) => *index,
        Measured::Unavailable(why) => return Measured::Unavailable(why.clone()),
    };
    let (from, to) = window.wall_clock();
    let values = sorted(
        &evidence
            .samples
            .iter()
            .filter(|s| from.is_none_or(|t| s.t >= t) && to.is_none_or(|t| s.t <= t))
            .flat_map(|s| s.gpus.iter().filter(|g| g.index == index))
            .map(|g| g.sm_util_pct)
            .collect::<Vec<_>>(),
    );
    Measured::from_option(quantile(&values, 0.5), gpu_unavailable(evidence))
}
