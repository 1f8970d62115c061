//! Recording finished experiments: the noise-aware best, confirmation, the floor, and
//! idempotence (recording twice after a crash writes nothing twice).

use autoresearch_hypothesis_tree::{FailureKind, FailurePhase, FailureRecord, NodeStatus};
use autoresearch_metrics::{Evidence, RunSummary};
use autoresearch_workflow::books::NewExperiment;
use autoresearch_workflow::describe;
use autoresearch_workflow::record::{Completion, record};
use autoresearch_workflow::{
    Books, ExperimentKind, ExperimentSpec, JobEnd, RunConfig, RunRequest, Workdir,
};

/// A summary of `steps` steps around `ms` with ±`jitter` ms of deterministic noise.
fn summary(ms: f64, jitter: f64) -> RunSummary {
    let mut evidence = Evidence::default();
    evidence.add_line(r#"[autoresearch] {"v":1,"event":"start","batch_size":8}"#);
    let mut x: u64 = 7;
    for step in 1..=200u64 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let noise = ((x >> 33) % 1000) as f64 / 1000.0 * 2.0 - 1.0;
        let step_ms = ms + noise * jitter;
        evidence.add_line(&format!(
            r#"[autoresearch] {{"v":1,"event":"step","step":{step},"wait_ms":0.1,"compute_ms":{},"step_ms":{step_ms}}}"#,
            step_ms - 0.1
        ));
    }
    RunSummary::from_evidence(&evidence, None)
}

struct Fixture {
    _dir: tempfile::TempDir,
    workdir: Workdir,
    config: RunConfig,
}

fn fixture(confirm_best: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("src");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("train.py"), "print(1)\n").unwrap();
    let workdir = dir.path().join("work");
    let config = RunConfig::from_request(
        &workdir,
        &RunRequest {
            pipeline_script: Some(source.join("train.py")),
            source_dir: Some(source),
            base_launch_command: Some("python $SCRIPT".to_owned()),
            confirm_best: Some(confirm_best),
            ..RunRequest::default()
        },
    )
    .unwrap();
    Fixture {
        workdir: Workdir::new(&workdir),
        _dir: dir,
        config,
    }
}

/// Takes a new node through its lifecycle to `analyzing`, as the engine does.
fn run_to_analysis(books: &mut Books, id: &str) {
    books.start_preparing(id, 1).unwrap();
    books
        .mark_launched(id, &format!("job-{id}"), "2026-01-01T00:00:00Z")
        .unwrap();
    let end = JobEnd {
        status: "succeeded".to_owned(),
        detail: String::new(),
        stalled: false,
        hard_capped: false,
        probe_lines: 200,
    };
    books.mark_job_ended(id, &end).unwrap();
}

fn add(books: &mut Books, kind: ExperimentKind, name: &str) -> String {
    let spec = ExperimentSpec::new(kind, name);
    let id = books
        .add_child(NewExperiment {
            spec: &spec,
            parent: None,
            priority: 0.0,
        })
        .unwrap();
    run_to_analysis(books, &id);
    id
}

/// The confirmation run of the pending candidate, as the planner queues it.
fn add_confirmation(books: &mut Books, candidate: &str) -> String {
    let spec = ExperimentSpec::new(ExperimentKind::Confirm, format!("{candidate}_confirm"));
    let id = books
        .add_confirmation(NewExperiment {
            spec: &spec,
            parent: Some(candidate),
            priority: -100.0,
        })
        .unwrap();
    run_to_analysis(books, &id);
    id
}

/// Adds a node of `kind`, runs it to analysis and records `summary` for it.
fn recorded(
    books: &mut Books,
    config: &RunConfig,
    kind: ExperimentKind,
    name: &str,
    summary: RunSummary,
) -> String {
    let id = add(books, kind, name);
    let c = done(books, &id, summary);
    record(books, config, c).unwrap();
    id
}

/// A completion of `id` whose job failed with `kind`.
fn failed(books: &Books, id: &str, kind: FailureKind, message: &str) -> Completion {
    let mut c = done(
        books,
        id,
        RunSummary::from_evidence(&Evidence::default(), None),
    );
    c.failure = Some(FailureRecord::new(kind, FailurePhase::Job, message));
    c
}

