//! `master_table.tsv`: one row per finished experiment, the original tool's columns in
//! its order, appended crash-safely and never duplicated.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The columns, in order.
pub const COLUMNS: [&str; 15] = [
    "run_id",
    "name",
    "job_id",
    "status",
    "throughput_samples_per_s",
    "step_time_ms",
    "steady_step_time_ms",
    "ttfb_s",
    "sm_util_pct",
    "steady_sm_util_pct",
    "data_readiness_pct",
    "duration_s",
    "changes",
    "change_summary",
    "notes",
];

/// One row. Figures that were not measured are `None` and written as empty cells,
/// never as zero.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MasterRow {
    /// The node id.
    pub run_id: String,
    /// Its name.
    pub name: String,
    /// The platform's job id.
    pub job_id: String,
    /// `completed` or `failed`.
    pub status: String,
    /// Samples per second.
    pub throughput_samples_per_s: Option<f64>,
    /// Mean step time, ms.
    pub step_time_ms: Option<f64>,
    /// Steady median step time, ms.
    pub steady_step_time_ms: Option<f64>,
    /// Time to first batch, s.
    pub ttfb_s: Option<f64>,
    /// SM utilisation over the run, percent.
    pub sm_util_pct: Option<f64>,
    /// SM utilisation over the steady window, percent.
    pub steady_sm_util_pct: Option<f64>,
    /// Data readiness, percent.
    pub data_readiness_pct: Option<f64>,
    /// Job wall time, s.
    pub duration_s: Option<f64>,
    /// What the experiment changed (its description).
    pub changes: String,
    /// A short label of the change.
    pub change_summary: String,
    /// Anything else worth a column.
    pub notes: String,
}

/// `\` → `\\`, newline → `\n`, tab → `\t` (carriage returns too, as `\r`).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// The inverse of [`escape`].
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn figure(value: Option<f64>) -> String {
    value
        .filter(|v| v.is_finite())
        .map(|v| format!("{v:.3}"))
        .unwrap_or_default()
}

fn parse_figure(cell: &str) -> Option<f64> {
    cell.parse().ok()
}

impl MasterRow {
    /// The row as one TSV line (without the newline).
    pub fn to_line(&self) -> String {
        [
            escape(&self.run_id),
            escape(&self.name),
            escape(&self.job_id),
            escape(&self.status),
            figure(self.throughput_samples_per_s),
            figure(self.step_time_ms),
            figure(self.steady_step_time_ms),
            figure(self.ttfb_s),
            figure(self.sm_util_pct),
            figure(self.steady_sm_util_pct),
            figure(self.data_readiness_pct),
            figure(self.duration_s),
            escape(&self.changes),
            escape(&self.change_summary),
            escape(&self.notes),
        ]
        .join("\t")
    }

    /// A row from a TSV line; `None` if it does not have the 15 cells.
    pub fn from_line(line: &str) -> Option<Self> {
        let cells: Vec<&str> = line.split('\t').collect();
        let [
            run_id,
            name,
            job_id,
            status,
            throughput,
            step,
            steady,
            ttfb,
            sm,
            steady_sm,
            ready,
            duration,
            changes,
            summary,
            notes,
        ] = cells.as_slice()
        else {
            return None;
        };
        Some(Self {
            run_id: unescape(run_id),
            name: unescape(name),
            job_id: unescape(job_id),
            status: unescape(status),
            throughput_samples_per_s: parse_figure(throughput),
            step_time_ms: parse_figure(step),
            steady_step_time_ms: parse_figure(steady),
            ttfb_s: parse_figure(ttfb),
            sm_util_pct: parse_figure(sm),
            steady_sm_util_pct: parse_figure(steady_sm),
            data_readiness_pct: parse_figure(ready),
            duration_s: parse_figure(duration),
            changes: unescape(changes),
            change_summary: unescape(summary),
            notes: unescape(notes),
        })
    }
}

/// Why the table could not be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {path}: {source}")]
pub struct TableError {
    action: &'static str,
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

/// The open table: appends rows, at most one per run id.
#[derive(Debug)]
pub struct MasterTable {
    path: PathBuf,
    file: File,
    run_ids: BTreeSet<String>,
}

impl MasterTable {
    /// Opens (or creates, with its header) `path`. A torn last line — a crash in the
    /// middle of an append — is cut off, so the table is whole again.
    pub fn open(path: &Path) -> Result<Self, TableError> {
        let fail = |action| {
            move |source| TableError {
                action,
                path: path.to_owned(),
                source,
            }
        };
        let text = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(err) => return Err(fail("read")(err)),
        };
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)
            .map_err(fail("open"))?;
        let whole = match text.rfind('\n') {
            Some(end) => end + 1,
            None => 0,
        };
        if whole < text.len() {
            tracing::warn!(table = %path.display(), "cutting a torn last line off the master table");
            file.set_len(whole as u64).map_err(fail("repair"))?;
        }
        if whole == 0 {
            file.set_len(0).map_err(fail("repair"))?;
            writeln!(file, "{}", COLUMNS.join("\t")).map_err(fail("write"))?;
            file.sync_data().map_err(fail("sync"))?;
        }
        let run_ids = text[..whole]
            .lines()
            .skip(1)
            .filter_map(MasterRow::from_line)
            .map(|row| row.run_id)
            .collect();
        Ok(Self {
            path: path.to_owned(),
            file,
            run_ids,
        })
    }

    /// Appends `row` unless a row for its run id exists; returns whether it wrote.
    pub fn append(&mut self, row: &MasterRow) -> Result<bool, TableError> {
        if self.run_ids.contains(&row.run_id) {
            return Ok(false);
        }
        let fail = |action| {
            let path = self.path.clone();
            move |source| TableError {
                action,
                path,
                source,
            }
        };
        // One write per row: a crash leaves the row whole or torn (and `open` cuts it).
        self.file
            .write_all(format!("{}\n", row.to_line()).as_bytes())
            .map_err(fail("append to"))?;
        self.file.sync_data().map_err(fail("sync"))?;
        self.run_ids.insert(row.run_id.clone());
        Ok(true)
    }

    /// Every row of the table at `path`.
    pub fn read(path: &Path) -> Result<Vec<MasterRow>, TableError> {
        let text = std::fs::read_to_string(path).map_err(|source| TableError {
            action: "read",
            path: path.to_owned(),
            source,
        })?;
        Ok(text
            .lines()
            .skip(1)
            .filter_map(MasterRow::from_line)
            .collect())
    }
}
