//! Knobs: the launch flags an experiment may change without a rebuild, read from the
//! script's `argparse` options by `python/script_tool.py`, classified by what they do,
//! and narrowed by the user (`--knob`, `--freeze`).
//!
//! A flag is a knob when the code shows its value reaching a pipeline parameter
//! (`pipe(concurrency=)`, `build(num_threads=)`, `aggregate(n)`, `add_sink(n)`,
//! `run_pipeline_in_subprocess(...)`, `DataLoader(num_workers=)`, …) or choosing the
//! subprocess branch; every other flag defines the workload and is never varied unless
//! `--knob` names it: changing what the job computes can look faster without being
//! better. Only a script that sets no pipeline parameter at all is read by its flags'
//! names.

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
    /// `store_true`, `store_false`, `boolean_optional` (`argparse.BooleanOptionalAction`),
    /// or none for an option that takes a value.
    #[serde(default)]
    pub action: Option<String>,
    /// The default, as JSON.
    #[serde(default)]
    pub default: serde_json::Value,
    /// Allowed values.
    #[serde(default)]
    pub choices: Option<Vec<serde_json::Value>>,
    /// The help text.
    #[serde(default)]
    pub help: Option<String>,
    /// Evidence in the code that the option chooses `run_pipeline_in_subprocess`.
    #[serde(default)]
    pub subprocess: Option<SubprocessEvidence>,
    /// The pipeline parameters the option's value reaches; `None` when the script sets
    /// no pipeline parameter the reader knows (then only the name can tell).
    #[serde(default)]
    pub reaches: Option<Vec<Reach>>,
    /// An environment variable the script reads (`os.environ.get("LOADER_THREADS", "4")`)
    /// rather than a flag: `flag` is the variable's name.
    #[serde(default)]
    pub env: bool,
}

/// A pipeline parameter an option's value flows into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reach {
    /// `concurrency`, `threads`, `buffer` or `batch_size`.
    pub role: String,
    /// The call (`pipe`, `build`, `aggregate`, `DataLoader`, …).
    pub call: String,
    /// The keyword, or `#N` for the N-th positional argument.
    pub param: String,
    /// For `pipe`: the stage's name.
    #[serde(default)]
    pub stage: Option<String>,
    /// The line of the argument.
    pub line: u64,
    /// Which pipeline the call builds (`line 36`: where its builder chain starts), when
    /// the reader could tell.
    #[serde(default)]
    pub pipeline: Option<String>,
}

impl Reach {
    /// `line 72: pipe(concurrency=) of stage fetch`.
    pub fn describe(&self) -> String {
        let param = match self.param.strip_prefix('#').map(|n| n.parse::<u64>()) {
            Some(Ok(0)) => "first argument".to_owned(),
            Some(n) => format!("argument {}", n.map_or(1, |n| n + 1)),
            None => format!("{}=", self.param),
        };
        match &self.stage {
            Some(stage) => format!(
                "line {}: {}({param}) of stage {stage}",
                self.line, self.call
            ),
            None => format!("line {}: {}({param})", self.line, self.call),
        }
    }
}

/// An `if` (or conditional expression) that reads an option and starts the pipeline in a
/// subprocess in one branch only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubprocessEvidence {
    /// Whether the subprocess branch is taken when the condition on the option holds.
    pub when: bool,
    /// The value the condition compares the option with (`args.mode == "mtp"`), if any.
    #[serde(default)]
    pub value: Option<serde_json::Value>,
    /// The line of the branch.
    #[serde(default)]
    pub line: Option<u64>,
}

