//! Checking a JSON value against the JSON Schema that `schemars` writes for a Rust type,
//! reporting **every** failing path at once (deserialising stops at the first), so one
//! repair round can fix them all.
//!
//! Only the keywords `schemars` emits for plain data types are understood: `$ref` into
//! `$defs`, `type`, `enum`, `const`, `anyOf`, `oneOf`, `allOf`, `properties`,
//! `required`, `additionalProperties`, `items`, `minimum` and `maximum`. Anything else
//! is ignored, so the check never refuses what deserialising would accept.

use serde_json::Value;

/// One thing wrong with an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonProblem {
    /// Where, as `experiments[0].launch_args` (`.` for the whole answer).
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

impl JsonProblem {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        let path = path.into();
        Self {
            path: if path.is_empty() {
                ".".to_owned()
            } else {
                path
            },
            message: message.into(),
        }
    }
}

impl std::fmt::Display for JsonProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`: {}", self.path, self.message)
    }
}

/// Most problems reported for one answer: past this the answer is just wrong.
const MAX_PROBLEMS: usize = 20;

/// The schema that allows anything (an unresolvable reference).
static ANYTHING: Value = Value::Bool(true);

/// Every place where `value` breaks `schema` (empty when it fits).
pub fn check(value: &Value, schema: &Value) -> Vec<JsonProblem> {
    let mut checker = Checker {
        root: schema,
        problems: Vec::new(),
    };
    checker.walk(value, schema, "", 0);
    checker.problems.truncate(MAX_PROBLEMS);
    checker.problems
}

struct Checker<'a> {
    root: &'a Value,
    problems: Vec<JsonProblem>,
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn fits_type(value: &Value, wanted: &str) -> bool {
    match wanted {
        "number" => value.is_number(),
        // As serde reads integers: `4.0` is a number, not an integer.
        "integer" => value.is_i64() || value.is_u64(),
        other => type_name(value) == other,
    }
}

/// A value as an answer shows it, shortened.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(60).collect::<String>())
    } else {
        text
    }
}

/// A note for strings that only look like an allowed value (`lаunch` with a Cyrillic а).
fn lookalike_note(value: &Value) -> &'static str {
    match value {
        Value::String(s) if !s.is_ascii() => " (it has non-ASCII characters)",
        _ => "",
    }
}

/// `expected string, found integer 3`.
fn wrong_type(value: &Value, wanted: Option<&Value>) -> String {
    let wanted = match wanted {
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        Some(Value::String(t)) => t.clone(),
        _ => "another type".to_owned(),
    };
    format!(
        "expected {wanted}, found {} {}",
        type_name(value),
        shown(value)
    )
}

/// `"lаunch" (it has non-ASCII characters) is not one of "launch", "stop"`.
fn not_one_of(value: &Value, allowed: &[String]) -> String {
    format!(
        "{}{} is not one of {}",
        shown(value),
        lookalike_note(value),
        allowed.join(", ")
    )
}

impl<'a> Checker<'a> {
    fn problem(&mut self, path: &str, message: String) {
        self.problems.push(JsonProblem::new(path, message));
    }

    fn resolve(&self, schema: &'a Value) -> &'a Value {
        let mut schema = schema;
        // A bounded number of hops: a schema that refers to itself in a loop is ignored.
        for _ in 0..16 {
            let Some(target) = schema.get("$ref").and_then(Value::as_str) else {
                return schema;
            };
            let Some(found) = target
                .strip_prefix('#')
                .and_then(|pointer| self.root.pointer(pointer))
            else {
                return &ANYTHING;
            };
            schema = found;
        }
        schema
    }

    /// Whether `value` fits `schema`, without recording anything.
    fn fits(&self, value: &Value, schema: &'a Value, depth: usize) -> bool {
        let mut probe = Checker {
            root: self.root,
            problems: Vec::new(),
        };
        probe.walk(value, schema, "", depth);
        probe.problems.is_empty()
    }

    fn walk(&mut self, value: &Value, schema: &'a Value, path: &str, depth: usize) {
        if depth > 64 {
            return;
        }
        let schema = self.resolve(schema);
        if schema == &Value::Bool(false) {
            self.problem(path, "no value is allowed here".to_owned());
            return;
        }
        let Some(obj) = schema.as_object() else {
            return;
        };
        if let Some(options) = obj
            .get("anyOf")
            .or_else(|| obj.get("oneOf"))
            .and_then(Value::as_array)
        {
            self.walk_alternatives(value, options, path, depth);
            return;
        }
        if let Some(all) = obj.get("allOf").and_then(Value::as_array) {
            for s in all {
                self.walk(value, s, path, depth + 1);
            }
        }
        if !self.type_allows(value, schema) {
            self.problem(path, wrong_type(value, obj.get("type")));
            return;
        }
        self.check_value(value, obj, path);
        match value {
            Value::Object(map) => self.walk_object(map, obj, path, depth),
            Value::Array(items) => {
                if let Some(item_schema) = obj.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.walk(item, item_schema, &format!("{path}[{i}]"), depth + 1);
                    }
                }
            }
            _ => {}
        }
    }

    /// `anyOf`/`oneOf`: fine when one option fits; otherwise the problem is reported
    /// through the one option of the value's own type when exactly one has it
    /// (`Option<T>`: T or null), as the allowed constants for an enum of documented
    /// variants, or in one line.
    fn walk_alternatives(&mut self, value: &Value, options: &'a [Value], path: &str, depth: usize) {
        if options.iter().any(|o| self.fits(value, o, depth + 1)) {
            return;
        }
        let constants: Option<Vec<String>> = options
            .iter()
            .map(|o| self.resolve(o).get("const").map(shown))
            .collect();
        let typed: Vec<&'a Value> = options
            .iter()
            .filter(|o| self.type_allows(value, self.resolve(o)))
            .collect();
        if let Some(constants) = constants {
            self.problem(path, not_one_of(value, &constants));
        } else if let [only] = typed.as_slice() {
            self.walk(value, only, path, depth + 1);
        } else {
            self.problem(
                path,
                format!("{} does not fit any of the allowed shapes", shown(value)),
            );
        }
    }

    /// The rules on a value of the right type: `enum`, `const`, `minimum`, `maximum`.
    fn check_value(&mut self, value: &Value, obj: &serde_json::Map<String, Value>, path: &str) {
        if let Some(allowed) = obj.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            let list: Vec<String> = allowed.iter().map(shown).collect();
            self.problem(path, not_one_of(value, &list));
        }
        if let Some(expected) = obj.get("const")
            && expected != value
        {
            self.problem(
                path,
                format!(
                    "{}{} is not {}",
                    shown(value),
                    lookalike_note(value),
                    shown(expected)
                ),
            );
        }
        if let Some(n) = value.as_f64() {
            if let Some(min) = obj.get("minimum").and_then(Value::as_f64)
                && n < min
            {
                self.problem(path, format!("{n} is below the minimum {min}"));
            }
            if let Some(max) = obj.get("maximum").and_then(Value::as_f64)
                && n > max
            {
                self.problem(path, format!("{n} is above the maximum {max}"));
            }
        }
    }

    fn type_allows(&self, value: &Value, schema: &Value) -> bool {
        match schema.get("type") {
            Some(Value::String(t)) => fits_type(value, t),
            Some(Value::Array(types)) => types
                .iter()
                .filter_map(Value::as_str)
                .any(|t| fits_type(value, t)),
            _ => true,
        }
    }

    fn walk_object(
        &mut self,
        map: &serde_json::Map<String, Value>,
        schema: &'a serde_json::Map<String, Value>,
        path: &str,
        depth: usize,
    ) {
        let properties = schema.get("properties").and_then(Value::as_object);
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(name) {
                    self.problem(&child(path, name), "required, but missing".to_owned());
                }
            }
        }
        for (key, item) in map {
            let at = child(path, key);
            if let Some(s) = properties.and_then(|p| p.get(key)) {
                self.walk(item, s, &at, depth + 1);
                continue;
            }
            match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => {
                    let known: Vec<&str> = properties
                        .map(|p| p.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    self.problem(
                        &at,
                        format!("unknown field; the allowed fields are {}", known.join(", ")),
                    );
                }
                Some(s @ Value::Object(_)) => self.walk(item, s, &at, depth + 1),
                _ => {}
            }
        }
    }
}
