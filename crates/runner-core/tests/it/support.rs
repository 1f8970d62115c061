//! Shared helpers: an in-process recording workflow, and driving the fixture binary.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use autoresearch_runner_core::{
    BoxError, Engine, EngineConfig, RunReport, ShutdownListener, Start, WorkContext, WorkOutcome,
    WorkSpec, Workflow,
};

/// What a spec of the recording workflow does.
#[derive(Debug, Clone, Default)]
pub(crate) struct Behaviour {
    pub(crate) children: Vec<WorkSpec>,
    pub(crate) fail: bool,
    pub(crate) panic: bool,
}

/// A workflow that records starts, the peak of simultaneous work, and outcomes.
#[derive(Default)]
pub(crate) struct Recorder {
    pub(crate) initial: Vec<WorkSpec>,
    pub(crate) behaviour: HashMap<String, Behaviour>,
    pub(crate) delay: Duration,
    /// Children whose id is in here are dropped by `on_result`.
    pub(crate) filtered: HashSet<String>,
    pub(crate) started: Mutex<Vec<String>>,
    pub(crate) finished: Mutex<Vec<(String, bool)>>,
    pub(crate) active: AtomicUsize,
    pub(crate) peak: AtomicUsize,
}

impl Recorder {
    pub(crate) fn with_initial(initial: Vec<WorkSpec>) -> Self {
        Self {
            initial,
            ..Self::default()
        }
    }

    pub(crate) fn started(&self) -> Vec<String> {
        self.started.lock().unwrap().clone()
    }
}

impl Workflow for Recorder {
    async fn initial_specs(&self, start: &Start) -> Result<Vec<WorkSpec>, BoxError> {
        Ok(match start {
            Start::Fresh => self.initial.clone(),
            Start::Resumed(_) => Vec::new(),
        })
    }

    async fn run(self: Arc<Self>, ctx: WorkContext) -> WorkOutcome {
        self.started.lock().unwrap().push(ctx.spec.id.clone());
        let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        } else {
            tokio::task::yield_now().await;
        }
        self.active.fetch_sub(1, Ordering::SeqCst);
        let behaviour = self
            .behaviour
            .get(&ctx.spec.id)
            .cloned()
            .unwrap_or_default();
        assert!(!behaviour.panic, "planned panic in {}", ctx.spec.id);
        if behaviour.fail {
            WorkOutcome::Failed {
                reason: "planned failure".to_owned(),
                children: behaviour.children,
            }
        } else {
            WorkOutcome::completed_with(behaviour.children)
        }
    }

    async fn on_result(&self, spec: &WorkSpec, outcome: WorkOutcome) -> Vec<WorkSpec> {
        self.finished
            .lock()
            .unwrap()
            .push((spec.id.clone(), outcome.is_failed()));
        outcome
            .into_children()
            .into_iter()
            .filter(|child| !self.filtered.contains(&child.id))
            .collect()
    }
}

/// Runs `workflow` to completion in `dir` with the given concurrency.
pub(crate) async fn run_recorder(
    workflow: Arc<Recorder>,
    dir: &Path,
    concurrency: usize,
) -> Result<RunReport, autoresearch_runner_core::EngineError> {
    let config = EngineConfig::new(dir.join("engine")).with_max_concurrency(concurrency);
    Engine::new(workflow, config)?
        .run(ShutdownListener::never())
        .await
}

pub(crate) fn specs(list: &[(&str, f64)]) -> Vec<WorkSpec> {
    list.iter()
        .map(|(id, priority)| WorkSpec::new(*id, *priority))
        .collect()
}

/// Path of the fixture program the tests drive as a real process.
pub(crate) fn fixture() -> Command {
    Command::new(env!("CARGO_BIN_EXE_runner-fixture"))
}

pub(crate) fn spawn_fixture(dir: &Path, args: &[&str]) -> Child {
    fixture()
        .arg(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start runner-fixture")
}

/// Runs the fixture to its end and returns its exit code.
pub(crate) fn run_fixture(dir: &Path, args: &[&str]) -> i32 {
    let output = fixture()
        .arg(dir)
        .args(args)
        .output()
        .expect("run runner-fixture");
    assert!(
        output.status.code().is_some(),
        "runner-fixture died by a signal: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.status.code().unwrap_or(-1)
}

/// All ids of the fixture's deterministic tree.
pub(crate) fn fixture_tree(args: &[&str]) -> BTreeSet<String> {
    let output = fixture()
        .arg("unused")
        .args(args)
        .arg("--print-tree")
        .output()
        .expect("run runner-fixture --print-tree");
    assert!(output.status.success());
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The set of ids in the fixture's completion sink.
pub(crate) fn sink(dir: &Path) -> BTreeSet<String> {
    read_lines(&dir.join("sink.log")).into_iter().collect()
}

pub(crate) fn read_lines(path: &Path) -> Vec<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => text.lines().map(str::to_owned).collect(),
        Err(_) => Vec::new(),
    }
}

/// Sends `signal` (a `kill` name such as `INT`) to a process.
pub(crate) fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} failed");
}

/// Waits for the child with a generous bound (a hang is a failure, not a timing check).
pub(crate) fn wait_with_bound(child: &mut Child, bound: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + bound;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("runner-fixture did not exit within {bound:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Polls `condition` until it holds, failing after a generous bound.
pub(crate) fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
