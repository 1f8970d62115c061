//! Launching one experiment's job and watching it to its end: progress from probe lines,
//! a stall limit and a hard wall-clock cap.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use autoresearch_hypothesis_tree::{FailureKind, FailurePhase, FailureRecord};
use autoresearch_jobs::{JobId, JobRequest, JobStatus, Vars, expand};
use autoresearch_metrics::PROBE_MARKER;
use autoresearch_runner_core::CancelToken;
use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::spec::{ExperimentSpec, apply_env_knobs, apply_launch_args};

/// A job's hard cap is this many `--job-timeout`s after launch, however much progress it
/// makes: a job that keeps printing forever is still stopped.
pub const HARD_CAP_TIMEOUTS: u32 = 3;

/// The job name of experiment `id` in the run tagged `tag` (`RunConfig::job_tag`): the
/// idempotency key a resume looks the job up by. Each node launches one job (repairs and
/// confirmations are nodes of their own).
pub fn job_name(tag: &str, id: &str) -> String {
    if tag.is_empty() {
        format!("ar-{id}-1")
    } else {
        format!("ar-{tag}-{id}-1")
    }
}

/// Where a job's logs go.
pub(crate) fn job_log_dir(ctx: &Context, id: &str) -> PathBuf {
    ctx.workdir.run(id).join("job")
}

/// The launch command of `spec`: the base command with its flags, variables expanded.
pub(crate) fn launch_command(
    ctx: &Context,
    id: &str,
    spec: &ExperimentSpec,
    checkout: &Path,
    image: &str,
) -> Result<String, FailureRecord> {
    let fail = |message: String| {
        FailureRecord::new(FailureKind::LaunchFailed, FailurePhase::Launch, message)
    };
    let template = apply_launch_args(
        &ctx.config.base_launch_command,
        &spec.launch_args,
        &ctx.books().state().knobs,
    )
    .map_err(|err| fail(format!("the experiment's launch flags are unusable: {err}")))?;
    let template = apply_env_knobs(&template, &spec.env, &ctx.books().state().knobs);
    let vars = Vars::new()
        .with("IMAGE", image)
        .with(
            "SOURCE_DIR",
            ctx.layout.source_in(checkout).display().to_string(),
        )
        .with(
            "SCRIPT",
            ctx.layout.script_in(checkout).display().to_string(),
        )
        .with("RUN_ID", id)
        .with("WORKDIR", ctx.workdir.root().display().to_string());
    expand(&template, &vars).map_err(|err| fail(format!("--base-launch-command: {err}")))
}

/// Launches (or re-finds, by name) the job of experiment `id`.
pub(crate) async fn launch(
    ctx: &Context,
    id: &str,
    spec: &ExperimentSpec,
    checkout: &Path,
    image: &str,
) -> Result<(JobId, String), FailureRecord> {
    let command = launch_command(ctx, id, spec, checkout, image)?;
    let mut env: Vec<(String, String)> = spec
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.push(("PYTHONUNBUFFERED".to_owned(), "1".to_owned()));
    env.push(("AUTORESEARCH_RUN_ID".to_owned(), id.to_owned()));
    let request = JobRequest {
        name: job_name(&ctx.config.job_tag, id),
        command: command.clone(),
        cwd: ctx.layout.source_in(checkout),
        env,
        log_dir: job_log_dir(ctx, id),
    };
    let job = ctx.platform.launch(&request).await.map_err(|err| {
        FailureRecord::new(
            FailureKind::LaunchFailed,
            FailurePhase::Launch,
            format!("the launch failed: {err}"),
        )
    })?;
    Ok((job, command))
}

/// How a job ended, as the engine saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEnd {
    /// `succeeded`, `failed`, `cancelled` or `unknown`.
    pub status: String,
    /// The platform's detail (exit code, reason).
    pub detail: String,
    /// Cancelled for making no progress.
    pub stalled: bool,
    /// Cancelled at the hard cap.
    pub hard_capped: bool,
    /// Probe lines seen while polling.
    pub probe_lines: u64,
}

impl JobEnd {
    /// Whether the job succeeded.
    pub fn succeeded(&self) -> bool {
        self.status == "succeeded"
    }
}

/// Why polling stopped early.
pub(crate) enum PollStop {
    /// Shutdown: the job keeps running and a resume re-attaches.
    Interrupted,
}

/// Counts probe lines appended to a log since the last look.
struct ProgressReader {
    path: PathBuf,
    offset: u64,
    lines: u64,
    last_step: Option<u64>,
    carry: String,
}

