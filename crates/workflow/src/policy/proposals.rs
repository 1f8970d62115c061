//! Screening a plan before anything of it runs: which proposals become experiments and
//! why each of the others does not. Pure: the caller passes what the books know.
//!
//! The rules:
//! - A plan whose action is `stop` runs nothing, whatever it lists (a warning says so);
//!   the engine's own stop rules still decide whether the run ends.
//! - Every `launch_args` key must be a knob of the script (the knob table, which
//!   `--knob` extends and `--freeze` narrows), and its value must fit the knob: a whole
//!   number inside its range, one of its choices, or `true`/`false` for an on/off flag.
//!   Anything else drops the proposal, with every reason found.
//! - Environment variables may only size thread pools and allocators (`OMP_*`,
//!   `MKL_*`, `MALLOC_*`, `TOKENIZERS_PARALLELISM`, …): anything else could change what
//!   the job computes, or which program runs.
//! - A setting equal to the knob's current default (the base command's, else the
//!   script's) is no change and is left out, so a copy of the baseline under a new name
//!   is dropped as changing nothing.
//! - The base must be a completed experiment; the same changes, flags and base as an
//!   experiment already run (and not failed) or queued is a duplicate; a proposal must
//!   change something: code (a `description`), a flag or the environment.
//! - At most `cap` proposals are accepted per round; the rest are dropped as over the
//!   cap. Every drop is returned with its reason, for the node's record and the log.

use std::collections::BTreeMap;

use autoresearch_llm_client::json::JsonProblem;
use serde::{Deserialize, Serialize};

use crate::knobs::{Knob, KnobError, KnobKind};
use crate::policy::ExperimentIdentity;
use crate::prompts::{PlanAction, PlanAnswer, Proposal};
use crate::spec::{ExperimentKind, ExperimentSpec, check_flag, normalise_flag};

/// Proposals accepted per planning round.
pub const MAX_PROPOSALS: usize = 3;

/// Environment variables an experiment may set: the thread pools and allocators of the
/// libraries a loader runs on. Anything else could change what the job computes (a
/// script reads its own settings from the environment as readily as from flags) or
/// which program runs, and is refused like a flag that is no knob.
const ALLOWED_ENV_PREFIXES: [&str; 9] = [
    "OMP_",
    "MKL_",
    "OPENBLAS_",
    "NUMEXPR_",
    "VECLIB_",
    "BLIS_",
    "GOMP_",
    "KMP_",
    "MALLOC_",
];
/// Single environment variables an experiment may set (see [`ALLOWED_ENV_PREFIXES`]),
/// the probe's garbage-collection lever among them (its other variables set how the run
/// is measured, and are refused).
const ALLOWED_ENV: [&str; 5] = [
    GC_EVERY,
    "TOKENIZERS_PARALLELISM",
    "NUMBA_NUM_THREADS",
    "RAYON_NUM_THREADS",
    "TF_NUM_INTEROP_THREADS",
];

/// The probe's lever: collect garbage every K steps instead of automatically.
const GC_EVERY: &str = "AUTORESEARCH_GC_EVERY";

/// What the screen needs to know of the run.
#[derive(Debug, Clone, Copy)]
pub struct Screen<'a> {
    /// The knobs experiments may set, with the defaults the base command sets
    /// ([`crate::knobs::with_command_defaults`]).
    pub knobs: &'a [Knob],
    /// The flags the user froze (`--freeze`), as given.
    pub frozen: &'a [String],
    /// Identities of the experiments run (and not failed) or queued so far.
    pub existing: &'a [ExperimentIdentity],
    /// Completed experiments that a proposal may start from: node id → commit.
    pub completed: &'a BTreeMap<String, String>,
    /// The commit of the instrumented original.
    pub anchor: Option<&'a str>,
    /// Most proposals accepted.
    pub cap: usize,
}

/// A proposal that does not run, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    /// The proposal's name, as given.
    pub name: String,
    /// Why it does not run.
    pub reason: String,
}

/// What the screen decided.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Screened {
    /// The experiments to queue, with their flags normalised and bases resolved.
    pub accepted: Vec<ExperimentSpec>,
    /// The proposals that do not run.
    pub dropped: Vec<Dropped>,
    /// Things about the plan as a whole worth a line in the log.
    pub warnings: Vec<String>,
}

