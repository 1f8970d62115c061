//! SPDL 0.8.0 statistics lines: the per-stage task line and the queue line.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// Which stage a line is about. Pipeline ids restart at 0 in every process, so the pid
/// (when the log format has one) is part of the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StageKey {
    /// Process id: from the probe's tag, a `[pid N]` field, a `ProcessName:N` field, a
    /// JSON record's `process`, or a lone number in the line's prefix; `None` if none.
    pub pid: Option<u32>,
    /// Pipeline id.
    pub pipeline: u32,
    /// Stage index (source 0, sink last).
    pub stage: u32,
}

/// `[<stage>]\tCompleted N tasks (F failed). Ave task time: …. P90: …. P99: ….`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskLine {
    /// Stage identity.
    pub key: StageKey,
    /// Stage name (without the concurrency suffix).
    pub name: String,
    /// Concurrency, when above 1.
    pub concurrency: Option<u32>,
    /// Completed invocations (successes and failures).
    pub tasks: u64,
    /// Invocations that raised.
    pub failures: u64,
    /// Mean successful task time, seconds.
    pub ave_s: f64,
    /// 90th percentile, seconds.
    pub p90_s: f64,
    /// 99th percentile, seconds.
    pub p99_s: f64,
}

/// `[<stage>_queue]\tProcessed N items in T (QPS: q) Ave wait time: put: …, get …`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueLine {
    /// Stage identity (the stage that puts into this queue).
    pub key: StageKey,
    /// Stage name (without concurrency suffix and `_queue`).
    pub name: String,
    /// Concurrency of the producing stage, when above 1.
    pub concurrency: Option<u32>,
    /// Items taken by the next stage.
    pub items: u64,
    /// Measurement window, seconds.
    pub elapsed_s: f64,
    /// Items per second.
    pub qps: f64,
    /// Mean time a put was blocked, seconds.
    pub put_s: f64,
    /// Mean time a get by the next stage was blocked, seconds.
    pub get_s: f64,
    /// 90th percentile put, seconds.
    pub p90_put_s: f64,
    /// 90th percentile get, seconds.
    pub p90_get_s: f64,
    /// 99th percentile put, seconds.
    pub p99_put_s: f64,
    /// 99th percentile get, seconds.
    pub p99_get_s: f64,
    /// Share of the window with at least one item queued, percent (data readiness).
    pub occupancy_pct: f64,
}

const NUM: &str = r"-?\d+(?:\.\d+)?|nan|inf";

static TASK: LazyLock<Regex> = LazyLock::new(|| {
    let t = |n: &str| format!(r"(?P<{n}>{NUM}) \[\s*(?P<{n}_u>us|ms|sec)\]");
    let pattern = format!(
        r"\[(?P<pipeline>\d+):(?P<stage>\d+):(?P<name>.*?)(?:\[(?P<conc>\d+)\])?\]\tCompleted\s+(?P<tasks>\d+) tasks \(\s*(?P<failures>\d+) failed\)\. Ave task time:\s*{}\. P90:\s*{}\. P99:\s*{}\.",
        t("ave"),
        t("p90"),
        t("p99")
    );
    // The pattern is a constant; a failure here is a bug caught by every test.
    #[expect(clippy::expect_used)]
    Regex::new(&pattern).expect("task line pattern")
});

static QUEUE: LazyLock<Regex> = LazyLock::new(|| {
    let t = |n: &str| format!(r"(?P<{n}>{NUM}) \[\s*(?P<{n}_u>us|ms|sec)\]");
    let pattern = format!(
        r"\[(?P<pipeline>\d+):(?P<stage>\d+):(?P<name>.*?)(?:\[(?P<conc>\d+)\])?_queue\]\tProcessed\s+(?P<items>\d+) items in\s*{} \(QPS:\s*(?P<qps>{NUM})\) Ave wait time: put:\s*{}, get \(by next stage\):\s*{}\. P90: put:\s*{}, get:\s*{}\. P99: put:\s*{}, get:\s*{}\. Occupancy rate: (?P<occ>-?\d+)%",
        t("elapsed"),
        t("put"),
        t("get"),
        t("p90put"),
        t("p90get"),
        t("p99put"),
        t("p99get"),
    );
    #[expect(clippy::expect_used)]
    Regex::new(&pattern).expect("queue line pattern")
});

