//! The probe's events (`[autoresearch] {json}` lines); see docs/probe-protocol.md.

use serde::{Deserialize, Serialize};

use crate::system::SystemSample;

/// The probe protocol version this build reads (lines with a newer `v` are counted as
/// unreadable, not guessed at).
pub const PROTOCOL_VERSION: u32 = 1;

/// The loop started iterating.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StartEvent {
    /// The tracked loop's name.
    #[serde(default)]
    pub name: Option<String>,
    /// Process id.
    #[serde(default)]
    pub pid: Option<u32>,
    /// Global rank (`RANK`).
    #[serde(default)]
    pub rank: Option<u32>,
    /// Local rank (`LOCAL_RANK`).
    #[serde(default)]
    pub local_rank: Option<u32>,
    /// Number of ranks (`WORLD_SIZE`).
    #[serde(default)]
    pub world_size: Option<u32>,
    /// CPU cores the process may use (`sched_getaffinity`).
    #[serde(default)]
    pub cpu_cores: Option<u32>,
    /// Samples per batch, when the script told the probe.
    #[serde(default)]
    pub batch_size: Option<u64>,
    /// Whether this is a headspace (cached replay) run.
    #[serde(default)]
    pub headspace: bool,
    /// Milliseconds from process start to the loop's start.
    #[serde(default)]
    pub since_process_start_ms: Option<f64>,
    /// UTC wall-clock time of the start, Unix seconds.
    #[serde(default)]
    pub unix_time: Option<f64>,
}

/// The first batch arrived.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TtfbEvent {
    /// From the first `iter()` to the first batch.
    pub ttfb_ms: f64,
    /// From process start to the first batch.
    #[serde(default)]
    pub since_process_start_ms: Option<f64>,
    /// Samples in the first batch, as the probe measured them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u64>,
    /// The rule that measured them, or why no rule applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size_rule: Option<String>,
}

/// One training step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StepEvent {
    /// 1-based step number.
    pub step: u64,
    /// Time inside `next()` waiting for the batch.
    pub wait_ms: f64,
    /// Time from the batch's arrival to the request for the next one.
    pub compute_ms: f64,
    /// `wait_ms + compute_ms`.
    pub step_ms: f64,
}

/// Aggregates of one quantity over a window of steps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    /// Steps in the window.
    pub count: u64,
    /// Sum.
    pub sum: f64,
    /// Minimum.
    pub min: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// Maximum.
    pub max: f64,
}

/// A window of steps, for long runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowEvent {
    /// The window's first step.
    pub first_step: u64,
    /// Step times.
    pub step_ms: Aggregate,
    /// Data waits.
    pub wait_ms: Aggregate,
    /// Compute times.
    pub compute_ms: Aggregate,
}

/// Headspace mode: its start, and the switch to cached replay.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HeadspaceEvent {
    /// `start` or `replay`.
    pub phase: String,
    /// Steps read from the real loader before the replay.
    #[serde(default)]
    pub after_steps: Option<u64>,
}

/// The loop ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EndEvent {
    /// Steps taken.
    pub steps: u64,
    /// `exhausted`, `closed`, ...
    #[serde(default)]
    pub reason: Option<String>,
    /// From the first `iter()` to the end.
    #[serde(default)]
    pub wall_ms: Option<f64>,
}

/// One probe line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum ProbeEvent {
    /// See [`StartEvent`].
    Start(StartEvent),
    /// See [`TtfbEvent`].
    Ttfb(TtfbEvent),
    /// See [`StepEvent`].
    Step(StepEvent),
    /// See [`WindowEvent`].
    Window(WindowEvent),
    /// See [`HeadspaceEvent`].
    Headspace(HeadspaceEvent),
    /// See [`EndEvent`].
    End(EndEvent),
    /// A system sample printed by `autoresearch sample`.
    Sample(SystemSample),
    /// An event this build does not use.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct Version {
    v: u32,
}

/// Parses the text after `[autoresearch] `: a JSON object, or the older `key=value`
/// convention (`step=3 step_time_ms=… fetch_time_ms=… compute_time_ms=…`, `ttfb_s=…`,
/// `cpu_cores=…`). `None` if it is neither.
pub fn parse_probe_payload(payload: &str) -> Option<ProbeEvent> {
    let payload = payload.trim();
    if payload.starts_with('{') {
        let version: Version = serde_json::from_str(payload).ok()?;
        if version.v > PROTOCOL_VERSION {
            return None;
        }
        return serde_json::from_str(payload).ok();
    }
    let pairs: Vec<(&str, &str)> = payload
        .split_whitespace()
        .filter_map(|word| word.split_once('='))
        .collect();
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.parse::<f64>().ok())
    };
    if let (Some(step), Some(step_ms)) = (get("step"), get("step_time_ms")) {
        let wait_ms = get("fetch_time_ms").unwrap_or(0.0);
        return Some(ProbeEvent::Step(StepEvent {
            step: step as u64,
            wait_ms,
            compute_ms: get("compute_time_ms").unwrap_or(step_ms - wait_ms),
            step_ms,
        }));
    }
    if let Some(ttfb_s) = get("ttfb_s") {
        return Some(ProbeEvent::Ttfb(TtfbEvent {
            ttfb_ms: ttfb_s * 1000.0,
            ..TtfbEvent::default()
        }));
    }
    if let Some(cores) = get("cpu_cores")
        && pairs.len() <= 2
    {
        return Some(ProbeEvent::Start(StartEvent {
            cpu_cores: Some(cores as u32),
            ..StartEvent::default()
        }));
    }
    None
}
