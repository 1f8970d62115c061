//! The run configuration: validated before anything runs, persisted as `config.json`,
//! and compared with the flags of a resume.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Planning rounds when neither `--max-iterations` nor `--max-experiments` is given.
pub(crate) const DEFAULT_MAX_ITERATIONS: u32 = 10;

/// Where jobs run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PlatformChoice {
    /// This machine.
    Local,
    /// A Slurm cluster.
    Slurm,
    /// User command templates.
    Command {
        /// Launches a job and prints its id.
        launch: String,
        /// Prints a job's state.
        status: String,
        /// Cancels a job.
        cancel: String,
        /// Fetches a job's logs (optional).
        logs: Option<String>,
    },
}

/// Which agent plans and edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgentChoice {
    /// Claude Code if installed, else the Anthropic API if a key is set, else none.
    Auto,
    /// The Claude Code CLI.
    ClaudeCode,
    /// The Anthropic Messages API.
    Anthropic,
    /// The Codex CLI.
    Codex,
    /// An OpenAI-compatible server.
    Openai,
    /// No agent: the built-in instrumenter and planner.
    None,
}

/// Limits on the whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Budgets {
    /// Most experiments launched.
    pub max_experiments: Option<u32>,
    /// Most wall-clock hours.
    pub max_hours: Option<f64>,
    /// Most agent spend, USD.
    pub max_llm_usd: Option<f64>,
}

/// The flags of one `autoresearch run`, before validation. `None` = not given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunRequest {
    /// `--pipeline-script`.
    pub pipeline_script: Option<PathBuf>,
    /// `--source-dir`.
    pub source_dir: Option<PathBuf>,
    /// `--build-command`.
    pub build_command: Option<String>,
    /// `--base-launch-command`.
    pub base_launch_command: Option<String>,
    /// `--notes`.
    pub notes: Option<String>,
    /// `--max-iterations`.
    pub max_iterations: Option<u32>,
    /// `--patience`.
    pub patience: Option<u32>,
    /// `--max-concurrency`.
    pub max_concurrency: Option<u32>,
    /// `--job-timeout`, seconds.
    pub job_timeout_s: Option<u64>,
    /// `--poll-interval`, seconds.
    pub poll_interval_s: Option<u64>,
    /// `--platform` (with its templates).
    pub platform: Option<PlatformChoice>,
    /// `--agent`.
    pub agent: Option<AgentChoice>,
    /// `--skip-instrument`.
    pub skip_instrument: Option<bool>,
    /// `--max-experiments`.
    pub max_experiments: Option<u32>,
    /// `--max-hours`.
    pub max_hours: Option<f64>,
    /// `--max-llm-usd`.
    pub max_llm_usd: Option<f64>,
    /// `--min-improvement-pct`.
    pub min_improvement_pct: Option<f64>,
    /// `--confirm-best`.
    pub confirm_best: Option<bool>,
    /// `--baseline-repeats`.
    pub baseline_repeats: Option<u32>,
    /// `--sbatch-arg` (repeatable).
    pub sbatch_args: Option<Vec<String>>,
    /// `--floor-stop-pct`.
    pub floor_stop_pct: Option<f64>,
    /// `--knob name=int:LO..HI` (repeatable): add or bound a knob.
    pub knobs: Option<Vec<String>>,
    /// `--freeze name` (repeatable): never vary this flag.
    pub frozen: Option<Vec<String>>,
    /// `--update-config`: let a resume change the settings in [`UPDATABLE`].
    pub update_config: bool,
}

/// Settings a resume may change (with `--update-config`).
pub const UPDATABLE: [&str; 10] = [
    "notes",
    "max_iterations",
    "patience",
    "max_concurrency",
    "job_timeout_s",
    "poll_interval_s",
    "max_experiments",
    "max_hours",
    "max_llm_usd",
    "floor_stop_pct",
];

