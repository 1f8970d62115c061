//! The Python probe, run for real, read back by the Rust parser.

use std::io::Cursor;
use std::path::Path;
use std::process::Command;

use autoresearch_metrics::{Evidence, Measured, PROBE_SOURCE, RunSummary};

use crate::support::{probe_dir, venv_python};

/// Runs `body` (Python, with `probe` imported) with the system Python and returns the
/// evidence of its stdout.
fn run_python(body: &str, env: &[(&str, &str)]) -> (Evidence, String) {
    run_with(Path::new("python3"), body, env)
}

/// [`run_python`] with a given interpreter.
fn run_with(python: &Path, body: &str, env: &[(&str, &str)]) -> (Evidence, String) {
    let script = format!("import sys, time\nimport autoresearch_probe as probe\n{body}\n");
    let output = Command::new(python)
        .arg("-c")
        .arg(&script)
        .env("PYTHONPATH", probe_dir())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        Evidence::from_reader(Cursor::new(stdout.clone())).unwrap(),
        stdout,
    )
}

#[test]
fn the_embedded_probe_is_the_file_on_disk() {
    assert_eq!(
        PROBE_SOURCE,
        std::fs::read_to_string(probe_dir().join("autoresearch_probe.py")).unwrap()
    );
}

#[test]
fn the_probe_yields_the_same_items_and_measures_every_step() {
    let (evidence, stdout) = run_python(
        "seen = []\n\
         for item in probe.track(iter([3, 1, 4, 1, 5]), batch_size=8):\n    seen.append(item)\n    time.sleep(0.02)\n\
         assert seen == [3, 1, 4, 1, 5], seen\n",
        &[("RANK", "3"), ("WORLD_SIZE", "4")],
    );
    let start = evidence.start.clone().unwrap();
    assert_eq!(
        (start.rank, start.world_size, start.batch_size),
        (Some(3), Some(4), Some(8))
    );
    assert!(start.cpu_cores.unwrap() >= 1);
    assert_eq!(evidence.steps.len(), 5, "{stdout}");
    for (n, step) in evidence.steps.iter().enumerate() {
        assert_eq!(step.step, n as u64 + 1);
        assert!(
            step.compute_ms >= 19.0 && step.compute_ms < 200.0,
            "{step:?}"
        );
        assert!((step.step_ms - step.wait_ms - step.compute_ms).abs() < 1e-3);
    }
    assert_eq!(evidence.end.as_ref().unwrap().steps, 5);
    assert_eq!(evidence.ttfbs.len(), 1);
    let summary = RunSummary::from_evidence(&evidence, None);
    let throughput = summary.throughput_samples_per_s.value().copied().unwrap();
    let median = summary.step_time.value().unwrap().median_ms;
    assert!((throughput - 8.0 * 4.0 * 1000.0 / median).abs() < 1e-6);
}

#[test]
fn data_waits_are_measured_inside_next() {
    let (evidence, _) = run_python(
        "def slow():\n    for i in range(6):\n        time.sleep(0.03)\n        yield i\n\
         for item in probe.track(slow()):\n    time.sleep(0.01)\n",
        &[],
    );
    for step in &evidence.steps {
        assert!(step.wait_ms >= 28.0, "{step:?}");
        assert!(step.compute_ms >= 9.0 && step.compute_ms < 28.0, "{step:?}");
    }
    assert!(evidence.ttfbs[0].ttfb_ms >= 28.0);
}

#[test]
fn long_runs_switch_to_windows() {
    let (evidence, stdout) = run_python(
        "for item in probe.track(range(250), step_lines=20, window=50):\n    pass\n",
        &[],
    );
    assert_eq!(evidence.steps.len(), 20);
    let counts: Vec<u64> = evidence.windows.iter().map(|w| w.step_ms.count).collect();
    assert_eq!(counts, [50, 50, 50, 50, 30], "{stdout}");
    assert_eq!(evidence.windows[0].first_step, 21);
    assert!(stdout.lines().count() < 40);
    let summary = RunSummary::from_evidence(&evidence, Some(1));
    assert_eq!(summary.steps, 250);
}

