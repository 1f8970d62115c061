//! Error type.

use std::path::PathBuf;

/// Why a platform operation failed. Messages name the command, file or job involved.
#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    /// An external command could not start, exited non-zero, or timed out.
    #[error("`{command}` {reason}\n--- last output ---\n{tail}")]
    Command {
        /// The command line as run.
        command: String,
        /// "exited with status 2", "timed out after 30s", "could not start: …".
        reason: String,
        /// The tail of its stdout and stderr.
        tail: String,
    },
    /// A build succeeded but printed no image name.
    #[error(
        "the build command `{command}` printed nothing on stdout, so there is no image name\n\
         hint: make its last stdout line the image (for a build that makes none, end with `echo local`)"
    )]
    NoImage {
        /// The command line.
        command: String,
    },
    /// A template names a variable that has no value.
    #[error(
        "the template `{template}` uses ${name}, which is not defined\n\
         hint: known variables are {known}; define others with --var NAME=VALUE"
    )]
    UnknownVariable {
        /// The template.
        template: String,
        /// The variable.
        name: String,
        /// The variables that are defined.
        known: String,
    },
    /// A template is malformed (an unclosed quote, say).
    #[error("the template `{template}` is malformed: {problem}")]
    BadTemplate {
        /// The template.
        template: String,
        /// What is wrong.
        problem: String,
    },
    /// A launch printed nothing the job-id patterns recognise.
    #[error(
        "the launch command `{command}` printed no job id\n\
         hint: set a job-id pattern that matches its output\n--- output ---\n{output}"
    )]
    NoJobId {
        /// The command line.
        command: String,
        /// What it printed.
        output: String,
    },
    /// No job with this id or name is known.
    #[error("no job `{0}` is known to this platform")]
    UnknownJob(String),
    /// A job name that is unusable (empty, or with characters outside `[A-Za-z0-9_.-]`).
    #[error("`{0}` is not a valid job name: use letters, digits, `_`, `.` and `-`")]
    InvalidName(String),
    /// An environment variable name that is not `[A-Za-z_][A-Za-z0-9_]*`.
    #[error("`{0}` is not a valid environment variable name")]
    InvalidEnvName(String),
    /// A pattern in the configuration is not a valid regular expression.
    #[error("invalid pattern `{pattern}`: {source}")]
    BadPattern {
        /// The pattern.
        pattern: String,
        /// The regex error.
        #[source]
        source: regex::Error,
    },
    /// A filesystem operation failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A record file exists but cannot be parsed.
    #[error("job record {path} is damaged: {detail}")]
    Record {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

impl JobsError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
