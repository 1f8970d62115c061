//! Screening plans: only knobs, with values that fit, run; every other proposal is
//! dropped with its reasons.

use std::collections::BTreeMap;

use autoresearch_workflow::knobs::{Knob, KnobKind, KnobRole};
use autoresearch_workflow::policy::ExperimentIdentity;
use autoresearch_workflow::policy::proposals::{Screen, knob_value, plan_problems, screen};
use autoresearch_workflow::prompts::{PlanAction, PlanAnswer, Proposal};

fn knob(flag: &str, role: KnobRole, kind: KnobKind, range: Option<(i64, i64)>) -> Knob {
    let batch = role == KnobRole::BatchSize;
    Knob {
        flag: flag.to_owned(),
        name: autoresearch_workflow::normalise_flag(flag),
        role,
        default: Some(
            match kind {
                KnobKind::Switch => "false",
                KnobKind::Choice => "mt",
                _ if batch => "4",
                _ => "1",
            }
            .to_owned(),
        ),
        range,
        choices: match kind {
            KnobKind::Switch => vec!["true".to_owned(), "false".to_owned()],
            KnobKind::Choice => vec!["mt".to_owned(), "mtp".to_owned()],
            _ => Vec::new(),
        },
        value_kind: Some(kind),
        evidence: None,
        pipeline: None,
        env: false,
    }
}

fn knobs() -> Vec<Knob> {
    vec![
        knob(
            "--batch-size",
            KnobRole::BatchSize,
            KnobKind::Integer,
            Some((2, 32)),
        ),
        knob(
            "--read-concurrency",
            KnobRole::Concurrency { stage: None },
            KnobKind::Integer,
            Some((1, 32)),
        ),
        knob(
            "--use-subprocess",
            KnobRole::Subprocess {
                value: "true".to_owned(),
            },
            KnobKind::Switch,
            None,
        ),
        knob("--mode", KnobRole::Other, KnobKind::Choice, None),
    ]
}

fn proposal(name: &str, args: &[(&str, &str)]) -> Proposal {
    Proposal {
        name: name.to_owned(),
        hypothesis: format!("{name} helps"),
        changes: Vec::new(),
        change_summary: String::new(),
        description: String::new(),
        launch_args: args
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        env: BTreeMap::new(),
        base: None,
        tags: Vec::new(),
        repeat: false,
    }
}

fn plan(action: PlanAction, experiments: Vec<Proposal>) -> PlanAnswer {
    PlanAnswer {
        action,
        reasoning: "because".to_owned(),
        experiments,
    }
}

fn run(
    plan: &PlanAnswer,
    frozen: &[String],
    existing: &[ExperimentIdentity],
) -> autoresearch_workflow::policy::proposals::Screened {
    let knobs = knobs();
    let completed = BTreeMap::from([("003_best".to_owned(), "c0ffee".to_owned())]);
    screen(
        plan,
        &Screen {
            knobs: &knobs,
            frozen,
            existing,
            completed: &completed,
            anchor: Some("a1"),
            cap: 3,
        },
    )
}

#[test]
fn only_knobs_with_fitting_values_run_and_every_drop_has_its_reason() {
    let p = plan(
        PlanAction::Launch,
        vec![
            proposal("workload", &[("--compute-ms", "0"), ("--steps", "5")]),
            proposal("escape", &[("--cache-dir", "../../../../etc")]),
            proposal("tiny_batch", &[("--batch-size", "1")]),
            proposal("not_a_number", &[("--read-concurrency", "lots")]),
            proposal(
                "good",
                &[("--read-concurrency", "4.0"), ("--use-subprocess", "True")],
            ),
            proposal("bad_choice", &[("--mode", "fast")]),
            proposal("twice", &[("--batch-size", "8"), ("batch_size", "16")]),
        ],
    );
    let out = run(&p, &[], &[]);
    assert_eq!(out.accepted.len(), 1, "{out:?}");
    let good = &out.accepted[0];
    assert_eq!(
        good.launch_args,
        BTreeMap::from([
            ("--read-concurrency".to_owned(), "4".to_owned()),
            ("--use-subprocess".to_owned(), "true".to_owned()),
        ]),
        "values are normalised once"
    );
    assert_eq!(good.base_commit.as_deref(), Some("a1"));
    let reason = |name: &str| {
        out.dropped
            .iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("{name} not dropped: {out:?}"))
            .reason
            .clone()
    };
    let workload = reason("workload");
    assert!(
        workload.contains("--compute-ms is not a knob")
            && workload.contains("--steps is not a knob"),
        "every reason is given: {workload}"
    );
    assert!(reason("escape").contains("--cache-dir is not a knob"));
    assert!(
        !reason("escape").contains("the knobs are"),
        "the log is not told the knob table each time"
    );
    assert_eq!(
        good.change_summary, "read_concurrency=4, use_subprocess=true",
        "a proposal without a summary is labelled by its changes"
    );
    assert!(reason("tiny_batch").contains("outside the knob's range 2..32"));
    assert!(reason("not_a_number").contains("takes a whole number"));
    assert!(reason("bad_choice").contains("must be one of mt, mtp"));
    assert!(reason("twice").contains("name the same flag"));
    assert_eq!(out.dropped.len(), 6);
}