/// Screens `plan` by the rules in the module's documentation.
pub fn screen(plan: &PlanAnswer, s: &Screen<'_>) -> Screened {
    let mut out = Screened::default();
    if plan.action == PlanAction::Stop {
        if !plan.experiments.is_empty() {
            out.warnings.push(format!(
                "the plan's action is stop, yet it lists {} experiment(s): none of them runs",
                plan.experiments.len()
            ));
            out.dropped = plan
                .experiments
                .iter()
                .map(|p| Dropped {
                    name: p.name.clone(),
                    reason: "the plan's action is stop".to_owned(),
                })
                .collect();
        }
        return out;
    }
    let mut identities: Vec<ExperimentIdentity> = s.existing.to_vec();
    for proposal in &plan.experiments {
        let drop = |reason: String| Dropped {
            name: proposal.name.clone(),
            reason,
        };
        let spec = match to_spec(proposal, s) {
            Ok(spec) => spec,
            Err(reasons) => {
                out.dropped.push(drop(reasons.join("; ")));
                continue;
            }
        };
        let identity = spec.identity();
        if ExperimentIdentity::is_duplicate(&identity, &identities, spec.repeat) {
            out.dropped.push(drop(
                "the same changes, flags and base were already tried".to_owned(),
            ));
            continue;
        }
        // Without code instructions, flags or environment nothing differs from the
        // base, whatever change ids the proposal lists.
        if spec.launch_args.is_empty()
            && spec.env.is_empty()
            && spec.description.trim().is_empty()
            && !spec.repeat
        {
            out.dropped.push(drop("it changes nothing".to_owned()));
            continue;
        }
        if out.accepted.len() >= s.cap {
            out.dropped.push(drop(format!(
                "over the limit of {} experiments per planning round",
                s.cap
            )));
            continue;
        }
        identities.push(identity);
        out.accepted.push(spec);
    }
    out
}

/// What is wrong with a plan as a whole, for a repair round: a `launch` with nothing to
/// launch, or with no proposal whose flags and environment could run.
pub fn plan_problems(plan: &PlanAnswer, knobs: &[Knob], frozen: &[String]) -> Vec<JsonProblem> {
    if plan.action != PlanAction::Launch {
        return Vec::new();
    }
    if plan.experiments.is_empty() {
        return vec![JsonProblem::new(
            "experiments",
            "the action is launch but no experiment is given: propose at least one, or answer with action stop",
        )];
    }
    let per_proposal: Vec<Vec<JsonProblem>> = plan
        .experiments
        .iter()
        .enumerate()
        .map(|(i, p)| {
            // The agent is told which flags it may set; the log is not told each time.
            setting_problems(p, knobs, frozen, true)
                .into_iter()
                .map(|(path, message)| {
                    JsonProblem::new(format!("experiments[{i}].{path}"), message)
                })
                .collect()
        })
        .collect();
    if per_proposal.iter().all(|p| !p.is_empty()) {
        per_proposal.into_iter().flatten().collect()
    } else {
        Vec::new()
    }
}

/// The spec of `proposal`, or every reason it cannot run.
fn to_spec(proposal: &Proposal, s: &Screen<'_>) -> Result<ExperimentSpec, Vec<String>> {
    let problems = setting_problems(proposal, s.knobs, s.frozen, false);
    if !problems.is_empty() {
        return Err(problems.into_iter().map(|(_, m)| m).collect());
    }
    let (base_node, base_commit) = match proposal.base.as_deref().map(str::trim) {
        None | Some("" | "null") => (None, s.anchor.map(str::to_owned)),
        Some(base) => match s.completed.get(base) {
            Some(commit) => (Some(base.to_owned()), Some(commit.clone())),
            None => {
                return Err(vec![format!(
                    "its base {base} is not a completed experiment"
                )]);
            }
        },
    };
    let mut spec = ExperimentSpec::new(ExperimentKind::Planned, proposal.name.clone());
    spec.hypothesis.clone_from(&proposal.hypothesis);
    spec.description.clone_from(&proposal.description);
    spec.change_summary.clone_from(&proposal.change_summary);
    spec.changes.clone_from(&proposal.changes);
    spec.launch_args = normalised_args(&proposal.launch_args, s.knobs);
    spec.env = normalised_env(&proposal.env, s.knobs);
    spec.tags.clone_from(&proposal.tags);
    spec.repeat = proposal.repeat;
    spec.base_node = base_node;
    spec.base_commit = base_commit;
    if spec.change_summary.trim().is_empty() {
        // The tree and the report label a change by its summary.
        spec.change_summary = spec.changes_text().chars().take(60).collect();
    }
    Ok(spec)
}

