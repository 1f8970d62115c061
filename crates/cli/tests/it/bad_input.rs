//! Bad input: each gets exit code 2, a message naming the problem and the fix, and
//! leaves nothing half-written.

use std::path::Path;

use crate::support::*;

fn run(home: &Path, args: &[String]) -> (i32, String) {
    let output = autoresearch(home, None).args(args).output().unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn with(args: &[String], flag: &str, value: &str) -> Vec<String> {
    let mut args = args.to_vec();
    set_arg(&mut args, flag, value);
    args
}

#[test]
fn new_runs_with_unusable_flags_are_refused_before_anything_is_written() {
    let root = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let repo = UserRepo::create(root.path());
    let workdir = root.path().join("work");
    let args = new_run_args(&workdir, &repo);
    let outside = root.path().join("elsewhere.py");
    std::fs::write(&outside, "print(1)\n").unwrap();
    let plain = root.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    std::fs::write(plain.join("train.py"), repo.script.clone()).unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            with(&args, "--pipeline-script", "/no/such/train.py"),
            "--pipeline-script",
        ),
        (
            with(&args, "--pipeline-script", &outside.display().to_string()),
            "is outside the source folder",
        ),
        (
            with(
                &with(&args, "--source-dir", &plain.display().to_string()),
                "--pipeline-script",
                &plain.join("train.py").display().to_string(),
            ),
            "hint: run `git init",
        ),
        (
            with(&args, "--build-command", "make image"),
            "never uses $IMAGE",
        ),
        (with(&args, "--max-concurrency", "0"), "--max-concurrency"),
        (
            with(&args, "--agent", "anthropic"),
            "ANTHROPIC_API_KEY is not set",
        ),
    ];
    for (case, expected) in cases {
        let (code, stderr) = run(home.path(), &case);
        assert_eq!(code, 2, "{case:?}\n{stderr}");
        assert!(
            stderr.contains(expected),
            "expected {expected:?} in:\n{stderr}"
        );
        assert!(
            stderr.contains("hint:"),
            "every refusal says how to fix it:\n{stderr}"
        );
        assert!(
            !workdir.join("config.json").exists(),
            "{case:?} left a config.json"
        );
        assert!(!workdir.join("state.json").exists());
    }
    // A work directory that was never initialised.
    let empty = root.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, stderr) = run(
        home.path(),
        &["run".to_owned(), empty.display().to_string()],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("is not an autoresearch work directory"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(&empty).unwrap().count(),
        0,
        "nothing was written"
    );
    repo.assert_untouched();
}

#[test]
fn resumes_refuse_conflicts_locks_and_damaged_files() {
    let root = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let repo = UserRepo::create(root.path());
    // The script must call the probe for --agent none.
    let text = instrumented(&repo.script);
    std::fs::write(repo.dir.join("train.py"), &text).unwrap();
    let workdir = root.path().join("work");
    let mut args = new_run_args(&workdir, &repo);
    args.extend(["--agent", "none", "--max-experiments", "1"].map(str::to_owned));
    let (code, stderr) = run(home.path(), &args);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("snapshotted"),
        "uncommitted changes are snapshotted: {stderr}"
    );
    assert!(
        stderr.contains("stopped: the budget of 1 experiments"),
        "{stderr}"
    );
    let wd = workdir.display().to_string();

    // Conflicting flags: listed, with the way out.
    let (code, stderr) = run(
        home.path(),
        &["run".into(), wd.clone(), "--patience".into(), "9".into()],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("patience: stored 3, requested 9"),
        "{stderr}"
    );
    assert!(stderr.contains("--update-config"), "{stderr}");
    let (code, stderr) = run(
        home.path(),
        &[
            "run".into(),
            wd.clone(),
            "--agent".into(),
            "claude-code".into(),
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("cannot change in a run"), "{stderr}");

    // A locked work directory names the holder.
    let holder = std::fs::OpenOptions::new()
        .write(true)
        .open(workdir.join("engine/lock"))
        .unwrap();
    holder.lock().unwrap();
    let (code, stderr) = run(home.path(), &["run".into(), wd.clone()]);
    drop(holder);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("another engine (pid"), "{stderr}");

    // Damaged files are named, with a hint, and left as they were.
    for file in ["state.json", "engine/checkpoint.json"] {
        let path = workdir.join(file);
        let good = std::fs::read(&path).unwrap();
        std::fs::write(&path, b"{ not json").unwrap();
        let (code, stderr) = run(home.path(), &["run".into(), wd.clone()]);
        assert_eq!(code, 2, "{file}: {stderr}");
        assert!(
            stderr.contains(file.rsplit('/').next().unwrap()),
            "{file}: {stderr}"
        );
        assert!(stderr.contains("hint:"), "{stderr}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"{ not json",
            "{file} was not overwritten"
        );
        std::fs::write(&path, good).unwrap();
    }
    // Still resumable after all that.
    let (code, stderr) = run(
        home.path(),
        &[
            "run".into(),
            wd,
            "--max-experiments".into(),
            "2".into(),
            "--update-config".into(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(table_rows(&workdir).len(), 2, "{stderr}");
}
