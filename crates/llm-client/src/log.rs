//! Every call's prompt, answer and raw response, with secrets redacted.

use std::path::{Path, PathBuf};

use crate::error::LlmError;

/// Writes `<dir>/<timestamp>_<phase>_prompt.md`, `_output.md` and `_raw.json`.
#[derive(Debug, Clone)]
pub struct CallLog {
    dir: PathBuf,
    secrets: Vec<String>,
}

/// What replaces a secret in the logs.
pub const REDACTED: &str = "[REDACTED]";

impl CallLog {
    /// Logs into `dir`; every string in `secrets` (API keys and the like; empty ones are
    /// ignored) is replaced by `[REDACTED]` in everything written.
    pub fn new(dir: impl Into<PathBuf>, secrets: Vec<String>) -> Self {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| s.len() >= 4).collect();
        // Longest first, so a secret containing another is redacted whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Self {
            dir: dir.into(),
            secrets,
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `text` with every secret replaced.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    /// A unique stem for one call: `<UTC timestamp>_<phase>`.
    pub fn stem(&self, phase: &str) -> String {
        let now = jiff::Timestamp::now();
        let safe: String = phase
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let base = format!("{}_{safe}", now.strftime("%Y%m%dT%H%M%S%.6fZ"));
        let mut stem = base.clone();
        let mut n = 1;
        while self.dir.join(format!("{stem}_prompt.md")).exists() {
            n += 1;
            stem = format!("{base}-{n}");
        }
        stem
    }

    /// Writes one of the call's files (atomically, redacted).
    pub fn write(&self, stem: &str, suffix: &str, text: &str) -> Result<PathBuf, LlmError> {
        std::fs::create_dir_all(&self.dir).map_err(|source| LlmError::Io {
            path: self.dir.clone(),
            source,
        })?;
        let path = self.dir.join(format!("{stem}_{suffix}"));
        autoresearch_fs::write_atomic(&path, self.redact(text).as_bytes()).map_err(|source| {
            LlmError::Io {
                path: path.clone(),
                source,
            }
        })?;
        Ok(path)
    }
}