/// The flags of a screened proposal as the knob table spells them, values normalised,
/// without those that only repeat a knob's default.
fn normalised_args(args: &BTreeMap<String, String>, knobs: &[Knob]) -> BTreeMap<String, String> {
    args.iter()
        .filter_map(|(flag, value)| {
            let knob = knobs.iter().find(|k| k.name == normalise_flag(flag))?;
            let value = knob_value(knob, value).ok()?;
            let default = knob.default.as_deref().map(|d| knob_value(knob, d));
            (default != Some(Ok(value.clone()))).then(|| (knob.flag.clone(), value))
        })
        .collect()
}

/// Every problem with a proposal's flags and environment: (path, message). With
/// `list_knobs`, a flag that is no knob is answered with the knobs there are.
fn setting_problems(
    p: &Proposal,
    knobs: &[Knob],
    frozen: &[String],
    list_knobs: bool,
) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for (flag, value) in &p.launch_args {
        let path = format!("launch_args.{flag}");
        if let Some(first) = seen.insert(normalise_flag(flag), flag) {
            problems.push((
                path,
                format!(
                    "{} and {} name the same flag: give it once",
                    shown(first),
                    shown(flag)
                ),
            ));
            continue;
        }
        if let Err(message) = check_launch_arg(flag, value, knobs, frozen, list_knobs) {
            problems.push((path, message));
        }
    }
    for (name, value) in &p.env {
        let checked = match knobs.iter().find(|k| k.env && k.flag == *name) {
            Some(knob) => knob_text(knob, value).map(|_| ()),
            None if frozen.iter().any(|f| f == name) => Err(format!(
                "{} is frozen by the user (--freeze): no experiment may change it",
                shown(name)
            )),
            None => check_env(name, value),
        };
        if let Err(message) = checked {
            problems.push((format!("env.{name}"), message));
        }
    }
    problems
}

/// A proposal's environment with the job's own variables (environment knobs) in their
/// knob's spelling, those at their default left out.
fn normalised_env(env: &BTreeMap<String, String>, knobs: &[Knob]) -> BTreeMap<String, String> {
    env.iter()
        .filter_map(|(name, value)| {
            let Some(knob) = knobs.iter().find(|k| k.env && k.flag == *name) else {
                return Some((name.clone(), value.clone()));
            };
            let value = knob_value(knob, value).ok()?;
            let default = knob.default.as_deref().map(|d| knob_value(knob, d));
            (default != Some(Ok(value.clone()))).then(|| (name.clone(), value))
        })
        .collect()
}

/// Whether `flag value` may be launched: `flag` is a knob and `value` fits it.
fn check_launch_arg(
    flag: &str,
    value: &str,
    knobs: &[Knob],
    frozen: &[String],
    list_knobs: bool,
) -> Result<(), String> {
    check_flag(flag, value).map_err(|_| {
        format!(
            "{} is not a flag name with a usable value (--name of letters, digits, - and _; no control characters)",
            shown(flag)
        )
    })?;
    let name = normalise_flag(flag);
    let flag = shown(flag);
    let Some(knob) = knobs.iter().find(|k| k.name == name) else {
        if let Some(variable) = knobs
            .iter()
            .find(|k| k.env && normalise_flag(&k.flag) == name)
        {
            return Err(format!(
                "{} is an environment variable the job reads, not a flag: set it under env",
                variable.flag
            ));
        }
        if frozen.iter().any(|f| normalise_flag(f) == name) {
            return Err(format!(
                "{flag} is frozen by the user (--freeze): no experiment may change it"
            ));
        }
        let mut message = format!(
            "{flag} is not a knob of this script (the workload, paths and unknown flags may not change)"
        );
        if list_knobs {
            let names: Vec<String> = knobs
                .iter()
                .map(|k| {
                    if k.env {
                        format!("env {}", k.flag)
                    } else {
                        k.flag.clone()
                    }
                })
                .collect();
            message.push_str(&format!(
                "; the knobs are: {}",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ));
        }
        return Err(message);
    };
    knob_text(knob, value).map(|_| ())
}

