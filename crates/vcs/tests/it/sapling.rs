//! The Sapling adapter against `fake-sl`, which records every command line.
//! (A real `sl` cannot be installed here.)

use std::path::{Path, PathBuf};
use std::time::Duration;

use autoresearch_vcs::{ChangeKind, CommitId, SaplingVcs, Vcs, VcsError};

const FIRST: &str = "1111111111111111111111111111111111111111";
const SECOND: &str = "2222222222222222222222222222222222222222";

struct FakeSl {
    _dir: tempfile::TempDir,
    root: PathBuf,
    state: PathBuf,
}

impl FakeSl {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let state = root.join(".sl/fake");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::create_dir_all(root.join("src")).unwrap();
        let fake = Self {
            _dir: dir,
            root,
            state,
        };
        fake.set("nodes", &format!("{FIRST}\n{SECOND}\n"));
        fake.set("current", SECOND);
        fake
    }

    fn set(&self, file: &str, text: &str) {
        std::fs::write(self.state.join(file), text).unwrap();
    }

    fn get(&self, file: &str) -> String {
        std::fs::read_to_string(self.state.join(file)).unwrap_or_default()
    }

    fn vcs_with_timeout(&self, timeout: Duration) -> SaplingVcs {
        SaplingVcs::with_program(
            &self.root.join("src"),
            Path::new(env!("CARGO_BIN_EXE_fake-sl")),
            timeout,
        )
        .unwrap()
    }

    fn vcs(&self) -> SaplingVcs {
        self.vcs_with_timeout(Duration::from_secs(30))
    }

    /// Every recorded call as its arguments, dropping the first `skip`.
    fn calls(&self, skip: usize) -> Vec<String> {
        self.get("calls")
            .lines()
            .skip(skip)
            .map(|line| {
                line.split_once('\t')
                    .map_or("", |(_, args)| args)
                    .replace('\t', " ")
            })
            .collect()
    }

    /// Every recorded working directory.
    fn dirs(&self) -> Vec<PathBuf> {
        self.get("calls")
            .lines()
            .map(|line| PathBuf::from(line.split('\t').next().unwrap()))
            .collect()
    }
}

#[test]
fn open_finds_the_root_and_reports_no_isolated_checkouts() {
    let fake = FakeSl::new();
    let vcs = fake.vcs();
    assert_eq!(vcs.root(), fake.root);
    assert!(!vcs.capabilities().isolated_checkouts);
    assert_eq!(fake.calls(0), ["root"]);
    assert_eq!(fake.dirs()[0], fake.root.join("src"));
}

#[test]
fn anchoring_and_committing_use_the_documented_command_lines() {
    let fake = FakeSl::new();
    let vcs = fake.vcs();
    let anchor = vcs.anchor("ignored/anchor").unwrap();
    assert_eq!(anchor.commit.as_str(), SECOND);
    assert_eq!(fake.calls(1), ["status", "log -r . -T {node}"]);

    fake.set("status", "M src/train.py\n? src/new.py\n");
    let commit = vcs.commit_all(&fake.root, "try batch 64").unwrap().unwrap();
    assert_eq!(
        fake.calls(3),
        [
            "status",
            "addremove",
            "commit -m try batch 64 --user autoresearch <autoresearch@localhost>",
            "log -r . -T {node}"
        ]
    );
    assert_eq!(fake.get("current"), commit.as_str());
    // Every command ran at the repository root.
    assert!(fake.dirs()[1..].iter().all(|dir| *dir == fake.root));
    // Nothing to commit: one status call, no commit.
    assert_eq!(vcs.commit_all(&fake.root, "again").unwrap(), None);
    assert_eq!(fake.calls(7), ["status"]);
}

