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

fn progress_with(change: impl FnOnce(&mut RunProgress)) -> RunProgress {
    let mut p = RunProgress::default();
    change(&mut p);
    p
}

#[test]
fn admission_refuses_after_a_stop_and_at_each_budget() {
    use autoresearch_workflow::policy::{Admission, admit};
    let cases: Vec<(&str, bool, RunProgress, Admission)> = vec![
        ("fresh", false, RunProgress::default(), Admission::Start),
        (
            "stopped",
            true,
            RunProgress::default(),
            Admission::AlreadyStopped,
        ),
        (
            "19 of 20 experiments",
            false,
            progress_with(|p| p.experiments = 19),
            Admission::Start,
        ),
        (
            "20 of 20 experiments",
            false,
            progress_with(|p| p.experiments = 20),
            Admission::Stop(StopReason::MaxExperiments { limit: 20 }),
        ),
        (
            "8 hours",
            false,
            progress_with(|p| p.hours = 8.0),
            Admission::Stop(StopReason::MaxHours { limit: 8.0 }),
        ),
        (
            "$5 spent",
            false,
            progress_with(|p| p.llm_usd = 5.5),
            Admission::Stop(StopReason::MaxLlmUsd { limit: 5.0 }),
        ),
        (
            "a plateau is no reason not to start",
            false,
            progress_with(|p| {
                p.plateau.rounds_without_best = 9;
                p.practices_tried = Practice::ALL.into_iter().collect();
            }),
            Admission::Start,
        ),
    ];
    for (what, stopped, progress, want) in cases {
        assert_eq!(admit(stopped, &progress, &limits()), want, "{what}");
    }
}

#[test]
fn every_stop_rule_of_a_round() {
    use autoresearch_workflow::policy::{RoundFacts, round_stop};
    let all_tried = |p: &mut RunProgress| p.practices_tried = Practice::ALL.into_iter().collect();
    let facts = |baseline_failed, failures_before_jobs| RoundFacts {
        baseline_failed,
        failures_before_jobs,
    };
    let cases: Vec<(&str, RunProgress, RoundFacts, Option<StopReason>)> = vec![
        ("nothing", RunProgress::default(), facts(false, 0), None),
        (
            "experiment budget",
            progress_with(|p| p.experiments = 20),
            facts(false, 0),
            Some(StopReason::MaxExperiments { limit: 20 }),
        ),
        (
            "hours budget",
            progress_with(|p| p.hours = 8.5),
            facts(false, 0),
            Some(StopReason::MaxHours { limit: 8.0 }),
        ),
        (
            "agent budget",
            progress_with(|p| p.llm_usd = 5.0),
            facts(false, 0),
            Some(StopReason::MaxLlmUsd { limit: 5.0 }),
        ),
        (
            "near the floor, batch tried",
            progress_with(|p| {
                p.best_ms = Some(51.0);
                p.floor_ms = Some(50.0);
                p.practices_tried = [Practice::BatchSizeTuning].into_iter().collect();
            }),
            facts(false, 0),
            Some(StopReason::NearFloor {
                best_ms: 51.0,
                floor_ms: 50.0,
            }),
        ),
        (
            "near the floor, batch not tried",
            progress_with(|p| {
                p.best_ms = Some(51.0);
                p.floor_ms = Some(50.0);
            }),
            facts(false, 0),
            None,
        ),
        (
            "far below a stale floor",
            progress_with(|p| {
                p.best_ms = Some(40.0);
                p.floor_ms = Some(50.0);
                p.practices_tried = [Practice::BatchSizeTuning].into_iter().collect();
            }),
            facts(false, 0),
            None,
        ),
        (
            "iteration limit",
            progress_with(|p| p.plateau.rounds = 10),
            facts(false, 0),
            Some(StopReason::MaxIterations { limit: 10 }),
        ),
        (
            "plateau with every practice tried",
            progress_with(|p| {
                p.plateau.rounds_without_best = 2;
                all_tried(p);
            }),
            facts(false, 0),
            Some(StopReason::Plateau { rounds: 2 }),
        ),
        (
            "plateau with a practice left",
            progress_with(|p| {
                p.plateau.rounds_without_best = 5;
                p.practices_tried = [Practice::Mtp, Practice::BatchSizeTuning]
                    .into_iter()
                    .collect();
            }),
            facts(false, 0),
            None,
        ),
        (
            "the baseline failed",
            RunProgress::default(),
            facts(true, 0),
            Some(StopReason::BaselineFailed),
        ),
        (
            "two failures before jobs ran",
            RunProgress::default(),
            facts(false, 2),
            None,
        ),
        (
            "three failures before jobs ran",
            RunProgress::default(),
            facts(false, 3),
            Some(StopReason::RepeatedFailures { count: 3 }),
        ),
        (
            "a budget outranks a failed baseline",
            progress_with(|p| p.experiments = 25),
            facts(true, 4),
            Some(StopReason::MaxExperiments { limit: 20 }),
        ),
    ];
    for (what, progress, facts, want) in cases {
        assert_eq!(round_stop(&progress, &limits(), facts), want, "{what}");
    }
}

