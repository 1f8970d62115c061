//! `cargo xtask ci`: everything the suite needs on a fresh machine, then the suite.

use std::process::Command;

use anyhow::Result;

use crate::cargo;

pub(crate) fn run() -> Result<()> {
    setup()?;
    cargo(&["fmt", "--all", "--", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ])?;
    // Doc tests first, so the suite's own summary is the last thing printed.
    cargo(&["test", "--workspace", "--doc", "--locked"])?;
    if has_nextest() {
        cargo(&[
            "nextest",
            "run",
            "--workspace",
            "--locked",
            "--profile",
            "ci",
        ])?;
    } else {
        eprintln!("cargo-nextest is not installed; running the suite with cargo test");
        cargo(&["test", "--workspace", "--locked"])?;
    }
    Ok(())
}

/// Installs what the tests need beyond the Rust toolchain. The suite needs nothing else
/// yet; later parts (Python, the agent CLI, Slurm) add their steps here.
fn setup() -> Result<()> {
    eprintln!("setup: the suite needs only the Rust toolchain so far");
    Ok(())
}

fn has_nextest() -> bool {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    Command::new(cargo)
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|output| output.status.success())
}
