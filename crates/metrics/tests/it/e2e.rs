//! A real SPDL pipeline with the probe, under the local sampler, against the loop's own
//! timing.

use std::process::{Command, Stdio};
use std::time::Duration;

use autoresearch_metrics::{Evidence, Measured, RunSummary, SamplerThread, read_samples};

use crate::support::{probe_dir, venv_python, workspace};

/// The loop's own median step from its `[e2e]` line.
pub(crate) fn own_median(text: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with("[e2e] "))
        .expect("an [e2e] line");
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("own_median_step_ms="))
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn the_summary_of_a_real_pipeline_matches_the_loops_own_timing() {
    let dir = tempfile::tempdir().unwrap();
    let stdout_path = dir.path().join("stdout.log");
    let stderr_path = dir.path().join("stderr.log");
    let mut job = Command::new(venv_python())
        .arg(workspace().join("fixtures/python/spdl_loop.py"))
        .args(["--steps", "60", "--load-concurrency", "2"])
        .env("PYTHONPATH", probe_dir())
        .stdout(Stdio::from(std::fs::File::create(&stdout_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&stderr_path).unwrap()))
        .spawn()
        .unwrap();
    let samples_path = dir.path().join("metrics/system.jsonl");
    let sampler =
        SamplerThread::start(job.id(), Duration::from_millis(200), &samples_path).unwrap();
    let status = job.wait().unwrap();
    sampler.stop();
    let stdout = std::fs::read_to_string(&stdout_path).unwrap();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(status.success(), "{stdout}\n{stderr}");

    let mut evidence = Evidence::from_reader(format!("{stdout}{stderr}").as_bytes()).unwrap();
    evidence.add_samples(read_samples(&samples_path).unwrap());
    let summary = RunSummary::from_evidence(&evidence, None);
    let median = summary.step_time.value().unwrap().median_ms;
    let own = own_median(&stdout);
    // Stated tolerance: 5% of the loop's own median (the two measure the same steps
    // offset by one boundary).
    assert!(
        (median - own).abs() <= own * 0.05,
        "summary {median} ms vs loop {own} ms"
    );
    assert_eq!(summary.steps, 60);
    assert_eq!(summary.batch_size, Some(8));
    let throughput = summary.throughput_samples_per_s.value().copied().unwrap();
    assert!((throughput - 8000.0 / median).abs() < 1e-6);
    assert!(
        summary
            .stages
            .iter()
            .any(|s| s.name == "load" && s.avg_task_ms.is_some())
    );
    assert_eq!(
        summary.bottleneck.value().unwrap().stage.as_deref(),
        Some("load"),
        "{:?}",
        summary.bottleneck
    );
    assert!(matches!(summary.sink_occupancy_pct, Measured::Value(_)));
    assert!(
        summary.job_cpu_pct.value().is_some(),
        "{:?}",
        summary.job_cpu_pct
    );
    assert!(summary.peak_rss_bytes.value().copied().unwrap() > 10_000_000);
    if evidence.samples.iter().all(|s| s.gpus.is_empty()) {
        let Measured::Unavailable(reason) = &summary.sm_util_p50_pct else {
            panic!()
        };
        assert!(!reason.is_empty());
    }
}
