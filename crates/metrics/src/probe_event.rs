//! The probe's events (`[autoresearch] {json}` lines); see docs/probe-protocol.md.

use serde::{Deserialize, Serialize};

use crate::system::SystemSample;

/// The probe protocol version this build writes and reads (lines with a newer `v` are
/// counted as unreadable, not guessed at). Version 2 added the writer's `pid` and `rank`
/// to every line and the checksum after it; version 1 lines are still read.
pub const PROTOCOL_VERSION: u32 = 2;

/// The first version whose lines must carry a checksum.
const CHECKSUMMED_FROM: u32 = 2;

/// Which process wrote a probe line (version 2 lines carry it; older ones do not).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Writer {
    /// Process id.
    #[serde(default)]
    pub pid: Option<u32>,
    /// Global rank.
    #[serde(default)]
    pub rank: Option<u32>,
}

/// The loop started iterating.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StartEvent {
    /// The writer: an index into `Evidence::writers` (0: a line that names none).
    #[serde(skip)]
    pub writer: u32,
    /// The tracked loop's name.
    #[serde(default)]
    pub name: Option<String>,
    /// Process id.
    #[serde(default)]
    pub pid: Option<u32>,
    /// Global rank (`RANK`, `SLURM_PROCID`, `OMPI_COMM_WORLD_RANK`, `PMI_RANK`).
    #[serde(default)]
    pub rank: Option<u32>,
    /// Local rank (`LOCAL_RANK`, `SLURM_LOCALID`, …).
    #[serde(default)]
    pub local_rank: Option<u32>,
    /// `CUDA_VISIBLE_DEVICES` as the process saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda_visible_devices: Option<String>,
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
    /// The writer: an index into `Evidence::writers` (0: a line that names none).
    #[serde(skip)]
    pub writer: u32,
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
    /// The writer: an index into `Evidence::writers` (0: a line that names none).
    #[serde(skip)]
    pub writer: u32,
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
    /// The writer: an index into `Evidence::writers` (0: a line that names none).
    #[serde(skip)]
    pub writer: u32,
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
    /// The writer: an index into `Evidence::writers` (0: a line that names none).
    #[serde(skip)]
    pub writer: u32,
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
struct Header {
    v: u32,
    #[serde(default)]
    pid: Option<u32>,
    #[serde(default)]
    rank: Option<u32>,
}

/// What the text after the probe marker turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbePayload {
    /// An event, and who wrote it.
    Event(ProbeEvent, Writer),
    /// A checksummed line whose checksum does not match (pieces of several writers), or
    /// a version 2 line without one.
    Torn,
    /// Neither JSON this build reads nor the older `key=value` convention.
    Unreadable,
}

/// The line the probe writes for a JSON object: the marker, the JSON, ` #` and the
/// CRC-32 of the JSON (lowercase hex, 8 digits). No newline.
pub fn probe_line(json: &str) -> String {
    format!(
        "{}{json} #{:08x}",
        crate::evidence::PROBE_MARKER,
        crc32fast::hash(json.as_bytes())
    )
}

/// Splits ` #xxxxxxxx` off the end of a payload: `(json, Some(checksum matches))`, or
/// `(payload, None)` when there is no checksum.
fn split_checksum(payload: &str) -> (&str, Option<bool>) {
    let bytes = payload.as_bytes();
    if bytes.len() > 10 && bytes[bytes.len() - 10..bytes.len() - 8] == *b" #" {
        let (json, tail) = payload.split_at(payload.len() - 10);
        if let Ok(sum) = u32::from_str_radix(&tail[2..], 16) {
            return (json, Some(crc32fast::hash(json.as_bytes()) == sum));
        }
    }
    (payload, None)
}

/// Reads the text after `[autoresearch] `: a checksummed version 2 JSON object, an
/// older JSON object, or the `key=value` convention (`step=3 step_time_ms=…
/// fetch_time_ms=… compute_time_ms=…`, `ttfb_s=…`, `cpu_cores=…`).
pub fn read_probe_payload(payload: &str) -> ProbePayload {
    let payload = payload.trim();
    if payload.starts_with('{') {
        let (json, checksum) = split_checksum(payload);
        if checksum == Some(false) {
            return ProbePayload::Torn;
        }
        let Ok(header) = serde_json::from_str::<Header>(json) else {
            return if checksum.is_some() {
                ProbePayload::Unreadable
            } else {
                // Unchecked JSON that does not parse: most likely cut by another writer.
                ProbePayload::Torn
            };
        };
        if header.v > PROTOCOL_VERSION {
            return ProbePayload::Unreadable;
        }
        if header.v >= CHECKSUMMED_FROM && checksum.is_none() {
            return ProbePayload::Torn;
        }
        let writer = Writer {
            pid: header.pid,
            rank: header.rank,
        };
        return match serde_json::from_str(json) {
            Ok(event) => ProbePayload::Event(event, writer),
            Err(_) => ProbePayload::Unreadable,
        };
    }
    match parse_key_values(payload) {
        Some(event) => ProbePayload::Event(event, Writer::default()),
        None => ProbePayload::Unreadable,
    }
}

/// The event in the text after `[autoresearch] `, if it holds one that is whole.
pub fn parse_probe_payload(payload: &str) -> Option<ProbeEvent> {
    match read_probe_payload(payload) {
        ProbePayload::Event(event, _) => Some(event),
        ProbePayload::Torn | ProbePayload::Unreadable => None,
    }
}

/// The older `key=value` convention.
fn parse_key_values(payload: &str) -> Option<ProbeEvent> {
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
            writer: 0,
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