/// How a knob's value goes on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KnobKind {
    /// `--flag N`: an integer within the knob's range.
    Integer,
    /// `--flag VALUE`: one of the knob's choices.
    Choice,
    /// A flag without a value (`store_true`/`store_false`): `true` puts it on the command
    /// line, `false` takes it off.
    Switch,
    /// `argparse.BooleanOptionalAction`: `true` is `--flag`, `false` is `--no-flag`.
    Toggle,
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
    /// How its value is written (absent in work directories from before it was
    /// recorded: see [`Knob::kind`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_kind: Option<KnobKind>,
    /// What in the code gives the knob its role (`line 72: pipe(concurrency=) of stage
    /// fetch`), or how else it was chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// The pipeline it sizes, in a script that builds several (a thread pool covers only
    /// its own pipeline's stages); `None` when there is one or the reader cannot tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    /// An environment variable of the job rather than a flag: `flag` is the variable's
    /// name, `name` is `env:NAME`, and experiments set it in their environment.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub env: bool,
}

/// The knob name of environment variable `variable`: how configurations key it.
pub fn env_knob_name(variable: &str) -> String {
    format!("env:{variable}")
}

impl Knob {
    /// Whether this knob and `other` may size the same pipeline.
    pub fn same_pipeline(&self, other: &Knob) -> bool {
        match (&self.pipeline, &other.pipeline) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }

    /// How the knob is named to a person: its flag, or `env NAME` for a variable.
    pub fn label(&self) -> String {
        if self.env {
            format!("env {}", self.flag)
        } else {
            self.flag.clone()
        }
    }

    /// The knob set to `value`, as it reads on a command line (`--batch-size 16`,
    /// `--use-subprocess`, `no --use-subprocess`, `--no-prefetch`).
    pub fn setting_text(&self, value: &str) -> String {
        if self.env {
            return format!("{}={value}", self.flag);
        }
        let on = value.trim().eq_ignore_ascii_case("true");
        let bare = self.flag.trim_start_matches('-');
        match self.kind() {
            KnobKind::Switch if on => self.flag.clone(),
            KnobKind::Switch => format!("no {}", self.flag),
            KnobKind::Toggle if on => format!("--{bare}"),
            KnobKind::Toggle => format!("--no-{bare}"),
            KnobKind::Integer | KnobKind::Choice => format!("{} {value}", self.flag),
        }
    }