fn done(books: &Books, id: &str, summary: RunSummary) -> Completion {
    let spec: ExperimentSpec =
        serde_json::from_value(books.tree().get(id).unwrap().spec.clone()).unwrap();
    Completion {
        id: id.to_owned(),
        spec,
        summary,
        failure: None,
        analysis: None,
        analysis_failure: None,
        duration_s: Some(1.0),
        log_tail: String::new(),
    }
}

#[test]
fn only_a_gain_beyond_the_noise_and_the_margin_becomes_the_best() {
    let f = fixture(false);
    let mut books = Books::open(&f.workdir).unwrap();
    let baseline = add(&mut books, ExperimentKind::Baseline, "baseline");
    let c = done(&books, &baseline, summary(20.0, 1.0));
    assert!(
        record(&mut books, &f.config, c).unwrap().new_best,
        "the first result is the reference"
    );
    let noise = add(&mut books, ExperimentKind::Planned, "within_noise");
    let c = done(&books, &noise, summary(19.8, 4.0));
    let r = record(&mut books, &f.config, c).unwrap();
    assert!(!r.new_best, "1% faster inside ±4 ms of noise is no gain");
    let small = add(&mut books, ExperimentKind::Planned, "below_margin");
    let c = done(&books, &small, summary(19.8, 0.01));
    assert!(
        !record(&mut books, &f.config, c).unwrap().new_best,
        "1% is below the 2% margin even without noise"
    );
    let real = add(&mut books, ExperimentKind::Planned, "real_gain");
    let c = done(&books, &real, summary(14.0, 1.0));
    assert!(record(&mut books, &f.config, c).unwrap().new_best);
    assert_eq!(books.state().current_best.as_deref(), Some(real.as_str()));
    assert!(books.tree().get(&real).unwrap().improved);
    assert!(!books.tree().get(&noise).unwrap().improved);
    let history: Vec<_> = books
        .state()
        .history
        .iter()
        .map(|h| (h.run_id.as_str(), h.improved, h.verdict.clone()))
        .collect();
    assert_eq!(history[1].2.as_deref(), Some("indistinguishable"));
    assert_eq!(history[3].2.as_deref(), Some("better"));
}

#[test]
fn the_headspace_run_sets_the_floor_and_is_never_the_best() {
    let f = fixture(false);
    let mut books = Books::open(&f.workdir).unwrap();
    let baseline = recorded(
        &mut books,
        &f.config,
        ExperimentKind::Baseline,
        "baseline",
        summary(20.0, 0.5),
    );
    let head = add(&mut books, ExperimentKind::Headspace, "headspace");
    let c = done(&books, &head, summary(8.0, 0.5));
    assert!(!record(&mut books, &f.config, c).unwrap().new_best);
    assert_eq!(
        books.state().current_best.as_deref(),
        Some(baseline.as_str())
    );
    let floor = books.state().floor_ms.unwrap();
    assert!((floor - 8.0).abs() < 0.5, "{floor}");
    let headspace = books.state().headspace_pct.unwrap();
    assert!((headspace - 60.0).abs() < 3.0, "{headspace}");
}

#[test]
fn with_confirmation_a_new_best_waits_for_its_repeat() {
    let f = fixture(true);
    let mut books = Books::open(&f.workdir).unwrap();
    let baseline = recorded(
        &mut books,
        &f.config,
        ExperimentKind::Baseline,
        "baseline",
        summary(20.0, 0.5),
    );
    let candidate = add(&mut books, ExperimentKind::Planned, "candidate");
    let c = done(&books, &candidate, summary(15.0, 0.5));
    let r = record(&mut books, &f.config, c).unwrap();
    assert!(r.needs_confirmation && !r.new_best);
    assert_eq!(
        books.state().current_best.as_deref(),
        Some(baseline.as_str()),
        "not kept yet"
    );
    let pending = books.state().pending_confirmation.clone().unwrap();
    assert_eq!(
        (pending.candidate.as_str(), pending.previous_best.as_deref()),
        (candidate.as_str(), Some(baseline.as_str()))
    );
    let repeat = add_confirmation(&mut books, &candidate);
    assert_eq!(
        books
            .state()
            .pending_confirmation
            .as_ref()
            .unwrap()
            .confirm_node,
        repeat
    );
    let c = done(&books, &repeat, summary(15.2, 0.5));
    assert!(record(&mut books, &f.config, c).unwrap().new_best);
    assert_eq!(
        books.state().current_best.as_deref(),
        Some(candidate.as_str()),
        "the candidate is kept"
    );
    assert!(books.tree().get(&candidate).unwrap().improved);
    assert!(books.state().pending_confirmation.is_none());
}

