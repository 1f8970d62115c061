//! Real parts for the end-to-end tests: a git repository holding the fixture training
//! script, the pinned Python venv with SPDL, the pinned Claude Code CLI, and the
//! `autoresearch` binary itself.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use autoresearch_llm_client::testing::{ScriptedServer, Turn};
use serde_json::{Value, json};

/// The repository root.
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's Python (`cargo xtask setup` makes it).
pub(crate) fn python() -> PathBuf {
    let python = repo_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `cargo xtask setup` (part of `cargo xtask ci`)",
        python.display()
    );
    python
}

/// The folder with the pinned Claude Code CLI.
pub(crate) fn claude_bin_dir() -> PathBuf {
    let dir = repo_root().join("tools/node_modules/.bin");
    assert!(
        dir.join("claude").exists(),
        "{} has no claude: run `cargo xtask setup` (part of `cargo xtask ci`)",
        dir.display()
    );
    dir
}

/// The fixture script, before instrumentation.
pub(crate) fn fixture_script() -> String {
    std::fs::read_to_string(repo_root().join("fixtures/e2e/train.py")).unwrap()
}

/// The fixture script as the instrumentation agent leaves it.
pub(crate) fn instrumented(script: &str) -> String {
    let out = script
        .replacen(
            "import time\n",
            "import time\n\nimport autoresearch_probe as probe\n",
            1,
        )
        .replacen(
            "for _batch in iterable:",
            "for _batch in probe.track(iterable, batch_size=ARGS.batch_size):",
            1,
        );
    assert_ne!(out, script);
    out
}

/// `script` with one argparse default changed.
pub(crate) fn with_default(script: &str, flag: &str, from: &str, to: &str) -> String {
    let line = |v: &str| format!("\"{flag}\", type=int, default={v})");
    let out = if flag == "--mode" {
        script.replacen("default=\"mt\")", "default=\"mtp\")", 1)
    } else {
        script.replacen(&line(from), &line(to), 1)
    };
    assert_ne!(out, script, "{flag} default not found");
    out
}

/// Runs git in `dir` as a fixed test identity; returns its trimmed stdout.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A user's repository with the fixture script committed.
pub(crate) struct UserRepo {
    /// The repository (and source folder).
    pub(crate) dir: PathBuf,
    /// Its commit.
    pub(crate) head: String,
    /// The script's text.
    pub(crate) script: String,
}

impl UserRepo {
    /// Creates it under `root`.
    pub(crate) fn create(root: &Path) -> Self {
        let dir = root.join("user_repo");
        std::fs::create_dir_all(&dir).unwrap();
        let script = fixture_script();
        std::fs::write(dir.join("train.py"), &script).unwrap();
        git(&dir, &["init", "-q", "-b", "main"]);
        git(&dir, &["add", "-A"]);
        git(&dir, &["commit", "-qm", "a training job"]);
        let head = git(&dir, &["rev-parse", "HEAD"]);
        Self { dir, head, script }
    }

    /// Asserts the user's checkout is as it was: same commit, branch, file and no changes.
    pub(crate) fn assert_untouched(&self) {
        assert_eq!(git(&self.dir, &["rev-parse", "HEAD"]), self.head);
        assert_eq!(
            git(&self.dir, &["rev-parse", "--abbrev-ref", "HEAD"]),
            "main"
        );
        assert_eq!(git(&self.dir, &["status", "--porcelain"]), "");
        assert_eq!(
            std::fs::read_to_string(self.dir.join("train.py")).unwrap(),
            self.script
        );
    }
}

/// The base launch command for the fixture.
pub(crate) fn launch_command() -> String {
    format!("{} $SCRIPT --steps 60", python().display())
}

/// The binary under test: this build's, or the one `AUTORESEARCH_BIN_UNDER_TEST` names
/// (to run the same tests against an earlier build, and see which checks it fails).
fn binary() -> std::ffi::OsString {
    std::env::var_os("AUTORESEARCH_BIN_UNDER_TEST")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_autoresearch").into())
}

