//! What one experiment is: the spec stored in its tree node, and how its launch command
//! is made from the base command.

use std::collections::{BTreeMap, BTreeSet};

use autoresearch_hypothesis_tree::HypothesisTree;
use serde::{Deserialize, Serialize};

use crate::command_words::CommandWords;
use crate::knobs::{Knob, KnobKind};
use crate::policy::ExperimentIdentity;

/// Why an experiment exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExperimentKind {
    /// The unchanged, instrumented script.
    Baseline,
    /// The compute-only floor: the baseline with cached batches replayed.
    Headspace,
    /// The pipeline moved into a subprocess.
    Mtp,
    /// Proposed by a planner.
    Planned,
    /// A repair of a run that failed at start-up.
    Repair,
    /// A repeat of a new best, to confirm it.
    Confirm,
    /// A repeat of a configuration that ran (the baseline's), to measure the noise
    /// between runs.
    Repeat,
}

/// The spec of one experiment (a tree node's `spec`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentSpec {
    /// Why it exists.
    pub kind: ExperimentKind,
    /// Short name (sanitised into the node id).
    pub name: String,
    /// What it should show.
    #[serde(default)]
    pub hypothesis: String,
    /// Instructions for the code change; empty when the code stays as it is.
    #[serde(default)]
    pub description: String,
    /// A 2–5 word label.
    #[serde(default)]
    pub change_summary: String,
    /// Canonical change ids (`mtp`, `batch_size=16`): part of the identity.
    #[serde(default)]
    pub changes: Vec<String>,
    /// Launch flags to set on the base command (`--batch-size` → `16`).
    #[serde(default)]
    pub launch_args: BTreeMap<String, String>,
    /// Extra environment for the job.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Best-practice tags this covers.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The node whose code it starts from (`None`: the instrumented anchor).
    #[serde(default)]
    pub base_node: Option<String>,
    /// The commit it starts from (resolved when it is queued).
    #[serde(default)]
    pub base_commit: Option<String>,
    /// A deliberate repeat: exempt from the duplicate check.
    #[serde(default)]
    pub repeat: bool,
    /// For repairs and confirmations: the node it repeats or repairs.
    #[serde(default)]
    pub of_node: Option<String>,
    /// For repairs: 1, 2, …
    #[serde(default)]
    pub repair_attempt: u32,
    /// For repairs: what went wrong at start-up.
    #[serde(default)]
    pub startup_failure: Option<String>,
    /// The image the build produced (set during preparation).
    #[serde(default)]
    pub image: Option<String>,
}

impl ExperimentKind {
    /// The seed kinds: the runs every search starts with (the seeds together make one
    /// planning round).
    pub fn is_seed(self) -> bool {
        matches!(
            self,
            Self::Baseline | Self::Headspace | Self::Mtp | Self::Repeat
        )
    }
}

impl ExperimentSpec {
    /// A spec of `kind` named `name`, with everything else empty.
    pub fn new(kind: ExperimentKind, name: impl Into<String>) -> Self {
        Self {
            kind,
            name: name.into(),
            hypothesis: String::new(),
            description: String::new(),
            change_summary: String::new(),
            changes: Vec::new(),
            launch_args: BTreeMap::new(),
            env: BTreeMap::new(),
            tags: Vec::new(),
            base_node: None,
            base_commit: None,
            repeat: false,
            of_node: None,
            repair_attempt: 0,
            startup_failure: None,
            image: None,
        }
    }

    /// Whether the code changes (an agent or deterministic edit runs).
    pub fn changes_code(&self) -> bool {
        !self.description.trim().is_empty()
            && matches!(
                self.kind,
                ExperimentKind::Mtp | ExperimentKind::Planned | ExperimentKind::Repair
            )
    }

