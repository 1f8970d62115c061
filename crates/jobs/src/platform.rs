//! One type for whichever backend the user chose.

use crate::build::{BuildLogs, build};
use crate::command::CommandPlatform;
use crate::error::JobsError;
use crate::local::LocalPlatform;
use crate::slurm::SlurmPlatform;
use crate::types::{JobId, JobLogs, JobRequest, JobStatus};

/// Where jobs run.
#[derive(Debug, Clone)]
pub enum Platform {
    /// This machine.
    Local(LocalPlatform),
    /// A Slurm cluster.
    Slurm(SlurmPlatform),
    /// Any scheduler, through command templates.
    Command(Box<CommandPlatform>),
}

impl Platform {
    /// Runs a build; see [`build`].
    pub async fn build(
        &self,
        command: &str,
        cwd: &std::path::Path,
        env: &[(String, String)],
        timeout: std::time::Duration,
        logs: &BuildLogs,
    ) -> Result<String, JobsError> {
        build(command, cwd, env, timeout, logs).await
    }

    /// Launches a job unless one of that name exists (the name is the idempotency key).
    pub async fn launch(&self, request: &JobRequest) -> Result<JobId, JobsError> {
        match self {
            Self::Local(p) => p.launch(request).await,
            Self::Slurm(p) => p.launch(request).await,
            Self::Command(p) => p.launch(request).await,
        }
    }

    /// The job launched under `name`, if any.
    pub async fn find(&self, name: &str) -> Result<Option<JobId>, JobsError> {
        match self {
            Self::Local(p) => p.find(name).await,
            Self::Slurm(p) => p.find(name).await,
            Self::Command(p) => p.find(name).await,
        }
    }

    /// Where the job is.
    pub async fn status(&self, id: &JobId) -> Result<JobStatus, JobsError> {
        match self {
            Self::Local(p) => p.status(id).await,
            Self::Slurm(p) => p.status(id).await,
            Self::Command(p) => p.status(id).await,
        }
    }

    /// Stops the whole job.
    pub async fn cancel(&self, id: &JobId) -> Result<(), JobsError> {
        match self {
            Self::Local(p) => p.cancel(id).await,
            Self::Slurm(p) => p.cancel(id).await,
            Self::Command(p) => p.cancel(id).await,
        }
    }

    /// The job's logs (fetched if remote) and times.
    pub async fn logs(&self, id: &JobId) -> Result<JobLogs, JobsError> {
        match self {
            Self::Local(p) => p.logs(id).await,
            Self::Slurm(p) => p.logs(id).await,
            Self::Command(p) => p.logs(id).await,
        }
    }
}
