//! System sampling on this machine (no GPU here: the GPU figures must say so).

use std::time::Duration;

use autoresearch_metrics::{Sampler, SamplerThread, read_samples};

#[test]
fn host_figures_are_sampled_and_gpus_are_unavailable_not_zero() {
    let mut sampler = Sampler::new();
    let first = sampler.sample(Some(std::process::id()));
    assert!(first.host_cpu_pct.is_none(), "CPU needs two refreshes");
    std::thread::sleep(Duration::from_millis(250));
    let second = sampler.sample(Some(std::process::id()));
    assert!(second.host_cpu_pct.is_some());
    assert!(second.job_rss_bytes.unwrap() > 1_000_000);
    assert!(second.host_mem_total_bytes.unwrap() > second.host_mem_used_bytes.unwrap());
    if second.gpus.is_empty() {
        let reason = second.gpu_unavailable.unwrap();
        assert!(!reason.is_empty());
    }
}

#[test]
fn a_busy_process_tree_is_sampled_into_a_file_until_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    // A parent that starts a busy child: the tree's CPU must include the child.
    let mut job = std::process::Command::new("sh")
        .arg("-c")
        .arg("python3 -c 'import time\nend = time.time() + 1.2\nwhile time.time() < end: pass'; sleep 0.1")
        .spawn()
        .unwrap();
    let path = dir.path().join("metrics/system.jsonl");
    let sampler = SamplerThread::start(job.id(), Duration::from_millis(200), &path).unwrap();
    job.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    sampler.stop();
    let samples = read_samples(&path).unwrap();
    assert!(samples.len() >= 3, "{samples:?}");
    let busiest = samples
        .iter()
        .filter_map(|s| s.job_cpu_pct)
        .fold(0.0, f64::max);
    // One busy core of the host's cores.
    let cores = std::thread::available_parallelism().unwrap().get() as f64;
    assert!(busiest > 50.0 / cores, "busiest {busiest}% of the host");
    assert!(samples.windows(2).all(|w| w[0].t <= w[1].t));
}
