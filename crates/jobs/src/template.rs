//! Command templates: shell command lines with `$NAME` variables whose values can never
//! become shell syntax.
//!
//! A template is a POSIX shell command line. Before the shell sees it, each `$NAME` or
//! `${NAME}` is replaced by its value quoted for where it stands: outside quotes, as one
//! single-quoted word; inside double quotes, with `"`, `\`, `$` and `` ` `` escaped.
//! Inside single quotes nothing is replaced (as in a shell); the values are also exported
//! as environment variables, so a nested `sh -c '… $NAME …'` still sees them, as data.
//! A `$NAME` with no value (outside single quotes) is an error, and so is a `$NAME`
//! inside `$(…)` or backticks, where the shell would parse its value again. `$$`, `$1`,
//! `$?` and a `\$` escape are left to the shell.

use std::collections::BTreeMap;

use crate::error::JobsError;

/// Values for a template's variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars(BTreeMap<String, String>);

impl Vars {
    /// No variables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` (letters, digits and `_`, not starting with a digit).
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.0.insert(name.into(), value.into());
        self
    }

    /// The same variables with `name` set.
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set(name, value);
        self
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// As environment variables.
    pub fn to_env(&self) -> Vec<(String, String)> {
        self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// Quotes `value` as one shell word.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// Expands `template` with `vars` into a shell command line.
pub fn expand(template: &str, vars: &Vars) -> Result<String, JobsError> {
    #[derive(PartialEq)]
    enum Quote {
        None,
        Single,
        Double,
    }
    let mut out = String::with_capacity(template.len());
    let mut quote = Quote::None;
    // Inside `$(…)` or backticks the shell parses text again, where no quoting we add
    // survives; variables there are refused.
    let mut substitution = 0usize;
    let mut parens = 0usize;
    let mut backtick = false;
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if quote != Quote::Single {
            match c {
                '`' => backtick = !backtick,
                '(' if substitution > 0 => parens += 1,
                ')' if substitution > 0 && parens > 0 => parens -= 1,
                ')' if substitution > 0 => substitution -= 1,
                _ => {}
            }
        }
        match (c, &quote) {
            ('\\', Quote::None | Quote::Double) => {
                out.push(c);
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            ('\'', Quote::None) => {
                quote = Quote::Single;
                out.push(c);
            }
            ('\'', Quote::Single) => {
                quote = Quote::None;
                out.push(c);
            }
            ('"', Quote::None) => {
                quote = Quote::Double;
                out.push(c);
            }
            ('"', Quote::Double) => {
                quote = Quote::None;
                out.push(c);
            }
            ('$', Quote::None | Quote::Double) if chars.peek() == Some(&'(') => {
                chars.next();
                substitution += 1;
                out.push_str("$(");
            }
            ('$', Quote::None | Quote::Double) => {
                let braced = chars.peek() == Some(&'{');
                if braced {
                    chars.next();
                }
                let mut name = String::new();
                while let Some(&next) = chars.peek() {
                    let starts_ok = !name.is_empty() || next.is_ascii_alphabetic() || next == '_';
                    if starts_ok && (next.is_ascii_alphanumeric() || next == '_') {
                        name.push(next);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if braced && chars.next() != Some('}') {
                    return Err(JobsError::BadTemplate {
                        template: template.to_owned(),
                        problem: "`${` without a closing `}`".to_owned(),
                    });
                }
                if name.is_empty() {
                    // `$$`, `$1`, `$?`, a lone `$`: the shell's business.
                    out.push('$');
                    if braced {
                        out.push_str("{}");
                    }
                    continue;
                }
                if substitution > 0 || backtick {
                    return Err(JobsError::BadTemplate {
                        template: template.to_owned(),
                        problem: format!(
                            "${name} stands inside $(…) or backticks, where its value would be parsed \
                             as shell code; move it out, or read it from the environment in a nested \
                             sh -c '… \"${name}\" …'"
                        ),
                    });
                }
                let Some(value) = vars.get(&name) else {
                    return Err(JobsError::UnknownVariable {
                        template: template.to_owned(),
                        name,
                        known: vars
                            .0
                            .keys()
                            .map(|k| format!("${k}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                };
                if quote == Quote::Double {
                    for v in value.chars() {
                        if matches!(v, '"' | '\\' | '$' | '`') {
                            out.push('\\');
                        }
                        out.push(v);
                    }
                } else {
                    out.push_str(&shell_quote(value));
                }
            }
            _ => out.push(c),
        }
    }
    if quote != Quote::None {
        return Err(JobsError::BadTemplate {
            template: template.to_owned(),
            problem: "an unclosed quote".to_owned(),
        });
    }
    Ok(out)
}
