//! The corpus of real SPDL jobs (`fixtures/pipelines/`): every script's knob table is a
//! snapshot, and every script, instrumented by the built-in instrumenter, tells the
//! probe (or lets it measure) the batch size its answer key records.

use std::path::{Path, PathBuf};

use autoresearch_workflow::knobs;

fn corpus() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/pipelines");
    let mut jobs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("train.py").is_file())
        .collect();
    jobs.sort();
    assert!(jobs.len() >= 8, "the corpus has {} jobs", jobs.len());
    jobs
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn venv_python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `cargo xtask setup` (part of `cargo xtask ci`)",
        python.display()
    );
    python
}

/// Whether answer-key entry `key` (a flag, or `env:NAME` for a variable) is knob `k`.
fn names(k: &knobs::Knob, key: &str) -> bool {
    if key.starts_with("env:") {
        k.env && k.name == key
    } else {
        !k.env && k.flag == key
    }
}

#[test]
fn every_corpus_script_has_the_knob_table_its_code_shows() {
    let rt = runtime();
    for job in corpus() {
        let name = job.file_name().unwrap().to_string_lossy().into_owned();
        let script = job.join("train.py");
        let options = rt
            .block_on(knobs::read_options(Path::new("python3"), &script))
            .unwrap();
        let found = knobs::knobs_from(&options, &[], &[]).unwrap();
        let answer: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(job.join("answer.json")).unwrap())
                .unwrap();
        // No workload flag of the answer key is a knob.
        for flag in answer["workload_flags"].as_array().unwrap() {
            let flag = flag.as_str().unwrap();
            assert!(
                found.iter().all(|k| !names(k, flag)),
                "{name}: the workload flag {flag} became a knob"
            );
        }
        // Every flag of the best-known configuration is one.
        for flag in answer["best_known"]["flags"].as_object().unwrap().keys() {
            assert!(
                found.iter().any(|k| names(k, flag)),
                "{name}: {flag} (in the best-known configuration) is not a knob"
            );
        }
        insta::assert_snapshot!(
            format!("corpus_knobs_{name}"),
            knobs::table_text(&options, &found)
        );
    }
}

#[test]
fn the_batch_size_is_known_on_every_corpus_script() {
    let rt = runtime();
    for job in corpus() {
        let name = job.file_name().unwrap().to_string_lossy().into_owned();
        let instrumented = rt
            .block_on(knobs::instrument(
                Path::new("python3"),
                &job.join("train.py"),
            ))
            .unwrap();
        assert!(instrumented.ok, "{name}: {instrumented:?}");
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(&job).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
            }
        }
        std::fs::write(dir.path().join("train.py"), instrumented.source.unwrap()).unwrap();
        std::fs::write(
            dir.path().join("autoresearch_probe.py"),
            autoresearch_metrics::PROBE_SOURCE,
        )
        .unwrap();
        // Headspace mode stops the loop after a few steps: enough for the first batch.
        let output = std::process::Command::new(venv_python())
            .arg(dir.path().join("train.py"))
            .current_dir(dir.path())
            .env("AUTORESEARCH_HEADSPACE", "1")
            .env("AUTORESEARCH_HEADSPACE_CACHES", "1")
            .env("AUTORESEARCH_HEADSPACE_AFTER", "2")
            .env("AUTORESEARCH_HEADSPACE_STEPS", "3")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let evidence =
            autoresearch_metrics::Evidence::from_reader(std::io::Cursor::new(output.stdout))
                .unwrap();
        let summary = autoresearch_metrics::RunSummary::from_evidence(&evidence, None);
        let answer: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(job.join("answer.json")).unwrap())
                .unwrap();
        assert_eq!(
            summary.batch_size,
            answer["baseline"]["batch"].as_u64(),
            "{name}: {:?}",
            summary.batch_size_source
        );
        assert!(summary.batch_size_source.is_some(), "{name}");
    }
}
