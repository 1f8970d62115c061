//! `cargo xtask bench bookkeeping`: the cost of the books at 1,000 experiments.
//!
//! One completion's bookkeeping is everything the engine writes when an experiment ends,
//! except the two pictures: the node's files and `tree.json`, the master-table row,
//! `state.json` with the history, `summary.md`, `findings.md`, `analysis.md`, the
//! engine views, and the checkpoint. A resume is loading all of it back. Figures are
//! medians of repeated runs on this machine; they are printed, never asserted.
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use autoresearch_metrics::{Evidence, RunSummary};
use autoresearch_runner_core::{Checkpoint, CheckpointStatus, SpecRecord, WorkSpec, checkpoint};
use autoresearch_workflow::books::NewExperiment;
use autoresearch_workflow::builtin_planner::{Observation, PlannerView, plan};
use autoresearch_workflow::knobs::{Knob, KnobRole};
use autoresearch_workflow::prompts::AnalysisAnswer;
use autoresearch_workflow::record::{Completion, record};
use autoresearch_workflow::{
    Books, ExperimentKind, ExperimentSpec, JobEnd, RunConfig, RunRequest, Workdir,
};

const NODES: usize = 1000;
const SAMPLES: usize = 30;

fn summary(ms: f64) -> RunSummary {
    let mut evidence = Evidence::default();
    evidence.add_line(r#"[autoresearch] {"v":1,"event":"start","batch_size":8}"#);
    for step in 1..=300u64 {
        let step_ms = ms + (step % 7) as f64 * 0.1;
        evidence.add_line(&format!(
            r#"[autoresearch] {{"v":1,"event":"step","step":{step},"wait_ms":0.5,"compute_ms":{},"step_ms":{step_ms}}}"#,
            step_ms - 0.5
        ));
    }
    RunSummary::from_evidence(&evidence, None)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("src");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("train.py"), "print(1)\n").unwrap();
    let root = dir.path().join("work");
    let config = RunConfig::from_request(
        &root,
        &RunRequest {
            pipeline_script: Some(source.join("train.py")),
            source_dir: Some(source),
            base_launch_command: Some("python $SCRIPT".to_owned()),
            ..RunRequest::default()
        },
    )
    .unwrap();
    let workdir = Workdir::new(&root);
    let mut books = Books::open(&workdir).unwrap();
    let summaries: Vec<RunSummary> = (0..8).map(|i| summary(20.0 - i as f64)).collect();
    let answer = AnalysisAnswer {
        bottleneck: "load stage".to_owned(),
        verdict: "supported".to_owned(),
        interpretation: "The load stage limits the step; its queue is empty most of the time."
            .to_owned(),
        findings: vec!["Loading is the bottleneck.".to_owned()],
    };
    let job_end = JobEnd {
        status: "succeeded".to_owned(),
        detail: String::new(),
        stalled: false,
        hard_capped: false,
        probe_lines: 300,
    };
    let mut queued: Vec<SpecRecord> = Vec::new();
    let mut complete_one = |books: &mut Books, i: usize| -> (Duration, Duration) {
        let mut spec = ExperimentSpec::new(ExperimentKind::Planned, format!("experiment_{i}"));
        spec.hypothesis = "More loader threads keep the sink full.".to_owned();
        spec.changes = vec![format!("load_concurrency={}", i % 32)];
        let parent = books.tree().nodes().last().map(|n| n.node_id.clone());
        let id = books
            .add_child(NewExperiment {
                spec: &spec,
                parent: parent.as_deref().filter(|_| !i.is_multiple_of(3)),
                priority: 0.0,
            })
            .unwrap();
        let started = Instant::now();
        // The engine's steps to `analyzing`, each saving the node (and the views).
        books.start_preparing(&id, 1).unwrap();
        books
            .mark_launched(&id, &format!("job-{i}"), "2026-01-01T00:00:00Z")
            .unwrap();
        books.mark_job_ended(&id, &job_end).unwrap();
        let transitions = started.elapsed();
        let started = Instant::now();
        let _ = std::fs::create_dir_all(workdir.run(&id));
        let bytes = serde_json::to_vec_pretty(&summaries[i % 8]).unwrap();
        std::fs::write(workdir.run(&id).join("summary.json"), bytes).unwrap();
        record(
            books,
            &config,
            Completion {
                id: id.clone(),
                spec,
                summary: summaries[i % 8].clone(),
                failure: None,
                analysis: Some(answer.clone()),
                analysis_failure: None,
                duration_s: Some(60.0),
                log_tail: String::new(),
            },
        )
        .unwrap();
        // The scheduler's part: a checkpoint with the queue as it stands.
        queued.retain(|r| r.id != id);
        queued.push(SpecRecord::new(WorkSpec::new(format!("q{i}"), 0.0), 0));
        if queued.len() > 20 {
            queued.remove(0);
        }
        let mut cp = Checkpoint::empty(CheckpointStatus::Running);
        cp.queued = queued.clone();
        checkpoint::store(&workdir.engine(), &cp).unwrap();
        let completion = started.elapsed();
        (transitions, completion)
    };
    let built = Instant::now();
    for i in 0..NODES {
        complete_one(&mut books, i);
    }
    println!(
        "built a {NODES}-experiment work directory in {:.1} s",
        built.elapsed().as_secs_f64()
    );
    let mut completions = Vec::new();
    let mut lifecycles = Vec::new();
    for i in NODES..NODES + SAMPLES {
        let (transitions, completion) = complete_one(&mut books, i);
        completions.push(completion);
        lifecycles.push(transitions + completion);
    }
    // The engine views, which two of the three status changes rewrite.
    let views: Vec<Duration> = (0..SAMPLES)
        .map(|_| {
            let started = Instant::now();
            books.save_views("running").unwrap();
            started.elapsed()
        })
        .collect();
    drop(books);
    let mut resumes = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let books = Books::open(&workdir).unwrap();
        let cp = checkpoint::load(&workdir.engine()).unwrap();
        assert!(cp.is_some());
        assert!(books.tree().len() >= NODES);
        resumes.push(started.elapsed());
    }
    // A built-in planning round at this size: the observations gathered (a summary
    // each, as the books hand them out) and the models fitted to all of them.
    let knobs = [
        Knob {
            flag: "--load-concurrency".to_owned(),
            name: "load_concurrency".to_owned(),
            role: KnobRole::Concurrency {
                stage: Some("load".to_owned()),
            },
            default: Some("1".to_owned()),
            range: Some((1, 64)),
            choices: Vec::new(),
            value_kind: None,
            evidence: None,
            pipeline: None,
            env: false,
        },
        Knob {
            flag: "--mode".to_owned(),
            name: "mode".to_owned(),
            role: KnobRole::Subprocess {
                value: "mtp".to_owned(),
            },
            default: Some("mt".to_owned()),
            range: None,
            choices: vec!["mt".to_owned(), "mtp".to_owned()],
            value_kind: None,
            evidence: None,
            pipeline: None,
            env: false,
        },
        Knob {
            flag: "--batch-size".to_owned(),
            name: "batch_size".to_owned(),
            role: KnobRole::BatchSize,
            default: Some("8".to_owned()),
            range: Some((1, 256)),
            choices: Vec::new(),
            value_kind: None,
            evidence: None,
            pipeline: None,
            env: false,
        },
    ];
    let mut plans = Vec::new();
    for round in 0..10u64 {
        let started = Instant::now();
        let observations: Vec<Observation> = (0..NODES + SAMPLES)
            .map(|i| Observation {
                config: BTreeMap::from([
                    ("--load-concurrency".to_owned(), (1 + i % 32).to_string()),
                    (
                        "--mode".to_owned(),
                        if i % 2 == 0 { "mt" } else { "mtp" }.to_owned(),
                    ),
                ]),
                env: BTreeMap::new(),
                summary: summaries[i % 8].clone(),
                base: None,
            })
            .collect();
        let answer = plan(&PlannerView {
            knobs: &knobs,
            best_args: BTreeMap::new(),
            best_summary: Some(&summaries[7]),
            best_env: BTreeMap::new(),
            headspace_pct: Some(40.0),
            floor: None,
            tried: BTreeSet::new(),
            observations,
            wanted: 3,
            seed: round,
            failed_batch: None,
            time_limit_s: None,
        });
        assert!(!answer.experiments.is_empty());
        plans.push(started.elapsed());
    }
    let size =
        |p: std::path::PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
    println!(
        "files at {} experiments: tree.json {:.2} MB, state.json {:.2} MB, master_table.tsv {:.2} MB",
        NODES + SAMPLES,
        size(workdir.engine().join("tree.json")),
        size(workdir.state()),
        size(workdir.master_table()),
    );
    println!();
    println!("| measure (median) | time | goal |");
    println!("|---|---|---|");
    println!(
        "| one completion's bookkeeping (record + checkpoint) | {:.1} ms | < 50 ms |",
        median(completions).as_secs_f64() * 1e3
    );
    println!(
        "| whole lifecycle (3 status changes with their views + completion) | {:.1} ms | |",
        median(lifecycles).as_secs_f64() * 1e3
    );
    println!(
        "| the engine views, once | {:.1} ms | |",
        median(views).as_secs_f64() * 1e3
    );
    println!(
        "| resume: load tree, state, table, checkpoint | {:.1} ms | < 200 ms |",
        median(resumes).as_secs_f64() * 1e3
    );
    println!(
        "| a built-in planning round over {} observations | {:.1} ms | |",
        NODES + SAMPLES,
        median(plans).as_secs_f64() * 1e3
    );
    println!();
    println!(
        "For scale: the Python implementation spends 27.3 s of bookkeeping per completion at 1,000 nodes."
    );
}