fn seconds(captures: &regex::Captures<'_>, name: &str) -> Option<f64> {
    let value: f64 = captures.name(name)?.as_str().parse().ok()?;
    let unit = captures.name(&format!("{name}_u"))?.as_str();
    Some(match unit {
        "us" => value * 1e-6,
        "ms" => value * 1e-3,
        _ => value,
    })
}

fn key(captures: &regex::Captures<'_>, pid: Option<u32>) -> Option<StageKey> {
    Some(StageKey {
        pid,
        pipeline: captures.name("pipeline")?.as_str().parse().ok()?,
        stage: captures.name("stage")?.as_str().parse().ok()?,
    })
}

/// One statistics record.
#[derive(Debug, Clone, PartialEq)]
pub enum StatsRecord {
    /// A task line.
    Task(TaskLine),
    /// A queue line.
    Queue(QueueLine),
}

impl StatsRecord {
    /// The stage the record is about.
    pub fn key(&self) -> StageKey {
        match self {
            Self::Task(t) => t.key,
            Self::Queue(q) => q.key,
        }
    }

    /// The stage name the line gave.
    pub fn name(&self) -> &str {
        match self {
            Self::Task(t) => &t.name,
            Self::Queue(q) => &q.name,
        }
    }

    /// Sets the process the record belongs to.
    pub(crate) fn set_pid(&mut self, pid: Option<u32>) {
        match self {
            Self::Task(t) => t.key.pid = pid,
            Self::Queue(q) => q.key.pid = pid,
        }
    }
}

/// Finds a statistics line's grammar in `text`: the record (its pid not yet known) and
/// the byte range the grammar spans (the whole of SPDL's message).
pub(crate) fn find_stats(text: &str) -> Option<(StatsRecord, std::ops::Range<usize>)> {
    if text.contains("]\tCompleted") {
        let c = TASK.captures(text)?;
        let span = c.get(0)?.range();
        return Some((StatsRecord::Task(task_of(&c)?), span));
    }
    if text.contains("_queue]\tProcessed") {
        let c = QUEUE.captures(text)?;
        let span = c.get(0)?.range();
        return Some((StatsRecord::Queue(queue_of(&c)?), span));
    }
    None
}

fn task_of(c: &regex::Captures<'_>) -> Option<TaskLine> {
    Some(TaskLine {
        key: key(c, None)?,
        name: c.name("name")?.as_str().to_owned(),
        concurrency: c.name("conc").and_then(|m| m.as_str().parse().ok()),
        tasks: c.name("tasks")?.as_str().parse().ok()?,
        failures: c.name("failures")?.as_str().parse().ok()?,
        ave_s: seconds(c, "ave")?,
        p90_s: seconds(c, "p90")?,
        p99_s: seconds(c, "p99")?,
    })
}

fn queue_of(c: &regex::Captures<'_>) -> Option<QueueLine> {
    Some(QueueLine {
        key: key(c, None)?,
        name: c.name("name")?.as_str().to_owned(),
        concurrency: c.name("conc").and_then(|m| m.as_str().parse().ok()),
        items: c.name("items")?.as_str().parse().ok()?,
        elapsed_s: seconds(c, "elapsed")?,
        qps: c.name("qps")?.as_str().parse().ok()?,
        put_s: seconds(c, "put")?,
        get_s: seconds(c, "get")?,
        p90_put_s: seconds(c, "p90put")?,
        p90_get_s: seconds(c, "p90get")?,
        p99_put_s: seconds(c, "p99put")?,
        p99_get_s: seconds(c, "p99get")?,
        occupancy_pct: c.name("occ")?.as_str().parse().ok()?,
    })
}

/// Parses a task line anywhere in `line` (any logging prefix), with the pid the line
/// names; `None` for other lines and for lines that look torn (docs/metrics.md).
pub fn parse_task_line(line: &str) -> Option<TaskLine> {
    match crate::line::classify(line) {
        crate::line::LineRecord::Stats {
            record: StatsRecord::Task(task),
            ..
        } => Some(task),
        _ => None,
    }
}

/// Parses a queue line anywhere in `line`; see [`parse_task_line`].
pub fn parse_queue_line(line: &str) -> Option<QueueLine> {
    match crate::line::classify(line) {
        crate::line::LineRecord::Stats {
            record: StatsRecord::Queue(queue),
            ..
        } => Some(queue),
        _ => None,
    }
}
