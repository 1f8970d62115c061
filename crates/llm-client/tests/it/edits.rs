//! Parsing and applying search/replace edits, and finding JSON in answers.

use std::os::unix::fs::symlink;

use autoresearch_llm_client::edits::{apply_edits, parse_edits};
use autoresearch_llm_client::json::extract_json;
use autoresearch_llm_client::{FileEdit, LlmError};

#[test]
fn json_is_found_in_fences_or_alone() {
    assert_eq!(extract_json("{\"a\": 1}").unwrap()["a"], 1);
    assert_eq!(
        extract_json("text\n```json\n{\"a\": 2}\n```\nmore").unwrap()["a"],
        2
    );
    assert!(
        extract_json("```json\n{\"a\": 1}\n```\n```json\n{\"a\": 3}\n```").is_err(),
        "two blocks that differ are ambiguous"
    );
    assert_eq!(extract_json("```\n[1, 2]\n```").unwrap()[1], 2);
    assert!(matches!(
        extract_json("no json here"),
        Err(LlmError::InvalidJson { .. })
    ));
    assert!(matches!(
        extract_json(""),
        Err(LlmError::InvalidJson { .. })
    ));
}

#[test]
fn edits_apply_all_or_nothing() {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("a.py"), "x = 1\nx = 1\ny = 2\n").unwrap();
    let edit = |path: &str, search: &str, replace: &str| FileEdit {
        path: path.into(),
        search: search.into(),
        replace: replace.into(),
    };
    // Ambiguous, missing, and creating an existing file: refused, nothing written.
    for (edits, reason) in [
        (
            vec![
                edit("a.py", "y = 2\n", "y = 3\n"),
                edit("a.py", "x = 1\n", "x = 0\n"),
            ],
            "appears 2 times",
        ),
        (vec![edit("a.py", "z = 9\n", "")], "not in the file"),
        (vec![edit("a.py", "", "new")], "exists"),
        (vec![edit("missing.py", "a", "b")], "does not exist"),
    ] {
        let err = apply_edits(work.path(), &edits).unwrap_err();
        assert!(err.to_string().contains(reason), "{err}");
        assert_eq!(
            std::fs::read_to_string(work.path().join("a.py")).unwrap(),
            "x = 1\nx = 1\ny = 2\n"
        );
    }
    // Two edits of one file apply in order.
    apply_edits(
        work.path(),
        &[
            edit("a.py", "y = 2\n", "y = 3\n"),
            edit("a.py", "y = 3\n", "y = 4\n"),
        ],
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(work.path().join("a.py")).unwrap(),
        "x = 1\nx = 1\ny = 4\n"
    );
}

#[test]
fn a_symlink_cannot_carry_an_edit_outside() {
    let outside = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    symlink(outside.path(), work.path().join("escape")).unwrap();
    let err = apply_edits(
        work.path(),
        &[FileEdit {
            path: "escape/evil.py".into(),
            search: String::new(),
            replace: "boom".into(),
        }],
    )
    .unwrap_err();
    assert!(err.to_string().contains("outside"), "{err}");
    assert!(!outside.path().join("evil.py").exists());
}

#[test]
fn malformed_blocks_are_errors() {
    assert!(
        parse_edits("<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n").is_err(),
        "no path"
    );
    assert!(
        parse_edits("### a.py\n<<<<<<< SEARCH\nx\n=======\ny\n").is_err(),
        "unterminated"
    );
    assert!(parse_edits("just prose, no edits").unwrap().is_empty());
    let edits =
        parse_edits("### `src/a.py`\n```\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n```\n")
            .unwrap();
    assert_eq!(edits[0].path, std::path::Path::new("src/a.py"));
}

#[test]
fn auto_selection_prefers_the_cli_then_the_api_key_then_nothing() {
    use autoresearch_llm_client::select::auto;
    let bin =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/node_modules/.bin");
    let path = format!("/nonexistent:{}", bin.display());
    assert_eq!(
        auto(Some(&path), Some("key")).unwrap().unwrap().name(),
        "claude-code"
    );
    assert_eq!(
        auto(Some("/nonexistent"), Some("key"))
            .unwrap()
            .unwrap()
            .name(),
        "anthropic"
    );
    assert!(auto(Some("/nonexistent"), Some("  ")).unwrap().is_none());
    assert!(auto(None, None).unwrap().is_none());
}

#[test]
fn cli_command_lines() {
    use autoresearch_llm_client::{AgentCall, ClaudeCode, ClaudeCodeConfig, CodexCli, CodexConfig};
    let claude = ClaudeCode::new(ClaudeCodeConfig {
        model: Some("opus".into()),
        allowed_tools: vec!["Edit".into(), "Write".into()],
        max_turns: Some(12),
        extra_args: vec!["--verbose".into()],
        ..ClaudeCodeConfig::default()
    });
    let plain = AgentCall::new("plan", "x");
    let edit = AgentCall::new("apply", "x").editing("/work/checkout");
    insta::assert_snapshot!(
        "cli_command_lines",
        format!(
            "claude (plan):  {}\nclaude (apply): {}\ncodex (plan):   {}\ncodex (apply):  {}\n",
            claude.args(&plain).join(" "),
            claude.args(&edit).join(" "),
            CodexCli::new(CodexConfig::default())
                .args(&plain, std::path::Path::new("/tmp/last.txt"))
                .join(" "),
            CodexCli::new(CodexConfig::default())
                .args(&edit, std::path::Path::new("/tmp/last.txt"))
                .join(" "),
        )
    );
}

#[test]
fn a_symlinked_file_and_a_binary_file_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("target.py"), "x = 1\n").unwrap();
    let work = tempfile::tempdir().unwrap();
    symlink(
        outside.path().join("target.py"),
        work.path().join("link.py"),
    )
    .unwrap();
    std::fs::write(work.path().join("blob.bin"), [0xffu8, 0xfe, 0x00]).unwrap();
    let edit = |path: &str, search: &str| FileEdit {
        path: path.into(),
        search: search.into(),
        replace: "y = 2\n".into(),
    };
    let err = apply_edits(work.path(), &[edit("link.py", "x = 1\n")]).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(
        std::fs::read_to_string(outside.path().join("target.py")).unwrap(),
        "x = 1\n"
    );
    let err = apply_edits(work.path(), &[edit("blob.bin", "")]).unwrap_err();
    assert!(err.to_string().contains("not UTF-8"), "{err}");
    assert_eq!(
        std::fs::read(work.path().join("blob.bin")).unwrap(),
        [0xffu8, 0xfe, 0x00]
    );
}
