//! What every experiment shares: the configuration, the repository, the platform, the
//! agent and the books.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use autoresearch_jobs::Platform;
use autoresearch_llm_client::LlmClient;
use autoresearch_vcs::VcsHandle;

use crate::books::Books;
use crate::config::RunConfig;
use crate::workdir::Workdir;

/// The least time between two drawings of the pictures.
pub const PICTURE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// Receives one line of progress for people (the CLI prints it).
pub type ProgressSink = Arc<dyn Fn(&str) + Send + Sync>;

/// Where the script lives inside the repository.
#[derive(Debug, Clone)]
pub struct SourceLayout {
    /// The repository root.
    pub repo_root: PathBuf,
    /// The script, relative to the root.
    pub script: PathBuf,
    /// The source folder, relative to the root (empty for the root itself).
    pub source: PathBuf,
}

impl SourceLayout {
    /// The script inside a checkout.
    pub fn script_in(&self, checkout: &Path) -> PathBuf {
        checkout.join(&self.script)
    }

    /// The source folder inside a checkout.
    pub fn source_in(&self, checkout: &Path) -> PathBuf {
        checkout.join(&self.source)
    }
}

/// The shared context of a run.
pub struct Context {
    /// The work directory.
    pub workdir: Workdir,
    /// The configuration.
    pub config: RunConfig,
    /// The repository.
    pub vcs: VcsHandle,
    /// Where jobs run.
    pub platform: Platform,
    /// The agent, if any.
    pub agent: Option<LlmClient>,
    /// The Python that checks edited scripts.
    pub python: PathBuf,
    /// Where the script is.
    pub layout: SourceLayout,
    /// The run's branch names in the repository.
    pub branches: crate::branches::Branches,
    /// The books, behind the one lock that serialises state changes.
    books: Mutex<Books>,
    /// Progress lines.
    progress: ProgressSink,
    /// When this engine started (for the hours budget).
    pub started: Instant,
    /// Held by an experiment from preparation to its job's end when checkouts are not
    /// isolated (Sapling): there is one working copy, so experiments take turns.
    pub exclusive: Option<tokio::sync::Mutex<()>>,
    /// When the pictures were last drawn.
    pictures_at: Mutex<Option<Instant>>,
    /// How often jobs are polled.
    pub poll_interval: Duration,
}

impl Context {
    /// A context over `books`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        workdir: Workdir,
        config: RunConfig,
        vcs: VcsHandle,
        platform: Platform,
        agent: Option<LlmClient>,
        python: PathBuf,
        layout: SourceLayout,
        books: Books,
        progress: ProgressSink,
    ) -> Self {
        let branches = crate::branches::Branches::new(
            books
                .state()
                .branch_namespace
                .clone()
                .unwrap_or_else(|| crate::branches::ROOT.to_owned()),
        );
        let poll_interval = Duration::from_secs(config.poll_interval_s);
        Self {
            branches,
            workdir,
            config,
            vcs,
            platform,
            agent,
            python,
            layout,
            books: Mutex::new(books),
            progress,
            started: Instant::now(),
            exclusive: None,
            pictures_at: Mutex::new(None),
            poll_interval,
        }
    }

    /// The books. A panic while they were held leaves them as the last completed write
    /// left them (every write goes to disk at once), so a poisoned lock is still usable.
    pub fn books(&self) -> MutexGuard<'_, Books> {
        self.books
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Polls jobs every `interval` instead of the configuration's interval (when given).
    #[must_use]
    pub fn with_poll_interval(mut self, interval: Option<Duration>) -> Self {
        if let Some(interval) = interval {
            self.poll_interval = interval;
        }
        self
    }

    /// Makes experiments take turns (for backends without isolated checkouts).
    #[must_use]
    pub fn one_at_a_time(mut self) -> Self {
        self.exclusive = Some(tokio::sync::Mutex::new(()));
        self
    }

    /// Redraws the pictures, at most once every [`PICTURE_INTERVAL`]: real experiments
    /// take minutes, so every completion redraws them; simulated ones finishing
    /// milliseconds apart do not pay for a drawing each (the run's end always redraws).
    pub fn maybe_pictures(&self, books: &Books) {
        let mut at = self
            .pictures_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if at.is_some_and(|t| t.elapsed() < PICTURE_INTERVAL) {
            return;
        }
        crate::books::write_pictures(books);
        *at = Some(Instant::now());
    }

    /// Reports one line of progress.
    pub fn say(&self, line: &str) {
        tracing::info!("{line}");
        (self.progress)(line);
    }

    /// Hours the run has used, this start and earlier ones.
    pub fn hours_used(&self, elapsed_before_s: f64) -> f64 {
        (elapsed_before_s + self.started.elapsed().as_secs_f64()) / 3600.0
    }

    /// Agent spend so far, USD.
    pub fn llm_spent(&self) -> f64 {
        self.agent.as_ref().map_or(0.0, |a| a.budget().spent())
    }
}
