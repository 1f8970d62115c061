//! JSON answers: find the JSON in the text, check it against a Rust type.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::error::LlmError;

/// The JSON Schema of `T` (draft 2020-12, doc comments as descriptions).
pub fn schema_of<T: JsonSchema>() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(T)).unwrap_or(serde_json::Value::Null)
}

/// The instructions appended to a prompt that expects JSON.
pub fn json_instructions(schema: &serde_json::Value) -> String {
    let schema = serde_json::to_string_pretty(schema).unwrap_or_default();
    format!(
        "\n\n## Answer format\n\nAnswer with exactly one JSON object that follows this JSON \
         Schema, inside a ```json fenced block, and nothing else:\n\n```json\n{schema}\n```\n"
    )
}

/// The JSON in an answer: the last ```json fenced block, else the first ``` block that
/// parses, else the whole text.
pub fn extract_json(text: &str) -> Result<serde_json::Value, LlmError> {
    let mut candidates: Vec<&str> = Vec::new();
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
            candidates.push(&body[..close]);
        }
        rest = &body[close + 3..];
    }
    candidates.reverse();
    candidates.push(text);
    let mut first_error = None;
    for candidate in candidates {
        match serde_json::from_str::<serde_json::Value>(candidate.trim()) {
            Ok(value) => return Ok(value),
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    Err(LlmError::InvalidJson {
        path: ".".to_owned(),
        message: format!(
            "no JSON found ({})",
            first_error.map_or_else(|| "empty answer".to_owned(), |e| e.to_string())
        ),
    })
}

/// Deserialises `value` as `T`, naming the exact failing path.
pub fn validate<T: DeserializeOwned>(value: &serde_json::Value) -> Result<T, LlmError> {
    serde_path_to_error::deserialize(value).map_err(|err| LlmError::InvalidJson {
        path: err.path().to_string(),
        message: err.inner().to_string(),
    })
}

/// The follow-up prompt of a repair round.
pub fn repair_prompt(original: &str, answer: &str, error: &LlmError) -> String {
    format!(
        "{original}\n\n## Your previous answer was rejected\n\nYou answered:\n\n{answer}\n\n\
         It does not match the required shape: {error}\n\nAnswer again with the corrected \
         JSON object only, in a ```json fenced block."
    )
}
