//! The run configuration: fresh runs, resumes, and every bad input.

use std::path::{Path, PathBuf};

use autoresearch_workflow::{ConfigError, RunConfig, RunRequest};

struct Fixture {
    _dir: tempfile::TempDir,
    workdir: PathBuf,
    source: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let source = std::fs::canonicalize(dir.path()).unwrap().join("src");
    std::fs::create_dir_all(source.join("training")).unwrap();
    std::fs::write(source.join("training/train.py"), "print('train')\n").unwrap();
    std::fs::write(dir.path().join("elsewhere.py"), "x = 1\n").unwrap();
    let workdir = dir.path().join("work");
    Fixture {
        _dir: dir,
        workdir,
        source,
    }
}

fn request(f: &Fixture) -> RunRequest {
    RunRequest {
        pipeline_script: Some(f.source.join("training/train.py")),
        source_dir: Some(f.source.clone()),
        build_command: Some("docker build -t img .".into()),
        base_launch_command: Some("python train.py --image $IMAGE".into()),
        ..RunRequest::default()
    }
}

fn message(err: ConfigError) -> String {
    err.to_string()
}

#[test]
fn a_fresh_run_gets_defaults_and_absolute_paths_and_round_trips() {
    let f = fixture();
    let mut req = request(&f);
    req.pipeline_script = Some(PathBuf::from("training/train.py")); // relative to the source
    let config = RunConfig::from_request(&f.workdir, &req).unwrap();
    assert_eq!(config.pipeline_script, f.source.join("training/train.py"));
    assert_eq!(
        (
            config.max_iterations,
            config.patience,
            config.max_concurrency,
            config.job_timeout_s
        ),
        (10, 3, 3, 1800)
    );
    config.save(&f.workdir).unwrap();
    assert_eq!(RunConfig::load(&f.workdir).unwrap().unwrap(), config);
    insta::assert_snapshot!(
        "config_json",
        std::fs::read_to_string(RunConfig::path(&f.workdir))
            .unwrap()
            .replace(&f.source.display().to_string(), "<SOURCE>")
            .replace(&config.job_tag, "<TAG>")
    );
    assert_eq!(config.job_tag.len(), 6);
}

#[test]
fn bad_inputs_name_the_flag_and_the_fix() {
    let f = fixture();
    type Change = Box<dyn Fn(&mut RunRequest)>;
    let cases: Vec<(Change, &str)> = vec![
        (
            Box::new(|r: &mut RunRequest| r.pipeline_script = Some("/nonexistent/train.py".into())),
            "--pipeline-script",
        ),
        (
            Box::new(|r: &mut RunRequest| r.source_dir = Some("/nonexistent/src".into())),
            "--source-dir",
        ),
        (
            Box::new(|r: &mut RunRequest| r.base_launch_command = Some("python train.py".into())),
            "never uses $IMAGE",
        ),
        (
            Box::new(|r: &mut RunRequest| r.base_launch_command = Some("   ".into())),
            "--base-launch-command",
        ),
        (
            Box::new(|r: &mut RunRequest| r.max_concurrency = Some(0)),
            "--max-concurrency",
        ),
        (
            Box::new(|r: &mut RunRequest| r.job_timeout_s = Some(1)),
            "--job-timeout",
        ),
        (
            Box::new(|r: &mut RunRequest| r.min_improvement_pct = Some(150.0)),
            "--min-improvement-pct",
        ),
        (
            Box::new(|r: &mut RunRequest| r.max_hours = Some(f64::NAN)),
            "--max-hours",
        ),
        (
            Box::new(|r: &mut RunRequest| r.pipeline_script = None),
            "--pipeline-script is required",
        ),
        (
            Box::new(|r: &mut RunRequest| r.sbatch_args = Some(vec!["--ntasks=2".into()])),
            "--sbatch-arg",
        ),
    ];
    for (change, expected) in cases {
        let mut req = request(&f);
        change(&mut req);
        let text = message(RunConfig::from_request(&f.workdir, &req).unwrap_err());
        assert!(text.contains(expected) && text.contains("hint:"), "{text}");
    }
    // A script outside the source folder.
    let mut req = request(&f);
    req.pipeline_script = Some(f.source.parent().unwrap().join("elsewhere.py"));
    let text = message(RunConfig::from_request(&f.workdir, &req).unwrap_err());
    assert!(text.contains("outside the source folder"), "{text}");
    // A folder given as the script.
    let mut req = request(&f);
    req.pipeline_script = Some(f.source.join("training"));
    assert!(
        message(RunConfig::from_request(&f.workdir, &req).unwrap_err()).contains("cannot be read")
    );
    // Without a build command, $IMAGE is not needed.
    let mut req = request(&f);
    req.build_command = None;
    req.base_launch_command = Some("python train.py".into());
    RunConfig::from_request(&f.workdir, &req).unwrap();
}

/// Two runs made in the same place (a work directory deleted and made again) name their
/// jobs apart, so a scheduler that still knows the first run's jobs cannot hand them to
/// the second; a resume keeps its run's tag.
#[test]
fn every_new_run_tags_its_job_names_and_a_resume_keeps_the_tag() {
    let f = fixture();
    let first = RunConfig::from_request(&f.workdir, &request(&f)).unwrap();
    let second = RunConfig::from_request(&f.workdir, &request(&f)).unwrap();
    assert_ne!(first.job_tag, second.job_tag);
    let (resumed, _) = RunConfig::resume(&first, &RunRequest::default()).unwrap();
    assert_eq!(resumed.job_tag, first.job_tag);
    assert_ne!(
        autoresearch_workflow::job_name(&first.job_tag, "000_baseline"),
        autoresearch_workflow::job_name(&second.job_tag, "000_baseline")
    );
    // A run made before tags existed keeps its jobs' old names.
    assert_eq!(
        autoresearch_workflow::job_name("", "000_baseline"),
        "ar-000_baseline-1"
    );
}