/// The validated configuration of a run (`config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Format version.
    pub schema_version: u32,
    /// The training script to optimise (absolute).
    pub pipeline_script: PathBuf,
    /// The folder with the code (absolute; contains the script).
    pub source_dir: PathBuf,
    /// Builds the job image; its last stdout line is `$IMAGE`.
    pub build_command: Option<String>,
    /// Launches a job; `$IMAGE` is substituted.
    pub base_launch_command: String,
    /// What the user wants the agent to know.
    pub notes: String,
    /// Most planning rounds.
    pub max_iterations: u32,
    /// Planning rounds without a new best before stopping.
    pub patience: u32,
    /// Experiments in flight at once.
    pub max_concurrency: u32,
    /// Seconds without progress before a job counts as stalled.
    pub job_timeout_s: u64,
    /// Seconds between job polls.
    pub poll_interval_s: u64,
    /// Where jobs run.
    pub platform: PlatformChoice,
    /// Which agent plans and edits.
    pub agent: AgentChoice,
    /// Do not instrument the script (it already uses the probe).
    pub skip_instrument: bool,
    /// Run-wide limits.
    pub budgets: Budgets,
    /// A new best must be at least this much better (percent), beyond the noise.
    pub min_improvement_pct: f64,
    /// Repeat every new best before keeping it (without it, only wins within
    /// 3·σ_between are repeated).
    pub confirm_best: bool,
    /// Runs of the baseline (1: no repeat); their spread is the first measurement of
    /// the noise between runs.
    #[serde(default = "default_baseline_repeats")]
    pub baseline_repeats: u32,
    /// Sets this run's job names apart from other runs' on a shared scheduler: a job
    /// name is the key a resume finds its job by, so two runs with the same experiment
    /// ids must not share names. Empty in runs made before it existed (their jobs keep
    /// the old names, so a resume still finds them).
    #[serde(default)]
    pub job_tag: String,
    /// Extra `sbatch` arguments of every job on `--platform slurm` (`--ntasks=8`,
    /// `--gres=gpu:8`, `--partition=…`).
    #[serde(default)]
    pub sbatch_args: Vec<String>,
    /// Stop when the best is within this percent of the headspace floor.
    pub floor_stop_pct: f64,
    /// Knobs the user added or bounded (`name=int:LO..HI`).
    #[serde(default)]
    pub knobs: Vec<String>,
    /// Flags never varied.
    #[serde(default)]
    pub frozen: Vec<String>,
}

/// The version of `config.json` this build writes.
pub const CONFIG_SCHEMA_VERSION: u32 = 1;
/// Runs of the baseline unless `--baseline-repeats` says otherwise.
pub const DEFAULT_BASELINE_REPEATS: u32 = 2;
/// The most runs of the baseline.
pub const MAX_BASELINE_REPEATS: u32 = 5;

/// Six hex digits from the work directory's path, the time and the process: unique
/// enough to keep two runs' job names apart on one scheduler.
fn new_job_tag(workdir: &Path) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::path::absolute(workdir)
        .unwrap_or_else(|_| workdir.to_owned())
        .hash(&mut hasher);
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
        .hash(&mut hasher);
    std::process::id().hash(&mut hasher);
    format!("{:06x}", hasher.finish() & 0x00ff_ffff)
}

/// A configuration written before baseline repeats existed ran the baseline once.
fn default_baseline_repeats() -> u32 {
    1
}

/// A setting whose resume value differs from the stored one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigDifference {
    /// The setting.
    pub field: &'static str,
    /// Stored value.
    pub stored: String,
    /// Requested value.
    pub requested: String,
    /// Whether `--update-config` allows the change.
    pub updatable: bool,
}

/// A configuration problem; each names the flag or file and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A flag's value is unusable.
    #[error("{flag}: {problem}\nhint: {hint}")]
    Invalid {
        /// The flag.
        flag: &'static str,
        /// What is wrong.
        problem: String,
        /// How to fix it.
        hint: String,
    },
    /// A fresh run lacks a required flag.
    #[error(
        "{workdir} has no config.json, so this is a new run, and {flag} is required\n\
         hint: autoresearch run {workdir} --pipeline-script <script> --source-dir <dir> --base-launch-command '<command>'"
    )]
    Missing {
        /// The work directory.
        workdir: PathBuf,
        /// The missing flag.
        flag: &'static str,
    },
    /// A resume asked for different settings.
    #[error("{}", describe_differences(.0))]
    Conflicts(Vec<ConfigDifference>),
    /// `config.json` cannot be read or written.
    #[error("cannot {action} {path}: {detail}")]
    File {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
}

fn describe_differences(differences: &[ConfigDifference]) -> String {
    let mut text = String::from("these flags differ from the run's config.json:\n");
    for d in differences {
        text.push_str(&format!(
            "  {}: stored {}, requested {}\n",
            d.field, d.stored, d.requested
        ));
    }
    if differences.iter().all(|d| d.updatable) {
        text.push_str(
            "hint: add --update-config to apply them, or drop them to resume as configured",
        );
    } else {
        let fixed: Vec<&str> = differences
            .iter()
            .filter(|d| !d.updatable)
            .map(|d| d.field)
            .collect();
        text.push_str(&format!(
            "hint: {} cannot change in a run; drop those flags to resume, or start a new work directory",
            fixed.join(", ")
        ));
    }
    text
}