#[test]
fn a_stop_runs_nothing_and_the_cap_drops_the_rest_by_name() {
    let listed = vec![proposal("a", &[("--batch-size", "8")])];
    let out = run(&plan(PlanAction::Stop, listed), &[], &[]);
    assert!(out.accepted.is_empty());
    assert_eq!(out.dropped[0].reason, "the plan's action is stop");
    assert!(out.warnings[0].contains("none of them runs"), "{out:?}");
    // 31 distinct settings (the range is 1..32, and 1 is the default).
    let many: Vec<Proposal> = (2..=32)
        .map(|i| proposal(&format!("p{i}"), &[("--read-concurrency", &i.to_string())]))
        .collect();
    let out = run(&plan(PlanAction::Launch, many), &[], &[]);
    assert_eq!(out.accepted.len(), 3);
    assert_eq!(out.dropped.len(), 28);
    assert!(
        out.dropped
            .iter()
            .all(|d| d.reason.contains("over the limit of 3 experiments")),
        "{out:?}"
    );
}

#[test]
fn frozen_flags_bad_bases_duplicates_and_reserved_environment_are_refused() {
    let frozen = ["--batch-size".to_owned()];
    let mut knobs_without_batch = knobs();
    knobs_without_batch.remove(0);
    let completed = BTreeMap::new();
    let mut env = proposal("env", &[("--read-concurrency", "2")]);
    env.env = BTreeMap::from([("AUTORESEARCH_HEADSPACE".to_owned(), "1".to_owned())]);
    let mut preload = proposal("preload", &[("--read-concurrency", "3")]);
    preload.env = BTreeMap::from([("LD_PRELOAD".to_owned(), "/tmp/x.so".to_owned())]);
    let mut gc = proposal("gc", &[]);
    gc.env = BTreeMap::from([("AUTORESEARCH_GC_EVERY".to_owned(), "50".to_owned())]);
    let mut gc_zero = proposal("gc_zero", &[]);
    gc_zero.env = BTreeMap::from([("AUTORESEARCH_GC_EVERY".to_owned(), "0".to_owned())]);
    let mut omp = proposal("omp", &[("--read-concurrency", "5")]);
    omp.env = BTreeMap::from([("OMP_NUM_THREADS".to_owned(), "2".to_owned())]);
    let mut workload_env = proposal("workload_env", &[("--read-concurrency", "9")]);
    workload_env.env = BTreeMap::from([("STEPS".to_owned(), "5".to_owned())]);
    let mut based = proposal("based", &[("--read-concurrency", "6")]);
    based.base = Some("009_missing".to_owned());
    let p = plan(
        PlanAction::Launch,
        vec![
            proposal("bigger", &[("--batch-size", "8")]),
            env,
            preload,
            workload_env,
            gc,
            gc_zero,
            omp,
            based,
            proposal("again", &[("--read-concurrency", "7")]),
            proposal("again_too", &[("--read_concurrency", "7")]),
        ],
    );
    let out = screen(
        &p,
        &Screen {
            knobs: &knobs_without_batch,
            frozen: &frozen,
            existing: &[],
            completed: &completed,
            anchor: None,
            cap: 10,
        },
    );
    let names: Vec<&str> = out.accepted.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["gc", "omp", "again"], "{out:?}");
    let reason = |name: &str| {
        out.dropped
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.reason.clone())
            .unwrap_or_default()
    };
    assert!(reason("bigger").contains("frozen by the user"), "{out:?}");
    assert!(reason("env").contains("AUTORESEARCH_HEADSPACE may not be set"));
    assert!(reason("preload").contains("LD_PRELOAD may not be set"));
    assert!(
        reason("workload_env").contains("STEPS may not be set"),
        "{out:?}"
    );
    assert!(reason("based").contains("not a completed experiment"));
    assert!(reason("again_too").contains("already tried"));
}

