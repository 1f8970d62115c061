//! The built-in planner's choices, from fixed facts.

use std::collections::{BTreeMap, BTreeSet};

use autoresearch_workflow::builtin_planner::{PlannerView, config_key, plan};
use autoresearch_workflow::knobs::{Knob, KnobRole};

fn knob(name: &str, role: KnobRole, default: &str) -> Knob {
    Knob {
        flag: format!("--{}", name.replace('_', "-")),
        name: name.to_owned(),
        role,
        default: Some(default.to_owned()),
        range: Some((1, 64)),
        choices: Vec::new(),
    }
}

fn knobs() -> Vec<Knob> {
    vec![
        knob("batch_size", KnobRole::BatchSize, "8"),
        knob(
            "fetch_concurrency",
            KnobRole::Concurrency {
                stage: Some("fetch".to_owned()),
            },
            "1",
        ),
        knob(
            "decode_concurrency",
            KnobRole::Concurrency {
                stage: Some("decode".to_owned()),
            },
            "1",
        ),
        knob("num_threads", KnobRole::Threads, "2"),
    ]
}

fn view(
    knobs: &[Knob],
    headspace: f64,
    tried: BTreeSet<BTreeMap<String, String>>,
) -> PlannerView<'_> {
    PlannerView {
        knobs,
        best_args: BTreeMap::new(),
        best_summary: None,
        best_env: BTreeMap::new(),
        headspace_pct: Some(headspace),
        tried,
        wanted: 3,
        seed: 1,
        failed_batch: None,
    }
}

#[test]
fn a_data_bound_job_gets_more_loader_concurrency_with_the_threads_to_match() {
    let knobs = knobs();
    let answer = plan(&view(&knobs, 75.0, BTreeSet::new()));
    assert_eq!(answer.action, "launch");
    let first = &answer.experiments[0];
    assert_eq!(
        first
            .launch_args
            .get("--fetch-concurrency")
            .map(String::as_str),
        Some("4"),
        "big steps first"
    );
    assert_eq!(
        first.launch_args.get("--num-threads").map(String::as_str),
        Some("5"),
        "threads ≥ the stages' concurrency"
    );
    assert_eq!(first.tags, ["concurrency_tuning"]);
    assert!(
        first.hypothesis.contains("waits for data"),
        "{}",
        first.hypothesis
    );
    assert_eq!(
        answer.experiments[1]
            .launch_args
            .get("--fetch-concurrency")
            .map(String::as_str),
        Some("2")
    );
    assert_eq!(answer.experiments.len(), 3);
}

#[test]
fn a_compute_bound_job_starts_at_batch_size() {
    let knobs = knobs();
    let answer = plan(&view(&knobs, 2.0, BTreeSet::new()));
    let first = &answer.experiments[0];
    assert_eq!(
        first.launch_args.get("--batch-size").map(String::as_str),
        Some("32"),
        "big steps first"
    );
    assert_eq!(first.tags, ["batch_size_tuning"]);
}

#[test]
fn tried_configurations_are_skipped_and_an_exhausted_space_stops() {
    let knobs = vec![Knob {
        range: Some((1, 2)),
        ..knob(
            "fetch_concurrency",
            KnobRole::Concurrency { stage: None },
            "1",
        )
    }];
    let mut tried = BTreeSet::new();
    tried.insert(BTreeMap::new()); // the baseline
    let args = |v: &str| BTreeMap::from([("--fetch-concurrency".to_owned(), v.to_owned())]);
    tried.insert(config_key(&args("2"), &BTreeMap::new()));
    let answer = plan(&view(&knobs, 75.0, tried.clone()));
    // Only garbage-collection alignment is left.
    assert_eq!(answer.experiments.len(), 1, "{answer:?}");
    assert_eq!(
        answer.experiments[0]
            .env
            .get("AUTORESEARCH_GC_EVERY")
            .map(String::as_str),
        Some("50")
    );
    tried.insert(config_key(
        &BTreeMap::new(),
        &BTreeMap::from([("AUTORESEARCH_GC_EVERY".to_owned(), "50".to_owned())]),
    ));
    let answer = plan(&view(&knobs, 75.0, tried));
    assert_eq!(answer.action, "stop");
}

#[test]
fn a_batch_size_that_failed_is_never_tried_again_nor_anything_larger() {
    let knobs = knobs();
    let mut v = view(&knobs, 2.0, BTreeSet::new());
    v.failed_batch = Some(16);
    v.wanted = 30;
    let answer = plan(&v);
    for p in &answer.experiments {
        if let Some(b) = p.launch_args.get("--batch-size") {
            assert!(b.parse::<i64>().unwrap() < 16, "{p:?}");
        }
    }
}
