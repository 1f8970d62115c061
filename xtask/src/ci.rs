//! `cargo xtask ci`: everything the suite needs on a fresh machine, then the suite.

use std::process::Command;

use anyhow::{Context, Result, bail};

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

/// Installs and starts what the tests need beyond the Rust toolchain.
pub(crate) fn setup() -> Result<()> {
    python_env()?;
    npm_tools()?;
    slurm_up()
}

/// The real agent CLIs the tests drive (`tools/package.json`, pinned by its lock file).
pub(crate) fn npm_tools() -> Result<()> {
    crate::run_command(Command::new("npm").args([
        "ci",
        "--prefix",
        "tools",
        "--no-audit",
        "--no-fund",
        "--silent",
    ]))
}

/// `.venv` with the pinned Python packages (real spdl 0.8.0 for the metrics tests).
pub(crate) fn python_env() -> Result<()> {
    let root = crate::workspace_root();
    let python = root.join(".venv/bin/python");
    if !python.exists() {
        crate::run_command(Command::new("python3").args(["-m", "venv", ".venv"]))?;
    }
    pip_install(&root.join("fixtures/python/requirements.txt"))
}

/// Installs a pinned requirements file into `.venv`.
pub(crate) fn pip_install(requirements: &std::path::Path) -> Result<()> {
    let python = crate::workspace_root().join(".venv/bin/python");
    crate::run_command(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(requirements),
    )
}

/// A single-node Slurm cluster for the jobs crate's tests.
pub(crate) fn slurm_up() -> Result<()> {
    eprintln!("$ bash xtask/src/slurm_up.sh");
    let status = Command::new("bash")
        .arg("-c")
        .arg(include_str!("slurm_up.sh"))
        .status()
        .context("cannot run bash")?;
    if !status.success() {
        bail!("could not start the single-node Slurm cluster ({status}); see the messages above");
    }
    Ok(())
}

fn has_nextest() -> bool {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    Command::new(cargo)
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|output| output.status.success())
}
