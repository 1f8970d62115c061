//! The line rules one by one (docs/metrics.md, "Logs written by several processes"),
//! and the GPU each rank uses.

use autoresearch_metrics::{
    Attribution, Evidence, LineRecord, RunSummary, TornReason, classify, gpu_of_rank, probe_line,
};

const TASK: &str = "[0:2:decode[2]]\tCompleted   476 tasks (  0 failed). Ave task time:    8.1 [ ms]. P90:   17.9 [ ms]. P99:   29.0 [ ms].";

fn tagged(pid: u32, rank: u32, message: &str) -> String {
    format!(
        "2026-11-29 05:36:47,444 INFO [pid {pid} rank {rank} #{:08x}] {message}",
        crc32fast::hash(message.as_bytes())
    )
}

fn pid_of(record: &LineRecord) -> Option<u32> {
    match record {
        LineRecord::Stats { record, .. } => record.key().pid,
        other => panic!("not a statistics record: {other:?}"),
    }
}

#[test]
fn each_log_format_names_the_process() {
    let cases = [
        (
            format!("2026-11-29 05:36:47.444 INFO [pid 15982] spdl.pipeline: {TASK}"),
            15982,
        ),
        (
            format!("2026-11-29 05:36:47,444 | INFO | ForkProcess-1:26372 | {TASK}"),
            26372,
        ),
        (
            format!("2026-11-29 05:36:47,444 | INFO | ForkProcess-1:2:26373 | {TASK}"),
            26373,
        ),
        (format!("2026-11-29 05:36:47,444 26355 INFO {TASK}"), 26355),
        (tagged(4242, 3, TASK), 4242),
        (
            serde_json::json!({"time": "2026-11-29 05:36:47,444", "process": 777, "message": TASK})
                .to_string(),
            777,
        ),
    ];
    let json = serde_json::json!({"process": 778, "message": TASK}).to_string();
    let cases = cases
        .into_iter()
        .chain([(format!("2026-11-29T05:36:47.444Z stdout F {json}"), 778)]);
    for (line, pid) in cases {
        assert_eq!(pid_of(&classify(&line)), Some(pid), "{line}");
    }
    // No process in the line: none is made up (a line number is not a pid).
    let plain = format!("INFO:spdl.pipeline._components._hook:{TASK}");
    assert_eq!(pid_of(&classify(&plain)), None);
    let two_numbers = format!("2026-11-29 05:36:47,444 26355 117 INFO {TASK}");
    assert_eq!(pid_of(&classify(&two_numbers)), None);
    // The tag's rank comes with it.
    assert!(matches!(
        classify(&tagged(4242, 3, TASK)),
        LineRecord::Stats {
            attribution: Attribution::Tag { rank: Some(3) },
            ..
        }
    ));
}

