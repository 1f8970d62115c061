//! The command line as a person sees it.

use std::process::Command;

fn autoresearch(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_autoresearch"))
        .args(args)
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn help_describes_the_tool() {
    let (code, stdout, _) = autoresearch(&["--help"]);
    assert_eq!(code, 0);
    insta::assert_snapshot!(stdout);
}

#[test]
fn no_arguments_prints_help_and_exits_with_the_usage_code() {
    let (code, _, stderr) = autoresearch(&[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("Usage: autoresearch"), "{stderr}");
}

#[test]
fn an_unknown_flag_is_a_usage_error_that_names_it() {
    let (code, _, stderr) = autoresearch(&["--frobnicate"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--frobnicate"), "{stderr}");
}

#[test]
fn version_matches_the_package() {
    let (code, stdout, _) = autoresearch(&["--version"]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout.trim(),
        format!("autoresearch {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn the_job_supervisor_subcommand_is_hidden_but_works() {
    let (_, help, _) = autoresearch(&["--help"]);
    assert!(!help.contains("supervise"), "{help}");
    let dir = std::env::temp_dir().join(format!("ar-cli-supervise-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let request = dir.join("request.json");
    std::fs::write(
        &request,
        format!(
            r#"{{"name":"cli_job","command":"echo from-cli","cwd":"{d}","env":[],"stdout":"{d}/out.log","stderr":"{d}/err.log"}}"#,
            d = dir.display()
        ),
    )
    .unwrap();
    let (code, _, stderr) = autoresearch(&[
        "__supervise-job",
        request.to_str().unwrap(),
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.join("out.log")).unwrap(),
        "from-cli\n"
    );
    let state = std::fs::read_to_string(dir.join("cli_job/state.json")).unwrap();
    assert!(state.contains("\"exit_code\": 0"), "{state}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sample_wraps_a_command_and_prints_samples_the_parser_reads() {
    let (code, stdout, stderr) = autoresearch(&[
        "sample",
        "--interval-ms",
        "100",
        "--",
        "sh",
        "-c",
        "echo job started; sleep 0.6; echo job done; exit 3",
    ]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stdout.contains("job started\n") && stdout.contains("job done\n"),
        "{stdout}"
    );
    let evidence = autoresearch_metrics::Evidence::from_reader(stdout.as_bytes()).unwrap();
    assert!(evidence.samples.len() >= 3, "{stdout}");
    assert!(
        evidence
            .samples
            .iter()
            .all(|s| s.host_mem_total_bytes.is_some())
    );
    assert!(evidence.samples.iter().any(|s| s.host_cpu_pct.is_some()));
    assert_eq!(evidence.unreadable_probe_lines, 0);
}

#[test]
fn sample_without_a_command_is_a_usage_error() {
    let (code, _, stderr) = autoresearch(&["sample"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("COMMAND"), "{stderr}");
    let (code, _, stderr) = autoresearch(&["sample", "--", "no-such-program-xyz"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no-such-program-xyz"), "{stderr}");
}

#[test]
fn tree_prints_a_work_directory_s_experiments() {
    use autoresearch_hypothesis_tree::{HypothesisTree, NodeStatus, store};
    let dir = tempfile::tempdir().unwrap();
    let engine = dir.path().join("engine");
    let mut tree = HypothesisTree::new();
    let base = tree
        .add("baseline", None, serde_json::json!({}), 0.0)
        .unwrap();
    for s in [
        NodeStatus::Preparing,
        NodeStatus::Running,
        NodeStatus::Analyzing,
        NodeStatus::Completed,
    ] {
        tree.transition(&base, s).unwrap();
    }
    tree.update(&base, |n| {
        n.launch_order = Some(1);
        n.improved = true;
        n.metrics.step_ms = Some(65.8);
    })
    .unwrap();
    tree.add("mtp", Some(&base), serde_json::json!({}), 0.0)
        .unwrap();
    store::save_changes(&mut tree, &engine).unwrap();
    // The best is the run's, from state.json (as `status` shows it).
    std::fs::write(
        dir.path().join("state.json"),
        serde_json::json!({
            "schema_version": 1,
            "status": "stopped",
            "started_at": "2026-01-01T00:00:00Z",
            "current_best": base,
        })
        .to_string(),
    )
    .unwrap();
    let (code, stdout, stderr) = autoresearch(&["tree", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!(stdout);

    let (code, _, stderr) = autoresearch(&["tree", "/nonexistent/workdir"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("not an autoresearch work directory"),
        "{stderr}"
    );
}

#[test]
fn knobs_prints_the_table_with_its_evidence_and_refuses_bad_input() {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/demo/train.py");
    let (code, stdout, stderr) = autoresearch(&[
        "knobs",
        demo,
        "--command",
        "python train.py --fetch-concurrency 3",
    ]);
    assert_eq!(code, 0, "{stderr}");
    insta::assert_snapshot!(stdout);
    let (code, stdout, _) = autoresearch(&["knobs", demo, "--json", "--freeze", "mode"]);
    assert_eq!(code, 0);
    let table: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let flags: Vec<&str> = table
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["flag"].as_str().unwrap())
        .collect();
    assert!(
        !flags.contains(&"--mode") && flags.contains(&"--batch-size"),
        "{flags:?}"
    );
    let (code, _, stderr) = autoresearch(&["knobs", "/nonexistent/train.py"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("is not a file") && stderr.contains("hint:"),
        "{stderr}"
    );
    let (code, _, stderr) = autoresearch(&["knobs", demo, "--knob", "nope=int:1..2"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no such argparse option"), "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("train.py");
    std::fs::write(&broken, "import argparse\ndef f(:\n").unwrap();
    let (code, _, stderr) = autoresearch(&["knobs", broken.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("the script does not parse") && stderr.contains("line 2"),
        "{stderr}"
    );
    let plain = dir.path().join("plain.py");
    std::fs::write(&plain, "print('no flags')\n").unwrap();
    let (code, stdout, _) = autoresearch(&["knobs", plain.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(stdout.contains("has no argparse options"), "{stdout}");
}
