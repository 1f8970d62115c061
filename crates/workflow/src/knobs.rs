//! Knobs: the launch flags an experiment may change without a rebuild, read from the
//! script's `argparse` options by `python/script_tool.py`, classified by what they do,
//! and narrowed by the user (`--knob`, `--freeze`). Flags that define the workload
//! (steps, seeds, learning rates, model sizes, time stand-ins, logging, paths) are never
//! knobs by default: changing them can look faster without being better.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The helper's source.
const SCRIPT_TOOL: &str = include_str!("../python/script_tool.py");

/// One `argparse` option as the helper reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArgOption {
    /// `--batch-size`.
    pub flag: String,
    /// `int`, `float`, `bool`, `str`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The default, as JSON.
    #[serde(default)]
    pub default: serde_json::Value,
    /// Allowed values.
    #[serde(default)]
    pub choices: Option<Vec<serde_json::Value>>,
    /// The help text.
    #[serde(default)]
    pub help: Option<String>,
}

/// What a knob acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "role")]
pub enum KnobRole {
    /// A stage's concurrency (`fetch_concurrency` → stage `fetch`).
    Concurrency {
        /// The stage name it belongs to, if the name says.
        stage: Option<String>,
    },
    /// The thread pool's size.
    Threads,
    /// Samples per batch.
    BatchSize,
    /// The sink or prefetch buffer.
    Buffer,
    /// Subprocess mode: the choice that runs the pipeline in a subprocess.
    Subprocess {
        /// The value that selects it.
        value: String,
    },
    /// Anything else that may change.
    Other,
}

/// A knob: a flag, its role, its current default and the values it may take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Knob {
    /// The flag as the script spells it.
    pub flag: String,
    /// Its normalised name (`batch_size`).
    pub name: String,
    /// What it acts on.
    #[serde(flatten)]
    pub role: KnobRole,
    /// The script's default, as text.
    pub default: Option<String>,
    /// For integers: the smallest and largest value to try.
    pub range: Option<(i64, i64)>,
    /// For choices: the values.
    pub choices: Vec<String>,
}

/// Words in a flag's name that mark it as part of the workload, not of how fast it runs.
pub const WORKLOAD_WORDS: [&str; 27] = [
    "step", "epoch", "iter", "seed", "lr", "learning", "rate", "model", "hidden", "layer", "dim",
    "size", "ms", "sec", "time", "latency", "delay", "log", "interval", "verbose", "path", "dir",
    "file", "data", "output", "name", "device",
];

fn value_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The role of an option, or `None` when it is part of the workload or cannot be varied.
fn classify(option: &ArgOption, name: &str) -> Option<KnobRole> {
    let words: Vec<&str> = name.split('_').collect();
    let has = |w: &str| words.contains(&w);
    if name == "batch_size" || name == "batch" || name == "bs" {
        return (option.kind == "int").then_some(KnobRole::BatchSize);
    }
    if let Some(choices) = &option.choices {
        let subprocess = choices.iter().filter_map(value_text).find(|c| {
            ["mtp", "subprocess", "process", "multiprocess"].contains(&c.to_lowercase().as_str())
        });
        if let Some(value) = subprocess {
            return Some(KnobRole::Subprocess { value });
        }
    }
    if option.kind == "int" && (has("concurrency") || has("parallelism")) {
        let stage = words
            .iter()
            .take_while(|w| **w != "concurrency" && **w != "parallelism")
            .copied()
            .collect::<Vec<_>>()
            .join("_");
        return Some(KnobRole::Concurrency {
            stage: (!stage.is_empty()).then_some(stage),
        });
    }
    if option.kind == "int"
        && words
            .iter()
            .any(|w| w.starts_with("thread") || w.starts_with("worker"))
    {
        return Some(KnobRole::Threads);
    }
    if option.kind == "int" && (has("buffer") || has("prefetch") || has("queue")) {
        return Some(KnobRole::Buffer);
    }
    if WORKLOAD_WORDS
        .iter()
        .any(|w| words.iter().any(|word| word.starts_with(w)))
    {
        return None;
    }
    match option.kind.as_str() {
        "int" | "bool" => Some(KnobRole::Other),
        _ if option.choices.is_some() => Some(KnobRole::Other),
        _ => None,
    }
}

