//! Anchors and experiment checkouts on real repositories; the user's checkout never moves.

use std::path::Path;
use std::sync::Arc;

use autoresearch_vcs::{ChangeKind, CommitId, GitVcs, Vcs, VcsError, VcsHandle};

use crate::support::{TestRepo, git, settled_user_state, tree_listing, user_state, write};

#[test]
fn a_clean_checkout_anchors_at_head_and_is_left_alone() {
    let repo = TestRepo::new();
    let before = settled_user_state(&repo.root);
    let vcs = GitVcs::open(&repo.root).unwrap();
    let anchor = vcs.anchor("autoresearch/run1/anchor").unwrap();
    assert_eq!(anchor.commit.as_str(), repo.head());
    assert_eq!(anchor.head, anchor.commit);
    assert_eq!(anchor.snapshot_branch, None);
    assert_eq!(user_state(&repo.root), before);
    assert!(git(&repo.root, &["branch", "--list", "autoresearch/*"]).is_empty());
}

#[test]
fn uncommitted_changes_are_snapshotted_without_touching_the_users_checkout() {
    let repo = TestRepo::new();
    // Staged, unstaged, untracked, ignored, deleted and staged-deleted changes.
    write(
        &repo.root.join("project/train.py"),
        "import spdl\n\nBATCH = 64\n",
    );
    git(&repo.root, &["add", "project/train.py"]);
    write(&repo.root.join("README.md"), "# project, edited\n");
    write(
        &repo.root.join("project/new_stage.py"),
        "def stage():\n    pass\n",
    );
    write(&repo.root.join("project/run.log"), "ignored\n");
    std::fs::remove_file(repo.root.join("project/old.py")).unwrap();
    git(
        &repo.root,
        &["rm", "-q", "--cached", "project/data/loader.py"],
    );
    std::fs::remove_file(repo.root.join("project/data/loader.py")).unwrap();
    let before = settled_user_state(&repo.root);

    let vcs = GitVcs::open(&repo.root.join("project")).unwrap();
    let anchor = vcs.anchor("autoresearch/run1/anchor").unwrap();

    assert_eq!(
        user_state(&repo.root),
        before,
        "the user's checkout changed"
    );
    assert_ne!(anchor.commit, anchor.head);
    assert_eq!(anchor.head.as_str(), repo.head());
    assert_eq!(
        anchor.snapshot_branch.as_deref(),
        Some("autoresearch/run1/anchor")
    );
    let branch_tip = git(&repo.root, &["rev-parse", "autoresearch/run1/anchor"]);
    assert_eq!(branch_tip.trim(), anchor.commit.as_str());
    let parent = git(&repo.root, &["rev-parse", &format!("{}^", anchor.commit)]);
    assert_eq!(parent.trim(), repo.head());
    let paths: Vec<String> = tree_listing(&repo.root, anchor.commit.as_str())
        .into_iter()
        .map(|(_, path)| path)
        .collect();
    assert_eq!(
        paths,
        [
            ".gitignore",
            "README.md",
            "project/new_stage.py",
            "project/train.py"
        ]
    );
    let show = |path: &str| git(&repo.root, &["show", &format!("{}:{path}", anchor.commit)]);
    assert_eq!(show("project/train.py"), "import spdl\n\nBATCH = 64\n");
    assert_eq!(show("README.md"), "# project, edited\n");
    let mut snapshotted = anchor.snapshotted_paths.clone();
    snapshotted.sort();
    assert_eq!(
        snapshotted,
        [
            "README.md",
            "project/data/loader.py",
            "project/new_stage.py",
            "project/old.py",
            "project/train.py"
        ]
    );

    // Anchoring again (a resumed run) moves the snapshot branch, still touching nothing.
    write(
        &repo.root.join("project/new_stage.py"),
        "def stage():\n    return 1\n",
    );
    let before = settled_user_state(&repo.root);
    let again = vcs.anchor("autoresearch/run1/anchor").unwrap();
    assert_ne!(again.commit, anchor.commit);
    assert_eq!(user_state(&repo.root), before);
}

