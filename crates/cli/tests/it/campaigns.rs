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
    let mut c = Checks::default();
    c.check(
        a.status.code() == Some(0),
        "[12] the first campaign exits 0",
    );
    c.check(
        b.status.code() == Some(0),
        "[12] the second campaign on the same repository exits 0",
    );
    for (workdir, label) in [(&first, "first"), (&second, "second")] {
        // The budget is 4; the built-in planner may reach the floor in fewer.
        let rows = table_rows(workdir);
        c.check(
            (3..=4).contains(&rows.len()) && rows.iter().all(|r| r["status"] == "completed"),
            format!("[12] the {label} campaign's experiments completed: {rows:?}"),
        );
    }

    // [15] The store_true subprocess flag runs the MTP seed; without one the seed says
    // why it is skipped.
    let mtp = std::fs::read_to_string(first.join("runs/002_mtp/command.txt")).unwrap_or_default();
    c.check(
        mtp.trim_end().ends_with("--use-subprocess"),
        format!("[15] the MTP seed runs through the store_true flag: {mtp:?}"),
    );
    let state_b = json_or_null(&second.join("state.json"));
    let skipped = state_b["skipped"][0]["reason"].as_str().unwrap_or_default();
    c.check(
        skipped.contains("no unfrozen flag of the script selects run_pipeline_in_subprocess"),
        format!("[15] a skipped seed gives its true reason: {skipped:?}"),
    );

    // [13] Nothing either run made is left in the temporary folder.
    let litter: Vec<String> = std::fs::read_dir(&tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("autoresearch"))
        .collect();
    c.check(
        litter.is_empty(),
        format!("[13] left in TMPDIR: {litter:?}"),
    );

    // [12] Each campaign has branches of its own.
    let state_a = json_or_null(&first.join("state.json"));
    let ns_a = state_a["branch_namespace"]
        .as_str()
        .unwrap_or("?a")
        .to_owned();
    let ns_b = state_b["branch_namespace"]
        .as_str()
        .unwrap_or("?b")
        .to_owned();
    let all = branches(&repo.dir);
    let of = |ns: &str, list: &[String]| {
        list.iter()
            .filter(|b| b.starts_with(&format!("{ns}/")))
            .count()
    };
    c.check(
        ns_a != ns_b && ns_a.starts_with("autoresearch/first-"),
        format!("[12] two namespaces: {ns_a}, {ns_b}"),
    );
    c.check(
        of(&ns_a, &all) + of(&ns_b, &all) == all.len()
            && of(&ns_a, &all) >= 4
            && of(&ns_b, &all) >= 3
            && all.contains(&format!("{ns_a}/setup")),
        format!("[12] every branch is in one run's namespace: {all:?}"),
    );

    // [12] clean refuses a run that may still be resumed (unless --force).
    let state_file = first.join("state.json");
    let stopped = std::fs::read_to_string(&state_file).unwrap_or_default();
    std::fs::write(
        &state_file,
        stopped.replace("\"status\": \"stopped\"", "\"status\": \"interrupted\""),
    )
    .unwrap();
    let refused = autoresearch(home.path(), None)
        .args(["clean", &first.display().to_string()])
        .output()
        .unwrap();
    c.check(
        refused.status.code() == Some(2)
            && String::from_utf8_lossy(&refused.stderr).contains("the run has not stopped")
            && branches(&repo.dir).len() == all.len(),
        format!("[12] clean refuses a resumable run and changes nothing: {refused:?}"),
    );
    std::fs::write(&state_file, &stopped).unwrap();

    // [12] clean takes the first campaign's checkouts and branches out, but its best's.
    let clean = autoresearch(home.path(), None)
        .args(["clean", &first.display().to_string()])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&clean.stdout).into_owned();
    c.check(
        clean.status.code() == Some(0),
        format!("[12] clean exits 0: {clean:?}"),
    );
    let best_a = state_a["current_best"].as_str().unwrap_or("?").to_owned();
    let left = branches(&repo.dir);
    c.check(
        left.iter()
            .filter(|b| b.starts_with(&format!("{ns_a}/")))
            .eq([&format!("{ns_a}/{best_a}")])
            && out.contains(&format!("kept branch {ns_a}/{best_a}")),
        format!("[12] only the best's branch is kept: {left:?}\n{out}"),
    );
    c.check(
        of(&ns_b, &left) == of(&ns_b, &all),
        "[12] the other campaign's branches stay",
    );
    let trees = worktrees(&repo.dir);
    c.check(
        !trees.contains(&first.display().to_string())
            && trees.contains(&second.display().to_string()),
        format!("[12] only the first campaign's worktrees are removed: {trees}"),
    );
    c.check(
        first.join("master_table.tsv").is_file(),
        "[12] the work directory's files stay",
    );
    // --all takes the best's branch too; a second clean finds nothing.
    let all_out = autoresearch(home.path(), None)
        .args(["clean", &first.display().to_string(), "--all"])
        .output()
        .unwrap();
    c.check(
        all_out.status.code() == Some(0)
            && branches(&repo.dir)
                .iter()
                .all(|b| !b.starts_with(&format!("{ns_a}/"))),
        "[12] clean --all deletes the best's branch too",
    );
    let again = autoresearch(home.path(), None)
        .args(["clean", &first.display().to_string()])
        .output()
        .unwrap();
    c.check(
        String::from_utf8_lossy(&again.stdout).contains("nothing of this run's is left"),
        format!("[12] a second clean finds nothing: {again:?}"),
    );
    c.finish(&format!("first:\n{err_a}\nsecond:\n{err_b}"));
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
