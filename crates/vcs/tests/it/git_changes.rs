//! Committing every kind of change in a checkout, and reading changes back.

use std::os::unix::fs::PermissionsExt;

use autoresearch_vcs::{ChangeKind, CommitId, GitVcs, Vcs};

use crate::support::{TestRepo, git, tree_listing, write};

const ODD_NAME: &str = "project/données d'entrée v2.txt";

#[test]
fn commit_all_records_new_modified_deleted_binary_exec_symlink_and_odd_names() {
    let repo = TestRepo::new();
    write(&repo.root.join("project/run.sh"), "#!/bin/sh\necho run\n");
    let base = CommitId(repo.commit_file("project/keep.txt", "keep\n", "more files"));
    let vcs = GitVcs::open(&repo.root.join("project")).unwrap();
    let checkout = repo.sibling("checkouts/005_all");
    let path = vcs
        .create_checkout(&checkout, "autoresearch/run1/005_all", &base)
        .unwrap()
        .path;
    assert!(!vcs.has_changes(&path).unwrap());
    assert_eq!(vcs.commit_all(&path, "nothing").unwrap(), None);

    // Ignored files alone are not a change.
    write(&path.join("project/train.log"), "noise\n");
    std::fs::create_dir_all(path.join("project/__pycache__")).unwrap();
    write(&path.join("project/__pycache__/x.pyc"), "bytecode");
    assert!(!vcs.has_changes(&path).unwrap());

    write(
        &path.join("project/train.py"),
        "import spdl\n\nBATCH = 48\n",
    );
    std::fs::remove_file(path.join("project/old.py")).unwrap();
    std::fs::write(
        path.join("project/weights.bin"),
        [0u8, 159, 146, 150, 0, 1, 2],
    )
    .unwrap();
    let script = path.join("project/run.sh");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("train.py", path.join("project/entry.py")).unwrap();
    write(&path.join(ODD_NAME), "é\n");
    write(&path.join("project/data/new/deep.py"), "DEEP = True\n");
    assert!(vcs.has_changes(&path).unwrap());

    let commit = vcs
        .commit_all(&path, "every kind of change")
        .unwrap()
        .unwrap();
    assert!(!vcs.has_changes(&path).unwrap());
    assert_eq!(
        git(&path, &["status", "--porcelain", "--untracked-files=all"]),
        ""
    );

    let listing = tree_listing(&repo.root, commit.as_str());
    let mode = |p: &str| {
        listing
            .iter()
            .find(|(_, path)| path == p)
            .map(|(m, _)| m.as_str())
    };
    assert_eq!(mode("project/run.sh"), Some("100755"));
    assert_eq!(mode("project/entry.py"), Some("120000"));
    assert_eq!(mode("project/weights.bin"), Some("100644"));
    assert_eq!(mode(ODD_NAME), Some("100644"));
    assert_eq!(mode("project/old.py"), None);
    assert_eq!(mode("project/train.log"), None);
    assert_eq!(mode("project/__pycache__/x.pyc"), None);
    let blob = std::process::Command::new("git")
        .args(["cat-file", "blob", &format!("{commit}:project/weights.bin")])
        .current_dir(&repo.root)
        .output()
        .unwrap();
    assert_eq!(blob.stdout, [0u8, 159, 146, 150, 0, 1, 2]);

    let changed: Vec<(String, ChangeKind)> = vcs
        .changed_paths(&base, &commit)
        .unwrap()
        .into_iter()
        .map(|c| (c.path, c.kind))
        .collect();
    let expected = [
        ("project/data/new/deep.py", ChangeKind::Added),
        (ODD_NAME, ChangeKind::Added),
        ("project/entry.py", ChangeKind::Added),
        ("project/old.py", ChangeKind::Deleted),
        ("project/run.sh", ChangeKind::Modified),
        ("project/train.py", ChangeKind::Modified),
        ("project/weights.bin", ChangeKind::Added),
    ];
    let expected: Vec<(String, ChangeKind)> = expected
        .iter()
        .map(|(p, k)| ((*p).to_owned(), *k))
        .collect();
    assert_eq!(changed, expected);
    // git agrees on the set of paths.
    let names = git(
        &repo.root,
        &["diff", "--name-only", base.as_str(), commit.as_str()],
    );
    let mut git_paths: Vec<&str> = names.lines().collect();
    git_paths.sort();
    let mut ours: Vec<&str> = changed.iter().map(|(p, _)| p.as_str()).collect();
    ours.sort();
    assert_eq!(ours, git_paths);
}

