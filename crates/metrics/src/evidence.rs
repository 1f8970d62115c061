//! Everything one run's logs say, gathered line by line with bounded memory.

use std::collections::BTreeMap;
use std::io::BufRead;

use serde::{Deserialize, Serialize};

use crate::probe_event::{
    EndEvent, ProbeEvent, StartEvent, StepEvent, TtfbEvent, WindowEvent, parse_probe_payload,
};
use crate::reader::for_each_line;
use crate::spdl::{QueueLine, StageKey, TaskLine, parse_queue_line, parse_task_line};
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The first `start` event.
    pub start: Option<StartEvent>,
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
    /// System samples (from `sample` probe lines or a sampler file).
    pub samples: Vec<SystemSample>,
    /// SPDL stages.
    pub stages: BTreeMap<StageKey, StageLines>,
    /// Lines read.
    pub lines: u64,
    /// Lines that carried the probe marker but could not be read.
    pub unreadable_probe_lines: u64,
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
        if let Some(at) = line.find(PROBE_MARKER) {
            match parse_probe_payload(&line[at + PROBE_MARKER.len()..]) {
                Some(event) => self.add_probe(event),
                None => self.unreadable_probe_lines += 1,
            }
            return;
        }
        if let Some(task) = parse_task_line(line) {
            let order = self.stages.len() as u64;
            let stage = self.stages.entry(task.key).or_insert_with(|| StageLines {
                first_seen: order,
                ..StageLines::default()
            });
            stage.name.clone_from(&task.name);
            stage.concurrency = task.concurrency;
            stage.task = Some(task);
        } else if let Some(queue) = parse_queue_line(line) {
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
    }

    /// Takes one probe event into account.
    pub fn add_probe(&mut self, event: ProbeEvent) {
        match event {
            ProbeEvent::Start(start) => {
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
            ProbeEvent::Ttfb(ttfb) => self.ttfbs.push(ttfb),
            ProbeEvent::Step(step) => {
                if self.steps.len() < MAX_STEPS {
                    self.steps.push(step);
                }
            }
            ProbeEvent::Window(window) => self.windows.push(window),
            ProbeEvent::Headspace(headspace) => {
                if headspace.phase == "replay" {
                    self.replay_after = headspace.after_steps;
                }
                if let Some(start) = self.start.as_mut() {
                    start.headspace = true;
                }
            }
            ProbeEvent::End(end) => self.end = Some(end),
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
