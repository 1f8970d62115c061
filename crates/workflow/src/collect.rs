//! After a job: its evidence, the computed summary, the failure (if any) told apart by
//! evidence, and the agent's interpretation.

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use autoresearch_hypothesis_tree::{FailureKind, FailurePhase, FailureRecord};
use autoresearch_jobs::JobId;
use autoresearch_llm_client::AgentCall;
use autoresearch_metrics::{Evidence, RunSummary, reader::for_each_line};

use crate::context::Context;
use crate::describe;
use crate::execute::{JobEnd, job_log_dir};
use crate::policy::{JobEvidence, classify_job_failure};
use crate::prompts::{self, AnalysisAnswer};
use crate::spec::ExperimentSpec;

/// Lines of log kept as the tail for failures and prompts.
pub(crate) const LOG_TAIL_LINES: usize = 40;

/// What a finished job left.
#[derive(Debug, Clone)]
pub(crate) struct Collected {
    /// The computed summary.
    pub summary: RunSummary,
    /// The failure, when the job failed or measured nothing.
    pub failure: Option<FailureRecord>,
    /// The end of its logs.
    pub log_tail: String,
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The job's log files: where the platform says, else the run folder's.
async fn log_files(ctx: &Context, id: &str, job: Option<&JobId>) -> Vec<PathBuf> {
    if let Some(job) = job
        && let Ok(logs) = ctx.platform.logs(job).await
    {
        return vec![logs.stdout, logs.stderr];
    }
    let dir = job_log_dir(ctx, id);
    vec![dir.join("stdout.log"), dir.join("stderr.log")]
}

/// Reads the job's evidence and summarises it.
pub(crate) async fn collect(
    ctx: &Context,
    id: &str,
    job: Option<&JobId>,
    end: &JobEnd,
) -> Collected {
    let files = log_files(ctx, id, job).await;
    let mut evidence = Evidence::default();
    let mut tail_text = String::new();
    for path in &files {
        let Ok(file) = std::fs::File::open(path) else {
            continue;
        };
        let _ = for_each_line(BufReader::new(file), |line, _| evidence.add_line(line));
        if let Ok(text) = std::fs::read(path) {
            // Only the end matters for the tail; skip reading huge logs twice into memory.
            let start = text.len().saturating_sub(64 * 1024);
            tail_text.push_str(&String::from_utf8_lossy(&text[start..]));
            tail_text.push('\n');
        }
    }
    let summary = RunSummary::from_evidence(&evidence, None);
    let log_tail = tail(&tail_text, LOG_TAIL_LINES);
    let failure = job_failure(end, &evidence, &summary, &log_tail, &files);
    Collected {
        summary,
        failure,
        log_tail,
    }
}

fn job_failure(
    end: &JobEnd,
    evidence: &Evidence,
    summary: &RunSummary,
    log_tail: &str,
    files: &[PathBuf],
) -> Option<FailureRecord> {
    let details = serde_json::json!({
        "job_status": end.status,
        "job_detail": end.detail,
        "probe_lines": end.probe_lines,
        "steps": summary.steps,
        "log_paths": files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "log_tail": log_tail,
    });
    let with = |mut record: FailureRecord| {
        record.details = details.clone();
        Some(record)
    };
    if end.hard_capped {
        return with(FailureRecord::new(
            FailureKind::JobStalled,
            FailurePhase::Job,
            end.detail.clone(),
        ));
    }
    if !end.succeeded() {
        let kind = classify_job_failure(&JobEvidence {
            saw_first_batch: !evidence.ttfbs.is_empty(),
            steps: summary.steps,
            stalled: end.stalled,
            log_tail: log_tail.to_owned(),
        });
        let last_line = log_tail
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return with(FailureRecord::new(
            kind,
            FailurePhase::Job,
            format!(
                "the job ended {} ({}); last log line: {}",
                end.status,
                end.detail,
                last_line.trim()
            ),
        ));
    }
    if summary.step_time.value().is_none() {
        return with(FailureRecord::new(
            FailureKind::MetricsCollectionFailed,
            FailurePhase::Metrics,
            "the job succeeded but its logs hold no usable probe step lines, so nothing was measured",
        ));
    }
    None
}

/// Asks the agent to interpret a run. `comparison` and `history` are ready-made text.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn analyse(
    ctx: &Context,
    id: &str,
    spec: &ExperimentSpec,
    collected: &Collected,
    comparison: &str,
    history: &str,
) -> Result<Option<AnalysisAnswer>, FailureRecord> {
    let Some(agent) = &ctx.agent else {
        return Ok(None);
    };
    let stored = ctx.workdir.run(id).join("analysis.json");
    if let Ok(bytes) = std::fs::read(&stored)
        && let Ok(answer) = serde_json::from_slice::<AnalysisAnswer>(&bytes)
    {
        return Ok(Some(answer));
    }
    let diff = std::fs::read_to_string(ctx.workdir.run(id).join("diff.patch")).unwrap_or_default();
    let outcome = match &collected.failure {
        Some(f) => format!("failed: {}", f.message),
        None => "completed".to_owned(),
    };
    let values = BTreeMap::from([
        ("NAME", spec.name.clone()),
        ("RUN_ID", id.to_owned()),
        ("HYPOTHESIS", spec.hypothesis.clone()),
        (
            "CHANGES",
            if spec.changes_text().is_empty() {
                "none".to_owned()
            } else {
                spec.changes_text()
            },
        ),
        ("OUTCOME", outcome),
        ("SUMMARY", describe::measurements(&collected.summary)),
        ("STAGES", describe::stages(&collected.summary)),
        ("COMPARISON", comparison.to_owned()),
        (
            "DIFF",
            if diff.is_empty() {
                "(no code change)".to_owned()
            } else {
                autoresearch_fs::text::truncate_lines(&diff, 12_000)
            },
        ),
        ("LOG_TAIL", collected.log_tail.clone()),
        ("HISTORY", history.to_owned()),
        ("KNOWLEDGE", prompts::knowledge()),
    ]);
    let fail = |message: String| {
        FailureRecord::new(FailureKind::AnalysisFailed, FailurePhase::Analysis, message)
    };
    let prompt = prompts::render(prompts::ANALYZE, &values).map_err(|e| fail(e.to_string()))?;
    let (answer, _) = agent
        .call_json::<AnalysisAnswer>(AgentCall::new(format!("analyze_{id}"), prompt))
        .await
        .map_err(|err| fail(format!("the analysis failed: {err}")))?;
    if let Ok(bytes) = serde_json::to_vec_pretty(&answer) {
        let _ = autoresearch_fs::write_atomic(&stored, &bytes);
    }
    Ok(Some(answer))
}

/// Writes `runs/<id>/summary.json` and `metrics/summary.json`.
pub(crate) fn write_summary(run_dir: &Path, summary: &RunSummary) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(summary).map_err(std::io::Error::other)?;
    std::fs::create_dir_all(run_dir.join("metrics"))?;
    autoresearch_fs::write_atomic(&run_dir.join("metrics").join("summary.json"), &bytes)?;
    autoresearch_fs::write_atomic(&run_dir.join("summary.json"), &bytes)
}