    /// How the knob's value goes on the command line. Knobs recorded before the kind was
    /// stored are integers when they have a range, switches when their choices are
    /// `true` and `false` (only `store_true`/`store_false` options had those), and
    /// otherwise take one of their choices as a value.
    pub fn kind(&self) -> KnobKind {
        self.value_kind.unwrap_or(if self.range.is_some() {
            KnobKind::Integer
        } else if self.choices == ["true", "false"] {
            KnobKind::Switch
        } else {
            KnobKind::Choice
        })
    }
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

/// How `option` is written on the command line, if it can be varied at all.
fn value_kind(option: &ArgOption) -> Option<KnobKind> {
    if option.env {
        // A variable's value is text: a number, or one of the two values the subprocess
        // branch tells apart.
        return if option.subprocess.is_some() {
            Some(KnobKind::Choice)
        } else {
            (option.kind == "int").then_some(KnobKind::Integer)
        };
    }
    match option.action.as_deref() {
        Some("store_true" | "store_false") => Some(KnobKind::Switch),
        Some("boolean_optional") => Some(KnobKind::Toggle),
        Some(_) => None,
        // A whole number, limited to its choices when it has some.
        None if option.kind == "int" => Some(KnobKind::Integer),
        None if option.choices.is_some() => Some(KnobKind::Choice),
        // `bool` without an action: an older helper's report of a store_true option.
        None if option.kind == "bool" => Some(KnobKind::Switch),
        None => None,
    }
}

/// The value of `option` that runs the pipeline in a subprocess, from the code's own
/// branch on it (`if args.use_subprocess: run_pipeline_in_subprocess(...)`), or, for a
/// choice, from a choice named for it (`--mode mt|mtp`) when `by_name`.
fn subprocess_value(option: &ArgOption, kind: KnobKind, by_name: bool) -> Option<String> {
    if option.env {
        return option
            .subprocess
            .as_ref()
            .map(env_subprocess_values)
            .map(|(on, _)| on);
    }
    if let Some(evidence) = &option.subprocess {
        match (kind, &evidence.value) {
            (KnobKind::Switch, None) => {
                // The option is truthy when the flag is given to a store_true option,
                // and when it is left off a store_false one.
                let given_is_truthy = option.action.as_deref() != Some("store_false");
                return Some((evidence.when == given_is_truthy).to_string());
            }
            (KnobKind::Toggle, None) => return Some(evidence.when.to_string()),
            (KnobKind::Choice, Some(compared)) => {
                let choices: Vec<String> = option
                    .choices
                    .iter()
                    .flatten()
                    .filter_map(value_text)
                    .collect();
                let compared = value_text(compared)?;
                if evidence.when && choices.contains(&compared) {
                    return Some(compared);
                }
                if let [a, b] = choices.as_slice() {
                    // `if mode == "mt": … else: subprocess`: the other of two choices.
                    return Some(if *a == compared { b.clone() } else { a.clone() });
                }
            }
            _ => {}
        }
    }
    if kind == KnobKind::Choice && by_name {
        return option
            .choices
            .iter()
            .flatten()
            .filter_map(value_text)
            .find(|c| {
                ["mtp", "subprocess", "process", "multiprocess"]
                    .contains(&c.to_lowercase().as_str())
            });
    }
    None
}

/// For an environment variable that picks the subprocess: (the value that picks it, the
/// value that does not). `if os.environ.get("MP") == "1"` is on at `1`; a bare truthy
/// test at `1`; `!= "0"` or `== "0"` on the else branch at `1` (and off at `0`).
fn env_subprocess_values(evidence: &SubprocessEvidence) -> (String, String) {
    let compared = evidence.value.as_ref().and_then(value_text);
    let other = |v: &str| if v == "1" { "0" } else { "1" }.to_owned();
    match (evidence.when, compared) {
        (true, Some(v)) => {
            let off = other(&v);
            (v, off)
        }
        (true, None) => ("1".to_owned(), "0".to_owned()),
        (false, Some(v)) => (other(&v), v),
        (false, None) => ("0".to_owned(), "1".to_owned()),
    }
}

/// The pipeline the option's strongest reach sizes, when the script builds more than one.
fn pipeline_of(option: &ArgOption, role: &KnobRole) -> Option<String> {
    let reaches = option.reaches.as_ref()?;
    let wanted = match role {
        KnobRole::BatchSize => "batch_size",
        KnobRole::Concurrency { .. } => "concurrency",
        KnobRole::Threads => "threads",
        KnobRole::Buffer => "buffer",
        _ => return None,
    };
    let mut pipelines: Vec<&String> = reaches
        .iter()
        .filter(|r| r.role == wanted)
        .filter_map(|r| r.pipeline.as_ref())
        .collect();
    pipelines.sort();
    pipelines.dedup();
    // One pipeline only: an option that sizes two (a shared batch size) belongs to both.
    match pipelines.as_slice() {
        [one] => Some((*one).clone()),
        _ => None,
    }
}

/// The role of an option and the evidence for it, or `None` when it is part of the
/// workload or cannot be varied.
fn classify(option: &ArgOption, name: &str) -> Option<(KnobRole, String)> {
    let kind = value_kind(option)?;
    let Some(reaches) = &option.reaches else {
        return classify_by_name(option, name, kind).map(|role| {
            (
                role,
                "by its name (the script sets no pipeline parameter)".to_owned(),
            )
        });
    };
    if let Some(value) = subprocess_value(option, kind, false) {
        let line = option
            .subprocess
            .as_ref()
            .and_then(|e| e.line)
            .map_or_else(String::new, |l| format!("line {l}: "));
        return Some((
            KnobRole::Subprocess { value },
            format!("{line}chooses run_pipeline_in_subprocess"),
        ));
    }
    // The most specific role wins: a stage's concurrency that also sizes the pool is
    // that stage's knob.
    let order = ["batch_size", "concurrency", "threads", "buffer"];
    let reach = order
        .iter()
        .find_map(|role| reaches.iter().find(|r| r.role == *role))?;
    let role = match reach.role.as_str() {
        "batch_size" => KnobRole::BatchSize,
        "concurrency" => KnobRole::Concurrency {
            stage: reach.stage.clone(),
        },
        "threads" => KnobRole::Threads,
        "buffer" => KnobRole::Buffer,
        _ => return None,
    };
    if kind != KnobKind::Integer {
        // An on/off or a choice that changes a pipeline parameter (`depth if prefetch
        // else 1`) may be varied, but it sizes nothing by itself.
        return Some((
            KnobRole::Other,
            format!("{} (chosen by it)", reach.describe()),
        ));
    }
    let mut evidence: Vec<String> = vec![reach.describe()];
    evidence.extend(
        reaches
            .iter()
            .filter(|r| *r != reach)
            .map(Reach::describe)
            .take(2),
    );
    Some((role, evidence.join("; ")))
}

/// The role an option's name suggests, for a script that sets no pipeline parameter
/// the reader can see (the pipeline is built elsewhere).
fn classify_by_name(option: &ArgOption, name: &str, kind: KnobKind) -> Option<KnobRole> {
    let words: Vec<&str> = name.split('_').collect();
    let has = |w: &str| words.contains(&w);
    if name == "batch_size" || name == "batch" || name == "bs" {
        return (kind == KnobKind::Integer).then_some(KnobRole::BatchSize);
    }
    if let Some(value) = subprocess_value(option, kind, true) {
        return Some(KnobRole::Subprocess { value });
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
    Some(KnobRole::Other)
}

/// Why a knob's value, a `--knob` declaration or the script reader is refused. Every
/// message names the flag or the script and what would be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KnobError {
    /// A value the knob does not take.
    #[error("{0}")]
    Value(String),
    /// A `--knob` declaration that does not read as `name=int:LO..HI`.
    #[error("--knob {spec}: expected name=int:LO..HI{detail}")]
    Declaration {
        /// The declaration as given.
        spec: String,
        /// What else is wrong (`" with LO ≤ HI"`), or nothing.
        detail: &'static str,
    },
    /// `--knob` names an option the script does not have.
    #[error(
        "--knob {0}: the script has no such argparse option\nhint: `autoresearch` reads the options from the script's add_argument calls"
    )]
    UnknownOption(String),
    /// The script reader (a Python helper) failed, or printed something unexpected.
    #[error("{0}")]
    Reader(String),
}