#[test]
fn pieces_of_several_writers_are_dropped_with_their_reason() {
    let torn = |line: &str| match classify(line) {
        LineRecord::Torn(reason) => reason,
        other => panic!("{line}: read as {other:?}"),
    };
    let prefix = "2026-11-29 05:36:47,444 INFO [pid 1] ";
    // Two prefixes: the head of one line, then another line.
    assert_eq!(
        torn(&format!("{prefix}[0:1:dec{prefix}{TASK}")),
        TornReason::SeveralPrefixes
    );
    // A probe line without its newline, then a stats line.
    let probe = probe_line(
        r#"{"v":2,"event":"step","pid":1,"rank":0,"step":1,"wait_ms":1,"compute_ms":1,"step_ms":2}"#,
    );
    assert_eq!(
        torn(&format!("{}{prefix}{TASK}", &probe[..40])),
        TornReason::SeveralPrefixes
    );
    // Names that only a join makes.
    assert_eq!(
        torn(&format!(
            "{prefix}[0:2:aggregate(]\tCompleted   201 tasks (  0 failed). Ave task time:   16.0 [ us]. P90:   23.0 [ us]. P99:   34.8 [ us]."
        )),
        TornReason::StageName
    );
    assert_eq!(
        torn(&format!(
            "{prefix}[0:2:src | INFO | x]\tCompleted   201 tasks (  0 failed). Ave task time:   16.0 [ us]. P90:   23.0 [ us]. P99:   34.8 [ us]."
        )),
        TornReason::StageName
    );
    // A tagged line with a foreign ending fails its checksum.
    let good = tagged(9, 0, TASK);
    let forged = good.replace("476 tasks", "477 tasks");
    assert_eq!(torn(&forged), TornReason::Checksum);
    // A probe line whose checksum fails, and a version-2 line without one.
    let mut bad = probe.clone();
    bad.replace_range(bad.len() - 1.., if bad.ends_with('0') { "1" } else { "0" });
    assert_eq!(torn(&bad), TornReason::Checksum);
    assert_eq!(
        torn(
            r#"[autoresearch] {"v":2,"event":"step","pid":1,"rank":0,"step":1,"wait_ms":1,"compute_ms":1,"step_ms":2}"#
        ),
        TornReason::Checksum
    );
    // Stats words without the grammar: a piece of a stats line.
    assert_eq!(
        torn(&format!("{prefix}[0:2:decode]\tCompleted   47")),
        TornReason::Fragment
    );
    // A JSON record cut short.
    assert_eq!(
        torn(r#"{"process": 7, "message": "[0:2:decode]\tCompleted   476 tas"#),
        TornReason::BrokenJson
    );
    // Version-1 lines, without identity or checksum, are still read.
    assert!(matches!(
        classify(
            r#"[autoresearch] {"v":1,"event":"step","step":1,"wait_ms":1,"compute_ms":1,"step_ms":2}"#
        ),
        LineRecord::Probe(..)
    ));
}

#[test]
fn once_lines_name_their_process_a_line_that_does_not_is_dropped() {
    let mut evidence = Evidence::default();
    evidence.add_line(&format!("INFO {TASK}"));
    assert_eq!(evidence.stages.len(), 1);
    evidence.add_line(&format!("INFO [pid 5] {TASK}"));
    // The unattributed line went, and was counted.
    assert_eq!(evidence.stages.len(), 1);
    assert_eq!(evidence.stages.keys().next().unwrap().pid, Some(5));
    assert_eq!(evidence.torn_lines, 1);
    evidence.add_line(&format!("INFO {TASK}"));
    assert_eq!(evidence.torn_lines, 2);
    // A verified tag outranks a format field.
    evidence.add_line(&tagged(6, 1, TASK));
    assert_eq!(evidence.torn_lines, 3);
    assert_eq!(evidence.stages.keys().next().unwrap().pid, Some(6));
    assert_eq!(evidence.stage_ranks.get(&6), Some(&1));
}

#[test]
fn the_gpu_of_a_rank_follows_local_rank_and_cuda_visible_devices() {
    assert_eq!(gpu_of_rank(Some(3), None), Ok(3));
    assert_eq!(gpu_of_rank(None, None), Ok(0));
    assert_eq!(gpu_of_rank(Some(3), Some("5")), Ok(5));
    assert_eq!(gpu_of_rank(Some(1), Some("4,5,6")), Ok(5));
    assert!(
        gpu_of_rank(Some(4), Some("4,5"))
            .unwrap_err()
            .contains("lists 2 devices")
    );
    assert!(
        gpu_of_rank(Some(0), Some(""))
            .unwrap_err()
            .contains("empty")
    );
    assert!(
        gpu_of_rank(Some(0), Some("GPU-8f3a"))
            .unwrap_err()
            .contains("NVML indices")
    );
}

/// Two ranks in step (a synchronised job): the one waiting for data names the
/// bottleneck, though it is not the slowest by a hair.
#[test]
fn ranks_in_step_read_the_bottleneck_from_the_rank_waiting_for_data() {
    let mut evidence = Evidence::default();
    for (pid, rank, wait) in [(11u32, 0u32, 0.1f64), (12, 1, 8.0)] {
        for step in 1..=40 {
            // Rank 0 computes (it waits in the collective for rank 1); rank 1 waits for data.
            let (wait_ms, compute_ms) = if rank == 0 {
                (wait, 20.1)
            } else {
                (wait, 12.1)
            };
            let json = format!(
                r#"{{"v":2,"event":"step","pid":{pid},"rank":{rank},"step":{step},"wait_ms":{wait_ms},"compute_ms":{compute_ms},"step_ms":{}}}"#,
                wait_ms + compute_ms
            );
            evidence.add_line(&probe_line(&json));
        }
    }
    let summary = RunSummary::from_evidence(&evidence, Some(8));
    assert_eq!(summary.ranks.len(), 2);
    let slowest = &summary.ranks[summary.slowest_rank.unwrap()];
    assert_eq!(slowest.rank, Some(0));
    assert!(*summary.imbalance.value().unwrap() < 1.10);
    assert_eq!(
        summary.ranks[summary.bottleneck_rank.unwrap()].rank,
        Some(1)
    );
    assert_eq!(summary.world_size, 2);
    let total = summary.throughput_samples_per_s.value().unwrap();
    let per_rank = summary.throughput_per_rank_samples_per_s.value().unwrap();
    assert!((total - 2.0 * per_rank).abs() < 1e-9);
}
