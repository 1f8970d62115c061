//! A domain-free, crash-safe scheduler for resumable async work.
//!
//! The engine keeps a priority queue of opaque [`WorkSpec`]s (lower `priority` first,
//! ties in arrival order), runs at most `max_concurrency` of them at once through a
//! [`Workflow`], queues the children each one proposes, and checkpoints the queued and
//! running sets so a later engine can resume where this one stopped.
//!
//! **What it must not know:** anything about what the work is. It never reads a spec's
//! `payload`; every piece of domain knowledge lives behind the [`Workflow`] trait, in
//! the crates that embed the engine (a tidy test checks this crate's words).
//!
//! Main types: [`Engine`] and [`EngineConfig`]; [`Workflow`], [`WorkContext`],
//! [`WorkOutcome`]; [`WorkSpec`]; [`Checkpoint`] and [`checkpoint::load`]; the
//! [`ShutdownHandle`] and [`forward_signals`].
//!
//! # Embedding
//!
//! ```
//! use std::sync::Arc;
//! use autoresearch_runner_core::*;
//!
//! /// Counts down: each spec `n` proposes `n - 1`.
//! struct Countdown;
//!
//! impl Workflow for Countdown {
//!     async fn initial_specs(&self, start: &Start) -> Result<Vec<WorkSpec>, BoxError> {
//!         Ok(match start {
//!             Start::Fresh => vec![WorkSpec::new("3", 0.0)],
//!             Start::Resumed(_) => vec![],
//!         })
//!     }
//!
//!     async fn run(self: Arc<Self>, ctx: WorkContext) -> WorkOutcome {
//!         let n: u32 = ctx.spec.id.parse().unwrap_or(0);
//!         match n {
//!             0 => WorkOutcome::completed(),
//!             n => WorkOutcome::completed_with(vec![WorkSpec::new((n - 1).to_string(), 0.0)]),
//!         }
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir()?;
//! let config = EngineConfig::new(dir.path().join("engine")).with_max_concurrency(2);
//! let report = Engine::new(Arc::new(Countdown), config)?
//!     .run(ShutdownListener::never())
//!     .await?;
//! assert_eq!(report.counts.completed, 4); // 3, 2, 1, 0
//! assert_eq!(report.status, CheckpointStatus::Stopped);
//! # Ok::<(), BoxError>(())
//! # }).unwrap();
//! ```
//!
//! # Checkpoint
//!
//! The checkpoint directory holds `checkpoint.json` (the snapshot: `status`,
//! `queued`, `running`) and `checkpoint.journal` (changes since the snapshot). The
//! [`checkpoint`] module documents the format and why it is a journal plus compaction:
//! the I/O per change is constant instead of growing with the queue.
//!
//! # Shutdown
//!
//! On the first request (SIGINT or SIGTERM through [`forward_signals`], or
//! [`ShutdownHandle::request`]) no new work starts, each running unit's
//! [`CancelToken`] fires, and the units get `grace_period` (default 30 s) to persist
//! their state and return [`WorkOutcome::Interrupted`]. Work still running after the
//! grace period, or at a second request, is dropped. Either way the engine writes the
//! checkpoint with status `interrupted` — interrupted specs in `running` — and returns.
//! A resume starts the specs that were running before any queued spec, within the same
//! concurrency bound.
//!
//! # Crash contract
//!
//! After `kill -9` (or a power cut) at any instant:
//!
//! 1. `checkpoint.json` is a complete snapshot, earlier or later, never a torn one: it
//!    is only ever replaced by an atomic rename.
//! 2. Every change the engine acted on is in the snapshot or in a complete journal line:
//!    a change is written (one `write` call per line) before the engine acts on it, and a
//!    finishing spec and the children it produced share one line. The journal is fsynced
//!    every `sync_interval`, so a power cut may lose the changes of that last interval; a
//!    process kill loses none.
//! 3. Therefore a resume runs every spec not recorded as finished **at least once** —
//!    a spec may run again if the kill came after its work was done but before its
//!    finish line was written. Workflows make their work idempotent by
//!    [`WorkSpec::id`]: record results under the id, look up external effects (a
//!    launched process, a written file) by the id before creating them again.
//!    [`WorkContext::attempt`] and [`WorkContext::resumed`] say whether earlier
//!    attempts may have left such effects.
//! 4. A damaged snapshot, or a damaged journal line other than a torn last one, is an
//!    error naming the file — never a panic and never a silently empty queue.

pub mod checkpoint;
mod engine;
mod error;
mod queue;
mod shutdown;
mod spec;
mod workflow;

pub use checkpoint::{Checkpoint, CheckpointStats, CheckpointStatus, CompactionPolicy, SpecRecord};
pub use engine::{Counts, Engine, EngineConfig, RunReport};
pub use error::{BoxError, CheckpointError, EngineError};
pub use queue::{QueuedSpec, SpecQueue};
pub use shutdown::{ShutdownHandle, ShutdownListener, forward_signals, shutdown_channel};
pub use spec::{DEFAULT_KIND, SpecError, WorkSpec};
pub use workflow::{CancelToken, ResumeInfo, Start, WorkContext, WorkOutcome, Workflow};
