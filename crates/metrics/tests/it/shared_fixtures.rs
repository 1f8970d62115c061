//! Real SPDL 0.8.0 logs: every stats line parses, and the summaries say what the logs show.

use autoresearch_metrics::{
    LineRecord, Measured, PROBE_MARKER, TornReason, Verdict, classify, compare, headspace,
    parse_queue_line, parse_task_line,
};

use crate::support::{shared_fixtures, snapshot_value, summary_of};

/// Every stats line parses, except where the log glued a probe line without its newline
/// to it (two writers in one line): such a line is dropped as torn, by the rule.
#[test]
fn every_stats_line_of_every_shared_log_parses() {
    let mut logs = 0;
    let mut stats_lines = 0;
    let mut glued = 0;
    for entry in std::fs::read_dir(shared_fixtures()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "log") {
            continue;
        }
        logs += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        for (number, line) in text.lines().enumerate() {
            if line.contains(PROBE_MARKER) && line.contains("\tProcessed") {
                glued += 1;
                assert_eq!(
                    classify(line),
                    LineRecord::Torn(TornReason::SeveralPrefixes),
                    "{}:{}",
                    path.display(),
                    number + 1
                );
                continue;
            }
            if line.contains("]\tCompleted") {
                stats_lines += 1;
                assert!(
                    parse_task_line(line).is_some(),
                    "{}:{}: {line}",
                    path.display(),
                    number + 1
                );
            }
            if line.contains("_queue]\tProcessed") {
                stats_lines += 1;
                assert!(
                    parse_queue_line(line).is_some(),
                    "{}:{}: {line}",
                    path.display(),
                    number + 1
                );
            }
        }
    }
    assert_eq!(logs, 22);
    assert!(stats_lines > 1000, "only {stats_lines} stats lines");
    assert!(glued < 5, "{glued} glued lines");
}

#[test]
fn units_stage_names_and_pids_are_read_exactly() {
    let line = "2026-11-29 05:36:47.444 INFO [pid 15982] spdl.pipeline._components._queue: [0:1:fetch[8]_queue]\tProcessed   478 items in    2.0 [sec] (QPS:  238.8) Ave wait time: put:    5.4 [ ms], get (by next stage):   51.5 [ us]. P90: put:   14.6 [ ms], get:    2.7 [ us]. P99: put:   22.1 [ ms], get:    0.2 [ ms]. Occupancy rate: 96%";
    let q = parse_queue_line(line).unwrap();
    assert_eq!(
        (q.key.pid, q.key.pipeline, q.key.stage),
        (Some(15982), 0, 1)
    );
    assert_eq!(
        (q.name.as_str(), q.concurrency, q.items),
        ("fetch", Some(8), 478)
    );
    assert!((q.elapsed_s - 2.0).abs() < 1e-12 && (q.qps - 238.8).abs() < 1e-9);
    assert!((q.put_s - 0.0054).abs() < 1e-12 && (q.get_s - 51.5e-6).abs() < 1e-12);
    assert_eq!(q.occupancy_pct, 96.0);
    let line = "INFO:spdl.pipeline._components._hook:[0:3:aggregate(op=collate(16), drop_last=False)]\tCompleted    13 tasks (  0 failed). Ave task time:   20.3 [ us]. P90:    1.3 [sec]. P99:  nan [ ms].";
    let t = parse_task_line(line).unwrap();
    assert_eq!(t.key.pid, None);
    assert_eq!(t.name, "aggregate(op=collate(16), drop_last=False)");
    assert_eq!(t.concurrency, None);
    assert!((t.ave_s - 20.3e-6).abs() < 1e-15 && (t.p90_s - 1.3).abs() < 1e-12 && t.p99_s.is_nan());
}

#[test]
fn the_decode_bound_baseline_is_summarised_with_decode_as_its_bottleneck() {
    let summary = summary_of(&shared_fixtures().join("baseline_mt.log"));
    let step = summary.step_time.value().unwrap();
    // The log's own summary line: median 65.8 ms over steps 11..200 (ours: 21..200).
    assert!((step.median_ms - 65.8).abs() < 2.0, "{step:?}");
    assert!(step.ci95_low_ms <= step.median_ms && step.median_ms <= step.ci95_high_ms);
    let bottleneck = summary.bottleneck.value().unwrap();
    assert_eq!(
        (bottleneck.kind.as_str(), bottleneck.stage.as_deref()),
        ("stage", Some("decode"))
    );
    assert_eq!(
        summary.sink_occupancy_pct.value().copied().map(f64::round),
        Some(1.0)
    );
    insta::assert_json_snapshot!("baseline_mt", snapshot_value(&summary));
}

