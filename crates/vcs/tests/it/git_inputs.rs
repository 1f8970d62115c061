//! Finding repositories, and the inputs that must fail clearly.

use std::path::Path;

use autoresearch_vcs::{CommitId, GitVcs, Vcs, VcsError, VcsKind, detect, open};

use crate::support::{TestRepo, git, write};

#[test]
fn a_source_folder_inside_a_repository_is_located() {
    let repo = TestRepo::new();
    let location = detect(&repo.root.join("project/data")).unwrap();
    assert_eq!(location.kind, VcsKind::Git);
    assert_eq!(location.root, repo.root);
    assert_eq!(location.source_subdir, Path::new("project/data"));
    let (location, vcs) = open(&repo.root).unwrap();
    assert_eq!(location.source_subdir, Path::new(""));
    assert!(vcs.capabilities().isolated_checkouts);
}

#[test]
fn a_folder_outside_any_repository_gets_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let err = detect(dir.path()).unwrap_err();
    assert!(matches!(err, VcsError::NotARepository { .. }), "{err}");
    assert!(err.to_string().contains("git init"), "{err}");
    assert!(matches!(
        GitVcs::open(dir.path()),
        Err(VcsError::NotARepository { .. })
    ));
}

#[test]
fn a_missing_folder_is_an_error_naming_it() {
    let err = detect(Path::new("/nonexistent/source/dir")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/source/dir"), "{err}");
}

#[test]
fn a_bare_repository_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "--bare", "bare.git"]);
    let bare = dir.path().join("bare.git");
    let err = detect(&bare).unwrap_err();
    assert!(matches!(err, VcsError::Bare { .. }), "{err}");
    assert!(err.to_string().contains("clone"), "{err}");
    assert!(matches!(GitVcs::open(&bare), Err(VcsError::Bare { .. })));
}

#[test]
fn a_repository_without_commits_cannot_be_anchored() {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    write(&dir.path().join("train.py"), "x = 1\n");
    let vcs = GitVcs::open(dir.path()).unwrap();
    let err = vcs.anchor("autoresearch/run/anchor").unwrap_err();
    assert!(matches!(err, VcsError::NoCommit { .. }), "{err}");
    assert!(err.to_string().contains("git commit"), "{err}");
}

#[test]
fn unknown_commits_are_errors_not_panics() {
    let repo = TestRepo::new();
    let vcs = GitVcs::open(&repo.root).unwrap();
    let head = CommitId(repo.head());
    let missing = CommitId("ffffffffffffffffffffffffffffffffffffffff".to_owned());
    for result in [
        vcs.changed_paths(&head, &missing).map(|_| ()),
        vcs.diff(&missing, &head).map(|_| ()),
        vcs.is_ancestor(&missing, &head).map(|_| ()),
        vcs.export_branch("autoresearch/x/best", &missing),
    ] {
        assert!(
            matches!(result, Err(VcsError::UnknownCommit { .. })),
            "{result:?}"
        );
    }
    assert!(matches!(
        vcs.resolve("no-such-branch"),
        Err(VcsError::UnknownCommit { .. })
    ));
    // A blob id is not a commit.
    let blob = git(&repo.root, &["rev-parse", "HEAD:README.md"]);
    let blob = CommitId(blob.trim().to_owned());
    assert!(matches!(
        vcs.diff(&blob, &head),
        Err(VcsError::UnknownCommit { .. })
    ));
}

#[test]
fn a_sapling_checkout_is_recognised_by_its_marker() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".sl")).unwrap();
    std::fs::create_dir_all(dir.path().join("src/pipeline")).unwrap();
    let location = detect(&dir.path().join("src/pipeline")).unwrap();
    assert_eq!(location.kind, VcsKind::Sapling);
    assert_eq!(location.source_subdir, Path::new("src/pipeline"));
}