#[test]
fn the_planning_gate() {
    use autoresearch_workflow::policy::{GateFacts, round_opens};
    let open = GateFacts {
        stopped: false,
        seeds_done: true,
        confirmation_pending: false,
        is_seed: false,
        seed_round_done: true,
    };
    let cases: Vec<(&str, GateFacts, bool)> = vec![
        ("a planned experiment after the seeds", open, true),
        (
            "stopped",
            GateFacts {
                stopped: true,
                ..open
            },
            false,
        ),
        (
            "seeds still running",
            GateFacts {
                seeds_done: false,
                ..open
            },
            false,
        ),
        (
            "a confirmation pending",
            GateFacts {
                confirmation_pending: true,
                ..open
            },
            false,
        ),
        (
            "the first seed to see all seeds done",
            GateFacts {
                is_seed: true,
                seed_round_done: false,
                ..open
            },
            true,
        ),
        (
            "a seed after the seeds' round",
            GateFacts {
                is_seed: true,
                ..open
            },
            false,
        ),
    ];
    for (what, facts, want) in cases {
        assert_eq!(round_opens(&facts), want, "{what}");
    }
}

#[test]
fn the_best_decision() {
    use autoresearch_workflow::policy::{BestDecision, BestFacts, decide_best};
    use autoresearch_workflow::{ExperimentKind, PendingConfirmation};
    let pending = PendingConfirmation {
        candidate: "003_fast".to_owned(),
        confirm_node: "005_fast_confirm".to_owned(),
        previous_best: Some("000_baseline".to_owned()),
    };
    let base = BestFacts {
        id: "004_x",
        kind: ExperimentKind::Planned,
        failed: false,
        better: false,
        has_best: true,
        needs_repeat: false,
        pending: None,
    };
    let confirm = BestFacts {
        id: "005_fast_confirm",
        kind: ExperimentKind::Confirm,
        pending: Some(&pending),
        ..base
    };
    let cases: Vec<(&str, BestFacts<'_>, BestDecision)> = vec![
        ("not better", base, BestDecision::Unchanged),
        (
            "better",
            BestFacts {
                better: true,
                ..base
            },
            BestDecision::NewBest("004_x".to_owned()),
        ),
        (
            "better, by less than a lucky run could explain",
            BestFacts {
                better: true,
                needs_repeat: true,
                ..base
            },
            BestDecision::AwaitConfirmation,
        ),
        (
            "a repeat of the baseline, however fast",
            BestFacts {
                kind: ExperimentKind::Repeat,
                better: true,
                ..base
            },
            BestDecision::Unchanged,
        ),
        (
            "a repeat of the baseline that finished first",
            BestFacts {
                kind: ExperimentKind::Repeat,
                has_best: false,
                ..base
            },
            BestDecision::NewBest("004_x".to_owned()),
        ),
        (
            "the first result",
            BestFacts {
                has_best: false,
                kind: ExperimentKind::Baseline,
                ..base
            },
            BestDecision::NewBest("004_x".to_owned()),
        ),
        (
            "failed",
            BestFacts {
                failed: true,
                better: true,
                ..base
            },
            BestDecision::Unchanged,
        ),
        (
            "the headspace run",
            BestFacts {
                kind: ExperimentKind::Headspace,
                better: true,
                ..base
            },
            BestDecision::Floor,
        ),
        (
            "a repeat that holds",
            BestFacts {
                better: true,
                ..confirm
            },
            BestDecision::Settled {
                confirmed: Some("003_fast".to_owned()),
            },
        ),
        (
            "a repeat that does not hold",
            confirm,
            BestDecision::Settled { confirmed: None },
        ),
        (
            "a repeat that failed",
            BestFacts {
                failed: true,
                better: true,
                ..confirm
            },
            BestDecision::Settled { confirmed: None },
        ),
        (
            "another node's repeat",
            BestFacts {
                id: "009_other_confirm",
                better: true,
                ..confirm
            },
            BestDecision::Settled { confirmed: None },
        ),
    ];
    for (what, facts, want) in cases {
        assert_eq!(decide_best(&facts), want, "{what}");
    }
}

