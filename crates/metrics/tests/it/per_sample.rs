//! Runs of different batch sizes are compared per sample, and a run whose batch size is
//! unknown is never judged against one whose is.

use std::io::Cursor;

use autoresearch_metrics::{Evidence, Measured, RunSummary, Verdict, compare};

/// A run of 60 steps of about `step_ms`, with `batch` given to the probe (or not).
fn run(batch: Option<u64>, step_ms: f64) -> RunSummary {
    let mut text = format!(
        "[autoresearch] {{\"v\":1,\"event\":\"start\",\"batch_size\":{}}}\n",
        batch.map_or("null".to_owned(), |b| b.to_string())
    );
    for step in 1..=60u32 {
        // A small deterministic jitter, so the bootstrap has an interval.
        let ms = step_ms * (1.0 + 0.01 * f64::from(step % 5));
        text.push_str(&format!(
            "[autoresearch] {{\"v\":1,\"event\":\"step\",\"step\":{step},\"wait_ms\":0.1,\"compute_ms\":{},\"step_ms\":{ms}}}\n",
            ms - 0.1
        ));
    }
    let evidence = Evidence::from_reader(Cursor::new(text)).unwrap();
    RunSummary::from_evidence(&evidence, None)
}

#[test]
fn a_smaller_batch_that_wins_per_step_loses_per_sample() {
    let baseline = run(Some(16), 40.0); // 2.5 ms per sample
    let smaller = run(Some(8), 24.0); // faster per step, 3.0 ms per sample
    let verdict = compare(&baseline, &smaller, 2.0).value().copied().unwrap();
    assert_eq!(verdict.basis, "per_sample_ms");
    assert_eq!(verdict.verdict, Verdict::Worse, "{verdict:?}");
    assert!((verdict.delta_pct - 20.0).abs() < 1.0, "{verdict:?}");
    // The bigger batch, slower per step, is better per sample.
    let back = compare(&smaller, &baseline, 2.0).value().copied().unwrap();
    assert_eq!(back.verdict, Verdict::Better);
}

#[test]
fn a_run_of_unknown_batch_is_never_judged_against_a_known_one() {
    let known = run(Some(16), 40.0);
    let unknown = run(None, 20.0);
    for (a, b, which) in [
        (&known, &unknown, "the candidate"),
        (&unknown, &known, "the reference"),
    ] {
        match compare(a, b, 2.0) {
            Measured::Unavailable(why) => {
                assert!(why.starts_with(which), "{why}");
                assert!(why.contains("cannot be compared per sample"), "{why}");
            }
            other => panic!("judged: {other:?}"),
        }
    }
    // Two runs of unknown batch are compared per step, as before.
    let other = run(None, 30.0);
    let verdict = compare(&other, &unknown, 2.0).value().copied().unwrap();
    assert_eq!(
        (verdict.basis, verdict.verdict),
        ("step_ms", Verdict::Better)
    );
}
