//! Several campaigns on one repository at once (two scripts of a monorepo), each with
//! branches of its own; `autoresearch clean` takes one's branches and checkouts back out
//! and leaves the other's alone; nothing is left in the temporary folder.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::support::*;

/// The fixture, instrumented, with its subprocess mode behind a `store_true` flag.
fn with_switch(script: &str) -> String {
    let text = instrumented(script)
        .replacen(
            "    parser.add_argument(\"--mode\", choices=[\"mt\", \"mtp\"], default=\"mt\")",
            "    parser.add_argument(\"--use-subprocess\", action=\"store_true\")",
            1,
        )
        .replacen(
            "    if ARGS.mode == \"mt\":",
            "    if not ARGS.use_subprocess:",
            1,
        );
    assert!(text.contains("if not ARGS.use_subprocess:"));
    text
}

/// The fixture, instrumented, with no flag that selects the subprocess.
fn without_switch(script: &str) -> String {
    let text = instrumented(script)
        .replacen(
            "    parser.add_argument(\"--mode\", choices=[\"mt\", \"mtp\"], default=\"mt\")\n",
            "",
            1,
        )
        .replacen("    if ARGS.mode == \"mt\":", "    if True:", 1);
    assert!(text.contains("if True:"));
    text
}

fn branches(repo: &Path) -> Vec<String> {
    git(
        repo,
        &[
            "branch",
            "--list",
            "autoresearch/*",
            "--format=%(refname:short)",
        ],
    )
    .lines()
    .map(str::to_owned)
    .collect()
}

fn worktrees(repo: &Path) -> String {
    git(repo, &["worktree", "list", "--porcelain"])
}