#[test]
fn a_fetch_bound_and_a_compute_bound_run_are_told_apart() {
    let fetch = summary_of(&shared_fixtures().join("baseline_mt_fetch_bound.log"));
    assert_eq!(
        fetch.bottleneck.value().unwrap().stage.as_deref(),
        Some("fetch")
    );
    let compute = summary_of(&shared_fixtures().join("baseline_mt_compute_bound_defaultfmt.log"));
    assert_eq!(compute.bottleneck.value().unwrap().kind, "training_step");
    insta::assert_json_snapshot!("compute_bound_defaultfmt", snapshot_value(&compute));
}

#[test]
fn headspace_and_comparisons_match_the_logged_runs() {
    let baseline = summary_of(&shared_fixtures().join("baseline_mt.log"));
    let cached = summary_of(&shared_fixtures().join("cache_headspace.log"));
    let room = headspace(&baseline, &cached).value().copied().unwrap();
    // Logged: (65.8 − 35.4) / 65.8 = 46 %.
    assert!((40.0..52.0).contains(&room.pct), "{room:?}");
    let mtp = summary_of(&shared_fixtures().join("subprocess_mtp_fork.log"));
    let verdict = compare(&baseline, &mtp, 2.0).value().copied().unwrap();
    assert_eq!(verdict.verdict, Verdict::Better, "{verdict:?}");
    assert!(verdict.delta_pct < -15.0, "{verdict:?}");
    let back = compare(&mtp, &baseline, 2.0).value().copied().unwrap();
    assert_eq!(back.verdict, Verdict::Worse);
    // Two forms of the same MTP run are within noise of each other.
    let forkserver = summary_of(&shared_fixtures().join("subprocess_mtp_forkserver.log"));
    let same = compare(&mtp, &forkserver, 2.0).value().copied().unwrap();
    assert_eq!(same.verdict, Verdict::Indistinguishable, "{same:?}");
    // Compute-bound: no headspace.
    let compute = summary_of(&shared_fixtures().join("baseline_mt_compute_bound_defaultfmt.log"));
    let compute_cache = summary_of(&shared_fixtures().join("cache_compute_bound.log"));
    assert!(headspace(&compute, &compute_cache).value().unwrap().pct < 3.0);
}

#[test]
fn missing_evidence_is_unavailable_with_a_reason_not_zero() {
    let summary = summary_of(&shared_fixtures().join("baseline_mt_logging_unconfigured.log"));
    assert!(summary.step_time.value().is_some());
    let Measured::Unavailable(reason) = &summary.sink_occupancy_pct else {
        panic!("{summary:?}")
    };
    assert!(reason.contains("sink_queue"), "{reason}");
    assert!(matches!(
        summary.throughput_samples_per_s,
        Measured::Unavailable(_)
    ));
    assert!(matches!(summary.sm_util_p50_pct, Measured::Unavailable(_)));
    let started_only = autoresearch_metrics::Evidence::from_reader(
        "[autoresearch] {\"v\":1,\"event\":\"start\",\"pid\":7}\n".as_bytes(),
    )
    .unwrap();
    let died = autoresearch_metrics::RunSummary::from_evidence(&started_only, None);
    let Measured::Unavailable(reason) = &died.step_time else {
        panic!("{died:?}")
    };
    assert!(reason.contains("before its first batch"), "{reason}");
    assert!(matches!(died.ttfb_ms, Measured::Unavailable(_)));
    let empty = autoresearch_metrics::RunSummary::from_evidence(&Default::default(), Some(16));
    let Measured::Unavailable(reason) = &empty.step_time else {
        panic!()
    };
    assert!(reason.contains("no probe lines"), "{reason}");
}

#[test]
fn processes_and_rebuilt_pipelines_are_kept_apart() {
    let summary =
        summary_of(&shared_fixtures().join("subprocess_mtp_frontend_continuous_3epochs.log"));
    let pids: std::collections::BTreeSet<_> = summary.stages.iter().map(|s| s.key.pid).collect();
    assert_eq!(pids.len(), 2, "{pids:?}");
    let rebuilt = summary_of(&shared_fixtures().join("subprocess_mtp_2epochs_rebuild.log"));
    let pipelines: std::collections::BTreeSet<_> =
        rebuilt.stages.iter().map(|s| s.key.pipeline).collect();
    assert_eq!(pipelines.len(), 2, "{pipelines:?}");
    let region = summary_of(&shared_fixtures().join("process_decode_region.log"));
    assert!(
        region
            .stages
            .iter()
            .all(|s| s.tasks.is_some() || s.qps.is_some())
    );
}
