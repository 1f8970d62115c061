//! The command backend: user templates drive any scheduler reachable from a shell
//! (TorchX, Kubernetes, an in-house system).

use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;

use crate::error::JobsError;
use crate::exec::{Capture, run, shell};
use crate::slurm::{Launched, read_record, record_by_id, wrapped_command, write_record};
use crate::template::{Vars, expand};
use crate::types::{Failure, JobId, JobLogs, JobRequest, JobStatus, validate_name};

/// Patterns that find a job id in a launch's output (first capture group): TorchX,
/// Slurm's sbatch, and a generic `job_id=…`.
pub const DEFAULT_ID_PATTERNS: [&str; 3] = [
    r"Launched app: (\S+)",
    r"Submitted batch job (\d+)",
    r"job_id=(\S+)",
];

/// A state a status pattern maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateKind {
    /// Not started.
    Pending,
    /// Started.
    Running,
    /// Ended well.
    Succeeded,
    /// Ended badly; a named group `code` in the pattern gives the exit code.
    Failed,
    /// Cancelled.
    Cancelled,
}

/// Default status patterns, tried in order; the first match wins.
pub fn default_state_patterns() -> Vec<(String, StateKind)> {
    [
        (
            r"(?i)\b(FAILED|TIMEOUT|OUT_OF_MEMORY|NODE_FAIL|ERROR)\b",
            StateKind::Failed,
        ),
        (r"(?i)\b(CANCELLED|CANCELED|KILLED)\b", StateKind::Cancelled),
        (r"(?i)\b(COMPLETED|SUCCEEDED)\b", StateKind::Succeeded),
        (r"(?i)\b(RUNNING|COMPLETING)\b", StateKind::Running),
        (
            r"(?i)\b(PENDING|QUEUED|CONFIGURING|SUBMITTED)\b",
            StateKind::Pending,
        ),
    ]
    .into_iter()
    .map(|(p, s)| (p.to_owned(), s))
    .collect()
}

/// The templates and patterns of a command platform. Templates are shell command lines
/// (see [`crate::template`]); besides the user's variables they see `$JOB_NAME`,
/// `$COMMAND` (the job's command line, with its environment exported), `$CWD` and
/// `$LOG_DIR` (launch, logs), and `$JOB_ID` (status, cancel, logs).
#[derive(Debug, Clone)]
pub struct CommandTemplates {
    /// Launches the job and prints its id.
    pub launch: String,
    /// Prints the job's state.
    pub status: String,
    /// Cancels the job.
    pub cancel: String,
    /// Copies the job's logs into `$LOG_DIR/stdout.log` and `stderr.log` (omit when the
    /// job writes there itself).
    pub logs: Option<String>,
    /// Prints the id of the job named `$JOB_NAME`, if the scheduler has one (optional;
    /// lets a launch interrupted by a crash re-attach instead of launching twice).
    pub find: Option<String>,
    /// Patterns that find the id in the launch output.
    pub id_patterns: Vec<String>,
    /// Patterns that map status output to states.
    pub state_patterns: Vec<(String, StateKind)>,
}

/// Jobs driven through [`CommandTemplates`].
#[derive(Debug, Clone)]
pub struct CommandPlatform {
    root: PathBuf,
    templates: CommandTemplates,
    ids: Vec<Regex>,
    states: Vec<(Regex, StateKind)>,
    code: Regex,
    vars: Vars,
    timeout: Duration,
}

fn compile(pattern: &str) -> Result<Regex, JobsError> {
    Regex::new(pattern).map_err(|source| JobsError::BadPattern {
        pattern: pattern.to_owned(),
        source,
    })
}

impl CommandPlatform {
    /// Records launched jobs under `root`; `vars` are the user's template variables;
    /// every command gets `timeout`. Patterns are checked here.
    pub fn new(
        root: impl Into<PathBuf>,
        templates: CommandTemplates,
        vars: Vars,
        timeout: Duration,
    ) -> Result<Self, JobsError> {
        let root = root.into();
        std::fs::create_dir_all(&root)
            .map_err(|err| JobsError::io("create directory", &root, err))?;
        let ids = templates
            .id_patterns
            .iter()
            .map(|p| compile(p))
            .collect::<Result<_, _>>()?;
        let states = templates
            .state_patterns
            .iter()
            .map(|(p, s)| Ok((compile(p)?, *s)))
            .collect::<Result<_, JobsError>>()?;
        Ok(Self {
            root,
            templates,
            ids,
            states,
            code: compile(r"(?i)exit[ _]?code[=: ]+(\d+)")?,
            vars,
            timeout,
        })
    }

    /// Runs a template; returns stdout and stderr.
    async fn run_template(
        &self,
        template: &str,
        vars: &Vars,
    ) -> Result<(String, String), JobsError> {
        let script = expand(template, vars)?;
        let finished = run(
            &shell(&script),
            &self.root,
            &vars.to_env(),
            self.timeout,
            Capture::Memory,
        )
        .await?;
        if !finished.status.success() {
            return Err(JobsError::Command {
                command: script,
                reason: format!("exited with {}", finished.status),
                tail: finished.tail(4000),
            });
        }
        Ok((finished.stdout, finished.stderr))
    }

