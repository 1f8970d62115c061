//! Real git repositories for the tests, made and inspected with the git CLI.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// Runs git in `dir` with a test identity and no system configuration; panics on failure.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=Test User",
            "-c",
            "user.email=test@example.com",
        ])
        .args(["-c", "core.quotepath=off", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?} failed in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

pub(crate) fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(path, text).unwrap();
}

/// A repository with a small Python project under `project/` and one commit.
pub(crate) struct TestRepo {
    pub(crate) _dir: TempDir,
    pub(crate) root: PathBuf,
}

impl TestRepo {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap().join("repo");
        std::fs::create_dir_all(&root).unwrap();
        git(&root, &["init", "-q"]);
        write(&root.join(".gitignore"), "*.log\n__pycache__/\n");
        write(&root.join("README.md"), "# project\n");
        write(
            &root.join("project/train.py"),
            "import spdl\n\nBATCH = 32\n",
        );
        write(
            &root.join("project/data/loader.py"),
            "def load():\n    return []\n",
        );
        write(&root.join("project/old.py"), "print('old')\n");
        git(&root, &["add", "-A"]);
        git(&root, &["commit", "-q", "-m", "initial"]);
        Self { _dir: dir, root }
    }

    /// A folder next to the repository (inside the same temporary directory).
    pub(crate) fn sibling(&self, name: &str) -> PathBuf {
        self.root.parent().unwrap().join(name)
    }

    pub(crate) fn head(&self) -> String {
        git(&self.root, &["rev-parse", "HEAD"]).trim().to_owned()
    }

    pub(crate) fn commit_file(&self, path: &str, text: &str, message: &str) -> String {
        write(&self.root.join(path), text);
        git(&self.root, &["add", "-A"]);
        git(&self.root, &["commit", "-q", "-m", message]);
        self.head()
    }
}

/// Everything about the user's checkout that must never change.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct UserState {
    index_bytes: Vec<u8>,
    head: String,
    branch: String,
    staged: String,
    status: String,
    files: Vec<(PathBuf, Vec<u8>)>,
}

/// Reads the index file's bytes first: the git CLI may refresh (rewrite) it when it
/// computes a status, and this must see our own effect, not git's.
pub(crate) fn user_state(root: &Path) -> UserState {
    let index_bytes = std::fs::read(root.join(".git/index")).unwrap_or_default();
    let mut files = Vec::new();
    collect(root, root, &mut files);
    files.sort();
    UserState {
        index_bytes,
        head: git(root, &["rev-parse", "HEAD"]),
        branch: git(root, &["rev-parse", "--abbrev-ref", "HEAD"]),
        staged: git(root, &["ls-files", "--stage"]),
        status: git(root, &["status", "--porcelain=v1", "--untracked-files=all"]),
        files,
    }
}

/// Captures the state after letting git settle the index, so a later comparison is fair.
pub(crate) fn settled_user_state(root: &Path) -> UserState {
    git(root, &["status", "--porcelain"]);
    user_state(root)
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n == ".git") {
            continue;
        }
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            collect(root, &path, out);
        } else {
            let bytes = if meta.file_type().is_symlink() {
                std::fs::read_link(&path)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else {
                std::fs::read(&path).unwrap()
            };
            out.push((path.strip_prefix(root).unwrap().to_owned(), bytes));
        }
    }
}

/// `git ls-tree -r` of a commit as (mode, path) pairs.
pub(crate) fn tree_listing(root: &Path, commit: &str) -> Vec<(String, String)> {
    git(root, &["ls-tree", "-r", "--full-tree", commit])
        .lines()
        .map(|line| {
            let (meta, path) = line.split_once('\t').unwrap();
            (meta.split(' ').next().unwrap().to_owned(), path.to_owned())
        })
        .collect()
}