/// A value as people write it: `Some(2)` → `2`, `None` → `none`, quotes dropped.
fn show(debug: &str) -> String {
    let inner = debug
        .strip_prefix("Some(")
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or(debug);
    match inner {
        "None" => "none".to_owned(),
        other => other.trim_matches('"').to_owned(),
    }
}

fn invalid(flag: &'static str, problem: impl Into<String>, hint: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        flag,
        problem: problem.into(),
        hint: hint.into(),
    }
}

impl RunConfig {
    /// The configuration of a new run in `workdir`, checked.
    pub fn from_request(workdir: &Path, request: &RunRequest) -> Result<Self, ConfigError> {
        let missing = |flag| ConfigError::Missing {
            workdir: workdir.to_owned(),
            flag,
        };
        let config = Self {
            schema_version: CONFIG_SCHEMA_VERSION,
            pipeline_script: request
                .pipeline_script
                .clone()
                .ok_or_else(|| missing("--pipeline-script"))?,
            source_dir: request
                .source_dir
                .clone()
                .ok_or_else(|| missing("--source-dir"))?,
            build_command: request
                .build_command
                .clone()
                .filter(|c| !c.trim().is_empty()),
            base_launch_command: request
                .base_launch_command
                .clone()
                .ok_or_else(|| missing("--base-launch-command"))?,
            notes: request.notes.clone().unwrap_or_default(),
            // Every round plans at least one experiment, so with an experiment budget the
            // default round limit never ends the run before that budget does (at one
            // experiment in flight, a round is one experiment).
            max_iterations: request.max_iterations.unwrap_or_else(|| {
                request
                    .max_experiments
                    .map_or(DEFAULT_MAX_ITERATIONS, |n| n.max(DEFAULT_MAX_ITERATIONS))
            }),
            patience: request.patience.unwrap_or(3),
            max_concurrency: request.max_concurrency.unwrap_or(3),
            job_timeout_s: request.job_timeout_s.unwrap_or(1800),
            poll_interval_s: request.poll_interval_s.unwrap_or(30),
            platform: request.platform.clone().unwrap_or(PlatformChoice::Local),
            agent: request.agent.unwrap_or(AgentChoice::Auto),
            skip_instrument: request.skip_instrument.unwrap_or(false),
            budgets: Budgets {
                max_experiments: request.max_experiments,
                max_hours: request.max_hours,
                max_llm_usd: request.max_llm_usd,
            },
            min_improvement_pct: request.min_improvement_pct.unwrap_or(2.0),
            confirm_best: request.confirm_best.unwrap_or(false),
            baseline_repeats: request.baseline_repeats.unwrap_or(DEFAULT_BASELINE_REPEATS),
            sbatch_args: request.sbatch_args.clone().unwrap_or_default(),
            job_tag: new_job_tag(workdir),
            floor_stop_pct: request.floor_stop_pct.unwrap_or(5.0),
            knobs: request.knobs.clone().unwrap_or_default(),
            frozen: request.frozen.clone().unwrap_or_default(),
        };
        config.resolved()
    }

    /// Paths made absolute and every rule checked.
    fn resolved(mut self) -> Result<Self, ConfigError> {
        let source = std::fs::canonicalize(&self.source_dir).map_err(|err| {
            invalid(
                "--source-dir",
                format!("{}: {err}", self.source_dir.display()),
                "pass the folder that holds the training code",
            )
        })?;
        if !source.is_dir() {
            return Err(invalid(
                "--source-dir",
                format!("{} is not a folder", source.display()),
                "pass the folder that holds the training code",
            ));
        }
        let script_path = if self.pipeline_script.is_absolute() || self.pipeline_script.exists() {
            self.pipeline_script.clone()
        } else {
            source.join(&self.pipeline_script)
        };
        let script = std::fs::canonicalize(&script_path).map_err(|err| {
            invalid(
                "--pipeline-script",
                format!("{}: {err}", script_path.display()),
                "pass the training script's path",
            )
        })?;
        if let Err(err) = std::fs::File::open(&script)
            .and_then(|f| f.metadata())
            .and_then(|m| {
                if m.is_file() {
                    Ok(())
                } else {
                    Err(std::io::Error::other("not a file"))
                }
            })
        {
            return Err(invalid(
                "--pipeline-script",
                format!("{} cannot be read: {err}", script.display()),
                "pass a readable Python file",
            ));
        }
        if !script.starts_with(&source) {
            return Err(invalid(
                "--pipeline-script",
                format!(
                    "{} is outside the source folder {}",
                    script.display(),
                    source.display()
                ),
                "experiments only change files inside --source-dir; pass a source folder that contains the script",
            ));
        }
        self.source_dir = source;
        self.pipeline_script = script;
        self.check()?;
        Ok(self)
    }