#[test]
fn two_campaigns_run_at_once_on_one_repository_and_clean_takes_one_back_out() {
    let root = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let tmp = root.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let repo = UserRepo::create(root.path());
    std::fs::write(repo.dir.join("train.py"), with_switch(&repo.script)).unwrap();
    std::fs::create_dir_all(repo.dir.join("other")).unwrap();
    std::fs::write(
        repo.dir.join("other/train.py"),
        without_switch(&repo.script),
    )
    .unwrap();
    git(&repo.dir, &["add", "-A"]);
    git(&repo.dir, &["commit", "-qm", "two jobs in one repository"]);
    let head = git(&repo.dir, &["rev-parse", "HEAD"]);
    let repo = UserRepo {
        head,
        script: std::fs::read_to_string(repo.dir.join("train.py")).unwrap(),
        dir: repo.dir,
    };
    let first = root.path().join("first");
    let second = root.path().join("second");
    let start = |workdir: &Path, script: &Path, source: &Path| {
        let mut args = new_run_args(workdir, &repo);
        set_arg(&mut args, "--pipeline-script", script.display().to_string());
        set_arg(&mut args, "--source-dir", source.display().to_string());
        args.extend(
            [
                "--agent",
                "none",
                "--max-concurrency",
                "1",
                "--max-experiments",
                "4",
            ]
            .map(str::to_owned),
        );
        autoresearch(home.path(), None)
            .env("TMPDIR", &tmp)
            .args(&args)
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    };
    let a = start(&first, &repo.dir.join("train.py"), &repo.dir);
    let b = start(
        &second,
        &repo.dir.join("other/train.py"),
        &repo.dir.join("other"),
    );
    let (a, b) = (
        finish(a, Duration::from_secs(300)),
        finish(b, Duration::from_secs(300)),
    );
    let (err_a, err_b) = (
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr),
    );
    assert_eq!(a.status.code(), Some(0), "first:\n{err_a}");
    assert_eq!(b.status.code(), Some(0), "second:\n{err_b}");
    for (workdir, err) in [(&first, &err_a), (&second, &err_b)] {
        // The budget is 4; the built-in planner may reach the floor in fewer.
        let rows = table_rows(workdir);
        assert!((3..=4).contains(&rows.len()), "{err}");
        assert!(
            rows.iter().all(|r| r["status"] == "completed"),
            "{rows:?}\n{err}"
        );
    }

    // The store_true subprocess flag runs the MTP seed; without one the seed says why.
    let mtp = std::fs::read_to_string(first.join("runs/002_mtp/command.txt")).unwrap();
    assert!(mtp.trim_end().ends_with("--use-subprocess"), "{mtp}");
    let state_b = json_file(&second.join("state.json"));
    let skipped = state_b["skipped"][0]["reason"].as_str().unwrap();
    assert!(
        skipped.contains("no unfrozen flag of the script selects run_pipeline_in_subprocess"),
        "{skipped}"
    );

    // Each campaign has branches of its own.
    let state_a = json_file(&first.join("state.json"));
    let (ns_a, ns_b) = (
        state_a["branch_namespace"].as_str().unwrap().to_owned(),
        state_b["branch_namespace"].as_str().unwrap().to_owned(),
    );
    assert_ne!(ns_a, ns_b);
    assert!(ns_a.starts_with("autoresearch/first-"), "{ns_a}");
    let all = branches(&repo.dir);
    let of = |ns: &str| {
        all.iter()
            .filter(|b| b.starts_with(&format!("{ns}/")))
            .count()
    };
    assert_eq!(of(&ns_a) + of(&ns_b), all.len(), "{all:?}");
    assert!(of(&ns_a) >= 4 && of(&ns_b) >= 3, "{all:?}");
    assert!(all.contains(&format!("{ns_a}/setup")), "{all:?}");

    // clean takes the first campaign's checkouts and branches out, but its best's.
    let clean = autoresearch(home.path(), None)
        .args(["clean", &first.display().to_string()])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&clean.stdout);
    assert_eq!(clean.status.code(), Some(0), "{out}\n{clean:?}");
    let best_a = state_a["current_best"].as_str().unwrap();
    let left = branches(&repo.dir);
    assert!(
        left.iter()
            .filter(|b| b.starts_with(&format!("{ns_a}/")))
            .eq([&format!("{ns_a}/{best_a}")]),
        "only the best's branch is kept: {left:?}\n{out}"
    );
    assert!(
        out.contains(&format!("kept branch {ns_a}/{best_a}")),
        "{out}"
    );
    assert_eq!(
        left.iter()
            .filter(|b| b.starts_with(&format!("{ns_b}/")))
            .count(),
        of(&ns_b),
        "the other campaign's branches stay"
    );
    let trees = worktrees(&repo.dir);
    assert!(!trees.contains(&first.display().to_string()), "{trees}");
    assert!(trees.contains(&second.display().to_string()), "{trees}");
    assert!(
        first.join("master_table.tsv").is_file(),
        "the work directory's files stay"
    );
    // --all takes the best's branch too; a second clean finds nothing.
    let all_out = autoresearch(home.path(), None)
        .args(["clean", &first.display().to_string(), "--all"])
        .output()
        .unwrap();
    assert_eq!(all_out.status.code(), Some(0));
    assert!(
        branches(&repo.dir)
            .iter()
            .all(|b| !b.starts_with(&format!("{ns_a}/")))
    );
    let again = autoresearch(home.path(), None)
        .args(["clean", &first.display().to_string()])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("nothing of this run's is left"),
        "{again:?}"
    );

    // Nothing either run made is left in the temporary folder.
    let litter: Vec<String> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("autoresearch"))
        .collect();
    assert!(litter.is_empty(), "left in TMPDIR: {litter:?}");
    repo.assert_untouched();
}

#[test]
fn clean_refuses_a_folder_that_is_no_run_a_running_engine_and_jobs_in_flight() {
    let root = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let clean = |workdir: &Path| {
        autoresearch(home.path(), None)
            .args(["clean", &workdir.display().to_string()])
            .output()
            .unwrap()
    };
    let out = clean(root.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not an autoresearch work directory"), "{err}");

    let repo = UserRepo::create(root.path());
    std::fs::write(repo.dir.join("train.py"), instrumented(&repo.script)).unwrap();
    git(&repo.dir, &["commit", "-qam", "instrumented"]);
    let workdir = root.path().join("work");
    let mut args = new_run_args(&workdir, &repo);
    set_arg(
        &mut args,
        "--base-launch-command",
        "echo '[autoresearch] {}'; exec sleep 617 # $SCRIPT",
    );
    args.extend(["--agent", "none", "--max-concurrency", "1"].map(str::to_owned));
    let mut child = autoresearch(home.path(), None).args(&args).spawn().unwrap();
    wait_until("the baseline's job", Duration::from_secs(120), || {
        node_status(&workdir, "000_baseline") == "running"
    });
    let out = clean(&workdir);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("another engine"),
        "{out:?}"
    );
    child.kill().unwrap(); // SIGKILL: the job keeps running, its checkout in use.
    let _ = child.wait();
    let out = clean(&workdir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("experiments in flight (000_baseline)"),
        "{err}"
    );
    assert!(workdir.join("checkouts/000_baseline").is_dir());
    let _ = std::process::Command::new("pkill")
        .args(["-f", "sleep 617"])
        .status();
}