#[test]
fn identity_as_a_table() {
    let done = [
        identity(&["mtp"], &[], "abc"),
        identity(&[], &[("--batch-size", "32")], "abc"),
    ];
    let cases = [
        (
            "the same change",
            identity(&["mtp"], &[], "abc"),
            false,
            true,
        ),
        (
            "on another base",
            identity(&["mtp"], &[], "def"),
            false,
            false,
        ),
        (
            "another value",
            identity(&[], &[("--batch-size", "64")], "abc"),
            false,
            false,
        ),
        (
            "the same flags",
            identity(&[], &[("--batch-size", "32")], "abc"),
            false,
            true,
        ),
        (
            "an explicit repeat",
            identity(&["mtp"], &[], "abc"),
            true,
            false,
        ),
        (
            "nothing changed repeats its base",
            identity(&[], &[], "abc"),
            false,
            false,
        ),
    ];
    for (what, candidate, repeat, want) in cases {
        assert_eq!(
            ExperimentIdentity::is_duplicate(&candidate, &done, repeat),
            want,
            "{what}"
        );
    }
}

#[test]
fn where_a_resumed_node_goes_on() {
    use autoresearch_hypothesis_tree::NodeStatus;
    use autoresearch_workflow::NodeResult;
    use autoresearch_workflow::policy::{Phase, phase_of, reschedule};
    let notes = |change: fn(&mut NodeResult)| {
        let mut r = NodeResult::default();
        change(&mut r);
        r
    };
    let end = autoresearch_workflow::JobEnd {
        status: "succeeded".to_owned(),
        detail: String::new(),
        stalled: false,
        hard_capped: false,
        probe_lines: 5,
    };
    let ended = NodeResult {
        job_end: Some(end.clone()),
        ..NodeResult::default()
    };
    /// Status, notes, job, phase, rescheduled while running, rescheduled after a stop.
    type Case<'a> = (NodeStatus, NodeResult, Option<&'a str>, Phase, bool, bool);
    let cases: Vec<Case<'_>> = vec![
        (
            NodeStatus::Queued,
            NodeResult::default(),
            None,
            Phase::Admit,
            true,
            false,
        ),
        (
            NodeStatus::Preparing,
            NodeResult::default(),
            None,
            Phase::Prepare,
            true,
            true,
        ),
        (
            NodeStatus::Running,
            NodeResult::default(),
            None,
            Phase::Prepare,
            true,
            true,
        ),
        (
            NodeStatus::Running,
            NodeResult::default(),
            Some("42"),
            Phase::Watch {
                job: "42".to_owned(),
            },
            true,
            true,
        ),
        (
            NodeStatus::Analyzing,
            ended,
            Some("42"),
            Phase::Analyse { end },
            true,
            true,
        ),
        (
            NodeStatus::Completed,
            notes(|r| r.plan_due = true),
            Some("42"),
            Phase::Finished { plan_due: true },
            true,
            false,
        ),
        (
            NodeStatus::Failed,
            NodeResult::default(),
            None,
            Phase::Finished { plan_due: false },
            false,
            false,
        ),
        (
            NodeStatus::Queued,
            notes(|r| r.removed_by_user = true),
            None,
            Phase::Removed,
            false,
            false,
        ),
    ];
    for (status, notes, job, phase, running, stopped) in cases {
        assert_eq!(phase_of(status, &notes, job), phase, "{status:?}");
        assert_eq!(reschedule(&phase, false), running, "{phase:?}");
        assert_eq!(reschedule(&phase, true), stopped, "{phase:?} after a stop");
    }
    // A node in `analyzing` whose end was lost is analysed as an unknown end.
    assert!(matches!(
        phase_of(NodeStatus::Analyzing, &NodeResult::default(), None),
        Phase::Analyse { end } if end.status == "unknown"
    ));
}