/// The knobs among `options`, after the user's additions (`name=int:LO..HI`) and
/// freezes.
pub fn knobs_from(
    options: &[ArgOption],
    added: &[String],
    frozen: &[String],
) -> Result<Vec<Knob>, KnobError> {
    let frozen: Vec<String> = frozen
        .iter()
        .map(|f| crate::spec::normalise_flag(f))
        .collect();
    let extra = added
        .iter()
        .map(|spec| declared_knob(spec))
        .collect::<Result<Vec<_>, _>>()?;
    let mut pipelines: Vec<&String> = options
        .iter()
        .flat_map(|o| o.reaches.iter().flatten())
        .filter_map(|r| r.pipeline.as_ref())
        .collect();
    pipelines.sort();
    pipelines.dedup();
    let several_pipelines = pipelines.len() > 1;
    let mut knobs = Vec::new();
    for option in options {
        let name = if option.env {
            env_knob_name(&option.flag)
        } else {
            crate::spec::normalise_flag(&option.flag)
        };
        if frozen.contains(&crate::spec::normalise_flag(&option.flag)) {
            continue;
        }
        let forced = extra.iter().find(|(n, _)| *n == name).map(|(_, r)| *r);
        let (role, evidence) = match (classify(option, &name), forced) {
            (Some(found), _) => found,
            (None, Some(_)) => (KnobRole::Other, "named by --knob".to_owned()),
            (None, None) => continue,
        };
        let pipeline = several_pipelines
            .then(|| pipeline_of(option, &role))
            .flatten();
        let mut knob = knob_of(option, name, role, forced);
        knob.evidence = Some(evidence);
        knob.pipeline = pipeline;
        knobs.push(knob);
    }
    if let Some((name, _)) = extra
        .iter()
        .find(|(name, _)| !knobs.iter().any(|k| &k.name == name))
    {
        return Err(KnobError::UnknownOption(name.clone()));
    }
    Ok(knobs)
}