impl ProgressReader {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            offset: 0,
            lines: 0,
            last_step: None,
            carry: String::new(),
        }
    }

    /// New probe lines since the last call.
    fn poll(&mut self) -> u64 {
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return 0;
        };
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return 0;
        }
        let mut bytes = Vec::new();
        // Bounded per poll so a huge log cannot stall the engine.
        if file.take(8 << 20).read_to_end(&mut bytes).is_err() {
            return 0;
        }
        self.offset += bytes.len() as u64;
        let text = std::mem::take(&mut self.carry) + &String::from_utf8_lossy(&bytes);
        let mut new = 0;
        let (complete, rest) = match text.rfind('\n') {
            Some(end) => text.split_at(end + 1),
            None => ("", text.as_str()),
        };
        for line in complete.lines() {
            if let Some(at) = line.find(PROBE_MARKER) {
                new += 1;
                let payload = &line[at + PROBE_MARKER.len()..];
                if let Some(autoresearch_metrics::ProbeEvent::Step(step)) =
                    autoresearch_metrics::parse_probe_payload(payload)
                {
                    self.last_step = Some(step.step);
                }
            }
        }
        self.carry = rest.to_owned();
        self.lines += new;
        new
    }
}

/// Polls `job` until it ends, cancelling it when it stalls or passes the hard cap.
/// `launched_at` is the wall-clock launch time (RFC 3339), which survives a resume.
// Long on purpose: one polling loop whose exits (end, stall, hard cap, signal) are
// easiest to check side by side.
pub(crate) async fn watch(
    ctx: &Context,
    id: &str,
    job: &JobId,
    launched_at: Option<&str>,
    cancel: &CancelToken,
) -> Result<JobEnd, PollStop> {
    let timeout = Duration::from_secs(ctx.config.job_timeout_s);
    let interval = ctx.poll_interval;
    let launched = launched_at
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .unwrap_or_else(jiff::Timestamp::now);
    let mut progress = ProgressReader::new(job_log_dir(ctx, id).join("stdout.log"));
    let mut last_progress = Instant::now();
    let mut last_report = Instant::now();
    let mut first = true;
    loop {
        let wait = if first {
            interval.min(Duration::from_millis(500))
        } else {
            interval
        };
        first = false;
        tokio::select! {
            () = cancel.cancelled() => return Err(PollStop::Interrupted),
            () = tokio::time::sleep(wait) => {}
        }
        let status = match ctx.platform.status(job).await {
            Ok(status) => status,
            Err(err) => {
                tracing::warn!(%id, %err, "cannot read the job's status; polling on");
                JobStatus::Unknown(err.to_string())
            }
        };
        if progress.poll() > 0 {
            last_progress = Instant::now();
        }
        let end = |status: &str, detail: String| JobEnd {
            status: status.to_owned(),
            detail,
            stalled: false,
            hard_capped: false,
            probe_lines: progress.lines,
        };
        match &status {
            JobStatus::Succeeded => return Ok(end("succeeded", String::new())),
            JobStatus::Failed(why) => return Ok(end("failed", why.to_string())),
            JobStatus::Cancelled => return Ok(end("cancelled", "cancelled".to_owned())),
            JobStatus::Pending | JobStatus::Running | JobStatus::Unknown(_) => {}
        }
        if last_report.elapsed() >= Duration::from_secs(30) {
            last_report = Instant::now();
            if let Some(step) = progress.last_step {
                ctx.say(&format!("[{id}] running: step {step}"));
            }
        }
        let age = jiff::Timestamp::now().duration_since(launched);
        let hard_cap = timeout * HARD_CAP_TIMEOUTS;
        let over_cap = age.as_secs_f64() > hard_cap.as_secs_f64();
        let stalled = last_progress.elapsed() > timeout;
        if over_cap || stalled {
            let reason = if over_cap {
                format!(
                    "running for over {} s (the hard cap: {HARD_CAP_TIMEOUTS} × --job-timeout)",
                    hard_cap.as_secs()
                )
            } else {
                format!(
                    "no new probe line for {} s (--job-timeout)",
                    timeout.as_secs()
                )
            };
            ctx.say(&format!("[{id}] cancelling the job: {reason}"));
            if let Err(err) = ctx.platform.cancel(job).await {
                tracing::warn!(%id, %err, "cancel failed");
            }
            let mut result = end("cancelled", reason);
            result.stalled = stalled && !over_cap;
            result.hard_capped = over_cap;
            return Ok(result);
        }
    }
}
