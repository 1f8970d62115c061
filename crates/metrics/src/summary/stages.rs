//! The stage table, the sink queue's occupancy and the bottleneck rule, for the stages
//! of one rank (or of the whole log).

use crate::evidence::{Evidence, StageLines};
use crate::spdl::StageKey;
use crate::stats::{quantile, sorted};

use super::{Bottleneck, Measured, SINK_READY_PCT, STARVED_QUEUE_PCT, StageSummary};

/// Every stage of `evidence`, in key order.
pub(super) fn stage_table(evidence: &Evidence) -> Vec<StageSummary> {
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
                rank: None,
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
pub(super) fn sink_occupancy(
    evidence: &Evidence,
    keep: impl Fn(&StageKey) -> bool,
) -> Measured<f64> {
    let sink = evidence
        .stages
        .iter()
        .filter(|(key, s)| s.name == "sink" && keep(key))
        .map(|(_, s)| s)
        .filter_map(|s: &StageLines| s.queue.as_ref().map(|q| (s, q.items)))
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

/// What limits the run, from the stages of the loop's own pipelines, the sink queue and
/// the loop's data waits (docs/metrics.md).
pub(super) fn bottleneck(
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