    /// The duplicate-check identity: normalised changes, launch flags and base commit.
    pub fn identity(&self) -> ExperimentIdentity {
        let changes: BTreeSet<String> = self
            .changes
            .iter()
            .map(|c| c.trim().to_lowercase())
            .filter(|c| !c.is_empty())
            .collect();
        let launch_flags = self
            .launch_args
            .iter()
            .map(|(k, v)| (normalise_flag(k), v.trim().to_owned()))
            .chain(
                self.env
                    .iter()
                    .map(|(k, v)| (format!("env:{k}"), v.clone())),
            )
            .collect();
        ExperimentIdentity {
            changes,
            launch_flags,
            base_commit: self.base_commit.clone().unwrap_or_default(),
        }
    }

    /// The `changes` column: change ids and launch flags, readable.
    pub fn changes_text(&self) -> String {
        let mut parts: Vec<String> = self
            .changes
            .iter()
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect();
        for (flag, value) in &self.launch_args {
            let item = format!("{}={}", normalise_flag(flag), value.trim());
            if !parts.iter().any(|p| p.eq_ignore_ascii_case(&item)) {
                parts.push(item);
            }
        }
        parts.join(", ")
    }
}

/// The id of the tree's node of `kind` (the seeds are one each), by the kind in its spec.
pub fn node_of_kind(tree: &HypothesisTree, kind: ExperimentKind) -> Option<String> {
    let wanted = serde_json::to_value(kind).ok()?;
    tree.nodes()
        .find(|n| n.spec.get("kind") == Some(&wanted))
        .map(|n| n.node_id.clone())
}

/// A flag's name without dashes, `-` as `_`, lower case (`--Batch-Size` → `batch_size`).
pub fn normalise_flag(flag: &str) -> String {
    flag.trim_start_matches('-')
        .replace('-', "_")
        .to_lowercase()
}

/// Why a launch flag cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    /// Not `--name` with letters, digits, `-` and `_`.
    #[error("`{0}` is not a flag name (expected --name with letters, digits, - and _)")]
    BadName(String),
    /// The value has a character that cannot travel safely.
    #[error("the value of {flag} has a control character")]
    BadValue {
        /// The flag.
        flag: String,
    },
    /// An on/off flag was given something other than `true` or `false`.
    #[error("{flag} is an on/off flag: its value must be true or false, not `{value}`")]
    NotOnOff {
        /// The flag.
        flag: String,
        /// The value given.
        value: String,
    },
}

/// Checks a flag name and value proposed by an agent or planner (values are quoted when
/// they go into the command, so only control characters are refused).
pub fn check_flag(flag: &str, value: &str) -> Result<(), FlagError> {
    let name = flag.strip_prefix("--").or_else(|| flag.strip_prefix('-'));
    let ok = name.is_some_and(|n| {
        n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    });
    if !ok {
        return Err(FlagError::BadName(flag.to_owned()));
    }
    if value.chars().any(char::is_control) {
        return Err(FlagError::BadValue {
            flag: flag.to_owned(),
        });
    }
    Ok(())
}

/// The base command with `args` set. A flag is matched by its name after
/// [`normalise_flag`]. A value flag's existing `--flag value` or `--flag=value` gets the
/// new value, otherwise it is appended. A knob that is an on/off switch (see
/// [`KnobKind`]) is put on the command line for `true` and taken off for `false`; a
/// toggle becomes `--flag` or `--no-flag`. The command is read as shell words, so a
/// quoted argument with spaces is one word and every word not changed stays as written;
/// new values are quoted as needed; flags must pass [`check_flag`].
pub fn apply_launch_args(
    base: &str,
    args: &BTreeMap<String, String>,
    knobs: &[Knob],
) -> Result<String, FlagError> {
    let mut words = CommandWords::parse(base);
    for (flag, value) in args {
        check_flag(flag, value)?;
        let want = normalise_flag(flag);
        let kind = knobs.iter().find(|k| k.name == want).map(Knob::kind);
        match kind {
            Some(KnobKind::Switch) => set_switch(&mut words, flag, &want, is_on(flag, value)?),
            Some(KnobKind::Toggle) => {
                let on = is_on(flag, value)?;
                let negated = format!("no_{want}");
                words.retain(|w| {
                    let name = normalise_flag(w);
                    !(is_flag_word(w) && (name == want || name == negated))
                });
                let bare = flag.trim_start_matches('-');
                words.push(&if on {
                    format!("--{bare}")
                } else {
                    format!("--no-{bare}")
                });
            }
            _ => set_value(&mut words, flag, &want, value),
        }
    }
    Ok(words.join())
}