#[test]
fn a_failed_repeat_does_not_confirm() {
    let f = fixture(true);
    let mut books = Books::open(&f.workdir).unwrap();
    let baseline = recorded(
        &mut books,
        &f.config,
        ExperimentKind::Baseline,
        "baseline",
        summary(20.0, 0.5),
    );
    let candidate = recorded(
        &mut books,
        &f.config,
        ExperimentKind::Planned,
        "lucky",
        summary(15.0, 0.5),
    );
    let repeat = add_confirmation(&mut books, &candidate);
    let c = done(&books, &repeat, summary(20.1, 0.5));
    assert!(!record(&mut books, &f.config, c).unwrap().new_best);
    assert_eq!(
        books.state().current_best.as_deref(),
        Some(baseline.as_str())
    );
    assert!(
        books.state().pending_confirmation.is_none(),
        "the candidate is settled, so planning goes on"
    );
}

#[test]
fn a_confirmation_run_that_fails_settles_its_candidate_unconfirmed() {
    let f = fixture(true);
    let mut books = Books::open(&f.workdir).unwrap();
    let baseline = recorded(
        &mut books,
        &f.config,
        ExperimentKind::Baseline,
        "baseline",
        summary(20.0, 0.5),
    );
    let candidate = recorded(
        &mut books,
        &f.config,
        ExperimentKind::Planned,
        "flaky",
        summary(15.0, 0.5),
    );
    let repeat = add_confirmation(&mut books, &candidate);
    let c = failed(
        &books,
        &repeat,
        FailureKind::JobRuntimeFailed,
        "CUDA error: an illegal memory access",
    );
    let r = record(&mut books, &f.config, c).unwrap();
    assert!(r.failed && !r.new_best);
    assert_eq!(
        books.state().current_best.as_deref(),
        Some(baseline.as_str())
    );
    // Before, a failed repeat left the confirmation pending for ever, and the gate let
    // no planning round start again.
    assert!(books.state().pending_confirmation.is_none());
    drop(books);
    let books = Books::open(&f.workdir).unwrap();
    assert!(books.state().pending_confirmation.is_none(), "saved");
    assert!(!books.tree().get(&candidate).unwrap().improved);
}

#[test]
fn recording_again_after_a_crash_writes_nothing_twice_and_failures_are_rows() {
    let f = fixture(false);
    let mut books = Books::open(&f.workdir).unwrap();
    let baseline = add(&mut books, ExperimentKind::Baseline, "baseline");
    let c = done(&books, &baseline, summary(20.0, 0.5));
    record(&mut books, &f.config, c.clone()).unwrap();
    record(&mut books, &f.config, c).unwrap();
    let broken = add(&mut books, ExperimentKind::Planned, "broken");
    let c = failed(
        &books,
        &broken,
        FailureKind::JobStartupFailed,
        "ModuleNotFoundError: spdl",
    );
    let r = record(&mut books, &f.config, c).unwrap();
    assert!(r.failed && !r.new_best);
    drop(books);
    let books = Books::open(&f.workdir).unwrap();
    assert_eq!(books.state().history.len(), 2);
    let rows =
        autoresearch_workflow::master_table::MasterTable::read(&f.workdir.master_table()).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].status, "failed");
    assert_eq!(
        rows[1].notes,
        "job_startup_failed: ModuleNotFoundError: spdl"
    );
    assert_eq!(
        books.tree().get(&broken).unwrap().status,
        NodeStatus::Failed
    );
    let summary_md = std::fs::read_to_string(f.workdir.summary()).unwrap();
    assert!(
        summary_md.contains("- job_startup_failed: 1"),
        "{summary_md}"
    );
}