#[test]
fn a_resume_keeps_the_stored_config_and_refuses_conflicting_flags() {
    let f = fixture();
    let stored = RunConfig::from_request(&f.workdir, &request(&f)).unwrap();
    // No flags: the stored config. The same flags: no differences.
    let (same, diff) = RunConfig::resume(&stored, &RunRequest::default()).unwrap();
    assert!(diff.is_empty());
    assert_eq!(same, stored);
    assert!(
        RunConfig::resume(&stored, &request(&f))
            .unwrap()
            .1
            .is_empty()
    );

    // Updatable settings need --update-config.
    let change = RunRequest {
        patience: Some(5),
        notes: Some("focus on decode".into()),
        ..RunRequest::default()
    };
    let text = message(RunConfig::resume(&stored, &change).unwrap_err());
    assert!(
        text.contains("patience: stored 3, requested 5") && text.contains("--update-config"),
        "{text}"
    );
    let (updated, diff) = RunConfig::resume(
        &stored,
        &RunRequest {
            update_config: true,
            ..change
        },
    )
    .unwrap();
    assert_eq!(
        (updated.patience, updated.notes.as_str(), diff.len()),
        (5, "focus on decode", 2)
    );

    // Fixed settings never change, even with --update-config.
    let fixed = RunRequest {
        base_launch_command: Some("torchx run --image $IMAGE".into()),
        patience: Some(4),
        update_config: true,
        ..RunRequest::default()
    };
    let text = message(RunConfig::resume(&stored, &fixed).unwrap_err());
    assert!(text.contains("base_launch_command cannot change"), "{text}");
    // An update must still be valid.
    let bad = RunRequest {
        max_concurrency: Some(0),
        update_config: true,
        ..RunRequest::default()
    };
    assert!(message(RunConfig::resume(&stored, &bad).unwrap_err()).contains("--max-concurrency"));
}

/// At one experiment in flight each round plans one experiment: the default round
/// limit must not end a run before its experiment budget does.
#[test]
fn an_experiment_budget_is_reachable_under_the_default_round_limit() {
    let f = fixture();
    let budget = |n: Option<u32>, rounds: Option<u32>| {
        let mut req = request(&f);
        req.max_experiments = n;
        req.max_iterations = rounds;
        req.max_concurrency = Some(1);
        RunConfig::from_request(&f.workdir, &req).unwrap()
    };
    assert_eq!(budget(Some(15), None).max_iterations, 15);
    assert_eq!(budget(Some(4), None).max_iterations, 10);
    assert_eq!(budget(None, None).max_iterations, 10);
    assert_eq!(
        budget(Some(15), Some(6)).max_iterations,
        6,
        "an explicit limit stays"
    );
    // A resume that raises the budget raises the derived limit with it.
    let stored = budget(Some(15), None);
    let raise = RunRequest {
        max_experiments: Some(30),
        update_config: true,
        ..RunRequest::default()
    };
    let (next, diff) = RunConfig::resume(&stored, &raise).unwrap();
    assert_eq!(
        (next.budgets.max_experiments, next.max_iterations),
        (Some(30), 30)
    );
    assert!(diff.iter().any(|d| d.field == "max_iterations"), "{diff:?}");
}

#[test]
fn a_missing_or_damaged_config_json_is_reported() {
    let f = fixture();
    assert!(RunConfig::load(&f.workdir).unwrap().is_none());
    let err = RunConfig::from_request(&f.workdir, &RunRequest::default()).unwrap_err();
    assert!(matches!(err, ConfigError::Missing { .. }));
    assert!(err.to_string().contains("new run"), "{err}");
    std::fs::create_dir_all(&f.workdir).unwrap();
    std::fs::write(
        RunConfig::path(&f.workdir),
        "{\"schema_version\": 1, \"pipeline_scr",
    )
    .unwrap();
    let text = message(RunConfig::load(&f.workdir).unwrap_err());
    assert!(
        text.contains("config.json") && text.contains("hint:"),
        "{text}"
    );
    assert!(
        Path::new(&RunConfig::path(&f.workdir)).exists(),
        "a damaged file is left as it is"
    );
}

#[test]
fn the_workdir_spells_the_original_names() {
    let w = autoresearch_workflow::Workdir::new("/w");
    let paths = [
        w.config(),
        w.state(),
        w.master_table(),
        w.summary(),
        w.engine_state(),
        w.queue_view(),
        w.active_view(),
        w.run_metrics("003_x"),
        w.logs(),
        w.checkout("003_x"),
    ];
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    assert_eq!(
        shown,
        [
            "/w/config.json",
            "/w/state.json",
            "/w/master_table.tsv",
            "/w/summary.md",
            "/w/engine/engine_state.json",
            "/w/engine/queue.json",
            "/w/engine/active.json",
            "/w/runs/003_x/metrics",
            "/w/logs",
            "/w/checkouts/003_x",
        ]
    );
    assert_eq!(RunConfig::path(w.root()), w.config());
}
