//! A stand-in for Sapling's `sl`, for tests only: Sapling cannot be installed where this
//! project is built, so the adapter is checked against this program instead.
//!
//! Its repository root is the nearest directory above the working directory holding a
//! `.sl` folder, and its state lives in `<root>/.sl/fake/`. It records every invocation
//! (working directory and arguments, tab-separated) in `calls` there, and emulates a
//! linear history:
//!
//! - `root` prints the root.
//! - `log -r REV -T {node}`: `.` is the current node; a known node (or a unique prefix)
//!   prints itself; `A & ::B` prints A if A is at or before B; anything else aborts.
//! - `status` prints the state's `status` file; `status --rev A --rev B` prints its
//!   `changes` file.
//! - `addremove` succeeds; `commit -m MSG --user U` appends a node and empties the status,
//!   or exits 1 ("nothing changed") when the status is empty.
//! - `goto [--clean] REV` moves the current node and empties the status.
//! - `diff ...` prints the `diff` file; `bookmark --force -r REV NAME` records the
//!   bookmark in the `bookmarks` file.
//!
//! A subcommand named in the state's `fail` file aborts with exit 255; one named in its
//! `hang` file sleeps for a minute first.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;

fn root() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .find(|dir| dir.join(".sl").is_dir())
        .map(PathBuf::from)
}

fn state() -> PathBuf {
    root().map(|root| root.join(".sl/fake")).unwrap_or_default()
}

fn read(name: &str) -> String {
    std::fs::read_to_string(state().join(name)).unwrap_or_default()
}

fn write(name: &str, text: &str) {
    if let Err(err) = std::fs::write(state().join(name), text) {
        eprintln!("fake-sl: cannot write {name}: {err}");
    }
}

fn nodes() -> Vec<String> {
    read("nodes").lines().map(str::to_owned).collect()
}

fn current() -> String {
    read("current").trim().to_owned()
}

fn find(rev: &str) -> Option<String> {
    if rev == "." {
        return Some(current());
    }
    let matches: Vec<String> = nodes().into_iter().filter(|n| n.starts_with(rev)).collect();
    (matches.len() == 1).then(|| matches[0].clone())
}

fn abort(message: &str) -> ExitCode {
    eprintln!("abort: {message}");
    ExitCode::from(255)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let mut calls = read("calls");
    calls.push_str(&format!("{cwd}\t{}\n", args.join("\t")));
    write("calls", &calls);

    let Some(root) = root() else {
        return abort("is not inside a repository (no .sl folder above the working directory)");
    };
    let sub = args.first().map(String::as_str).unwrap_or_default();
    if read("fail").trim() == sub {
        return abort("injected failure");
    }
    if read("hang").trim() == sub {
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    match (sub, rest.as_slice()) {
        ("root", []) => {
            println!("{}", root.display());
        }
        ("log", ["-r", rev, "-T", "{node}"]) => {
            if let Some((a, b)) = rev.split_once(" & ::") {
                let all = nodes();
                let position = |rev: &str| find(rev).and_then(|n| all.iter().position(|x| *x == n));
                match (position(a), position(b)) {
                    (Some(pa), Some(pb)) if pa <= pb => print!("{}", all[pa]),
                    (Some(_), Some(_)) => {}
                    _ => return abort(&format!("unknown revision '{rev}'")),
                }
            } else {
                match find(rev) {
                    Some(node) => print!("{node}"),
                    None => return abort(&format!("unknown revision '{rev}'")),
                }
            }
        }
        ("status", []) => print!("{}", read("status")),
        ("status", ["--rev", _, "--rev", _]) => print!("{}", read("changes")),
        ("addremove", []) => {}
        ("commit", ["-m", _, "--user", _]) => {
            if read("status").trim().is_empty() {
                println!("nothing changed");
                return ExitCode::from(1);
            }
            let mut all = nodes();
            let node = format!("{:040x}", 0xabc0_0000_u64 + all.len() as u64);
            all.push(node.clone());
            write("nodes", &(all.join("\n") + "\n"));
            write("current", &node);
            write("status", "");
        }
        ("goto", [.., rev]) => match find(rev) {
            Some(node) => {
                write("current", &node);
                write("status", "");
            }
            None => return abort(&format!("unknown revision '{rev}'")),
        },
        ("diff", _) => print!("{}", read("diff")),
        ("bookmark", ["--force", "-r", rev, name]) => {
            let mut marks = read("bookmarks");
            marks.push_str(&format!("{name} {rev}\n"));
            write("bookmarks", &marks);
        }
        _ => return abort(&format!("fake-sl does not emulate: {}", args.join(" "))),
    }
    ExitCode::SUCCESS
}
