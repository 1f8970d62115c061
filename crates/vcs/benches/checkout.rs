//! Checkout benchmark: prints figures, asserts nothing. Run with `cargo xtask bench vcs`.
//!
//! On a repository of 10,000 files: create an experiment checkout and commit a one-line
//! change in it, through this crate (gix) and through the equivalent git CLI sequence
//! (`git worktree add` + `git commit -a`), side by side.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use autoresearch_vcs::{GitVcs, Vcs};

const FILES: usize = 10_000;
const ROUNDS: usize = 5;

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args([
            "-c",
            "user.name=Bench",
            "-c",
            "user.email=bench@example.com",
        ])
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    for i in 0..FILES {
        let path = repo.join(format!("pkg{:03}/module_{i:05}.py", i / 100));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("# module {i}\nVALUE = {i}\n")).unwrap();
    }
    git(dir.path(), &["init", "-q", "-b", "main", "repo"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "10,000 files"]);
    let vcs = GitVcs::open(&repo).unwrap();
    let head = vcs.resolve("HEAD").unwrap();

    let mut ours = (Vec::new(), Vec::new());
    let mut cli = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // This crate.
        let path = dir.path().join(format!("ours-{round}"));
        let started = Instant::now();
        let checkout = vcs
            .create_checkout(&path, &format!("bench/ours-{round}"), &head)
            .unwrap();
        let created = started.elapsed();
        std::fs::write(
            checkout.path.join("pkg000/module_00000.py"),
            "# module 0\nVALUE = -1\n",
        )
        .unwrap();
        let started = Instant::now();
        let commit = vcs
            .commit_all(&checkout.path, "one-line change")
            .unwrap()
            .unwrap();
        ours.0.push(created);
        ours.1.push(started.elapsed());
        assert_eq!(vcs.changed_paths(&head, &commit).unwrap().len(), 1);

        // The git CLI.
        let path = dir.path().join(format!("cli-{round}"));
        let started = Instant::now();
        git(
            &repo,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                &format!("bench/cli-{round}"),
                path.to_str().unwrap(),
                head.as_str(),
            ],
        );
        let created = started.elapsed();
        std::fs::write(
            path.join("pkg000/module_00000.py"),
            "# module 0\nVALUE = -1\n",
        )
        .unwrap();
        let started = Instant::now();
        git(&path, &["commit", "-q", "-a", "-m", "one-line change"]);
        cli.0.push(created);
        cli.1.push(started.elapsed());
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (oc, om) = (median(ours.0), median(ours.1));
    let (cc, cm) = (median(cli.0), median(cli.1));
    println!("checkout + one-line commit on a {FILES}-file repository (median of {ROUNDS})");
    println!(
        "{:<26} {:>12} {:>12} {:>12}",
        "path", "checkout ms", "commit ms", "total ms"
    );
    println!(
        "{:<26} {:>12.1} {:>12.1} {:>12.1}",
        "autoresearch-vcs (gix)",
        ms(oc),
        ms(om),
        ms(oc + om)
    );
    println!(
        "{:<26} {:>12.1} {:>12.1} {:>12.1}",
        "git worktree add + commit",
        ms(cc),
        ms(cm),
        ms(cc + cm)
    );
    println!(
        "ratio gix / git CLI: checkout {:.2}, commit {:.2}, total {:.2}",
        ms(oc) / ms(cc),
        ms(om) / ms(cm),
        ms(oc + om) / ms(cc + cm)
    );
}
