//! Logs written by several real SPDL jobs at once through unbuffered forwarders
//! (fixtures/multiwriter): every record read from the shared, torn file must be one the
//! jobs really wrote, and every line that survived whole must be read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use autoresearch_metrics::{Evidence, LineRecord, RunSummary, classify};

use crate::support::{probe_dir, venv_python, workspace};

/// Runs `make_log.py`; returns the folder with `shared.log` and `truth_<rank>.log`.
pub(crate) fn make_log(dir: &Path, jobs: u32, format: &str, mode: &str, tags: bool) -> PathBuf {
    let mut command = Command::new(venv_python());
    command
        .arg(workspace().join("fixtures/multiwriter/make_log.py"))
        .args(["--out", dir.to_str().unwrap(), "--jobs", &jobs.to_string()])
        .args(["--log-format", format, "--mode", mode, "--steps", "150"])
        .args(["--probe-dir", probe_dir().to_str().unwrap()]);
    if !tags {
        command.arg("--no-tags");
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    dir.to_owned()
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A record as comparable text.
fn record_key(record: &LineRecord) -> Option<String> {
    match record {
        LineRecord::Probe(event, writer) => Some(format!("{writer:?} {event:?}")),
        LineRecord::Stats { record, .. } => Some(format!("{record:?}")),
        _ => None,
    }
}

struct Tally {
    wrong: Vec<String>,
    missed: Vec<String>,
    recovered: usize,
    intact_stats: usize,
    torn: usize,
}

/// Compares the records of the shared file with the jobs' own streams.
fn tally(dir: &Path, jobs: u32) -> Tally {
    let mut truth: BTreeMap<String, usize> = BTreeMap::new();
    let mut truth_lines: BTreeMap<String, usize> = BTreeMap::new();
    for rank in 0..jobs {
        for line in lines(&dir.join(format!("truth_{rank}.log"))) {
            if let Some(key) = record_key(&classify(&line)) {
                *truth.entry(key).or_default() += 1;
            }
            *truth_lines.entry(line).or_default() += 1;
        }
    }
    let mut tally = Tally {
        wrong: Vec::new(),
        missed: Vec::new(),
        recovered: 0,
        intact_stats: 0,
        torn: 0,
    };
    let shared = lines(&dir.join("shared.log"));
    // The evidence keeps only the best-attributed statistics lines (docs/metrics.md).
    let level = shared
        .iter()
        .filter_map(|l| match classify(l) {
            LineRecord::Stats { attribution, .. } => Some(attribution.level()),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    for line in shared {
        let mut record = classify(&line);
        if let LineRecord::Stats { attribution, .. } = &record
            && attribution.level() < level
        {
            record = LineRecord::Torn(autoresearch_metrics::TornReason::SeveralPrefixes);
        }
        let intact = truth_lines.get(&line).is_some_and(|n| *n > 0);
        let stats_line = line.contains("\tCompleted")
            || line.contains("\tProcessed")
            || line.contains("\\tCompleted")
            || line.contains("\\tProcessed");
        if intact && stats_line {
            tally.intact_stats += 1;
            if matches!(record, LineRecord::Stats { .. }) {
                tally.recovered += 1;
            } else {
                tally.missed.push(line.clone());
            }
        }
        if matches!(record, LineRecord::Torn(_)) {
            tally.torn += 1;
        }
        if let Some(key) = record_key(&record) {
            match truth.get_mut(&key) {
                Some(n) if *n > 0 => *n -= 1,
                _ => tally.wrong.push(format!("{line}\n  -> {key}")),
            }
        }
    }
    tally
}

fn assert_clean(tally: &Tally, what: &str) {
    assert!(
        tally.wrong.is_empty(),
        "{what}: {} wrong records:\n{}",
        tally.wrong.len(),
        tally.wrong.join("\n")
    );
    assert!(
        tally.missed.is_empty(),
        "{what}: intact statistics lines not read:\n{}",
        tally.missed.join("\n")
    );
    assert!(
        tally.intact_stats > 10,
        "{what}: too few intact lines to judge"
    );
}

#[test]
fn three_tagged_writers_torn_into_one_file_give_no_wrong_record() {
    let dir = tempfile::tempdir().unwrap();
    let dir = make_log(dir.path(), 3, "none", "thread", true);
    let tally = tally(&dir, 3);
    assert_clean(&tally, "tagged");
    assert!(
        tally.torn > 0,
        "the forwarders tore no line; the test proves nothing"
    );

    // The summary: three ranks, each with its own stages, and the torn lines counted.
    let file = std::fs::File::open(dir.join("shared.log")).unwrap();
    let evidence = Evidence::from_reader(std::io::BufReader::new(file)).unwrap();
    assert!(evidence.torn_lines as usize >= tally.torn);
    let summary = RunSummary::from_evidence(&evidence, None);
    assert_eq!(summary.ranks.len(), 3, "{:?}", summary.ranks);
    let ranks: Vec<Option<u32>> = summary.ranks.iter().map(|r| r.rank).collect();
    assert_eq!(ranks, vec![Some(0), Some(1), Some(2)]);
    for stage in &summary.stages {
        assert!(stage.rank.is_some(), "stage without a rank: {stage:?}");
    }
    assert!(summary.torn_lines > 0);
}

/// Without the probe's tags a line made of two writers' pieces cut at the same place of
/// two lines of the same shape cannot be told from a real one: those are the only wrong
/// records allowed, and they must stay rare. Every intact line is still read, and names
/// the process that wrote it.
#[test]
fn untagged_log_formats_attribute_each_line_to_its_process() {
    let (mut wrong, mut records) = (0, 0);
    for format in ["pidfield", "procname", "json", "bare"] {
        let dir = tempfile::tempdir().unwrap();
        let dir = make_log(dir.path(), 2, format, "thread", false);
        let tally = tally(&dir, 2);
        assert!(
            tally.missed.is_empty(),
            "{format}: intact statistics lines not read:\n{}",
            tally.missed.join("\n")
        );
        assert!(
            tally.intact_stats > 10,
            "{format}: too few intact lines to judge"
        );
        wrong += tally.wrong.len();
        records += tally.recovered;
        eprintln!(
            "{format}: {} intact statistics lines read, {} torn lines dropped, {} wrong records",
            tally.recovered,
            tally.torn,
            tally.wrong.len()
        );
        let pids: Vec<Option<u32>> = lines(&dir.join("truth_0.log"))
            .iter()
            .filter_map(|l| match classify(l) {
                LineRecord::Stats { record, .. } => Some(record.key().pid),
                _ => None,
            })
            .collect();
        assert!(!pids.is_empty(), "{format}");
        assert!(pids.iter().all(Option::is_some), "{format}: {pids:?}");
    }
    assert!(
        wrong * 50 <= records,
        "{wrong} wrong records of {records}: more than 2%"
    );
}

/// The pipeline subprocess's statistics carry the rank of the process that started it,
/// whatever the start method: the probe's tag travels with fork, spawn and forkserver.
#[test]
fn subprocess_statistics_are_tagged_with_their_rank_under_every_start_method() {
    for mode in ["fork", "spawn", "forkserver"] {
        let dir = tempfile::tempdir().unwrap();
        let dir = make_log(dir.path(), 2, "none", mode, true);
        assert_clean(&tally(&dir, 2), mode);
        let file = std::fs::File::open(dir.join("shared.log")).unwrap();
        let evidence = Evidence::from_reader(std::io::BufReader::new(file)).unwrap();
        let summary = RunSummary::from_evidence(&evidence, None);
        assert_eq!(summary.ranks.len(), 2, "{mode}");
        for rank in &summary.ranks {
            // The stages ran in a child: a pid other than the rank's own.
            assert!(!rank.stage_pids.is_empty(), "{mode}: {rank:?}");
            assert!(
                !rank.stage_pids.contains(&rank.pid.unwrap()),
                "{mode}: {rank:?}"
            );
        }
        assert!(summary.stages.iter().all(|s| s.rank.is_some()), "{mode}");
    }
}
