//! `autoresearch inspect <log>...`: the summary of any job log, with no run and no work
//! directory: the per-rank view, the stage table per process, the bottleneck, and the
//! torn lines dropped.

use std::io::{BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use autoresearch_metrics::{Evidence, Measured, RunSummary, reader::for_each_line};
use autoresearch_workflow::describe;

use crate::{EXIT_FAILURE, EXIT_SUCCESS, EXIT_USAGE, eprint_error};

/// What `inspect` is asked.
pub(crate) struct InspectRequest<'a> {
    pub logs: &'a [PathBuf],
    pub batch_size: Option<u64>,
    pub json: bool,
}

pub(crate) fn run(request: &InspectRequest<'_>) -> ExitCode {
    let mut evidence = Evidence::default();
    for path in request.logs {
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(err) => {
                eprint_error(&format!(
                    "cannot read {}: {err}\nhint: pass the job's log files (stdout and stderr, or the one file they share)",
                    path.display()
                ));
                return ExitCode::from(EXIT_USAGE);
            }
        };
        // Every line counts, a last one without a newline included: the job is over.
        if let Err(err) = for_each_line(BufReader::new(file), |line, _| evidence.add_line(line)) {
            eprint_error(&format!("cannot read {}: {err}", path.display()));
            return ExitCode::from(EXIT_FAILURE);
        }
    }
    let summary = RunSummary::from_evidence(&evidence, request.batch_size);
    let text = if request.json {
        match serde_json::to_string_pretty(&summary) {
            Ok(json) => json + "\n",
            Err(err) => {
                eprint_error(&format!("cannot write the summary as JSON: {err}"));
                return ExitCode::from(EXIT_FAILURE);
            }
        }
    } else {
        render(request, &evidence, &summary)
    };
    let mut stdout = std::io::stdout().lock();
    if stdout.write_all(text.as_bytes()).is_err() {
        return ExitCode::from(EXIT_FAILURE);
    }
    if summary.steps == 0 && summary.stages.is_empty() {
        eprint_error(
            "no probe steps and no SPDL statistics in these logs\nhint: is the training loop wrapped with the probe, and is SPDL's logging at INFO?",
        );
        return ExitCode::from(EXIT_FAILURE);
    }
    ExitCode::from(EXIT_SUCCESS)
}

/// The human-readable summary.
pub(crate) fn render(
    request: &InspectRequest<'_>,
    evidence: &Evidence,
    summary: &RunSummary,
) -> String {
    let mut out = format!(
        "# {}\n\n- Lines read: {}; torn lines dropped: {}; unreadable probe lines: {}\n",
        request
            .logs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        evidence.lines,
        evidence.torn_lines,
        evidence.unreadable_probe_lines,
    );
    if let Some(rank) = summary.pace_setter() {
        out.push_str(&format!(
            "- The job steps at {}'s pace: {}\n",
            rank.label(),
            match &summary.step_time {
                Measured::Value(s) => format!("{:.2} ms a step", s.median_ms),
                Measured::Unavailable(why) => format!("n/a ({why})"),
            }
        ));
    }
    out.push_str("\n## Figures\n\n");
    out.push_str(&describe::measurements(summary));
    out.push_str("\n## Stages\n\n");
    out.push_str(&describe::stages(summary));
    out
}