#[test]
fn a_detached_head_anchors_at_its_commit() {
    let repo = TestRepo::new();
    let first = repo.head();
    repo.commit_file("project/train.py", "BATCH = 8\n", "second");
    git(&repo.root, &["checkout", "-q", "--detach", &first]);
    let before = settled_user_state(&repo.root);
    let vcs = GitVcs::open(&repo.root).unwrap();
    let anchor = vcs.anchor("autoresearch/run1/anchor").unwrap();
    assert_eq!(anchor.commit.as_str(), first);
    assert_eq!(user_state(&repo.root), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn three_checkouts_from_different_commits_commit_in_parallel() {
    let repo = TestRepo::new();
    let c1 = repo.head();
    let c2 = repo.commit_file("project/train.py", "BATCH = 16\n", "second");
    let c3 = repo.commit_file("project/extra.py", "X = 1\n", "third");
    let before = settled_user_state(&repo.root);
    let handle = VcsHandle::new(Arc::new(GitVcs::open(&repo.root).unwrap()));

    let mut tasks = Vec::new();
    for (n, base) in [c1.clone(), c2.clone(), c3.clone()].into_iter().enumerate() {
        let handle = handle.clone();
        let path = repo.sibling("checkouts").join(format!("00{n}_exp"));
        tasks.push(tokio::spawn(async move {
            handle
                .run(move |vcs| {
                    let base = CommitId(base);
                    let checkout =
                        vcs.create_checkout(&path, &format!("autoresearch/run1/00{n}_exp"), &base)?;
                    write(
                        &checkout.path.join(format!("project/only_{n}.py")),
                        &format!("N = {n}\n"),
                    );
                    write(
                        &checkout.path.join("README.md"),
                        &format!("# variant {n}\n"),
                    );
                    let commit = vcs
                        .commit_all(&checkout.path, &format!("experiment {n}"))?
                        .unwrap();
                    Ok((base, commit, checkout.path))
                })
                .await
        }));
    }
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap().unwrap());
    }

    let vcs = handle.vcs();
    for (n, (base, commit, path)) in results.iter().enumerate() {
        let changed = vcs.changed_paths(base, commit).unwrap();
        let changed: Vec<(String, ChangeKind)> =
            changed.into_iter().map(|c| (c.path, c.kind)).collect();
        assert_eq!(
            changed,
            [
                ("README.md".to_owned(), ChangeKind::Modified),
                (format!("project/only_{n}.py"), ChangeKind::Added)
            ]
        );
        assert!(vcs.is_ancestor(base, commit).unwrap());
        assert!(!vcs.has_changes(path).unwrap());
        assert_eq!(
            git(path, &["status", "--porcelain"]),
            "",
            "checkout {n} is not clean"
        );
        let author = git(path, &["log", "-1", "--format=%an <%ae>|%cn <%ce>"]);
        assert_eq!(
            author.trim(),
            "autoresearch <autoresearch@localhost>|autoresearch <autoresearch@localhost>"
        );
    }
    let fsck = git(&repo.root, &["fsck", "--strict", "--no-dangling"]);
    assert!(fsck.trim().is_empty(), "git fsck: {fsck}");
    let listed = git(&repo.root, &["worktree", "list", "--porcelain"]);
    for (_, _, path) in &results {
        assert!(
            listed.contains(&format!("worktree {}", path.display())),
            "{listed}"
        );
    }
    let ours = vcs.list_checkouts().unwrap();
    assert_eq!(ours.len(), 3);
    for info in &ours {
        let (_, commit, _) = results.iter().find(|(_, _, p)| *p == info.path).unwrap();
        assert_eq!(info.head.as_ref(), Some(commit));
        assert!(
            info.branch
                .as_deref()
                .unwrap()
                .starts_with("autoresearch/run1/")
        );
    }
    assert_eq!(
        user_state(&repo.root),
        before,
        "the user's checkout changed"
    );
}