#[test]
fn a_plan_that_launches_nothing_runnable_needs_a_repair() {
    let k = knobs();
    let empty = plan(PlanAction::Launch, Vec::new());
    let problems = plan_problems(&empty, &k, &[]);
    assert_eq!(problems[0].path, "experiments");
    let all_bad = plan(
        PlanAction::Launch,
        vec![
            proposal("a", &[("--steps", "5")]),
            proposal("b", &[("--batch-size", "999")]),
        ],
    );
    let problems = plan_problems(&all_bad, &k, &[]);
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "experiments[0].launch_args.--steps",
            "experiments[1].launch_args.--batch-size"
        ]
    );
    assert!(
        problems[0]
            .message
            .contains("the knobs are: --batch-size, --read-concurrency"),
        "the agent is told what it may set: {}",
        problems[0]
    );
    let one_good = plan(
        PlanAction::Launch,
        vec![
            proposal("a", &[("--steps", "5")]),
            proposal("b", &[("--batch-size", "8")]),
        ],
    );
    assert!(
        plan_problems(&one_good, &k, &[]).is_empty(),
        "the rest of a plan goes on"
    );
    assert!(plan_problems(&plan(PlanAction::Stop, Vec::new()), &k, &[]).is_empty());
}

#[test]
fn a_setting_equal_to_the_default_is_no_change() {
    // The batch's default is 4 (see `knob`); the base command sets the others.
    let knobs = autoresearch_workflow::knobs::with_command_defaults(
        &knobs(),
        "python train.py --use-subprocess --read-concurrency 8",
    );
    let completed = BTreeMap::new();
    let mut labelled = proposal("labelled", &[("--batch-size", "4")]);
    labelled.changes = vec!["batch_size=4".to_owned()];
    let p = plan(
        PlanAction::Launch,
        vec![
            labelled,
            proposal(
                "same_loaders",
                &[("--read_concurrency", "8.0"), ("--use-subprocess", "true")],
            ),
            proposal(
                "switch_off",
                &[("--use-subprocess", "false"), ("--batch-size", "4")],
            ),
        ],
    );
    let out = screen(
        &p,
        &Screen {
            knobs: &knobs,
            frozen: &[],
            existing: &[],
            completed: &completed,
            anchor: None,
            cap: 3,
        },
    );
    let dropped: Vec<(&str, &str)> = out
        .dropped
        .iter()
        .map(|d| (d.name.as_str(), d.reason.as_str()))
        .collect();
    assert_eq!(
        dropped,
        [
            ("labelled", "it changes nothing"),
            ("same_loaders", "it changes nothing")
        ],
        "copies of the baseline under new names do not run"
    );
    assert_eq!(
        out.accepted[0].launch_args,
        BTreeMap::from([("--use-subprocess".to_owned(), "false".to_owned())]),
        "turning off a switch the base command gives is a change"
    );
}

#[test]
fn values_are_read_as_the_knob_takes_them() {
    let k = knobs();
    assert_eq!(knob_value(&k[1], " 8 ").unwrap(), "8");
    assert_eq!(knob_value(&k[1], "8.0").unwrap(), "8");
    assert!(knob_value(&k[1], "8.5").is_err());
    assert!(knob_value(&k[1], "33").is_err());
    assert_eq!(knob_value(&k[2], "TRUE").unwrap(), "true");
    assert_eq!(knob_value(&k[2], "0").unwrap(), "false");
    assert!(knob_value(&k[2], "--yes").is_err());
    assert_eq!(knob_value(&k[3], "MTP").unwrap(), "mtp");
}

#[test]
fn the_jobs_own_environment_knobs_are_set_under_env_and_checked_like_flags() {
    let mut knobs = knobs();
    knobs.push(Knob {
        flag: "LOADER_THREADS".to_owned(),
        name: "env:LOADER_THREADS".to_owned(),
        env: true,
        ..knob(
            "--loader-threads",
            KnobRole::Threads,
            KnobKind::Integer,
            Some((1, 32)),
        )
    });
    let with_env = |name: &str, pairs: &[(&str, &str)]| {
        let mut p = proposal(name, &[]);
        p.env = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        p
    };
    let p = plan(
        PlanAction::Launch,
        vec![
            with_env("threads", &[("LOADER_THREADS", "8.0")]),
            with_env("too_many", &[("LOADER_THREADS", "64")]),
            with_env("at_default", &[("LOADER_THREADS", "1")]),
            proposal("as_flag", &[("--LOADER_THREADS", "4")]),
        ],
    );
    let completed = BTreeMap::new();
    let out = screen(
        &p,
        &Screen {
            knobs: &knobs,
            frozen: &[],
            existing: &[],
            completed: &completed,
            anchor: None,
            cap: 10,
        },
    );
    let names: Vec<&str> = out.accepted.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["threads"], "{out:?}");
    assert_eq!(
        out.accepted[0]
            .env
            .get("LOADER_THREADS")
            .map(String::as_str),
        Some("8"),
        "the value as the knob takes it"
    );
    let reason = |name: &str| {
        out.dropped
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.reason.clone())
            .unwrap_or_default()
    };
    assert!(
        reason("too_many").contains("1..=32") || reason("too_many").contains("32"),
        "{out:?}"
    );
    assert!(reason("at_default").contains("changes nothing"), "{out:?}");
    assert!(
        reason("as_flag").contains("LOADER_THREADS is an environment variable the job reads"),
        "{out:?}"
    );
}
