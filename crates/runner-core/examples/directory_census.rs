//! Embedding the engine in another program: a resumable census of a directory tree.
//!
//! Each spec is one directory; running it counts the files and bytes directly inside
//! and proposes one child spec per subdirectory (deeper directories get a higher
//! priority number, so the census goes breadth-first). Results go to a JSON-lines file
//! keyed by directory, so a spec that runs twice after a crash overwrites nothing that
//! matters: the reader keeps the last line per directory. Press Ctrl+C and run the same
//! command again to resume.
//!
//! ```text
//! cargo run -p autoresearch-runner-core --example directory_census -- <root> <state-dir>
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use autoresearch_runner_core::{
    BoxError, Engine, EngineConfig, Start, WorkContext, WorkOutcome, WorkSpec, Workflow,
    forward_signals, shutdown_channel,
};

struct Census {
    root: PathBuf,
    results: PathBuf,
}

impl Workflow for Census {
    async fn initial_specs(&self, start: &Start) -> Result<Vec<WorkSpec>, BoxError> {
        Ok(match start {
            Start::Fresh => {
                vec![WorkSpec::new(self.root.display().to_string(), 0.0).with_kind("directory")]
            }
            Start::Resumed(_) => Vec::new(),
        })
    }

    async fn run(self: Arc<Self>, ctx: WorkContext) -> WorkOutcome {
        let dir = PathBuf::from(&ctx.spec.id);
        let depth = ctx.spec.priority;
        // Filesystem calls block, so they run off the async threads.
        let scanned = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
            let (mut files, mut bytes, mut subdirs) = (0u64, 0u64, Vec::new());
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let kind = entry.file_type()?;
                if kind.is_dir() {
                    subdirs.push(entry.path());
                } else if kind.is_file() {
                    files += 1;
                    bytes += entry.metadata()?.len();
                }
            }
            Ok((files, bytes, subdirs))
        })
        .await;
        let (files, bytes, subdirs) = match scanned {
            Ok(Ok(found)) => found,
            Ok(Err(err)) => return WorkOutcome::failed(err.to_string()),
            Err(err) => return WorkOutcome::failed(err.to_string()),
        };
        let line = serde_json::json!({ "dir": ctx.spec.id, "files": files, "bytes": bytes });
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.results)
            .and_then(|mut out| writeln!(out, "{line}"));
        if let Err(err) = appended {
            return WorkOutcome::failed(format!("cannot record the result: {err}"));
        }
        WorkOutcome::completed_with(
            subdirs
                .into_iter()
                .map(|sub| {
                    WorkSpec::new(sub.display().to_string(), depth + 1.0).with_kind("directory")
                })
                .collect(),
        )
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let (Some(root), Some(state)) = (args.next(), args.next()) else {
        eprintln!("usage: directory_census <root> <state-dir>");
        std::process::exit(2);
    };
    let state = PathBuf::from(state);
    std::fs::create_dir_all(&state)?;
    let (handle, listener) = shutdown_channel();
    forward_signals(handle)?;
    let workflow = Arc::new(Census {
        root: PathBuf::from(root),
        results: state.join("census.jsonl"),
    });
    let config = EngineConfig::new(state.join("engine")).with_max_concurrency(4);
    let report = Engine::new(workflow, config)?.run(listener).await?;
    println!("{}", report.summary);
    Ok(())
}