/// `autoresearch` with an environment that reaches `server` (or no agent at all).
pub(crate) fn autoresearch(home: &Path, server: Option<&str>) -> Command {
    let mut cmd = Command::new(binary());
    let path = format!(
        "{}:{}",
        claude_bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.env("PATH", path)
        .env("HOME", home)
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("AUTORESEARCH_PYTHON", "python3")
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("ANTHROPIC_BASE_URL")
        .stdin(Stdio::null())
        // Captured, for the assertions and failure messages (`finish` reads them).
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(url) = server {
        cmd.env("ANTHROPIC_BASE_URL", url)
            .env("ANTHROPIC_API_KEY", "sk-test-e2e-0123456789");
    }
    cmd
}

/// The flags of a new run on `repo`. The baseline runs once: these tests count seeds and
/// script each agent turn; the baseline's repeat is tested where it is the subject
/// (`noise.rs`) and by the run on the defaults (`demo.rs`).
pub(crate) fn new_run_args(workdir: &Path, repo: &UserRepo) -> Vec<String> {
    [
        "run",
        &workdir.display().to_string(),
        "--pipeline-script",
        &repo.dir.join("train.py").display().to_string(),
        "--source-dir",
        &repo.dir.display().to_string(),
        "--base-launch-command",
        &launch_command(),
        "--poll-interval",
        "1",
        "--job-timeout",
        "120",
        "--floor-stop-pct",
        "1",
        "--baseline-repeats",
        "1",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// Sets `flag`'s value in `args` (appending the flag when it is not there).
pub(crate) fn set_arg(args: &mut Vec<String>, flag: &str, value: impl Into<String>) {
    let value = value.into();
    match args.iter().position(|a| a == flag) {
        Some(at) => args[at + 1] = value,
        None => args.extend([flag.to_owned(), value]),
    }
}

/// Runs `cmd` to its end with a generous bound.
pub(crate) fn finish(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "autoresearch did not finish in {limit:?}\nstderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `cmd` with `args` to its end (five minutes at most); returns its exit code and
/// stderr.
pub(crate) fn run_to_end(mut cmd: Command, args: &[String]) -> (Option<i32>, String) {
    let child = cmd.args(args).spawn().unwrap();
    let output = finish(child, Duration::from_secs(300));
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// [`run_to_end`], checking that it exited 0; returns its stderr.
pub(crate) fn run_ok(cmd: Command, args: &[String]) -> String {
    let (code, stderr) = run_to_end(cmd, args);
    assert_eq!(code, Some(0), "{stderr}");
    stderr
}

/// Checks that all run before the test fails, so one run of a scenario reports every
/// broken behaviour it shows (each labelled with what it is about), not only the first.
#[derive(Default)]
pub(crate) struct Checks {
    failed: Vec<String>,
}

impl Checks {
    /// Records a failure of `what` unless `ok`.
    pub(crate) fn check(&mut self, ok: bool, what: impl std::fmt::Display) {
        if !ok {
            self.failed.push(what.to_string());
        }
    }

    /// Fails the test with every failed check, and `context` (say, the run's stderr).
    pub(crate) fn finish(self, context: &str) {
        assert!(
            self.failed.is_empty(),
            "{} check(s) failed:\n- {}\n\n{context}",
            self.failed.len(),
            self.failed.join("\n- ")
        );
    }
}

/// Polls until `condition` holds (at most `limit`).
pub(crate) fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends SIGINT to `child`.
pub(crate) fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A node's status file.
pub(crate) fn node_status(workdir: &Path, id: &str) -> String {
    std::fs::read_to_string(workdir.join("engine/nodes").join(id).join("status.txt"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// A `Write` tool call that puts `content` into `path`, then a closing sentence.
pub(crate) fn write_turns(path: &Path, content: &str, said: &str) -> Vec<Turn> {
    vec![
        Turn::ToolUse {
            name: "Write".into(),
            input: json!({"file_path": path.display().to_string(), "content": content}),
        },
        Turn::Text(said.into()),
    ]
}

/// An analysis answer.
pub(crate) fn analysis_turn(bottleneck: &str, finding: &str) -> Turn {
    Turn::Text(
        json!({
            "bottleneck": bottleneck,
            "verdict": "supported",
            "interpretation": format!("The {bottleneck} limits the step."),
            "findings": [finding],
        })
        .to_string(),
    )
}

/// A plan answer.
pub(crate) fn plan_turn(action: &str, experiments: Value) -> Turn {
    Turn::Text(
        json!({"action": action, "reasoning": "scripted", "experiments": experiments}).to_string(),
    )
}

/// Starts a scripted server on a runtime that outlives the test body.
pub(crate) fn server(turns: Vec<Turn>) -> (tokio::runtime::Runtime, ScriptedServer) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(ScriptedServer::start(turns)).unwrap();
    (runtime, server)
}

/// Reads a JSON file.
pub(crate) fn json_file(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// Reads a JSON file, or `null` when it is missing or unreadable (for checks that must
/// not stop at the first missing file).
pub(crate) fn json_or_null(path: &Path) -> Value {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null)
}

/// The master table's rows as column maps.
pub(crate) fn table_rows(workdir: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let text = std::fs::read_to_string(workdir.join("master_table.tsv")).unwrap_or_default();
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let header: Vec<&str> = header.split('\t').collect();
    lines
        .map(|l| {
            header
                .iter()
                .zip(l.split('\t'))
                .map(|(h, v)| ((*h).to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}