#[test]
fn an_existing_checkout_is_reused_when_clean_and_at_the_commit_and_recreated_otherwise() {
    let repo = TestRepo::new();
    let vcs = GitVcs::open(&repo.root).unwrap();
    let base = CommitId(repo.head());
    let path = repo.sibling("checkouts/001_batch");
    let branch = "autoresearch/run1/001_batch";
    let first = vcs.create_checkout(&path, branch, &base).unwrap();
    assert!(!first.reused);
    let again = vcs.create_checkout(&path, branch, &base).unwrap();
    assert!(again.reused);

    // Half-applied edits from an interrupted run: recreated clean.
    write(&path.join("project/train.py"), "half an edit");
    write(&path.join("stray.py"), "x");
    let recreated = vcs.create_checkout(&path, branch, &base).unwrap();
    assert!(!recreated.reused);
    assert!(!vcs.has_changes(&path).unwrap());
    assert!(!path.join("stray.py").exists());

    // A checkout that moved on (a commit was made) is recreated at the asked commit.
    write(&path.join("project/train.py"), "BATCH = 1\n");
    vcs.commit_all(&path, "moved on").unwrap().unwrap();
    let reset = vcs.create_checkout(&path, branch, &base).unwrap();
    assert!(!reset.reused);
    assert_eq!(git(&path, &["rev-parse", "HEAD"]).trim(), base.as_str());
    let tip = git(&repo.root, &["rev-parse", branch]);
    assert_eq!(tip.trim(), base.as_str());
}

#[test]
fn a_checkout_whose_folder_vanished_is_recreated() {
    let repo = TestRepo::new();
    let vcs = GitVcs::open(&repo.root).unwrap();
    let base = CommitId(repo.head());
    let path = repo.sibling("checkouts/002_gone");
    vcs.create_checkout(&path, "autoresearch/run1/002_gone", &base)
        .unwrap();
    std::fs::remove_dir_all(&path).unwrap();
    let created = vcs
        .create_checkout(&path, "autoresearch/run1/002_gone", &base)
        .unwrap();
    assert!(!created.reused);
    assert!(path.join("project/train.py").exists());
    assert_eq!(vcs.list_checkouts().unwrap().len(), 1);
}

#[test]
fn removing_a_checkout_keeps_its_branch_and_commits() {
    let repo = TestRepo::new();
    let vcs = GitVcs::open(&repo.root).unwrap();
    let base = CommitId(repo.head());
    let path = repo.sibling("checkouts/003_rm");
    vcs.create_checkout(&path, "autoresearch/run1/003_rm", &base)
        .unwrap();
    write(&path.join("project/train.py"), "BATCH = 2\n");
    let commit = vcs.commit_all(&path, "change").unwrap().unwrap();
    vcs.remove_checkout(&path).unwrap();
    assert!(!path.exists());
    assert!(vcs.list_checkouts().unwrap().is_empty());
    assert!(!git(&repo.root, &["worktree", "list"]).contains("003_rm"));
    let tip = git(&repo.root, &["rev-parse", "autoresearch/run1/003_rm"]);
    assert_eq!(tip.trim(), commit.as_str());
    // Removing again is a no-op.
    vcs.remove_checkout(&path).unwrap();
}

#[test]
fn export_points_a_branch_at_a_commit_and_moves_it_later() {
    let repo = TestRepo::new();
    let before = settled_user_state(&repo.root);
    let vcs = GitVcs::open(&repo.root).unwrap();
    let base = CommitId(repo.head());
    let path = repo.sibling("checkouts/004_best");
    vcs.create_checkout(&path, "autoresearch/run1/004_best", &base)
        .unwrap();
    write(&path.join("project/train.py"), "BATCH = 128\n");
    let best = vcs.commit_all(&path, "best").unwrap().unwrap();
    vcs.export_branch("autoresearch/run1/best", &base).unwrap();
    vcs.export_branch("autoresearch/run1/best", &best).unwrap();
    let tip = git(&repo.root, &["rev-parse", "autoresearch/run1/best"]);
    assert_eq!(tip.trim(), best.as_str());
    assert_eq!(user_state(&repo.root), before);
}

#[test]
fn the_library_needs_no_git_configuration() {
    let repo = TestRepo::new();
    let home = tempfile::tempdir().unwrap();
    let checkout = repo.sibling("checkouts/smoke");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vcs-smoke"))
        .arg(&repo.root)
        .arg(&checkout)
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env_remove("GIT_AUTHOR_NAME")
        .env_remove("GIT_AUTHOR_EMAIL")
        .env_remove("GIT_COMMITTER_NAME")
        .env_remove("GIT_COMMITTER_EMAIL")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "vcs-smoke failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let commit = String::from_utf8(output.stdout).unwrap();
    let author = git(
        &repo.root,
        &["log", "-1", "--format=%an <%ae>", commit.trim()],
    );
    assert_eq!(author.trim(), "autoresearch <autoresearch@localhost>");
    assert!(Path::new(&checkout).join("smoke.txt").exists());
}