/// A `--knob name=int:LO..HI` declaration: the knob's name and range.
fn declared_knob(spec: &str) -> Result<(String, (i64, i64)), KnobError> {
    let refused = |detail| KnobError::Declaration {
        spec: spec.to_owned(),
        detail,
    };
    let (name, rest) = spec.split_once('=').ok_or_else(|| refused(""))?;
    let range = rest
        .strip_prefix("int:")
        .and_then(|r| r.split_once(".."))
        .and_then(|(lo, hi)| Some((lo.trim().parse().ok()?, hi.trim().parse().ok()?)))
        .filter(|(lo, hi): &(i64, i64)| lo <= hi)
        .ok_or_else(|| refused(" with LO ≤ HI"))?;
    Ok((crate::spec::normalise_flag(name), range))
}

/// The knob `option` makes in `role` (its range `forced` by `--knob` when declared);
/// evidence and pipeline are the caller's.
fn knob_of(option: &ArgOption, name: String, role: KnobRole, forced: Option<(i64, i64)>) -> Knob {
    // An unknown default of a concurrency-like knob is taken as 1 (a single worker),
    // so the planner can still scale it.
    let default = value_text(&option.default).or_else(|| {
        matches!(
            role,
            KnobRole::Concurrency { .. } | KnobRole::Threads | KnobRole::Buffer
        )
        .then(|| "1".to_owned())
    });
    let range = forced
        .or_else(|| (option.kind == "int").then(|| int_range(option, &role, default.as_deref())));
    let kind = value_kind(option).unwrap_or(KnobKind::Integer);
    let env_switch = option
        .env
        .then_some(option.subprocess.as_ref())
        .flatten()
        .map(env_subprocess_values);
    let choices = match (&env_switch, kind) {
        (Some((on, off)), _) => vec![off.clone(), on.clone()],
        (None, KnobKind::Switch | KnobKind::Toggle) => {
            vec!["true".to_owned(), "false".to_owned()]
        }
        (None, _) => option
            .choices
            .iter()
            .flatten()
            .filter_map(value_text)
            .collect(),
    };
    // A switch's value says whether the flag is on the command line; its default is
    // off (a toggle's default is the option's own). An unset variable that picks the
    // subprocess is at its "off" value.
    let default = match (&env_switch, kind) {
        (Some((on, off)), _) => Some(default.filter(|d| d == on).unwrap_or(off.clone())),
        (None, KnobKind::Switch) => Some("false".to_owned()),
        (None, _) => default,
    };
    Knob {
        flag: option.flag.clone(),
        name,
        role,
        default,
        range,
        choices,
        value_kind: Some(kind),
        evidence: None,
        pipeline: None,
        env: option.env,
    }
}

/// The range an integer option is searched over: its numeric choices, else a span
/// around its default that fits its role.
fn int_range(option: &ArgOption, role: &KnobRole, default: Option<&str>) -> (i64, i64) {
    let numeric: Vec<i64> = option
        .choices
        .iter()
        .flatten()
        .filter_map(serde_json::Value::as_i64)
        .collect();
    if let (Some(lo), Some(hi)) = (numeric.iter().min(), numeric.iter().max()) {
        return (*lo, *hi);
    }
    let d = default
        .and_then(|d| d.parse::<i64>().ok())
        .unwrap_or(1)
        .max(1);
    match role {
        KnobRole::BatchSize => ((d / 2).max(1), d * 8),
        KnobRole::Concurrency { .. } | KnobRole::Threads => (1, (d * 8).max(32)),
        KnobRole::Buffer => (1, (d * 8).max(16)),
        _ => ((d / 4).max(0), (d * 4).max(4)),
    }
}

