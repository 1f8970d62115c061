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
    /// A short paragraph.
    pub interpretation: String,
    /// Facts worth remembering (at most three are kept).
    #[serde(default)]
    pub findings: Vec<String>,
}

/// What the planning agent returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlanAnswer {
    /// `launch` or `stop`.
    pub action: String,
    /// Why.
    #[serde(default)]
    pub reasoning: String,
    /// The proposals.
    #[serde(default)]
    pub experiments: Vec<Proposal>,
}

/// One proposed experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
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
    /// Launch flags to set.
    #[serde(default)]
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
