//! The logs this project made with real spdl 0.8.0 and the probe (fixtures/spdl/).

use autoresearch_metrics::{Verdict, compare, headspace, parse_queue_line, parse_task_line};

use crate::e2e::own_median;
use crate::support::{snapshot_value, summary_of, workspace};

fn fixture(name: &str) -> std::path::PathBuf {
    workspace().join("fixtures/spdl").join(name)
}

#[test]
fn every_stats_and_probe_line_parses() {
    for name in [
        "mt_io_bound.log",
        "mtp_io_bound.log",
        "headspace_io_bound.log",
        "mt_compute_bound.log",
    ] {
        let text = std::fs::read_to_string(fixture(name)).unwrap();
        let mut stats = 0;
        for line in text.lines() {
            if line.contains("]\tCompleted") {
                stats += 1;
                assert!(parse_task_line(line).is_some(), "{name}: {line}");
            }
            if line.contains("_queue]\tProcessed") {
                stats += 1;
                assert!(parse_queue_line(line).is_some(), "{name}: {line}");
            }
        }
        assert!(stats > 10, "{name}: {stats} stats lines");
        let evidence = crate::support::evidence_of(&fixture(name));
        assert_eq!(evidence.unreadable_probe_lines, 0, "{name}");
    }
}

#[test]
fn summaries_agree_with_each_loops_own_timing() {
    for name in [
        "mt_io_bound.log",
        "mtp_io_bound.log",
        "headspace_io_bound.log",
        "mt_compute_bound.log",
    ] {
        let own = own_median(&std::fs::read_to_string(fixture(name)).unwrap());
        let median = summary_of(&fixture(name))
            .step_time
            .value()
            .unwrap()
            .median_ms;
        assert!(
            (median - own).abs() <= own * 0.05,
            "{name}: {median} vs {own}"
        );
    }
}

#[test]
fn bottlenecks_headspace_and_snapshots() {
    let io = summary_of(&fixture("mt_io_bound.log"));
    assert_eq!(
        io.bottleneck.value().unwrap().stage.as_deref(),
        Some("load")
    );
    let compute = summary_of(&fixture("mt_compute_bound.log"));
    assert_eq!(compute.bottleneck.value().unwrap().kind, "training_step");
    let cached = summary_of(&fixture("headspace_io_bound.log"));
    assert!(cached.headspace_run);
    let room = headspace(&io, &cached).value().copied().unwrap();
    assert!((30.0..55.0).contains(&room.pct), "{room:?}");
    assert_eq!(
        compare(&io, &compute, 2.0).value().unwrap().verdict,
        Verdict::Better
    );
    insta::assert_json_snapshot!("project_mt_io_bound", snapshot_value(&io));
    insta::assert_json_snapshot!("project_headspace_io_bound", snapshot_value(&cached));
}