/// The knob table as Markdown, for the planning prompt: the only flags an experiment
/// may set, and what each accepts.
pub fn table_markdown(knobs: &[Knob]) -> String {
    if knobs.is_empty() {
        return "(none: this script has no launch flag an experiment may change; change code through `description`)\n".to_owned();
    }
    let mut out =
        String::from("| flag | acts on | default | allowed values |\n|---|---|---|---|\n");
    for k in knobs {
        let role = role_text(k);
        let allowed = match (k.kind(), k.range) {
            (KnobKind::Integer, _) if !k.choices.is_empty() => {
                format!("one of {}", k.choices.join(", "))
            }
            (KnobKind::Integer, Some((lo, hi))) => format!("whole number {lo}..{hi}"),
            (KnobKind::Integer, None) => "whole number".to_owned(),
            (KnobKind::Switch, _) => "true (flag given) or false (flag left off)".to_owned(),
            (KnobKind::Toggle, _) => format!(
                "true ({}) or false (--no-{})",
                k.flag,
                k.flag.trim_start_matches('-')
            ),
            (KnobKind::Choice, _) => k.choices.join(", "),
        };
        let _ = std::fmt::Write::write_fmt(
            &mut out,
            format_args!(
                "| {} | {role} | {} | {allowed} |\n",
                if k.env {
                    format!("`{}` (environment variable: set it under `env`)", k.flag)
                } else {
                    format!("`{}`", k.flag)
                },
                k.default.as_deref().unwrap_or("–")
            ),
        );
    }
    out
}

/// `knobs` with the defaults the base launch command sets (`--batch-size 16` in the
/// command makes 16 the default; an on/off flag in it is on; a toggle's `--no-flag`
/// makes it off).
pub fn with_command_defaults(knobs: &[Knob], base_command: &str) -> Vec<Knob> {
    let mut knobs = knobs.to_vec();
    let words = crate::command_words::CommandWords::parse(base_command);
    let tokens: Vec<&str> = words.values().collect();
    // `LOADER_THREADS=8 python train.py` (or `env LOADER_THREADS=8 …`) sets a variable.
    for token in crate::spec::leading_assignments(&words)
        .into_iter()
        .filter_map(|i| tokens.get(i))
    {
        if let Some((variable, value)) = token.split_once('=')
            && let Some(knob) = knobs.iter_mut().find(|k| k.env && k.flag == variable)
        {
            knob.default = Some(value.to_owned());
        }
    }
    for (i, token) in tokens.iter().enumerate() {
        let (flag, value) = match token.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v)),
            _ if token.starts_with("--") => (*token, tokens.get(i + 1).copied()),
            _ => continue,
        };
        let name = crate::spec::normalise_flag(flag);
        if let Some(toggle) = name.strip_prefix("no_").and_then(|bare| {
            knobs
                .iter_mut()
                .find(|k| k.name == bare && k.kind() == KnobKind::Toggle)
        }) {
            toggle.default = Some("false".to_owned());
            continue;
        }
        let Some(knob) = knobs.iter_mut().find(|k| k.name == name) else {
            continue;
        };
        match knob.kind() {
            KnobKind::Switch | KnobKind::Toggle => knob.default = Some("true".to_owned()),
            KnobKind::Integer | KnobKind::Choice => {
                if let Some(value) = value.filter(|v| !v.starts_with("--")) {
                    knob.default = Some(value.to_owned());
                }
            }
        }
    }
    knobs
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

