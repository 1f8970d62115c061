//! Everything one run's logs say, gathered line by line with bounded memory.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;

use serde::{Deserialize, Serialize};

use crate::line::{Attribution, LineRecord, classify};
use crate::probe_event::{
    EndEvent, ProbeEvent, StartEvent, StepEvent, TtfbEvent, WindowEvent, Writer,
};
use crate::reader::for_each_line;
use crate::spdl::{QueueLine, StageKey, StatsRecord, TaskLine};
use crate::system::SystemSample;

/// Per-step samples kept at most (a probe switches to windows long before this).
pub const MAX_STEPS: usize = 1_000_000;
/// System samples kept at most.
pub const MAX_SAMPLES: usize = 200_000;
/// Interval queue lines kept per stage at most.
pub const MAX_INTERVAL_LINES: usize = 10_000;

/// The probe's marker.
pub const PROBE_MARKER: &str = "[autoresearch] ";

/// One stage's statistics lines.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageLines {
    /// Stage name.
    pub name: String,
    /// Concurrency, when above 1.
    pub concurrency: Option<u32>,
    /// The last task line (the cumulative one at the stage's end).
    pub task: Option<TaskLine>,
    /// The last queue line.
    pub queue: Option<QueueLine>,
    /// Every queue line, in order (periodic ones carry interval deltas).
    pub queue_history: Vec<QueueLine>,
    /// Order of first appearance in the log.
    pub first_seen: u64,
}

/// The evidence of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The first `start` event (later ones fill its gaps).
    pub start: Option<StartEvent>,
    /// Every `start` event, each with its writer.
    pub starts: Vec<StartEvent>,
    /// Every `ttfb` event (one per epoch or process).
    pub ttfbs: Vec<TtfbEvent>,
    /// Per-step samples, in order.
    pub steps: Vec<StepEvent>,
    /// Windows of steps (long runs).
    pub windows: Vec<WindowEvent>,
    /// The step after which a headspace run replays cached batches.
    pub replay_after: Option<u64>,
    /// The last `end` event.
    pub end: Option<EndEvent>,
    /// Every `end` event, each with its writer.
    pub ends: Vec<EndEvent>,
    /// System samples (from `sample` probe lines or a sampler file).
    pub samples: Vec<SystemSample>,
    /// SPDL stages.
    pub stages: BTreeMap<StageKey, StageLines>,
    /// Lines read.
    pub lines: u64,
    /// Lines that carried the probe marker but could not be read.
    pub unreadable_probe_lines: u64,
    /// Lines dropped as pieces of several writers' lines (docs/metrics.md).
    pub torn_lines: u64,
    /// The processes that wrote probe lines; an event's `writer` indexes this list.
    /// Entry 0 stands for lines that name no process (protocol version 1).
    pub writers: Vec<Writer>,
    /// The rank of each process whose SPDL records the probe tagged with one.
    pub stage_ranks: BTreeMap<u32, u32>,
    /// The most trusted attribution among the statistics lines read so far
    /// ([`Attribution::level`]): lines attributed less well are dropped as torn.
    pub stats_level: u8,
    /// Statistics lines kept at that level (dropped, and counted as torn, if a better
    /// attributed one comes).
    kept_stats: u64,
    #[serde(skip)]
    writer_ids: HashMap<Writer, u32>,
}

impl Default for Evidence {
    fn default() -> Self {
        Self {
            start: None,
            starts: Vec::new(),
            ttfbs: Vec::new(),
            steps: Vec::new(),
            windows: Vec::new(),
            replay_after: None,
            end: None,
            ends: Vec::new(),
            samples: Vec::new(),
            stages: BTreeMap::new(),
            lines: 0,
            unreadable_probe_lines: 0,
            torn_lines: 0,
            writers: vec![Writer::default()],
            stage_ranks: BTreeMap::new(),
            stats_level: 0,
            kept_stats: 0,
            writer_ids: HashMap::new(),
        }
    }
}

impl Evidence {
    /// Reads a whole log. A last line without a newline is ignored: it may be torn, or
    /// still being written by a running job (a later read sees it whole).
    pub fn from_reader<R: BufRead>(reader: R) -> std::io::Result<Self> {
        let mut evidence = Self::default();
        for_each_line(reader, |line, complete| {
            if complete {
                evidence.add_line(line);
            }
        })?;
        Ok(evidence)
    }

    /// Takes one log line into account.
    pub fn add_line(&mut self, line: &str) {
        self.lines += 1;
        match classify(line) {
            LineRecord::Probe(event, writer) => {
                let id = self.writer_id(writer);
                self.add_event(event, id);
            }
            LineRecord::UnreadableProbe => self.unreadable_probe_lines += 1,
            LineRecord::Torn(_) => self.torn_lines += 1,
            LineRecord::Stats {
                record,
                attribution,
            } => self.add_stats(record, attribution),
            LineRecord::Other => {}
        }
    }

