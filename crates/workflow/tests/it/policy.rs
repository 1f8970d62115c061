//! The pure decisions of the policy module.

use std::collections::{BTreeMap, BTreeSet};

use autoresearch_hypothesis_tree::FailureKind;
use autoresearch_workflow::policy::{
    ExperimentIdentity, JobEvidence, Plateau, Practice, RunProgress, StopLimits, StopReason,
    classify_job_failure, should_stop,
};

fn identity(changes: &[&str], flags: &[(&str, &str)], base: &str) -> ExperimentIdentity {
    ExperimentIdentity {
        changes: changes.iter().map(|c| (*c).to_owned()).collect(),
        launch_flags: flags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        base_commit: base.to_owned(),
    }
}

#[test]
fn duplicates_are_judged_by_changes_flags_and_base() {
    let done = [
        identity(&["mtp"], &[], "abc"),
        identity(&[], &[("--batch-size", "32")], "abc"),
    ];
    assert!(ExperimentIdentity::is_duplicate(
        &identity(&["mtp"], &[], "abc"),
        &done,
        false
    ));
    assert!(
        !ExperimentIdentity::is_duplicate(&identity(&["mtp"], &[], "def"), &done, false),
        "another base"
    );
    assert!(!ExperimentIdentity::is_duplicate(
        &identity(&[], &[("--batch-size", "64")], "abc"),
        &done,
        false
    ));
    assert!(
        !ExperimentIdentity::is_duplicate(&identity(&["mtp"], &[], "abc"), &done, true),
        "an explicit repeat"
    );
}

#[test]
fn patience_counts_rounds_without_a_new_best_but_not_after_failures() {
    let mut plateau = Plateau::default();
    plateau.record_round(false, false);
    plateau.record_round(false, true);
    assert_eq!((plateau.rounds, plateau.rounds_without_best), (2, 1));
    plateau.record_round(true, false);
    assert_eq!(plateau.rounds_without_best, 0);
}

fn limits() -> StopLimits {
    StopLimits {
        patience: 2,
        max_iterations: 10,
        max_experiments: Some(20),
        max_hours: Some(8.0),
        max_llm_usd: Some(5.0),
        floor_stop_pct: 5.0,
    }
}

#[test]
fn stopping_rules_apply_in_order() {
    let mut progress = RunProgress::default();
    assert_eq!(should_stop(&progress, &limits()), None);
    progress.plateau = Plateau {
        rounds_without_best: 2,
        rounds: 3,
    };
    assert_eq!(
        should_stop(&progress, &limits()),
        None,
        "a plateau needs every best practice tried"
    );
    progress.practices_tried = Practice::ALL.into_iter().collect::<BTreeSet<_>>();
    assert_eq!(
        should_stop(&progress, &limits()),
        Some(StopReason::Plateau { rounds: 2 })
    );
    progress.plateau.rounds = 10;
    assert_eq!(
        should_stop(&progress, &limits()),
        Some(StopReason::MaxIterations { limit: 10 })
    );
    progress.best_ms = Some(52.0);
    progress.floor_ms = Some(50.0);
    assert_eq!(
        should_stop(&progress, &limits()),
        Some(StopReason::NearFloor {
            best_ms: 52.0,
            floor_ms: 50.0
        })
    );
    progress.llm_usd = 5.0;
    assert_eq!(
        should_stop(&progress, &limits()),
        Some(StopReason::MaxLlmUsd { limit: 5.0 })
    );
    progress.hours = 9.0;
    assert_eq!(
        should_stop(&progress, &limits()),
        Some(StopReason::MaxHours { limit: 8.0 })
    );
    progress.experiments = 20;
    assert_eq!(
        should_stop(&progress, &limits()),
        Some(StopReason::MaxExperiments { limit: 20 })
    );
    // Far from the floor, nothing but the budget.
    let near = RunProgress {
        best_ms: Some(60.0),
        floor_ms: Some(50.0),
        ..RunProgress::default()
    };
    assert_eq!(should_stop(&near, &limits()), None);
    // Just below the floor is at the floor (noise); far below it, the floor was measured
    // on a configuration that computed differently and bounds nothing.
    let at = RunProgress {
        best_ms: Some(49.0),
        ..near.clone()
    };
    assert_eq!(
        should_stop(&at, &limits()),
        None,
        "the floor is per step at one batch: a bigger batch may still beat it per sample"
    );
    let tried = |p: &RunProgress| RunProgress {
        practices_tried: [Practice::BatchSizeTuning].into_iter().collect(),
        ..p.clone()
    };
    assert!(matches!(
        should_stop(&tried(&at), &limits()),
        Some(StopReason::NearFloor { .. })
    ));
    let below = RunProgress {
        best_ms: Some(40.0),
        ..near
    };
    assert_eq!(should_stop(&tried(&below), &limits()), None);
}

#[test]
fn failures_are_classified_by_evidence() {
    let evidence = |first: bool, steps: u64, stalled: bool, tail: &str| JobEvidence {
        saw_first_batch: first,
        steps,
        stalled,
        log_tail: tail.to_owned(),
    };
    let pickle = "Traceback ...\n_pickle.PicklingError: Can't pickle <function <lambda>>";
    assert_eq!(
        classify_job_failure(&evidence(false, 0, false, pickle)),
        FailureKind::JobStartupFailed
    );
    // A batch was produced: the same words mean a runtime failure.
    assert_eq!(
        classify_job_failure(&evidence(true, 12, false, pickle)),
        FailureKind::JobRuntimeFailed
    );
    assert_eq!(
        classify_job_failure(&evidence(true, 50, true, "")),
        FailureKind::JobStalled
    );
    assert_eq!(
        classify_job_failure(&evidence(false, 0, false, "  \n")),
        FailureKind::JobFailed
    );
    // The original tool counted any probe line as evidence of running; a start line
    // without a first batch is still a startup failure.
    let started = "[autoresearch] {\"v\":1,\"event\":\"start\"}\nKilled";
    assert_eq!(
        classify_job_failure(&evidence(false, 0, false, started)),
        FailureKind::JobStartupFailed
    );
}