#[test]
fn a_repeat_that_fails_part_way_is_no_measurement_of_the_noise() {
    let f = fixture(false);
    let mut books = Books::open(&f.workdir).unwrap();
    let baseline = recorded(
        &mut books,
        &f.config,
        ExperimentKind::Baseline,
        "baseline",
        summary(20.0, 0.5),
    );
    let mut spec = ExperimentSpec::new(ExperimentKind::Repeat, "baseline_repeat_1");
    spec.of_node = Some(baseline.clone());
    let repeat = books
        .add_child(NewExperiment {
            spec: &spec,
            parent: Some(&baseline),
            priority: 0.0,
        })
        .unwrap();
    run_to_analysis(&mut books, &repeat);
    // Its job died after some slow steps: the steps are in its summary, but a failed
    // run says nothing about how far two runs of the configuration differ.
    let partial = summary(30.0, 0.5);
    // As the lifecycle does, the summary is written before the run is recorded.
    let run_dir = books.workdir().run(&repeat);
    std::fs::create_dir_all(&run_dir).unwrap();
    std::fs::write(
        run_dir.join("summary.json"),
        serde_json::to_vec(&partial).unwrap(),
    )
    .unwrap();
    let mut c = done(&books, &repeat, partial);
    c.failure = Some(FailureRecord::new(
        FailureKind::JobFailed,
        FailurePhase::Job,
        "killed",
    ));
    record(&mut books, &f.config, c).unwrap();
    assert!(
        books.state().noise.is_prior_only(),
        "{:?}",
        books.state().noise
    );
    // A repeat that completes is one.
    let mut spec = ExperimentSpec::new(ExperimentKind::Repeat, "baseline_repeat_2");
    spec.of_node = Some(baseline.clone());
    let second = books
        .add_child(NewExperiment {
            spec: &spec,
            parent: Some(&baseline),
            priority: 0.0,
        })
        .unwrap();
    run_to_analysis(&mut books, &second);
    let c = done(&books, &second, summary(20.4, 0.5));
    record(&mut books, &f.config, c).unwrap();
    let noise = books.state().noise;
    assert_eq!(noise.measured_dof, 1, "{noise:?}");
    assert_eq!(
        books.state().current_best.as_deref(),
        Some(baseline.as_str()),
        "a repeat is never a candidate"
    );
}

/// A job of `ranks` ranks whose rank `slow` is slower by `extra_ms` a step.
fn ranks_summary(ranks: u32, slow: u32, extra_ms: f64) -> RunSummary {
    let mut evidence = Evidence::default();
    for rank in 0..ranks {
        for step in 1..=40 {
            let compute = 10.0 + f64::from(rank) * 0.1 + if rank == slow { extra_ms } else { 0.0 };
            let json = format!(
                r#"{{"v":2,"event":"step","pid":{},"rank":{rank},"step":{step},"wait_ms":1.0,"compute_ms":{compute},"step_ms":{}}}"#,
                1000 + rank,
                compute + 1.0
            );
            evidence.add_line(&autoresearch_metrics::probe_line(&json));
        }
    }
    RunSummary::from_evidence(&evidence, Some(8))
}

/// The per-rank view: every rank up to eight, then the slowest, the median and the
/// fastest; nothing for one rank.
#[test]
fn the_rank_view_is_compact_for_many_ranks() {
    insta::assert_snapshot!("ranks_three", describe::ranks(&ranks_summary(3, 1, 5.0)));
    insta::assert_snapshot!("ranks_twelve", describe::ranks(&ranks_summary(12, 7, 5.0)));
    assert_eq!(describe::ranks(&ranks_summary(1, 0, 0.0)), "");
    assert_eq!(
        describe::rank_note(&ranks_summary(3, 1, 5.0)).unwrap(),
        "3 ranks, rank 1 slowest (16.10 ms), imbalance 1.46×"
    );
}
