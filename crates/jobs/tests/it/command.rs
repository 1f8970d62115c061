//! The command backend, driving the real Slurm CLI through templates only.

use std::time::Duration;

use autoresearch_jobs::{
    CommandPlatform, CommandTemplates, DEFAULT_ID_PATTERNS, Failure, JobId, JobStatus, JobsError,
    Platform, Vars, default_state_patterns,
};

use crate::support::{request, require_slurm, wait_for, wait_terminal};

fn templates() -> CommandTemplates {
    CommandTemplates {
        launch: "sbatch --job-name=$JOB_NAME --partition=$PARTITION --chdir=\"$CWD\" \
                 --output=\"$LOG_DIR/stdout.log\" --error=\"$LOG_DIR/stderr.log\" --wrap \"$COMMAND\""
            .to_owned(),
        status: "scontrol show job -o $JOB_ID".to_owned(),
        cancel: "scancel $JOB_ID".to_owned(),
        logs: None,
        find: Some("squeue --me -h --states=all -n $JOB_NAME -o %i".to_owned()),
        id_patterns: DEFAULT_ID_PATTERNS.iter().map(|p| (*p).to_owned()).collect(),
        state_patterns: default_state_patterns(),
    }
}

fn platform_with(dir: &std::path::Path, templates: CommandTemplates) -> Platform {
    let vars = Vars::new().with("PARTITION", "debug");
    let platform = CommandPlatform::new(
        dir.join("command"),
        templates,
        vars,
        Duration::from_secs(30),
    )
    .unwrap();
    Platform::Command(Box::new(platform))
}

fn unique(name: &str) -> String {
    format!(
        "tpl_{name}_{}_{}",
        std::process::id(),
        jiff::Timestamp::now().as_millisecond()
    )
}

#[tokio::test]
async fn templates_submit_poll_and_collect_a_slurm_job() {
    require_slurm();
    let dir = tempfile::tempdir().unwrap();
    let platform = platform_with(dir.path(), templates());
    let name = unique("ok");
    let id = platform
        .launch(&request(
            dir.path(),
            &name,
            "echo \"it's $AR_TEST\"; echo 'quoted; text'",
        ))
        .await
        .unwrap();
    assert_eq!(wait_terminal(&platform, &id).await, JobStatus::Succeeded);
    let logs = platform.logs(&id).await.unwrap();
    wait_for("the output file", || {
        std::fs::read_to_string(&logs.stdout).is_ok_and(|s| !s.is_empty())
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(&logs.stdout).unwrap(),
        "it's set\nquoted; text\n"
    );
    assert_eq!(platform.find(&name).await.unwrap(), Some(id));
}

#[tokio::test]
async fn templates_report_exit_codes_and_cancellation() {
    require_slurm();
    let dir = tempfile::tempdir().unwrap();
    let platform = platform_with(dir.path(), templates());
    let failed = platform
        .launch(&request(dir.path(), &unique("exit5"), "exit 5"))
        .await
        .unwrap();
    assert_eq!(
        wait_terminal(&platform, &failed).await,
        JobStatus::Failed(Failure::ExitCode(5))
    );
    let long = platform
        .launch(&request(dir.path(), &unique("long"), "sleep 300"))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while platform.status(&long).await.unwrap() != JobStatus::Running {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the job never started"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    platform.cancel(&long).await.unwrap();
    assert_eq!(wait_terminal(&platform, &long).await, JobStatus::Cancelled);
}

#[tokio::test]
async fn a_launch_that_prints_no_id_is_an_error_with_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = templates();
    t.launch = "echo queued somewhere".to_owned();
    let err = platform_with(dir.path(), t)
        .launch(&request(dir.path(), "noid", "true"))
        .await
        .unwrap_err();
    assert!(matches!(err, JobsError::NoJobId { .. }), "{err}");
    assert!(err.to_string().contains("queued somewhere"), "{err}");
}

#[tokio::test]
async fn a_launch_program_that_does_not_exist_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = templates();
    t.launch = "no-such-scheduler submit $JOB_NAME".to_owned();
    let err = platform_with(dir.path(), t)
        .launch(&request(dir.path(), "x", "true"))
        .await
        .unwrap_err();
    let JobsError::Command { reason, tail, .. } = &err else {
        panic!("{err}")
    };
    assert!(reason.contains("127"), "{reason}");
    assert!(tail.contains("no-such-scheduler"), "{tail}");
}

