//! JSON answers: find the one JSON value in the text (refusing ambiguity and duplicate
//! keys), cap its strings, and check it against a Rust type, naming every failing path.
//!
//! The rules, in order:
//! 1. A leading byte-order mark is dropped.
//! 2. The candidates are the ```` ```json ```` and unlabelled fenced blocks that parse;
//!    with none, the whole text; with that not parsing either, the span from the first
//!    `{` to the last `}`.
//! 3. Two candidate blocks with different values make the answer ambiguous: it is
//!    refused (the caller's repair round asks for exactly one). Identical repeats are
//!    one answer.
//! 4. An object with the same key twice is refused, naming the key and its path.
//! 5. Every string longer than [`MAX_STRING_BYTES`] is cut, with a marker saying so.
//! 6. The value is checked against the type's JSON Schema (every failing path), then
//!    deserialised.

mod schema;
mod strict;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use schema::{JsonProblem, check as check_schema};

use crate::error::LlmError;

/// The longest string kept from an agent's JSON answer, and the longest quote of an
/// answer sent back in a repair prompt (bytes). Longer text is cut, with a marker.
pub const MAX_STRING_BYTES: usize = 8 * 1024;

/// The JSON Schema of `T` (draft 2020-12, doc comments as descriptions).
pub fn schema_of<T: JsonSchema>() -> Value {
    serde_json::to_value(schemars::schema_for!(T)).unwrap_or(Value::Null)
}

/// The instructions appended to a prompt that expects JSON.
pub fn json_instructions(schema: &Value) -> String {
    let schema = serde_json::to_string_pretty(schema).unwrap_or_default();
    format!(
        "\n\n## Answer format\n\nAnswer with exactly one JSON object that follows this JSON \
         Schema, inside a ```json fenced block, and nothing else:\n\n```json\n{schema}\n```\n"
    )
}

fn single(path: &str, message: impl Into<String>) -> LlmError {
    LlmError::InvalidJson {
        problems: vec![JsonProblem::new(path, message)],
    }
}

/// The fenced blocks of `text` labelled `json` or not labelled, in order.
fn fenced_blocks(text: &str) -> Vec<&str> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        let Some(newline) = after.find('\n') else {
            break;
        };
        let label = after[..newline].trim();
        let body = &after[newline + 1..];
        let Some(close) = body.find("```") else { break };
        if label.is_empty() || label.eq_ignore_ascii_case("json") {
            blocks.push(&body[..close]);
        }
        rest = &body[close + 3..];
    }
    blocks
}

/// `text` without a leading byte-order mark (and the blanks around it).
fn without_bom(text: &str) -> &str {
    text.trim_start().trim_start_matches('\u{feff}').trim()
}

/// The JSON value in an answer, by the rules in the module's documentation.
pub fn extract_json(text: &str) -> Result<Value, LlmError> {
    let text = without_bom(text);
    let parses = |candidate: &str| serde_json::from_str::<Value>(candidate).ok();
    let blocks: Vec<(&str, Value)> = fenced_blocks(text)
        .into_iter()
        .map(without_bom)
        .filter_map(|b| parses(b).map(|v| (b, v)))
        .collect();
    let chosen = match blocks.as_slice() {
        [] => {
            let span = text
                .find('{')
                .zip(text.rfind('}'))
                .filter(|(a, b)| a < b)
                .map(|(a, b)| &text[a..=b]);
            if parses(text).is_some() {
                text
            } else if let Some(span) = span.filter(|s| parses(s).is_some()) {
                span
            } else {
                let reason = match serde_json::from_str::<Value>(text) {
                    Err(err) if !text.is_empty() => err.to_string(),
                    _ => "empty answer".to_owned(),
                };
                return Err(single(".", format!("no JSON found ({reason})")));
            }
        }
        [(first, value), rest @ ..] => {
            // A duplicate key in any block is refused: blocks that look equal once read
            // leniently may read differently to a person.
            for (block, _) in &blocks {
                strict::parse(block).map_err(|err| single(".", err.to_string()))?;
            }
            if let Some(other) = rest.iter().position(|(_, v)| v != value) {
                return Err(single(
                    ".",
                    format!(
                        "the answer has {} JSON blocks, and blocks 1 and {} differ: it is ambiguous which one is meant; give exactly one JSON block",
                        blocks.len(),
                        other + 2
                    ),
                ));
            }
            first
        }
    };
    strict::parse(chosen).map_err(|err| single(".", err.to_string()))
}

/// Cuts every string in `value` longer than `max` bytes (at a character boundary,
/// with a marker). Returns how many were cut.
pub fn cap_strings(value: &mut Value, max: usize) -> usize {
    match value {
        Value::String(s) if s.len() > max => {
            *s = cap_text(s, max);
            1
        }
        Value::Array(items) => items.iter_mut().map(|v| cap_strings(v, max)).sum(),
        Value::Object(map) => map.values_mut().map(|v| cap_strings(v, max)).sum(),
        _ => 0,
    }
}

/// `text` cut to at most about `max` bytes, at a line end when one is near, with a
/// marker saying how much was cut; unchanged when it fits.
pub fn cap_text(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    // A line end in the last quarter makes a tidier cut.
    let cut = match text[..end].rfind('\n') {
        Some(newline) if newline >= end * 3 / 4 => newline,
        _ => end,
    };
    format!("{}\n[… cut: {} more bytes]", &text[..cut], text.len() - cut)
}

/// Checks `value` against `T`'s schema (every failing path), then deserialises it.
pub fn validate<T: DeserializeOwned + JsonSchema>(value: &Value) -> Result<T, LlmError> {
    let problems = check_schema(value, &schema_of::<T>());
    if !problems.is_empty() {
        return Err(LlmError::InvalidJson { problems });
    }
    serde_path_to_error::deserialize(value)
        .map_err(|err| single(&err.path().to_string(), err.inner().to_string()))
}

/// The follow-up prompt of a repair round: the request again, the rejected answer
/// (quoted up to [`MAX_STRING_BYTES`]), and every problem found in it.
pub fn repair_prompt(original: &str, answer: &str, error: &LlmError) -> String {
    let problems = match error {
        LlmError::InvalidJson { problems } => problems
            .iter()
            .map(|p| format!("- {p}"))
            .collect::<Vec<_>>()
            .join("\n"),
        other => format!("- {other}"),
    };
    format!(
        "{original}\n\n## Your previous answer was rejected\n\nYou answered:\n\n{}\n\n\
         It was rejected for these reasons:\n\n{problems}\n\nAnswer again with the corrected \
         JSON object only, in one ```json fenced block.",
        cap_text(answer, MAX_STRING_BYTES)
    )
}
