//! What an experiment is: its identity, its launch command, and the checks on values an
//! agent proposes.

use std::collections::BTreeMap;

use autoresearch_workflow::knobs::{Knob, KnobKind, KnobRole};
use autoresearch_workflow::{
    ExperimentKind, ExperimentSpec, FlagError, apply_launch_args, check_flag,
};

fn args(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn launch_flags_replace_existing_values_or_are_appended() {
    let base = "python $SCRIPT --batch-size 8 --load_concurrency=2 --verbose";
    let out = apply_launch_args(
        base,
        &args(&[
            ("--batch-size", "16"),
            ("--load-concurrency", "4"),
            ("--new-flag", "x"),
        ]),
        &[],
    )
    .unwrap();
    assert_eq!(
        out,
        "python $SCRIPT --batch-size 16 --load_concurrency=4 --verbose --new-flag x"
    );
    let out = apply_launch_args(base, &args(&[("--verbose", "1")]), &[]).unwrap();
    assert_eq!(
        out, "python $SCRIPT --batch-size 8 --load_concurrency=2 --verbose 1",
        "a bare flag gets its value"
    );
}

fn knob(flag: &str, kind: KnobKind) -> Knob {
    Knob {
        flag: flag.to_owned(),
        name: autoresearch_workflow::normalise_flag(flag),
        role: KnobRole::Other,
        default: None,
        range: None,
        choices: vec!["true".to_owned(), "false".to_owned()],
        value_kind: Some(kind),
        evidence: None,
        pipeline: None,
        env: false,
    }
}

#[test]
fn on_off_knobs_are_put_on_or_taken_off_the_command_line() {
    let knobs = [
        knob("--use-subprocess", KnobKind::Switch),
        knob("--pin-memory", KnobKind::Switch),
        knob("--prefetch", KnobKind::Toggle),
    ];
    let base = "python train.py --pin-memory --steps 60";
    let out = apply_launch_args(
        base,
        &args(&[
            ("--use-subprocess", "true"),
            ("--pin-memory", "false"),
            ("--prefetch", "false"),
        ]),
        &knobs,
    )
    .unwrap();
    assert_eq!(
        out,
        "python train.py --steps 60 --no-prefetch --use-subprocess"
    );
    let again = apply_launch_args(
        &out,
        &args(&[("--use_subprocess", "TRUE"), ("--prefetch", "true")]),
        &knobs,
    )
    .unwrap();
    assert_eq!(
        again, "python train.py --steps 60 --use-subprocess --prefetch",
        "a switch already on stays once; a toggle flips"
    );
    assert!(matches!(
        apply_launch_args(base, &args(&[("--use-subprocess", "yes")]), &knobs),
        Err(FlagError::NotOnOff { .. })
    ));
    // Knobs stored before their kind was: true/false choices are switches.
    let old = Knob {
        value_kind: None,
        ..knob("--use-subprocess", KnobKind::Switch)
    };
    assert_eq!(old.kind(), KnobKind::Switch);
}

#[test]
fn quoted_arguments_with_spaces_survive_every_flag_change() {
    let knobs = [
        knob("--use-subprocess", KnobKind::Switch),
        knob("--prefetch", KnobKind::Toggle),
    ];
    let base = r#"cd "/src/my job" && LOADER_THREADS=2 python train.py --data-dir '/data/my set' --note "try --batch-size 4 --use-subprocess" --batch-size 8 --use-subprocess --batch-size=8 --tag=a\ b"#;
    let out = apply_launch_args(
        base,
        &args(&[
            ("--batch-size", "16"),
            ("--use-subprocess", "false"),
            ("--prefetch", "false"),
            ("--data-dir", "/data/other set"),
        ]),
        &knobs,
    )
    .unwrap();
    assert_eq!(
        out,
        r#"cd "/src/my job" && LOADER_THREADS=2 python train.py --data-dir '/data/other set' --note "try --batch-size 4 --use-subprocess" --batch-size 16 --batch-size=16 --tag=a\ b --no-prefetch"#,
        "words inside quotes are not flags; every copy of a flag changes; the rest stays as written"
    );
    let again = apply_launch_args(&out, &args(&[("--tag", "c d")]), &knobs).unwrap();
    assert!(
        again.ends_with("--batch-size=16 --tag='c d' --no-prefetch"),
        "{again}"
    );
    let env = args(&[("LOADER_THREADS", "8 ")]);
    let threads = Knob {
        env: true,
        ..knob("LOADER_THREADS", KnobKind::Integer)
    };
    assert_eq!(
        autoresearch_workflow::apply_env_knobs(&out, &env, &[threads]),
        out.replace("LOADER_THREADS=2", "LOADER_THREADS='8 '"),
        "an inline assignment stays an assignment, its value quoted"
    );
}

#[test]
fn agent_values_cannot_become_shell_syntax() {
    let out = apply_launch_args("run", &args(&[("--name", "a; rm -rf / $(id)")]), &[]).unwrap();
    assert_eq!(out, "run --name 'a; rm -rf / $(id)'");
    assert_eq!(check_flag("--ok_name-2", "1"), Ok(()));
    for bad in ["name", "--", "--a;b", "--$(x)", "-- a", "--1abc"] {
        assert_eq!(
            check_flag(bad, "1"),
            Err(FlagError::BadName(bad.to_owned())),
            "{bad}"
        );
    }
    assert!(matches!(
        check_flag("--x", "a\nb"),
        Err(FlagError::BadValue { .. })
    ));
    assert!(apply_launch_args("run", &args(&[("bad flag", "1")]), &[]).is_err());
}

#[test]
fn the_identity_ignores_names_case_and_flag_spelling() {
    let mut a = ExperimentSpec::new(ExperimentKind::Planned, "first");
    a.changes = vec!["Batch_Size=16 ".to_owned()];
    a.launch_args = args(&[("--batch-size", "16")]);
    a.base_commit = Some("abc".to_owned());
    let mut b = ExperimentSpec::new(ExperimentKind::Planned, "second name");
    b.changes = vec!["batch_size=16".to_owned()];
    b.launch_args = args(&[("--batch_size", " 16")]);
    b.base_commit = Some("abc".to_owned());
    b.hypothesis = "other words".to_owned();
    assert_eq!(a.identity(), b.identity());
    b.base_commit = Some("def".to_owned());
    assert_ne!(
        a.identity(),
        b.identity(),
        "another base is another experiment"
    );
    assert_eq!(
        a.changes_text(),
        "Batch_Size=16",
        "a flag already named in the changes is not repeated"
    );
}

#[test]
fn only_planned_mtp_and_repair_experiments_change_code() {
    let mut spec = ExperimentSpec::new(ExperimentKind::Confirm, "repeat");
    spec.description = "Set X.".to_owned();
    assert!(
        !spec.changes_code(),
        "a confirmation reruns the same commit"
    );
    spec.kind = ExperimentKind::Planned;
    assert!(spec.changes_code());
    spec.description = "  ".to_owned();
    assert!(!spec.changes_code(), "a flag-only experiment");
}

#[test]
fn an_inline_assignment_of_an_environment_knob_takes_the_experiments_value() {
    let threads = Knob {
        flag: "LOADER_THREADS".to_owned(),
        name: "env:LOADER_THREADS".to_owned(),
        env: true,
        value_kind: Some(KnobKind::Integer),
        ..knob("--unused", KnobKind::Integer)
    };
    let env = args(&[("LOADER_THREADS", "8"), ("OMP_NUM_THREADS", "2")]);
    // The shell would let `LOADER_THREADS=2` on the command line win over the job's
    // environment.
    assert_eq!(
        autoresearch_workflow::apply_env_knobs(
            "env LOADER_THREADS=2 OTHER=1 python train.py LOADER_THREADS=9",
            &env,
            std::slice::from_ref(&threads)
        ),
        "env LOADER_THREADS=8 OTHER=1 python train.py LOADER_THREADS=9"
    );
    // Without an assignment on the command line, the command is left alone.
    assert_eq!(
        autoresearch_workflow::apply_env_knobs("python train.py", &env, &[threads]),
        "python train.py"
    );
}