#[test]
fn repairs_practices_and_failures_before_jobs() {
    use autoresearch_hypothesis_tree::FailurePhase;
    use autoresearch_workflow::ExperimentKind;
    use autoresearch_workflow::policy::{before_job, may_repair, structural_settled};
    let startup = FailureKind::JobStartupFailed;
    let repairs = [
        (startup, ExperimentKind::Mtp, 0, true, true),
        (startup, ExperimentKind::Repair, 1, true, true),
        (startup, ExperimentKind::Repair, 2, true, false),
        (startup, ExperimentKind::Mtp, 0, false, false),
        (startup, ExperimentKind::Planned, 0, true, false),
        (
            FailureKind::JobRuntimeFailed,
            ExperimentKind::Mtp,
            0,
            true,
            false,
        ),
    ];
    for (failure, kind, attempt, agent, want) in repairs {
        assert_eq!(
            may_repair(failure, kind, attempt, agent),
            want,
            "{failure:?} {kind:?} attempt {attempt} agent {agent}"
        );
    }
    assert_eq!(
        [(1, false), (1, true), (2, true), (3, true)].map(|(a, f)| structural_settled(a, f)),
        [true, false, false, true]
    );
    assert_eq!(
        Practice::from_tag("batch_size_tuning"),
        Some(Practice::BatchSizeTuning)
    );
    assert_eq!(Practice::from_tag("mtp?"), None);
    let tags = ["mtp", "concurrency_tuning", "noise"].map(str::to_owned);
    assert_eq!(
        Practice::tried_by_queueing(&tags),
        vec![Practice::ConcurrencyTuning],
        "queueing the structural practice does not count it"
    );
    assert_eq!(
        [
            FailurePhase::Source,
            FailurePhase::Build,
            FailurePhase::Launch,
            FailurePhase::Job
        ]
        .map(before_job),
        [true, true, true, false]
    );
}