/// The knobs among `options`, after the user's additions (`name=int:LO..HI`) and
/// freezes.
pub fn knobs_from(
    options: &[ArgOption],
    added: &[String],
    frozen: &[String],
) -> Result<Vec<Knob>, String> {
    let frozen: Vec<String> = frozen
        .iter()
        .map(|f| crate::spec::normalise_flag(f))
        .collect();
    let mut knobs = Vec::new();
    let mut extra: Vec<(String, (i64, i64))> = Vec::new();
    for spec in added {
        let (name, rest) = spec
            .split_once('=')
            .ok_or_else(|| format!("--knob {spec}: expected name=int:LO..HI"))?;
        let range = rest
            .strip_prefix("int:")
            .and_then(|r| r.split_once(".."))
            .and_then(|(lo, hi)| Some((lo.trim().parse().ok()?, hi.trim().parse().ok()?)))
            .filter(|(lo, hi): &(i64, i64)| lo <= hi)
            .ok_or_else(|| format!("--knob {spec}: expected name=int:LO..HI with LO ≤ HI"))?;
        extra.push((crate::spec::normalise_flag(name), range));
    }
    for option in options {
        let name = crate::spec::normalise_flag(&option.flag);
        if frozen.contains(&name) {
            continue;
        }
        let forced = extra.iter().find(|(n, _)| *n == name).map(|(_, r)| *r);
        let role = match (classify(option, &name), forced) {
            (Some(role), _) => role,
            (None, Some(_)) => KnobRole::Other,
            (None, None) => continue,
        };
        // An unknown default of a concurrency-like knob is taken as 1 (a single worker),
        // so the planner can still scale it.
        let default = value_text(&option.default).or_else(|| {
            matches!(
                role,
                KnobRole::Concurrency { .. } | KnobRole::Threads | KnobRole::Buffer
            )
            .then(|| "1".to_owned())
        });
        let range = forced.or_else(|| {
            (option.kind == "int").then(|| {
                let d = default
                    .as_deref()
                    .and_then(|d| d.parse::<i64>().ok())
                    .unwrap_or(1)
                    .max(1);
                match role {
                    KnobRole::BatchSize => ((d / 2).max(1), d * 8),
                    KnobRole::Concurrency { .. } | KnobRole::Threads => (1, (d * 8).max(32)),
                    KnobRole::Buffer => (1, (d * 8).max(16)),
                    _ => ((d / 4).max(0), (d * 4).max(4)),
                }
            })
        });
        let choices = match option.kind.as_str() {
            "bool" => vec!["true".to_owned(), "false".to_owned()],
            _ => option
                .choices
                .iter()
                .flatten()
                .filter_map(value_text)
                .collect(),
        };
        knobs.push(Knob {
            flag: option.flag.clone(),
            name,
            role,
            default,
            range,
            choices,
        });
    }
    for (name, _) in &extra {
        if !knobs.iter().any(|k| &k.name == name) {
            return Err(format!(
                "--knob {name}: the script has no such argparse option\nhint: `autoresearch` reads the options from the script's add_argument calls"
            ));
        }
    }
    Ok(knobs)
}

/// What the helper said about instrumentation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Instrumented {
    /// Whether it found the loop.
    pub ok: bool,
    /// The edited source.
    #[serde(default)]
    pub source: Option<String>,
    /// Why it could not.
    #[serde(default)]
    pub message: Option<String>,
    /// Which loop it wrapped, in words.
    #[serde(default)]
    pub reason: Option<String>,
    /// The line of the loop.
    #[serde(default)]
    pub line_number: Option<u64>,
}

/// Runs `script_tool.py <command> <script>` with `python`.
async fn run_tool(python: &Path, command: &str, script: &Path) -> Result<Vec<u8>, String> {
    let dir = std::env::temp_dir().join(format!("autoresearch-tool-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let helper = dir.join("script_tool.py");
    std::fs::write(&helper, SCRIPT_TOOL).map_err(|e| e.to_string())?;
    let run = tokio::process::Command::new(python)
        .arg(&helper)
        .arg(command)
        .arg(script)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .map_err(|_| "the script reader took over 60 s".to_owned())?
        .map_err(|e| {
            format!(
                "cannot run {}: {e} (set AUTORESEARCH_PYTHON to a Python 3 interpreter)",
                python.display()
            )
        })?;
    if !output.status.success() {
        return Err(format!(
            "the script reader failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(output.stdout)
}

/// The script's `argparse` options.
pub async fn read_options(python: &Path, script: &Path) -> Result<Vec<ArgOption>, String> {
    let out = run_tool(python, "knobs", script).await?;
    serde_json::from_slice(&out)
        .map_err(|e| format!("the script reader printed something unexpected: {e}"))
}

/// The script with its training loop wrapped by the probe (the built-in instrumenter).
pub async fn instrument(python: &Path, script: &Path) -> Result<Instrumented, String> {
    let out = run_tool(python, "instrument", script).await?;
    serde_json::from_slice(&out)
        .map_err(|e| format!("the script reader printed something unexpected: {e}"))
}
