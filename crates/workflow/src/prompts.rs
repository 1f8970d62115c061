//! Prompt templates and the knowledge base (Markdown files embedded at build time), the
//! renderer, and the shapes agents must answer in.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The instrumentation prompt.
pub const INSTRUMENT: &str = include_str!("../prompts/instrument.md");
/// The code-change prompt (experiments and start-up repairs).
pub const APPLY_CHANGE: &str = include_str!("../prompts/apply_change.md");
/// The analysis prompt.
pub const ANALYZE: &str = include_str!("../prompts/analyze.md");
/// The planning prompt.
pub const PLAN: &str = include_str!("../prompts/plan.md");
/// The final report prompt.
pub const REPORT: &str = include_str!("../prompts/report.md");

/// The knowledge base, in the order prompts include it.
pub const KNOWLEDGE: [(&str, &str); 3] = [
    (
        "spdl_pipelines.md",
        include_str!("../knowledge/spdl_pipelines.md"),
    ),
    (
        "reading_stats.md",
        include_str!("../knowledge/reading_stats.md"),
    ),
    ("levers.md", include_str!("../knowledge/levers.md")),
];

/// The whole knowledge base as one Markdown text.
pub fn knowledge() -> String {
    KNOWLEDGE
        .iter()
        .map(|(_, text)| text.trim())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// A template could not be filled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromptError {
    /// The template names a placeholder that was not given.
    #[error("the prompt template needs {{{{{0}}}}}, which was not given")]
    Missing(String),
    /// A value was given that the template does not use.
    #[error("the prompt template has no {{{{{0}}}}}")]
    Unused(String),
}

/// Fills `{{NAME}}` placeholders. Every placeholder must be given and every value used,
/// so a template and its caller cannot drift apart silently. Values are inserted as they
/// are (they are never re-scanned for placeholders).
pub fn render(template: &str, values: &BTreeMap<&str, String>) -> Result<String, PromptError> {
    let mut out = String::with_capacity(template.len() + 1024);
    let mut used = std::collections::BTreeSet::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let name = &after[..end];
        let is_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit());
        if is_name {
            let value = values
                .get(name)
                .ok_or_else(|| PromptError::Missing(name.to_owned()))?;
            out.push_str(value);
            used.insert(name.to_owned());
        } else {
            out.push_str("{{");
            out.push_str(name);
            out.push_str("}}");
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    if let Some(unused) = values.keys().find(|k| !used.contains(**k)) {
        return Err(PromptError::Unused((*unused).to_owned()));
    }
    Ok(out)
}

/// What the analysis agent returns: an interpretation, never numbers the tool computes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AnalysisAnswer {
    /// The stage or part that limits the job.
    pub bottleneck: String,
    /// `supported`, `refuted` or `inconclusive`.
    pub verdict: String,
    /// A short paragraph (may be left out when the findings say it all).
    #[serde(default)]
    pub interpretation: String,
    /// Facts worth remembering (at most three are kept).
    #[serde(default)]
    pub findings: Vec<String>,
}

/// What a plan asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanAction {
    /// Run the proposed experiments.
    Launch,
    /// Propose nothing more (the engine's stop rules still decide when the run ends).
    Stop,
}

impl PlanAction {
    /// `launch` or `stop`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Launch => "launch",
            Self::Stop => "stop",
        }
    }
}

/// What the planning agent returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanAnswer {
    /// `launch` or `stop`.
    pub action: PlanAction,
    /// Why.
    #[serde(default)]
    pub reasoning: String,
    /// The proposals.
    #[serde(default)]
    pub experiments: Vec<Proposal>,
}

/// One proposed experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Proposal {
    /// Short snake_case name.
    pub name: String,
    /// One sentence.
    pub hypothesis: String,
    /// Canonical change ids.
    #[serde(default)]
    pub changes: Vec<String>,
    /// 2–5 words.
    #[serde(default)]
    pub change_summary: String,
    /// Code instructions, or empty.
    #[serde(default)]
    pub description: String,
    /// Launch flags to set: flag → value. A value may be a string, a number or a
    /// boolean (`true` adds an on/off flag such as `--use-subprocess`, `false` removes
    /// it); every value is kept as text.
    #[serde(default, deserialize_with = "launch_values")]
    #[schemars(with = "BTreeMap<String, LaunchValue>")]
    pub launch_args: BTreeMap<String, String>,
    /// Environment variables for the job (usually none).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The node whose code to start from; null for the instrumented original.
    #[serde(default)]
    pub base: Option<String>,
    /// Best practices covered.
    #[serde(default)]
    pub tags: Vec<String>,
    /// A deliberate repeat.
    #[serde(default)]
    pub repeat: bool,
}

/// The schema of one launch-flag value: a string, a number or a boolean.
#[derive(JsonSchema)]
#[schemars(untagged)]
#[allow(dead_code)] // Only its schema is used; values are read by `launch_values`.
enum LaunchValue {
    Text(String),
    Number(f64),
    Switch(bool),
}

/// Reads launch-flag values given as strings, finite numbers or booleans, as text
/// (`4` → `"4"`, `true` → `"true"`), once, where the answer is read.
fn launch_values<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    use serde::de::Error as _;
    let raw = BTreeMap::<String, serde_json::Value>::deserialize(deserializer)?;
    raw.into_iter()
        .map(|(flag, value)| {
            let text = match &value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Number(n) => n.to_string(),
                other => {
                    return Err(D::Error::custom(format!(
                        "the value of {flag} is {other}: give a string, a number or true/false"
                    )));
                }
            };
            Ok((flag, text))
        })
        .collect()
}
