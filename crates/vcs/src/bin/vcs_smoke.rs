//! For tests only: anchors, checks out and commits with the library in a process of its
//! own, so a test can run it with no user or system git configuration at all.
//!
//! Usage: `vcs-smoke <repository> <checkout-path>`; prints the new commit id.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;
use std::process::ExitCode;

use autoresearch_vcs::{GitVcs, Vcs};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [repo, checkout] = args.as_slice() else {
        eprintln!("usage: vcs-smoke <repository> <checkout-path>");
        return ExitCode::from(2);
    };
    let result = (|| {
        let vcs = GitVcs::open(Path::new(repo))?;
        let anchor = vcs.anchor("autoresearch/smoke/anchor")?;
        let created = vcs.create_checkout(
            Path::new(checkout),
            "autoresearch/smoke/001_x",
            &anchor.commit,
        )?;
        std::fs::write(created.path.join("smoke.txt"), "smoke\n")
            .map_err(|err| autoresearch_vcs::VcsError::Task(err.to_string()))?;
        vcs.commit_all(&created.path, "smoke change")
    })();
    match result {
        Ok(Some(commit)) => {
            println!("{commit}");
            ExitCode::SUCCESS
        }
        Ok(None) => {
            eprintln!("vcs-smoke: nothing was committed");
            ExitCode::from(1)
        }
        Err(err) => {
            eprintln!("vcs-smoke: {err}");
            ExitCode::from(1)
        }
    }
}