#[test]
fn uncommitted_changes_block_the_anchor_instead_of_being_committed() {
    let fake = FakeSl::new();
    fake.set("status", "M src/train.py\n");
    let err = fake.vcs().anchor("x").unwrap_err();
    assert!(
        matches!(err, VcsError::DirtySaplingCheckout { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("sl shelve"), "{err}");
    assert!(!fake.calls(0).iter().any(|call| call.starts_with("commit")));
}

#[test]
fn the_checkout_is_the_source_checkout_moved_with_goto() {
    let fake = FakeSl::new();
    let vcs = fake.vcs();
    let here = vcs
        .create_checkout(&fake.root, "b", &CommitId(SECOND.to_owned()))
        .unwrap();
    assert!(here.reused);
    assert_eq!(fake.calls(1), ["log -r . -T {node}", "status"]);

    let moved = vcs
        .create_checkout(&fake.root, "b", &CommitId(FIRST.to_owned()))
        .unwrap();
    assert!(!moved.reused);
    assert_eq!(
        fake.calls(3),
        [
            "log -r . -T {node}",
            format!("goto --clean {FIRST}").as_str()
        ]
    );
    assert_eq!(fake.get("current"), FIRST);

    let err = vcs
        .create_checkout(
            &fake.root.join("elsewhere"),
            "b",
            &CommitId(FIRST.to_owned()),
        )
        .unwrap_err();
    assert!(matches!(err, VcsError::Unsupported { .. }), "{err}");
    vcs.remove_checkout(&fake.root).unwrap();
    assert!(
        fake.root.join("src").exists(),
        "the user's checkout must never be removed"
    );
}

#[test]
fn history_queries_parse_sl_output() {
    let fake = FakeSl::new();
    let vcs = fake.vcs();
    let (first, second) = (CommitId(FIRST.to_owned()), CommitId(SECOND.to_owned()));
    fake.set(
        "changes",
        "M src/train.py\nA src/new.py\nR src/old.py\n? junk\n",
    );
    let changed = vcs.changed_paths(&first, &second).unwrap();
    let changed: Vec<(&str, ChangeKind)> =
        changed.iter().map(|c| (c.path.as_str(), c.kind)).collect();
    assert_eq!(
        changed,
        [
            ("src/new.py", ChangeKind::Added),
            ("src/old.py", ChangeKind::Deleted),
            ("src/train.py", ChangeKind::Modified)
        ]
    );
    fake.set("diff", "diff --git a/src/train.py b/src/train.py\n");
    assert_eq!(
        vcs.diff(&first, &second).unwrap(),
        "diff --git a/src/train.py b/src/train.py\n"
    );
    assert!(vcs.is_ancestor(&first, &second).unwrap());
    assert!(!vcs.is_ancestor(&second, &first).unwrap());
    vcs.export_branch("autoresearch/run1/best", &second)
        .unwrap();
    assert_eq!(
        fake.calls(1),
        [
            format!("status --rev {FIRST} --rev {SECOND}"),
            format!("diff --git -r {FIRST} -r {SECOND}"),
            format!("log -r {FIRST} & ::{SECOND} -T {{node}}"),
            format!("log -r {SECOND} & ::{FIRST} -T {{node}}"),
            format!("bookmark --force -r {SECOND} autoresearch/run1/best"),
        ]
    );
    assert_eq!(
        fake.get("bookmarks"),
        format!("autoresearch/run1/best {SECOND}\n")
    );
    assert_eq!(vcs.resolve(&FIRST[..8]).unwrap(), first);
    assert!(matches!(
        vcs.resolve("deadbeef"),
        Err(VcsError::UnknownCommit { .. })
    ));
}

#[test]
fn ids_and_names_that_could_inject_are_refused_before_sl_runs() {
    let fake = FakeSl::new();
    let vcs = fake.vcs();
    let evil = CommitId("1111 | all()".to_owned());
    let good = CommitId(SECOND.to_owned());
    assert!(matches!(
        vcs.is_ancestor(&evil, &good),
        Err(VcsError::UnknownCommit { .. })
    ));
    assert!(matches!(
        vcs.diff(&good, &evil),
        Err(VcsError::UnknownCommit { .. })
    ));
    assert!(matches!(
        vcs.export_branch("--config=x", &good),
        Err(VcsError::InvalidName { .. })
    ));
    assert!(matches!(
        vcs.resolve("--help"),
        Err(VcsError::UnknownCommit { .. })
    ));
    assert_eq!(fake.calls(1), Vec::<String>::new());
}

#[test]
fn a_failing_sl_is_a_command_error_with_its_output() {
    let fake = FakeSl::new();
    let vcs = fake.vcs();
    fake.set("status", "M src/train.py\n");
    fake.set("fail", "commit");
    let err = vcs.commit_all(&fake.root, "msg").unwrap_err();
    let VcsError::Command {
        command,
        reason,
        output,
        ..
    } = &err
    else {
        panic!("expected a command error, got {err}");
    };
    assert!(
        command.ends_with("commit -m msg --user autoresearch <autoresearch@localhost>"),
        "{command}"
    );
    assert!(reason.contains("255"), "{reason}");
    assert!(output.contains("abort: injected failure"), "{output}");
}

#[test]
fn a_hanging_sl_is_killed_at_the_timeout() {
    let fake = FakeSl::new();
    let vcs = fake.vcs_with_timeout(Duration::from_millis(300));
    fake.set("hang", "status");
    let err = vcs.has_changes(&fake.root).unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
}