/// `value` as knob `knob` takes it (`4.0` → `4`, `True` → `true`, a choice in its own
/// spelling), or why it does not fit.
pub fn knob_value(knob: &Knob, value: &str) -> Result<String, KnobError> {
    knob_text(knob, value).map_err(KnobError::Value)
}

/// [`knob_value`] with its reason as text.
fn knob_text(knob: &Knob, value: &str) -> Result<String, String> {
    let flag = &knob.flag;
    let trimmed = value.trim();
    let v = shown(trimmed);
    let v = v.as_str();
    match knob.kind() {
        KnobKind::Integer => {
            let n = trimmed
                .parse::<i64>()
                .ok()
                .or_else(|| {
                    trimmed
                        .parse::<f64>()
                        .ok()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                        .map(|f| f as i64)
                })
                .ok_or_else(|| format!("{flag} takes a whole number, not `{v}`"))?;
            if let Some((lo, hi)) = knob.range
                && !(lo..=hi).contains(&n)
            {
                return Err(format!(
                    "{flag} {n} is outside the knob's range {lo}..{hi} (the user may widen it with --knob {}=int:LO..HI)",
                    knob.name
                ));
            }
            if !knob.choices.is_empty() && !knob.choices.contains(&n.to_string()) {
                return Err(format!(
                    "{flag} must be one of {}, not {n}",
                    knob.choices.join(", ")
                ));
            }
            Ok(n.to_string())
        }
        KnobKind::Choice => knob
            .choices
            .iter()
            .find(|c| c.as_str() == trimmed)
            .or_else(|| {
                knob.choices
                    .iter()
                    .find(|c| c.eq_ignore_ascii_case(trimmed))
            })
            .or_else(|| {
                // Numeric choices compare as numbers (`1` is the choice `1.0`).
                let n = trimmed.parse::<f64>().ok()?;
                knob.choices
                    .iter()
                    .find(|c| c.parse::<f64>().ok() == Some(n))
            })
            .cloned()
            .ok_or_else(|| {
                format!(
                    "{flag} must be one of {}, not `{v}`",
                    knob.choices.join(", ")
                )
            }),
        KnobKind::Switch | KnobKind::Toggle => match trimmed.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok("true".to_owned()),
            "false" | "0" => Ok("false".to_owned()),
            _ => Err(format!(
                "{flag} is an on/off flag: give true (on) or false (off), not `{v}`"
            )),
        },
    }
}

/// Whether an experiment may set environment variable `name` to `value`.
fn check_env(name: &str, value: &str) -> Result<(), String> {
    let upper = name.to_ascii_uppercase();
    let plain = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let allowed = ALLOWED_ENV.contains(&upper.as_str())
        || ALLOWED_ENV_PREFIXES.iter().any(|p| upper.starts_with(p));
    if !plain || !allowed {
        return Err(format!(
            "the environment variable {} may not be set: experiments may only size thread pools and allocators ({}*, {})",
            shown(name),
            ALLOWED_ENV_PREFIXES.join("*, "),
            ALLOWED_ENV.join(", ")
        ));
    }
    if upper == GC_EVERY && value.trim().parse::<u32>().map_or(true, |k| k == 0) {
        return Err(format!(
            "{GC_EVERY} takes a whole number of steps of 1 or more, not `{}`",
            shown(value)
        ));
    }
    if value.chars().any(char::is_control) || value.len() > 1024 {
        return Err(format!(
            "the value of {name} has a control character or is over 1,024 bytes"
        ));
    }
    Ok(())
}

/// Agent text as a reason quotes it: one line, at most 60 characters.
fn shown(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > 60 {
        format!("{}…", flat.chars().take(60).collect::<String>())
    } else {
        flat
    }
}
