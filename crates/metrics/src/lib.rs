//! Every number the tool reports, computed by code from raw evidence: the probe's
//! `[autoresearch] {json}` lines, SPDL 0.8.0's per-stage statistics lines, and system
//! samples (sysinfo for CPU and memory, NVML for GPUs). Agents get a finished
//! [`RunSummary`] to interpret; they never supply numbers.
//!
//! **What it must not know:** how jobs are launched, agents, the experiment tree, or
//! the work directory's layout beyond the files it is given.
//!
//! Main types: [`Evidence`] (a log read line by line, bounded memory), [`RunSummary`]
//! with [`Measured`] figures, [`headspace()`] and [`compare()`], the [`Sampler`] and
//! [`SamplerThread`], and [`PROBE_SOURCE`] (the Python probe). Definitions and rules are
//! in `docs/metrics.md`; the probe's line format in `docs/probe-protocol.md`.

mod compare;
pub mod evidence;
pub mod line;
pub mod probe_event;
pub mod reader;
pub mod spdl;
pub mod stats;
mod summary;
pub mod system;

pub use compare::{Comparison, Headspace, Verdict, compare, headspace};
pub use evidence::{Evidence, PROBE_MARKER, StageLines};
pub use line::{Attribution, LineRecord, TornReason, classify};
pub use probe_event::{
    PROTOCOL_VERSION, ProbeEvent, ProbePayload, Writer, parse_probe_payload, probe_line,
    read_probe_payload,
};
pub use spdl::{QueueLine, StageKey, StatsRecord, TaskLine, parse_queue_line, parse_task_line};
pub use summary::{
    BALANCED_RATIO, Bottleneck, LOADER_WAIT_PCT, MAX_WARMUP_STEPS, Measured, REPLAY_SETTLE_STEPS,
    RankSummary, RunSummary, SINK_READY_PCT, STARVED_QUEUE_PCT, StageSummary, StepStats,
    gpu_of_rank,
};
pub use system::{GpuSample, Sampler, SamplerThread, SystemSample, read_samples};

/// The probe: one stdlib-only Python file the instrumentation step places next to the
/// training script.
pub const PROBE_SOURCE: &str = include_str!("../probe/autoresearch_probe.py");

/// The file name the probe is imported by.
pub const PROBE_FILE_NAME: &str = "autoresearch_probe.py";