#[test]
fn the_diff_is_a_patch_git_can_apply() {
    let repo = TestRepo::new();
    let base = CommitId(repo.head());
    let vcs = GitVcs::open(&repo.root).unwrap();
    let path = vcs
        .create_checkout(
            &repo.sibling("checkouts/006_diff"),
            "autoresearch/run1/006_diff",
            &base,
        )
        .unwrap()
        .path;
    write(
        &path.join("project/train.py"),
        "import spdl\n\nBATCH = 96\nWORKERS = 4\n",
    );
    std::fs::remove_file(path.join("project/old.py")).unwrap();
    write(
        &path.join("project/stage.py"),
        "def stage():\n    return 2\n",
    );
    std::fs::write(path.join("project/blob.bin"), [1u8, 0, 2]).unwrap();
    let commit = vcs.commit_all(&path, "diffable").unwrap().unwrap();

    let patch = vcs.diff(&base, &commit).unwrap();
    assert!(
        patch.contains("diff --git a/project/train.py b/project/train.py\n"),
        "{patch}"
    );
    assert!(
        patch.contains("-BATCH = 32\n+BATCH = 96\n+WORKERS = 4\n"),
        "{patch}"
    );
    assert!(patch.contains("deleted file mode 100644\n"), "{patch}");
    assert!(patch.contains("new file mode 100644\n"), "{patch}");
    assert!(
        patch.contains("--- /dev/null\n+++ b/project/stage.py\n"),
        "{patch}"
    );
    assert!(
        patch.contains("Binary files /dev/null and b/project/blob.bin differ"),
        "{patch}"
    );
    assert_eq!(vcs.diff(&commit, &commit).unwrap(), "");

    // The text part applies cleanly to the base with git itself.
    let text_only: String = patch
        .split("diff --git ")
        .filter(|part| !part.is_empty() && !part.contains("Binary files"))
        .map(|part| format!("diff --git {part}"))
        .collect();
    let target = repo.sibling("apply-target");
    git(
        &repo.root,
        &[
            "worktree",
            "add",
            "-q",
            "--detach",
            target.to_str().unwrap(),
            base.as_str(),
        ],
    );
    std::fs::write(target.join("change.patch"), &text_only).unwrap();
    git(&target, &["apply", "change.patch"]);
    assert_eq!(
        std::fs::read_to_string(target.join("project/train.py")).unwrap(),
        "import spdl\n\nBATCH = 96\nWORKERS = 4\n"
    );
    assert!(!target.join("project/old.py").exists());
}

#[test]
fn ancestry_is_answered_both_ways() {
    let repo = TestRepo::new();
    let first = CommitId(repo.head());
    let second = CommitId(repo.commit_file("project/a.py", "A = 1\n", "second"));
    let vcs = GitVcs::open(&repo.root).unwrap();
    assert!(vcs.is_ancestor(&first, &second).unwrap());
    assert!(vcs.is_ancestor(&second, &second).unwrap());
    assert!(!vcs.is_ancestor(&second, &first).unwrap());
    assert_eq!(vcs.resolve("HEAD").unwrap(), second);
    assert_eq!(vcs.resolve(&first.as_str()[..10]).unwrap(), first);
    assert_eq!(vcs.resolve("main").unwrap(), second);
}