#[test]
fn errors_of_checkout_creation_name_the_problem() {
    let repo = TestRepo::new();
    let vcs = GitVcs::open(&repo.root).unwrap();
    let base = CommitId(repo.head());

    let occupied = repo.sibling("occupied");
    write(&occupied.join("precious.txt"), "keep me");
    let err = vcs
        .create_checkout(&occupied, "autoresearch/run1/x", &base)
        .unwrap_err();
    assert!(matches!(err, VcsError::PathOccupied { .. }), "{err}");
    assert_eq!(
        std::fs::read_to_string(occupied.join("precious.txt")).unwrap(),
        "keep me"
    );
    assert!(matches!(
        vcs.remove_checkout(&occupied),
        Err(VcsError::PathOccupied { .. })
    ));
    assert!(occupied.join("precious.txt").exists());

    let empty = repo.sibling("empty");
    std::fs::create_dir_all(&empty).unwrap();
    vcs.create_checkout(&empty, "autoresearch/run1/y", &base)
        .unwrap();

    let missing = CommitId("0123456789abcdef0123456789abcdef01234567".to_owned());
    let err = vcs
        .create_checkout(&repo.sibling("z"), "autoresearch/run1/z", &missing)
        .unwrap_err();
    assert!(matches!(err, VcsError::UnknownCommit { .. }), "{err}");
    assert!(err.to_string().contains("0123456789abcdef"), "{err}");
    let garbage = CommitId("not a commit".to_owned());
    assert!(matches!(
        vcs.create_checkout(&repo.sibling("z"), "autoresearch/run1/z", &garbage),
        Err(VcsError::UnknownCommit { .. })
    ));

    let err = vcs
        .create_checkout(&repo.sibling("w"), "bad..name", &base)
        .unwrap_err();
    assert!(matches!(err, VcsError::InvalidName { .. }), "{err}");
    assert!(matches!(
        vcs.export_branch("has space", &base),
        Err(VcsError::InvalidName { .. })
    ));
    assert!(!repo.sibling("w").exists());
}

/// Adding worktrees while others are being added used to fail in the registry
/// ("Failed to read or iterate worktree directories"); the backend serialises it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_checkouts_created_at_once_all_succeed() {
    let repo = TestRepo::new();
    let base = repo.head();
    let handle = VcsHandle::new(Arc::new(GitVcs::open(&repo.root).unwrap()));
    for round in 0..4 {
        let mut tasks = Vec::new();
        for n in 0..8 {
            let handle = handle.clone();
            let base = CommitId(base.clone());
            let path = repo.sibling("checkouts").join(format!("r{round}_{n}"));
            tasks.push(tokio::spawn(async move {
                handle
                    .run(move |vcs| {
                        vcs.create_checkout(&path, &format!("autoresearch/r{round}_{n}"), &base)
                    })
                    .await
            }));
        }
        for task in tasks {
            let checkout = task.await.unwrap().unwrap();
            assert!(checkout.path.join(".git").exists());
        }
    }
    assert_eq!(handle.vcs().list_checkouts().unwrap().len(), 32);
}

/// Two campaigns on one repository open it separately, so an in-process lock cannot
/// order them: each opening here stands for one process (an advisory `flock` taken
/// through two separate opens conflicts exactly as between processes).
#[test]
fn two_openings_of_one_repository_add_checkouts_at_once() {
    let repo = TestRepo::new();
    let base = repo.head();
    let openings: Vec<Arc<GitVcs>> = (0..4)
        .map(|_| Arc::new(GitVcs::open(&repo.root).unwrap()))
        .collect();
    let workers: Vec<_> = openings
        .iter()
        .enumerate()
        .map(|(who, vcs)| {
            let vcs = Arc::clone(vcs);
            let base = CommitId(base.clone());
            let root = repo.sibling("checkouts");
            std::thread::spawn(move || {
                for n in 0..16 {
                    let path = root.join(format!("c{who}_{n}"));
                    let branch = format!("autoresearch/c{who}_{n}");
                    vcs.create_checkout(&path, &branch, &base)
                        .unwrap_or_else(|err| panic!("opening {who}, checkout {n}: {err}"));
                    vcs.list_checkouts()
                        .unwrap_or_else(|err| panic!("opening {who}, listing {n}: {err}"));
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(openings[0].list_checkouts().unwrap().len(), 64);
}