    fn job_vars(&self, request: &JobRequest) -> Result<Vars, JobsError> {
        Ok(self
            .vars
            .clone()
            .with("JOB_NAME", &request.name)
            .with("COMMAND", wrapped_command(request)?)
            .with("CWD", request.cwd.display().to_string())
            .with("LOG_DIR", request.log_dir.display().to_string()))
    }

    /// Launches through the launch template, unless a job of that name was launched.
    pub async fn launch(&self, request: &JobRequest) -> Result<JobId, JobsError> {
        validate_name(&request.name)?;
        if let Some(id) = self.find(&request.name).await? {
            return Ok(id);
        }
        std::fs::create_dir_all(&request.log_dir)
            .map_err(|err| JobsError::io("create directory", &request.log_dir, err))?;
        let launched = |id: String| Launched {
            id,
            stdout: request.log_dir.join("stdout.log"),
            stderr: request.log_dir.join("stderr.log"),
        };
        // An intent file marks a launch in flight: if it survives (a crash between the
        // launch and its record), the job may exist, and launching again could run it
        // twice.
        let intent = self.root.join(format!("{}.launching", request.name));
        if intent.exists() {
            let found = match &self.templates.find {
                Some(template) => {
                    let vars = self.vars.clone().with("JOB_NAME", &request.name);
                    let (stdout, _) = self.run_template(template, &vars).await?;
                    stdout.split_whitespace().next().map(str::to_owned)
                }
                None => {
                    return Err(JobsError::Command {
                        command: format!("launch {}", request.name),
                        reason: format!(
                            "an earlier launch of this job was interrupted and may have started it; check \
                             the scheduler, then delete {} to launch again (or configure a find template)",
                            intent.display()
                        ),
                        tail: String::new(),
                    });
                }
            };
            if let Some(id) = found {
                write_record(&self.root, &request.name, &launched(id.clone()))?;
                let _ = std::fs::remove_file(&intent);
                tracing::info!(name = %request.name, %id, "re-attached to a job whose launch was interrupted");
                return Ok(JobId(id));
            }
        }
        autoresearch_fs::write_atomic(&intent, jiff::Timestamp::now().to_string().as_bytes())
            .map_err(|err| JobsError::io("write", &intent, err))?;
        let vars = self.job_vars(request)?;
        let (stdout, stderr) = self.run_template(&self.templates.launch, &vars).await?;
        let output = format!("{stdout}{stderr}");
        let id = self
            .ids
            .iter()
            .find_map(|re| {
                re.captures(&output)
                    .and_then(|c| c.get(1))
                    .map(|m| m.as_str().to_owned())
            })
            .ok_or_else(|| JobsError::NoJobId {
                command: self.templates.launch.clone(),
                output: output.clone(),
            })?;
        write_record(&self.root, &request.name, &launched(id.clone()))?;
        let _ = std::fs::remove_file(&intent);
        Ok(JobId(id))
    }

    /// The job launched under this name, from the local record.
    pub async fn find(&self, name: &str) -> Result<Option<JobId>, JobsError> {
        validate_name(name)?;
        Ok(read_record(&self.root, name)?.map(|r| JobId(r.id)))
    }

    /// Runs the status template and maps its output.
    pub async fn status(&self, id: &JobId) -> Result<JobStatus, JobsError> {
        let vars = self.vars.clone().with("JOB_ID", &id.0);
        // Only stdout: a warning on stderr that mentions "error" is not a state.
        let (output, _) = self.run_template(&self.templates.status, &vars).await?;
        for (pattern, state) in &self.states {
            if pattern.is_match(&output) {
                return Ok(match state {
                    StateKind::Pending => JobStatus::Pending,
                    StateKind::Running => JobStatus::Running,
                    StateKind::Succeeded => JobStatus::Succeeded,
                    StateKind::Cancelled => JobStatus::Cancelled,
                    StateKind::Failed => {
                        let code = pattern
                            .captures(&output)
                            .and_then(|c| c.name("code"))
                            .or_else(|| self.code.captures(&output).and_then(|c| c.get(1)))
                            .and_then(|m| m.as_str().parse().ok());
                        match code {
                            Some(code) if code != 0 => JobStatus::Failed(Failure::ExitCode(code)),
                            _ => JobStatus::Failed(Failure::Reason(output.trim().to_owned())),
                        }
                    }
                });
            }
        }
        Ok(JobStatus::Unknown(format!(
            "no status pattern matched: {}",
            output.trim()
        )))
    }

    /// Runs the cancel template.
    pub async fn cancel(&self, id: &JobId) -> Result<(), JobsError> {
        let vars = self.vars.clone().with("JOB_ID", &id.0);
        self.run_template(&self.templates.cancel, &vars)
            .await
            .map(|_| ())
    }

    /// Runs the logs template (if any) and returns where the logs are.
    pub async fn logs(&self, id: &JobId) -> Result<JobLogs, JobsError> {
        let (name, record) = record_by_id(&self.root, id)?;
        let name = name.as_str();
        if let Some(template) = &self.templates.logs {
            let log_dir = record
                .stdout
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let vars = self
                .vars
                .clone()
                .with("JOB_ID", &id.0)
                .with("JOB_NAME", name)
                .with("LOG_DIR", log_dir);
            self.run_template(template, &vars).await?;
        }
        Ok(JobLogs {
            stdout: record.stdout,
            stderr: record.stderr,
            started_at: None,
            ended_at: None,
        })
    }
}