#[tokio::test]
async fn a_failing_status_command_is_an_error_not_a_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = templates();
    t.status = "echo 'scheduler unreachable' >&2; exit 7".to_owned();
    let err = platform_with(dir.path(), t)
        .status(&JobId("42".into()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("scheduler unreachable"), "{err}");
}

#[tokio::test]
async fn unrecognised_status_output_is_unknown_and_custom_patterns_apply() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = templates();
    t.status = "echo 'phase: Warming'".to_owned();
    let status = platform_with(dir.path(), t.clone())
        .status(&JobId("1".into()))
        .await
        .unwrap();
    assert!(matches!(status, JobStatus::Unknown(_)), "{status:?}");
    t.state_patterns.insert(
        0,
        (
            r"phase: Warming".to_owned(),
            autoresearch_jobs::StateKind::Pending,
        ),
    );
    t.status = "echo 'phase: Warming'".to_owned();
    let status = platform_with(dir.path(), t.clone())
        .status(&JobId("1".into()))
        .await
        .unwrap();
    assert_eq!(status, JobStatus::Pending);
    t.status = "echo 'state=FAILED exit_code=9'".to_owned();
    let status = platform_with(dir.path(), t)
        .status(&JobId("1".into()))
        .await
        .unwrap();
    assert_eq!(status, JobStatus::Failed(Failure::ExitCode(9)));
}

#[tokio::test]
async fn an_unknown_template_variable_fails_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = templates();
    let marker = dir.path().join("ran");
    t.launch = format!("touch '{}'; submit --queue $QUEUE", marker.display());
    let err = platform_with(dir.path(), t)
        .launch(&request(dir.path(), "x", "true"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, JobsError::UnknownVariable { ref name, .. } if name == "QUEUE"),
        "{err}"
    );
    assert!(!marker.exists());
}

#[test]
fn a_bad_pattern_is_reported_when_the_platform_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = templates();
    t.id_patterns = vec!["(unclosed".to_owned()];
    let err = CommandPlatform::new(dir.path(), t, Vars::new(), Duration::from_secs(1)).unwrap_err();
    assert!(matches!(err, JobsError::BadPattern { .. }), "{err}");
}

#[tokio::test]
async fn status_patterns_read_stdout_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = templates();
    t.status = "echo 'warning: an error budget is low' >&2; echo 'JobState=RUNNING'".to_owned();
    let status = platform_with(dir.path(), t)
        .status(&JobId("1".into()))
        .await
        .unwrap();
    assert_eq!(status, JobStatus::Running);
}

#[tokio::test]
async fn an_interrupted_launch_re_attaches_instead_of_launching_twice() {
    require_slurm();
    let dir = tempfile::tempdir().unwrap();
    let platform = platform_with(dir.path(), templates());
    let name = unique("crashed");
    let id = platform
        .launch(&request(dir.path(), &name, "sleep 1"))
        .await
        .unwrap();
    // As if the engine died after the launch template ran but before the record.
    std::fs::remove_file(dir.path().join("command").join(format!("{name}.json"))).unwrap();
    std::fs::write(
        dir.path().join("command").join(format!("{name}.launching")),
        "x",
    )
    .unwrap();
    assert_eq!(
        platform
            .launch(&request(dir.path(), &name, "sleep 1"))
            .await
            .unwrap(),
        id
    );
    // Without a find template the launch is refused rather than repeated.
    let mut t = templates();
    t.find = None;
    let bare = platform_with(dir.path(), t);
    let other = unique("crashed_bare");
    std::fs::write(
        dir.path()
            .join("command")
            .join(format!("{other}.launching")),
        "x",
    )
    .unwrap();
    let err = bare
        .launch(&request(dir.path(), &other, "true"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("interrupted"), "{err}");
}