/// Runs `script_tool.py <command> <script>` with `python`. The helper's source goes in
/// on standard input (`python - <command> <script>`), so no copy of it is left on disk.
async fn run_tool(python: &Path, command: &str, script: &Path) -> Result<Vec<u8>, KnobError> {
    let output = autoresearch_fs::process::Command::new(python)
        .arg("-")
        .arg(command)
        .arg(script)
        .stdin(SCRIPT_TOOL)
        .timeout(Duration::from_secs(60))
        .run()
        .await
        .map_err(|e| {
            KnobError::Reader(match e {
                autoresearch_fs::process::ProcessError::TimedOut { .. } => {
                    "the script reader took over 60 s".to_owned()
                }
                other => format!("{other} (set AUTORESEARCH_PYTHON to a Python 3 interpreter)"),
            })
        })?;
    if !output.status.success() {
        return Err(KnobError::Reader(format!(
            "the script reader failed: {}",
            output.stderr.trim()
        )));
    }
    Ok(output.stdout.into_bytes())
}

/// The script's `argparse` options.
pub async fn read_options(python: &Path, script: &Path) -> Result<Vec<ArgOption>, KnobError> {
    let out = run_tool(python, "knobs", script).await?;
    serde_json::from_slice(&out).map_err(|e| {
        KnobError::Reader(
        // A script that does not parse gets the reader's refusal, not a list.
        match serde_json::from_slice::<Instrumented>(&out) {
            Ok(Instrumented {
                ok: false,
                message: Some(message),
                ..
            }) => format!(
                "cannot read the options of {}: {message}\nhint: fix the script so that `python -m py_compile` accepts it",
                script.display()
            ),
            _ => format!("the script reader printed something unexpected: {e}"),
        })
    })
}

/// The script with its training loop wrapped by the probe (the built-in instrumenter).
pub async fn instrument(python: &Path, script: &Path) -> Result<Instrumented, KnobError> {
    let out = run_tool(python, "instrument", script).await?;
    serde_json::from_slice(&out).map_err(|e| {
        KnobError::Reader(format!(
            "the script reader printed something unexpected: {e}"
        ))
    })
}

/// The knob table for people (`autoresearch knobs`): each knob with its role, default,
/// values and the code that proves the role, then the flags left alone as workload.
pub fn table_text(options: &[ArgOption], knobs: &[Knob]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if options.is_empty() {
        out.push_str("no knobs: the script has no argparse options (add_argument calls)\n");
    } else if knobs.is_empty() {
        out.push_str("no knobs: no flag's value reaches a pipeline parameter\n");
    }
    for k in knobs {
        let values = match (k.kind(), k.range) {
            (KnobKind::Integer, _) if !k.choices.is_empty() => k.choices.join("|"),
            (KnobKind::Integer, Some((lo, hi))) => format!("{lo}..{hi}"),
            (KnobKind::Switch | KnobKind::Toggle, _) => "on|off".to_owned(),
            _ => k.choices.join("|"),
        };
        let _ = writeln!(
            out,
            "{:<24} {:<31} default {:<6} values {:<10} {}",
            k.label(),
            role_text(k),
            k.default.as_deref().unwrap_or("–"),
            values,
            k.evidence.as_deref().unwrap_or("")
        );
    }
    let workload: Vec<&str> = options
        .iter()
        .filter(|o| !knobs.iter().any(|k| k.flag == o.flag))
        .map(|o| o.flag.as_str())
        .collect();
    if !workload.is_empty() {
        let why = if options.iter().any(|o| o.reaches.is_some()) {
            "their values reach no pipeline parameter"
        } else {
            "their names say workload or they take no value"
        };
        let _ = writeln!(
            out,
            "workload (never varied unless --knob names one; {why}): {}",
            workload.join(", ")
        );
    }
    out
}

/// A knob's role in words.
fn role_text(k: &Knob) -> String {
    match &k.role {
        KnobRole::Concurrency { stage: Some(stage) } => format!("concurrency of stage {stage}"),
        KnobRole::Concurrency { stage: None } => "a stage's concurrency".to_owned(),
        KnobRole::Threads => "thread pool size".to_owned(),
        KnobRole::BatchSize => "batch size (judged per sample)".to_owned(),
        KnobRole::Buffer => "buffer / prefetch depth".to_owned(),
        KnobRole::Subprocess { value } => format!("subprocess mode ({})", k.setting_text(value)),
        KnobRole::Other => "other".to_owned(),
    }
}