#[test]
fn headspace_mode_replays_cached_batches_and_stops() {
    let (evidence, stdout) = run_python(
        "def loader():\n    for i in range(1000):\n        time.sleep(0.005)\n        yield i\n\
         for item in probe.track(loader()):\n    print('item', item)\n\
         print('after the loop')\n",
        &[
            ("AUTORESEARCH_HEADSPACE", "1"),
            ("AUTORESEARCH_HEADSPACE_CACHES", "3"),
            ("AUTORESEARCH_HEADSPACE_AFTER", "6"),
            ("AUTORESEARCH_HEADSPACE_STEPS", "12"),
        ],
    );
    let seen: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("item "))
        .collect();
    assert_eq!(
        seen,
        ["0", "1", "2", "3", "4", "5", "0", "1", "2", "0", "1", "2"]
    );
    // Once the floor is measured the process ends (status 0), whatever the loop wants.
    assert!(!stdout.contains("after the loop"), "{stdout}");
    assert!(stdout.contains("\"phase\":\"done\""), "{stdout}");
    assert_eq!(evidence.replay_after, Some(6));
    assert_eq!(evidence.steps.len(), 12);
    assert!(evidence.steps[..6].iter().all(|s| s.wait_ms >= 4.0));
    assert!(evidence.steps[6..].iter().all(|s| s.wait_ms < 4.0));
    let summary = RunSummary::from_evidence(&evidence, None);
    assert!(summary.headspace_run);
    assert_eq!(summary.steady_from_step, Measured::Value(12));
}

#[test]
fn gc_alignment_collects_on_schedule() {
    let (_, stdout) = run_python(
        "import gc\nfor item in probe.track(range(9), gc_every=3):\n    assert not gc.isenabled()\nassert gc.isenabled()\n",
        &[],
    );
    assert_eq!(stdout.matches("\"event\":\"gc\"").count(), 3, "{stdout}");
}

#[test]
fn a_bad_setting_is_a_clear_python_error() {
    let output = Command::new("python3")
        .arg("-c")
        .arg("import autoresearch_probe as probe\nfor _ in probe.track(range(3)): pass\n")
        .env("PYTHONPATH", probe_dir())
        .env("AUTORESEARCH_WINDOW", "lots")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("AUTORESEARCH_WINDOW must be a whole number"),
        "{stderr}"
    );
}

/// The batch sizes the probe measures when the script gives none, one per documented
/// rule (docs/probe-protocol.md), with numpy arrays standing for tensors.
#[test]
fn the_batch_size_is_measured_from_the_first_batch_by_the_documented_rules() {
    let cases = [
        ("[0] * 12", Some(12), "length of the list"),
        (
            "np.zeros((7, 3))",
            Some(7),
            "first dimension of the ndarray",
        ),
        (
            "{'meta': 'x', 'input_ids': np.zeros((5, 64)), 'labels': np.zeros(5)}",
            Some(5),
            "at key 'input_ids'",
        ),
        (
            "(np.zeros((6, 2)), np.zeros(6))",
            Some(6),
            "common first dimension",
        ),
        (
            "(np.zeros((6, 2)), np.zeros(4))",
            Some(2),
            "length of the tuple",
        ),
        (
            "Batch(tokens=np.zeros((9, 4)), n=3)",
            Some(9),
            "in field tokens",
        ),
        ("Pair(x=[1, 2, 3], y=[4, 5, 6])", Some(3), "in field x"),
        ("object()", None, "no size"),
    ];
    for (batch, expected, rule) in cases {
        let (evidence, stdout) = run_with(
            &venv_python(),
            &format!(
                "import numpy as np\nfrom dataclasses import dataclass\nfrom collections import namedtuple\n\
                 @dataclass\nclass Batch:\n    tokens: object\n    n: int\n\
                 Pair = namedtuple('Pair', 'x y')\n\
                 for item in probe.track([{batch}] * 3):\n    pass\n"
            ),
            &[],
        );
        let ttfb = &evidence.ttfbs[0];
        assert_eq!(ttfb.batch_size, expected, "{batch}: {stdout}");
        let said = ttfb.batch_size_rule.clone().unwrap_or_default();
        assert!(said.contains(rule), "{batch}: {said}");
        let summary = RunSummary::from_evidence(&evidence, None);
        assert_eq!(summary.batch_size, expected, "{batch}");
        let source = summary.batch_size_source.unwrap_or_default();
        match expected {
            Some(_) => assert!(
                source.starts_with("measured from the first batch"),
                "{source}"
            ),
            None => assert!(
                matches!(&summary.throughput_samples_per_s,
                    Measured::Unavailable(why) if why.contains("no size")),
                "{batch}: {:?}",
                summary.throughput_samples_per_s
            ),
        }
    }
    // A figure given to the probe wins, and a disagreement is named.
    let (evidence, _) = run_python(
        "for item in probe.track([[0] * 4] * 3, batch_size=8):\n    pass\n",
        &[],
    );
    let summary = RunSummary::from_evidence(&evidence, None);
    assert_eq!(summary.batch_size, Some(8));
    assert_eq!(
        summary.batch_size_source.as_deref(),
        Some("given as 8; the first batch measured 4 (length of the list)")
    );
}