    /// The rules on values (not on files).
    // Long on purpose: one rule per field, each with its own message and hint.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.base_launch_command.trim().is_empty() {
            return Err(invalid(
                "--base-launch-command",
                "it is empty",
                "pass the command that launches one training job",
            ));
        }
        if crate::command_words::unbalanced_quotes(&self.base_launch_command) {
            return Err(invalid(
                "--base-launch-command",
                "it has a quote that never closes, so the shell could not run it",
                "close the quote (a value with spaces goes in '…' or \"…\")",
            ));
        }
        let mentions_image = self.base_launch_command.contains("$IMAGE")
            || self.base_launch_command.contains("${IMAGE}");
        if self.build_command.is_some() && !mentions_image {
            return Err(invalid(
                "--base-launch-command",
                "a --build-command is set, but the launch command never uses $IMAGE, so jobs would ignore every build",
                "put $IMAGE where the launch command takes the image (e.g. --image $IMAGE), or drop --build-command",
            ));
        }
        let range = |flag: &'static str, ok: bool, rule: &str| {
            if ok {
                Ok(())
            } else {
                Err(invalid(
                    flag,
                    format!("must be {rule}"),
                    format!("pass {flag} {rule}"),
                ))
            }
        };
        range(
            "--max-concurrency",
            (1..=64).contains(&self.max_concurrency),
            "between 1 and 64",
        )?;
        range("--patience", self.patience >= 1, "at least 1")?;
        range("--max-iterations", self.max_iterations >= 1, "at least 1")?;
        range(
            "--job-timeout",
            self.job_timeout_s >= 10,
            "at least 10 (seconds)",
        )?;
        range(
            "--poll-interval",
            self.poll_interval_s >= 1,
            "at least 1 (second)",
        )?;
        range(
            "--min-improvement-pct",
            (0.0..100.0).contains(&self.min_improvement_pct),
            "from 0 to below 100",
        )?;
        range(
            "--floor-stop-pct",
            (0.0..100.0).contains(&self.floor_stop_pct),
            "from 0 to below 100",
        )?;
        range(
            "--baseline-repeats",
            (1..=MAX_BASELINE_REPEATS).contains(&self.baseline_repeats),
            "from 1 (no repeat) to 5",
        )?;
        if !self.sbatch_args.is_empty() && self.platform != PlatformChoice::Slurm {
            return Err(invalid(
                "--sbatch-arg",
                "applies only to jobs on Slurm".to_owned(),
                "add --platform slurm, or drop --sbatch-arg".to_owned(),
            ));
        }
        range(
            "--max-experiments",
            self.budgets.max_experiments.is_none_or(|n| n >= 1),
            "at least 1",
        )?;
        range(
            "--max-hours",
            self.budgets
                .max_hours
                .is_none_or(|h| h.is_finite() && h > 0.0),
            "a positive number",
        )?;
        range(
            "--max-llm-usd",
            self.budgets
                .max_llm_usd
                .is_none_or(|d| d.is_finite() && d >= 0.0),
            "zero or more",
        )?;
        Ok(())
    }

    /// The stored configuration of a resume, with the request's flags compared: a flag
    /// that differs is an error listing every difference, unless all of them are
    /// updatable and `--update-config` was given, in which case they apply.
    // Long on purpose: one comparison per configuration field, in `config.json`'s
    // order, so a reader sees at a glance which fields a resume compares.
    pub fn resume(
        stored: &Self,
        request: &RunRequest,
    ) -> Result<(Self, Vec<ConfigDifference>), ConfigError> {
        let mut next = stored.clone();
        let mut differences = Vec::new();
        macro_rules! compare {
            ($field:literal, $requested:expr, $target:expr) => {
                if let Some(value) = $requested {
                    if $target != value {
                        differences.push(ConfigDifference {
                            field: $field,
                            stored: show(&format!("{:?}", $target)),
                            requested: show(&format!("{:?}", value)),
                            updatable: UPDATABLE.contains(&$field),
                        });
                        $target = value;
                    }
                }
            };
        }
        let script = request
            .pipeline_script
            .as_ref()
            .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()));
        let source = request
            .source_dir
            .as_ref()
            .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()));
        compare!("pipeline_script", script, next.pipeline_script);
        compare!("source_dir", source, next.source_dir);
        compare!(
            "build_command",
            request.build_command.clone().map(Some),
            next.build_command
        );
        compare!(
            "base_launch_command",
            request.base_launch_command.clone(),
            next.base_launch_command
        );
        compare!("notes", request.notes.clone(), next.notes);
        compare!(
            "max_iterations",
            request.max_iterations,
            next.max_iterations
        );
        compare!("patience", request.patience, next.patience);
        compare!(
            "max_concurrency",
            request.max_concurrency,
            next.max_concurrency
        );
        compare!("job_timeout_s", request.job_timeout_s, next.job_timeout_s);
        compare!(
            "poll_interval_s",
            request.poll_interval_s,
            next.poll_interval_s
        );
        compare!("platform", request.platform.clone(), next.platform);
        compare!("agent", request.agent, next.agent);
        compare!(
            "skip_instrument",
            request.skip_instrument,
            next.skip_instrument
        );
        compare!(
            "max_experiments",
            request.max_experiments.map(Some),
            next.budgets.max_experiments
        );
        // A raised experiment budget raises the round limit with it, as at the start,
        // unless the round limit is given too.
        if request.max_iterations.is_none()
            && let Some(budget) = request.max_experiments
            && next.max_iterations < budget
            && differences.iter().any(|d| d.field == "max_experiments")
        {
            differences.push(ConfigDifference {
                field: "max_iterations",
                stored: show(&format!("{:?}", next.max_iterations)),
                requested: show(&format!("{budget:?}")),
                updatable: UPDATABLE.contains(&"max_iterations"),
            });
            next.max_iterations = budget;
        }
        compare!(
            "max_hours",
            request.max_hours.map(Some),
            next.budgets.max_hours
        );
        compare!(
            "max_llm_usd",
            request.max_llm_usd.map(Some),
            next.budgets.max_llm_usd
        );
        compare!(
            "min_improvement_pct",
            request.min_improvement_pct,
            next.min_improvement_pct
        );
        compare!("confirm_best", request.confirm_best, next.confirm_best);
        compare!(
            "baseline_repeats",
            request.baseline_repeats,
            next.baseline_repeats
        );
        compare!("sbatch_args", request.sbatch_args.clone(), next.sbatch_args);
        compare!(
            "floor_stop_pct",
            request.floor_stop_pct,
            next.floor_stop_pct
        );
        compare!("knobs", request.knobs.clone(), next.knobs);
        compare!("frozen", request.frozen.clone(), next.frozen);
        if differences.is_empty() {
            return Ok((next, differences));
        }
        if !request.update_config || differences.iter().any(|d| !d.updatable) {
            return Err(ConfigError::Conflicts(differences));
        }
        next.check()?;
        Ok((next, differences))
    }

    /// `<workdir>/config.json`.
    pub fn path(workdir: &Path) -> PathBuf {
        crate::Workdir::new(workdir).config()
    }

    /// The stored configuration, or `None` for a work directory never initialised.
    pub fn load(workdir: &Path) -> Result<Option<Self>, ConfigError> {
        let path = Self::path(workdir);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => {
                return Err(ConfigError::File {
                    action: "read",
                    path,
                    detail: err.to_string(),
                });
            }
        };
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let config: Self =
            serde::Deserialize::deserialize(&mut de).map_err(|err| ConfigError::File {
                action: "load",
                path: path.clone(),
                detail: format!("{err}\nhint: restore it, or start a new work directory"),
            })?;
        if config.schema_version > CONFIG_SCHEMA_VERSION {
            return Err(ConfigError::File {
                action: "load",
                path,
                detail: format!(
                    "schema_version {} is newer than this build reads",
                    config.schema_version
                ),
            });
        }
        Ok(Some(config))
    }

    /// Writes `config.json` atomically.
    pub fn save(&self, workdir: &Path) -> Result<(), ConfigError> {
        let path = Self::path(workdir);
        let fail = |detail: String| ConfigError::File {
            action: "write",
            path: path.clone(),
            detail,
        };
        std::fs::create_dir_all(workdir).map_err(|err| fail(err.to_string()))?;
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|err| fail(err.to_string()))?;
        bytes.push(b'\n');
        autoresearch_fs::write_atomic(&path, &bytes).map_err(|err| fail(err.to_string()))
    }
}
