//! Choosing an agent.

use std::path::{Path, PathBuf};

use crate::backend::Backend;
use crate::backend::anthropic::{AnthropicApi, AnthropicConfig};
use crate::backend::claude_code::{ClaudeCode, ClaudeCodeConfig};
use crate::error::LlmError;

/// `auto`: the Claude Code CLI if `claude` is on `path_var`, else the Anthropic API if
/// `api_key` is set, else none (the workflow then plans on its own).
pub fn auto(path_var: Option<&str>, api_key: Option<&str>) -> Result<Option<Backend>, LlmError> {
    if let Some(program) = find_program("claude", path_var) {
        return Ok(Some(Backend::ClaudeCode(ClaudeCode::new(
            ClaudeCodeConfig {
                program,
                ..ClaudeCodeConfig::default()
            },
        ))));
    }
    match api_key {
        Some(key) if !key.trim().is_empty() => Ok(Some(Backend::Anthropic(AnthropicApi::new(
            AnthropicConfig::new(key.trim()),
        )?))),
        _ => Ok(None),
    }
}

/// The first executable `name` in the folders of a `PATH`-style list.
pub fn find_program(name: &str, path_var: Option<&str>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    path_var?
        .split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}