    /// The index of `writer` in [`Evidence::writers`], added if new.
    fn writer_id(&mut self, writer: Writer) -> u32 {
        if writer == Writer::default() {
            return 0;
        }
        if let Some(id) = self.writer_ids.get(&writer) {
            return *id;
        }
        let id = u32::try_from(self.writers.len()).unwrap_or(u32::MAX);
        self.writers.push(writer);
        self.writer_ids.insert(writer, id);
        id
    }

    fn add_stats(&mut self, record: StatsRecord, attribution: Attribution) {
        let level = attribution.level();
        if level < self.stats_level {
            self.torn_lines += 1;
            return;
        }
        if level > self.stats_level {
            // The lines kept so far lost their prefix to another writer: drop them.
            self.stats_level = level;
            self.torn_lines += std::mem::take(&mut self.kept_stats);
            self.stages.clear();
        }
        self.kept_stats += 1;
        if let (Attribution::Tag { rank: Some(rank) }, Some(pid)) = (attribution, record.key().pid)
        {
            self.stage_ranks.insert(pid, rank);
        }
        match record {
            StatsRecord::Task(task) => self.add_task(task),
            StatsRecord::Queue(queue) => self.add_queue(queue),
        }
    }

    fn add_task(&mut self, task: TaskLine) {
        let order = self.stages.len() as u64;
        let stage = self.stages.entry(task.key).or_insert_with(|| StageLines {
            first_seen: order,
            ..StageLines::default()
        });
        stage.name.clone_from(&task.name);
        stage.concurrency = task.concurrency;
        stage.task = Some(task);
    }

    fn add_queue(&mut self, queue: QueueLine) {
        let order = self.stages.len() as u64;
        let stage = self.stages.entry(queue.key).or_insert_with(|| StageLines {
            first_seen: order,
            ..StageLines::default()
        });
        if stage.name.is_empty() {
            stage.name.clone_from(&queue.name);
            stage.concurrency = queue.concurrency;
        }
        if stage.queue_history.len() < MAX_INTERVAL_LINES {
            stage.queue_history.push(queue.clone());
        }
        stage.queue = Some(queue);
    }

    /// Takes one probe event of an unnamed writer into account.
    pub fn add_probe(&mut self, event: ProbeEvent) {
        self.add_event(event, 0);
    }

    /// Takes one probe event of writer `writer` into account.
    fn add_event(&mut self, event: ProbeEvent, writer: u32) {
        match event {
            ProbeEvent::Start(mut start) => {
                start.writer = writer;
                if let Some(w) = self.writers.get(writer as usize) {
                    start.pid = start.pid.or(w.pid);
                    start.rank = start.rank.or(w.rank);
                }
                self.starts.push(start.clone());
                if self.start.is_none() {
                    self.start = Some(start);
                } else if let Some(first) = self.start.as_mut() {
                    // A bare `cpu_cores=` line may come first; later starts fill gaps.
                    first.batch_size = first.batch_size.or(start.batch_size);
                    first.world_size = first.world_size.or(start.world_size);
                    first.unix_time = first.unix_time.or(start.unix_time);
                    first.headspace |= start.headspace;
                }
            }
            ProbeEvent::Ttfb(mut ttfb) => {
                ttfb.writer = writer;
                self.ttfbs.push(ttfb);
            }
            ProbeEvent::Step(mut step) => {
                if self.steps.len() < MAX_STEPS {
                    step.writer = writer;
                    self.steps.push(step);
                }
            }
            ProbeEvent::Window(mut window) => {
                window.writer = writer;
                self.windows.push(window);
            }
            ProbeEvent::Headspace(headspace) => {
                if headspace.phase == "replay" {
                    self.replay_after = headspace.after_steps;
                }
                if let Some(start) = self.start.as_mut() {
                    start.headspace = true;
                }
            }
            ProbeEvent::End(mut end) => {
                end.writer = writer;
                self.ends.push(end.clone());
                self.end = Some(end);
            }
            ProbeEvent::Sample(sample) => {
                if self.samples.len() < MAX_SAMPLES {
                    self.samples.push(sample);
                }
            }
            ProbeEvent::Other => {}
        }
    }

    /// Adds system samples read from a sampler file.
    pub fn add_samples(&mut self, samples: impl IntoIterator<Item = SystemSample>) {
        for sample in samples {
            if self.samples.len() < MAX_SAMPLES {
                self.samples.push(sample);
            }
        }
        self.samples.sort_by(|a, b| a.t.total_cmp(&b.t));
    }
}