#[test]
fn node_notes_add_up_and_keep_what_this_build_cannot_read() {
    use autoresearch_workflow::NodeResult;
    use serde_json::json;
    assert_eq!(NodeResult::of(&json!(null)), NodeResult::default());
    assert_eq!(NodeResult::default().to_value(), json!(null));
    let stored = json!({"plan_due": true, "job_end": null, "from_a_newer_build": 7});
    let notes = NodeResult::of(&stored);
    assert!(notes.plan_due);
    assert_eq!(notes.other["from_a_newer_build"], 7);
    assert_eq!(notes.to_value()["from_a_newer_build"], 7);
    // An analysis this build cannot read stays as it was, and the flags still read.
    let odd = json!({"analysis": {"bottleneck": 3}, "removed_by_user": true});
    let notes = NodeResult::of(&odd);
    assert!(notes.removed_by_user);
    assert_eq!(notes.to_value()["analysis"], json!({"bottleneck": 3}));
    assert_eq!(notes.to_value()["removed_by_user"], true);
    // A field written later wins over the unreadable copy kept for it.
    let mut notes = NodeResult::of(&json!({"comparison": "old", "analysis": 5}));
    notes.comparison = Some(json!({"delta_pct": -3.0}));
    assert_eq!(notes.to_value()["comparison"], json!({"delta_pct": -3.0}));
    assert_eq!(notes.to_value()["analysis"], 5);
}

#[test]
fn noise_between_runs_pools_repeats_with_a_prior() {
    use autoresearch_workflow::policy::noise::{PRIOR_SIGMA_PCT, between_run_sigma};
    // Nothing repeated: the prior, said to be one.
    let none = between_run_sigma(&[vec![20.0], vec![19.0]]);
    assert!(none.is_prior_only());
    assert!((none.sigma_pct - PRIOR_SIGMA_PCT).abs() < 1e-9);
    assert_eq!(none.measured_pct, None);
    // One pair 4% apart: measured 2.83%, pooled with the prior (2 dof) to
    // sqrt((2·1.5² + 8) / 3).
    let pair = between_run_sigma(&[vec![20.4, 19.6], vec![30.0]]);
    assert_eq!((pair.measured_dof, pair.configurations), (1, 1));
    let measured = pair.measured_pct.unwrap();
    assert!((measured - 2.828).abs() < 0.01, "{measured}");
    let expected = ((2.0 * 1.5f64.powi(2) + 8.0) / 3.0).sqrt();
    assert!(
        (pair.sigma_pct - expected).abs() < 1e-9,
        "{}",
        pair.sigma_pct
    );
    // A pair that happens to agree cannot talk the bar down to nothing.
    let lucky = between_run_sigma(&[vec![20.0, 20.0]]);
    assert!(
        lucky.sigma_pct > 0.8 * PRIOR_SIGMA_PCT,
        "{}",
        lucky.sigma_pct
    );
    // Many quiet pairs outweigh the prior; a scale per configuration does not matter.
    let quiet: Vec<Vec<f64>> = (0..40)
        .map(|i| {
            let scale = 1.0 + f64::from(i);
            vec![scale * 1.002, scale * 0.998]
        })
        .collect();
    let quiet = between_run_sigma(&quiet);
    assert_eq!(quiet.measured_dof, 40);
    assert!(quiet.sigma_pct < 0.5, "{}", quiet.sigma_pct);
    // Bad values are left out, not propagated.
    let bad = between_run_sigma(&[vec![f64::NAN, 20.0, 0.0]]);
    assert!(bad.is_prior_only());
}

#[test]
fn the_bar_and_the_repeat_rule() {
    use autoresearch_workflow::policy::noise::{NoiseEstimate, keep_threshold_pct, needs_repeat};
    let noise = NoiseEstimate {
        sigma_pct: 1.5,
        measured_dof: 1,
        configurations: 1,
        measured_pct: Some(1.0),
    };
    let cases = [
        // (min improvement, gain, --confirm-best) → (bar, repeat?)
        (2.0, 10.0, false, 3.0, false),
        (2.0, 4.0, false, 3.0, true),
        (5.0, 4.6, false, 5.0, false),
        (2.0, 10.0, true, 3.0, true),
    ];
    for (min, gain, confirm, bar, repeat) in cases {
        assert!(
            (keep_threshold_pct(min, &noise) - bar).abs() < 1e-9,
            "{min} {gain}"
        );
        assert_eq!(
            needs_repeat(gain, &noise, confirm),
            repeat,
            "{min} {gain} {confirm}"
        );
    }
}