/// Whether a word is a flag on its own (`--name`, not `--name=value` or a value).
fn is_flag_word(word: &str) -> bool {
    word.starts_with('-') && !word.contains('=')
}

/// The command with the inline assignments it makes to the job's own variables
/// (`LOADER_THREADS=4 python train.py`) set to the experiment's values: an assignment
/// on the command line would otherwise win over the environment the job is given.
pub fn apply_env_knobs(command: &str, env: &BTreeMap<String, String>, knobs: &[Knob]) -> String {
    let mut words = CommandWords::parse(command);
    for i in leading_assignments(&words) {
        let Some((variable, _)) = words.value(i).and_then(|w| w.split_once('=')) else {
            continue;
        };
        let variable = variable.to_owned();
        if let Some(value) = env
            .get(&variable)
            .filter(|_| knobs.iter().any(|k| k.env && k.flag == variable))
        {
            words.set_after(i, &format!("{variable}="), value);
        }
    }
    words.join()
}

/// The positions of the `NAME=value` words that open a command (after any `env`), at
/// the start of the line and after each `&&`, `||`, `;` or `|`.
pub(crate) fn leading_assignments(words: &CommandWords) -> Vec<usize> {
    let is_assignment = |w: &str| {
        w.split_once('=').is_some_and(|(name, _)| {
            name.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    };
    let values: Vec<&str> = words.values().collect();
    let mut out = Vec::new();
    let mut at_start = true;
    for (i, word) in values.iter().enumerate() {
        if matches!(*word, "&&" | "||" | ";" | "|") {
            at_start = true;
        } else if at_start && *word == "env" {
        } else if at_start && is_assignment(word) {
            out.push(i);
        } else {
            at_start = false;
        }
    }
    out
}

/// A switch's value: `true` or `false`.
fn is_on(flag: &str, value: &str) -> Result<bool, FlagError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(FlagError::NotOnOff {
            flag: flag.to_owned(),
            value: value.to_owned(),
        }),
    }
}

/// Puts the bare `flag` on the command line (`on`) or takes every copy of it off.
fn set_switch(words: &mut CommandWords, flag: &str, want: &str, on: bool) {
    let present = |w: &str| is_flag_word(w) && normalise_flag(w) == want;
    if on {
        if !words.values().any(present) {
            words.push(flag);
        }
    } else {
        words.retain(|w| !present(w));
    }
}

/// Sets `--flag value` (or `--flag=value`) in `words`, appending it when absent.
fn set_value(words: &mut CommandWords, flag: &str, want: &str, value: &str) {
    let mut replaced = false;
    let mut i = 0;
    while i < words.len() {
        let word = words.value(i).unwrap_or_default().to_owned();
        if word.starts_with('-') {
            if let Some((name, _)) = word.split_once('=') {
                if normalise_flag(name) == want {
                    words.set_after(i, &format!("{name}="), value);
                    replaced = true;
                }
            } else if normalise_flag(&word) == want && word.len() > 1 {
                let has_value = words
                    .value(i + 1)
                    .is_some_and(|next| !next.starts_with("--"));
                if has_value {
                    words.set(i + 1, value);
                } else {
                    words.insert(i + 1, value);
                }
                i += 1;
                replaced = true;
            }
        }
        i += 1;
    }
    if !replaced {
        words.push(flag);
        words.push(value);
    }
}
