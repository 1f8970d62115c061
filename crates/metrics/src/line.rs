//! What one log line is: a probe event, an SPDL statistics record attributed to its
//! process, a line torn by several writers, or anything else. Rules: docs/metrics.md,
//! "Logs written by several processes".

use std::sync::LazyLock;

use regex::Regex;

use crate::evidence::PROBE_MARKER;
use crate::probe_event::{ProbeEvent, ProbePayload, Writer, read_probe_payload};
use crate::spdl::{StatsRecord, find_stats};

/// Why a line was dropped as torn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TornReason {
    /// More than one probe marker, statistics header, timestamp or process field.
    SeveralPrefixes,
    /// A checksummed line (the probe's, or a tagged SPDL record) whose checksum fails.
    Checksum,
    /// The stage name holds text no stage name has (a tab, ` | `, `]\t`, `_queue]`, a
    /// timestamp, unbalanced brackets).
    StageName,
    /// A JSON log record that does not parse, or JSON cut short.
    BrokenJson,
    /// The words of a statistics line without its grammar: a piece of one.
    Fragment,
}

/// How a statistics record's process was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribution {
    /// The probe's `[pid N rank R #crc]` tag, checksum verified.
    Tag {
        /// The rank the tag named.
        rank: Option<u32>,
    },
    /// A field of the log format (`[pid N]`, `ProcessName:N`, JSON `process`, a lone
    /// number).
    Format,
    /// No process could be read from the line.
    None,
}

impl Attribution {
    /// How far the attribution can be trusted: the tag (2), a format field (1), none
    /// (0). A log keeps only the records of the highest level it holds: once one line
    /// names its process, a line that does not is a fragment that lost its prefix.
    pub fn level(self) -> u8 {
        match self {
            Self::Tag { .. } => 2,
            Self::Format => 1,
            Self::None => 0,
        }
    }
}

/// One classified line.
#[derive(Debug, Clone, PartialEq)]
pub enum LineRecord {
    /// A probe event.
    Probe(ProbeEvent, Writer),
    /// A probe line that is neither a known version nor the `key=value` convention.
    UnreadableProbe,
    /// An SPDL statistics record.
    Stats {
        /// The record, its key's pid filled in.
        record: StatsRecord,
        /// How the pid was found.
        attribution: Attribution,
    },
    /// Pieces of several writers' lines, dropped.
    Torn(TornReason),
    /// Anything else.
    Other,
}

/// Linux's largest possible pid (`pid_max` can be at most 2^22).
const PID_MAX: u32 = 1 << 22;

#[expect(clippy::expect_used)] // Constant patterns; a failure is a bug every test catches.
fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("constant pattern")
}

static TAG: LazyLock<Regex> =
    LazyLock::new(|| regex(r"\[pid (\d+)(?: rank (\d+))? #([0-9a-f]{8})\] "));
static PID_FIELD: LazyLock<Regex> = LazyLock::new(|| regex(r"\[pid (\d+)\]"));
static TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?|\b\d\d:\d\d:\d\d[.,]\d+\b")
});
/// Every kind of prefix in one pattern (groups: 1 header, 2 timestamp, 3 tag, 4 `[pid N]`,
/// 5 `ProcessName:N` with its pid in 6), for one pass over a line.
static PREFIXES: LazyLock<Regex> = LazyLock::new(|| {
    regex(concat!(
        r"(\[\d+:\d+:)",
        r"|(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?|\b\d\d:\d\d:\d\d[.,]\d+\b)",
        r"|(\[pid \d+(?: rank \d+)? #[0-9a-f]{8}\] )",
        r"|(\[pid \d+\])",
        r"|(\b(?:Main|Fork|Spawn|ForkServer|Sync)?Process(?:-\d+(?::\d+)*)?:(\d+)\b)",
    ))
});

/// Classifies one line (without its newline).
pub fn classify(line: &str) -> LineRecord {
    let markers = line.matches(PROBE_MARKER).count();
    // Every statistics line holds a tab (or, in JSON, an escaped one): most lines are
    // ruled out by one byte search.
    let stats_words = (line.contains('\t') || line.contains("\\t"))
        && (line.contains("\tCompleted")
            || line.contains("\\tCompleted")
            || line.contains("\tProcessed")
            || line.contains("\\tProcessed"));
    if markers > 1 || (markers == 1 && stats_words) {
        return LineRecord::Torn(TornReason::SeveralPrefixes);
    }
    if let Some(at) = line.find(PROBE_MARKER) {
        return match read_probe_payload(&line[at + PROBE_MARKER.len()..]) {
            ProbePayload::Event(event, writer) => LineRecord::Probe(event, writer),
            ProbePayload::Torn => LineRecord::Torn(TornReason::Checksum),
            ProbePayload::Unreadable => LineRecord::UnreadableProbe,
        };
    }
    if !stats_words {
        return LineRecord::Other;
    }
    // A JSON record, whole or behind a shipper's prefix (`<time> stdout F {…}`): its tab
    // is escaped, which a plain-text line's is not.
    let escaped = !line.contains('\t') && line.contains("\\t");
    if let Some(open) = line.find('{').filter(|_| escaped) {
        return classify_json(line[open..].trim_end());
    }
    classify_text(line, None)
}

