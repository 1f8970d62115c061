//! `autoresearch queue`: list, add, reprioritise and remove experiments while the engine
//! is stopped; refused while it runs.

use crate::support::*;

fn cli(home: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let output = autoresearch(home, None).args(args).output().unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_queue_is_edited_while_the_engine_is_stopped_and_the_edits_run() {
    let root = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let repo = UserRepo::create(root.path());
    std::fs::write(repo.dir.join("train.py"), instrumented(&repo.script)).unwrap();
    let workdir = root.path().join("work");
    let wd = workdir.display().to_string();
    let mut args = new_run_args(&workdir, &repo);
    args.extend(["--agent", "none", "--max-experiments", "1"].map(str::to_owned));
    let (code, _, stderr) = cli(
        home.path(),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(code, 0, "{stderr}");

    let (code, out, _) = cli(home.path(), &["queue", &wd, "list"]);
    assert_eq!((code, out.trim()), (0, "(nothing queued)"));
    let (code, out, stderr) = cli(
        home.path(),
        &[
            "queue",
            &wd,
            "add",
            "--name",
            "eight loaders",
            "--hypothesis",
            "More loader threads.",
            "--launch-arg=--load-concurrency=8",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(out.contains("queued 003_eight_loaders"), "{out}");
    let (code, _, stderr) = cli(
        home.path(),
        &[
            "queue",
            &wd,
            "add",
            "--name",
            "two loaders",
            "--launch-arg=--load-concurrency=2",
            "--priority",
            "5",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let (_, out, _) = cli(
        home.path(),
        &["queue", &wd, "set-priority", "004_two_loaders", "-3"],
    );
    assert!(out.contains("priority -3"), "{out}");
    let (_, out, _) = cli(home.path(), &["queue", &wd, "list"]);
    let order: Vec<&str> = out
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(order, ["004_two_loaders", "003_eight_loaders"], "{out}");
    let (code, _, stderr) = cli(home.path(), &["queue", &wd, "remove", "004_two_loaders"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = cli(home.path(), &["queue", &wd, "remove", "004_two_loaders"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("004_two_loaders is not queued") && stderr.contains("hint:"),
        "{stderr}"
    );
    let (code, _, stderr) = cli(
        home.path(),
        &[
            "queue",
            &wd,
            "add",
            "--name",
            "x",
            "--launch-arg=--bad;flag=1",
        ],
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("not a flag name"), "{stderr}");

    // While an engine holds the work directory, edits are refused with its pid.
    let holder = std::fs::OpenOptions::new()
        .write(true)
        .open(workdir.join("engine/lock"))
        .unwrap();
    holder.lock().unwrap();
    let (code, _, stderr) = cli(home.path(), &["queue", &wd, "remove", "003_eight_loaders"]);
    drop(holder);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("is running on this work directory"),
        "{stderr}"
    );

    // Resumed with a larger budget, the user's experiment runs (the removed one does not).
    let (code, _, stderr) = cli(
        home.path(),
        &["run", &wd, "--max-experiments", "5", "--update-config"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("004_two_loaders] launched"), "{stderr}");
    let rows = table_rows(&workdir);
    let ids: Vec<&str> = rows.iter().map(|r| r["run_id"].as_str()).collect();
    assert!(ids.contains(&"003_eight_loaders"), "{ids:?}");
    assert!(!ids.contains(&"004_two_loaders"), "{ids:?}");
    let command =
        std::fs::read_to_string(workdir.join("runs/003_eight_loaders/command.txt")).unwrap();
    assert!(command.contains("--load-concurrency 8"), "{command}");
    let (code, out, _) = cli(home.path(), &["status", &wd, "--json"]);
    assert_eq!(code, 0);
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["engine_pid"], serde_json::Value::Null);
    assert!(
        status["counts"]["completed"].as_u64().unwrap() >= 2,
        "{status}"
    );
}