/// A JSON log record: its message is read as a statistics line, its `process` (or
/// `pid`) field gives the process.
fn classify_json(line: &str) -> LineRecord {
    let Ok(serde_json::Value::Object(object)) = serde_json::from_str::<serde_json::Value>(line)
    else {
        return LineRecord::Torn(TornReason::BrokenJson);
    };
    let message = ["message", "msg", "text"]
        .iter()
        .find_map(|key| object.get(*key)?.as_str());
    let Some(message) = message else {
        return LineRecord::Other;
    };
    let pid = ["process", "pid", "processId"].iter().find_map(|key| {
        let value = object.get(*key)?;
        value
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .or_else(|| value.as_str()?.parse().ok())
    });
    classify_text(message, pid)
}

/// A plain-text statistics line (or a JSON record's message, with its pid).
fn classify_text(line: &str, json_pid: Option<u32>) -> LineRecord {
    // One pass over the line for every kind of prefix: more than one of a kind is two
    // writers' pieces.
    let mut counts = [0u8; 5];
    let mut names: Vec<u32> = Vec::new();
    for c in PREFIXES.captures_iter(line) {
        for (kind, count) in counts.iter_mut().enumerate() {
            if c.get(kind + 1).is_some() {
                *count = count.saturating_add(1);
            }
        }
        if let Some(pid) = c.get(6).and_then(|m| m.as_str().parse().ok()) {
            names.push(pid);
        }
    }
    if counts.iter().any(|n| *n > 1) {
        return LineRecord::Torn(TornReason::SeveralPrefixes);
    }
    let Some((mut record, span)) = find_stats(line) else {
        return LineRecord::Torn(TornReason::Fragment);
    };
    if !plausible_stage_name(record.name()) {
        return LineRecord::Torn(TornReason::StageName);
    }
    let prefix = &line[..span.start];
    let (pid, attribution) = match TAG.captures(prefix) {
        Some(tag) => {
            let sum = tag
                .get(3)
                .and_then(|m| u32::from_str_radix(m.as_str(), 16).ok());
            if sum != Some(crc32fast::hash(line[span.clone()].as_bytes())) {
                return LineRecord::Torn(TornReason::Checksum);
            }
            let rank = tag.get(2).and_then(|m| m.as_str().parse().ok());
            (
                tag.get(1).and_then(|m| m.as_str().parse().ok()),
                Attribution::Tag { rank },
            )
        }
        None => match format_pid(prefix, json_pid, &names) {
            Some(pid) => (Some(pid), Attribution::Format),
            None => (None, Attribution::None),
        },
    };
    record.set_pid(pid);
    LineRecord::Stats {
        record,
        attribution,
    }
}

/// The pid a log format put in the line's prefix: a JSON record's field, `[pid N]`,
/// `ProcessName:N`, or exactly one lone number once timestamps are taken out.
fn format_pid(prefix: &str, json_pid: Option<u32>, names: &[u32]) -> Option<u32> {
    if json_pid.is_some() {
        return json_pid;
    }
    if let Some(pid) = PID_FIELD
        .captures(prefix)
        .and_then(|c| c.get(1)?.as_str().parse().ok())
    {
        return Some(pid);
    }
    if let Some(pid) = names.first() {
        return Some(*pid);
    }
    let without_time = TIMESTAMP.replace_all(prefix, " ");
    let lone: Vec<u32> = without_time
        .split(|c: char| c.is_whitespace() || "[]()|,".contains(c))
        .filter(|token| !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|token| token.parse().ok())
        .filter(|n| (2..=PID_MAX).contains(n))
        .collect();
    match lone.as_slice() {
        [pid] => Some(*pid),
        _ => None,
    }
}

/// Whether `name` can be a stage name: pieces of other lines give themselves away (a
/// name is a callable's `repr`, so its brackets balance).
fn plausible_stage_name(name: &str) -> bool {
    let mut depth = 0i32;
    for c in name.chars() {
        depth += match c {
            '(' | '[' | '{' => 1,
            ')' | ']' | '}' => -1,
            _ => 0,
        };
        if depth < 0 {
            return false;
        }
    }
    depth == 0
        && !(name.contains('\t')
            || name.contains(" | ")
            || name.contains("]\t")
            || name.contains("_queue]")
            || name.contains("Completed")
            || name.contains("Processed")
            || TIMESTAMP.is_match(name))
}
