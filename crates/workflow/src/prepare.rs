//! Preparing one experiment: its own checkout at its base commit, the code change
//! (agent edit), verification, commit, and build.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use autoresearch_hypothesis_tree::{FailureKind, FailurePhase, FailureRecord};
use autoresearch_jobs::{BuildLogs, Vars, expand};
use autoresearch_llm_client::{AgentCall, edits::apply_edits};
use autoresearch_vcs::CommitId;
use serde::Deserialize;

use crate::context::Context;
use crate::prompts;
use crate::spec::ExperimentSpec;

/// What preparation produced.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    /// The checkout.
    pub checkout: PathBuf,
    /// The commit that runs.
    pub commit: CommitId,
    /// The image (`""` without a build command).
    pub image: String,
}

/// The result of the verification helper.
#[derive(Debug, Deserialize)]
struct Verification {
    ok: bool,
    probe: bool,
    problems: Vec<String>,
}

/// The verification helper's source.
const VERIFY_SCRIPT: &str = include_str!("../python/verify_script.py");

/// Checks an edited script against its previous text: it compiles, keeps its top-level
/// names, and still calls the probe. Returns the problems (empty when fine).
pub(crate) async fn verify_script(
    python: &Path,
    old_text: &str,
    new_path: &Path,
) -> Result<Vec<String>, String> {
    // Removed when dropped, also when this check is abandoned mid-way.
    let scratch = tempfile::Builder::new()
        .prefix("autoresearch-verify-")
        .tempdir()
        .map_err(|e| format!("cannot make a scratch folder: {e}"))?;
    let dir = scratch.path();
    let helper = dir.join("verify_script.py");
    let old = dir.join("old.py");
    std::fs::write(&helper, VERIFY_SCRIPT).map_err(|e| e.to_string())?;
    std::fs::write(&old, old_text).map_err(|e| e.to_string())?;
    let output = autoresearch_fs::process::Command::new(python)
        .arg(&helper)
        .arg(&old)
        .arg(new_path)
        .timeout(Duration::from_secs(60))
        .run()
        .await;
    drop(scratch);
    let output = output.map_err(|e| match e {
        autoresearch_fs::process::ProcessError::TimedOut { .. } => {
            "the script check took over 60 s".to_owned()
        }
        other => format!("{other} (set AUTORESEARCH_PYTHON to a Python 3 interpreter)"),
    })?;
    if !output.status.success() {
        return Err(format!("the script check failed: {}", output.stderr.trim()));
    }
    let verdict: Verification = serde_json::from_str(&output.stdout)
        .map_err(|e| format!("the script check printed something unexpected: {e}"))?;
    let mut problems = verdict.problems;
    if !verdict.probe {
        problems.push(
            "the script no longer imports autoresearch_probe and calls probe.track(...), so nothing could be measured"
                .to_owned(),
        );
    }
    debug_assert!(verdict.ok || !problems.is_empty());
    Ok(problems)
}

/// The commit message of an experiment.
fn commit_message(id: &str, spec: &ExperimentSpec) -> String {
    let title = if spec.change_summary.is_empty() {
        &spec.name
    } else {
        &spec.change_summary
    };
    let mut first = format!("autoresearch: {id}: {title}");
    if first.chars().count() > 72 {
        first = first.chars().take(71).collect::<String>() + "…";
    }
    let mut message = format!("{first}\n\n{}\n", spec.description.trim());
    if !spec.hypothesis.is_empty() {
        message.push_str(&format!("\nHypothesis: {}\n", spec.hypothesis));
    }
    if !spec.changes.is_empty() {
        message.push_str(&format!("Changes: {}\n", spec.changes.join(", ")));
    }
    message
}

/// The code-change prompt for `spec`, on `script_text`.
pub(crate) fn change_prompt(
    ctx: &Context,
    spec: &ExperimentSpec,
    script_text: &str,
) -> Result<String, String> {
    let repair = match &spec.startup_failure {
        Some(tail) => format!(
            "\n## Repair attempt {}\n\nThe previous attempt at this experiment failed while starting. Keep the experiment's \
             intent and fix the cause (pickling, imports, configuration, what runs in which process). The end of its log:\n\n```\n{}\n```\n",
            spec.repair_attempt, tail
        ),
        None => String::new(),
    };
    let values = BTreeMap::from([
        ("SCRIPT", ctx.layout.script.display().to_string()),
        ("NAME", spec.name.clone()),
        ("DESCRIPTION", spec.description.trim().to_owned()),
        ("HYPOTHESIS", spec.hypothesis.clone()),
        ("REPAIR", repair),
        ("KNOWLEDGE", prompts::knowledge()),
        ("CODE", script_text.to_owned()),
    ]);
    prompts::render(prompts::APPLY_CHANGE, &values).map_err(|e| e.to_string())
}

/// Prepares experiment `id`. `known_commit` is the commit an interrupted preparation
/// already made (its checkout is reused and the change is not made twice).
pub(crate) async fn prepare(
    ctx: &Context,
    id: &str,
    spec: &mut ExperimentSpec,
    base: &CommitId,
    known_commit: Option<CommitId>,
) -> Result<Prepared, FailureRecord> {
    let path = ctx.workdir.checkout(id);
    let branch = ctx.branches.node(id);
    let start = known_commit.clone().unwrap_or_else(|| base.clone());
    let checkout = {
        let (path, branch, commit) = (path.clone(), branch.clone(), start.clone());
        ctx.vcs
            .run(move |vcs| vcs.create_checkout(&path, &branch, &commit))
            .await
            .map_err(|err| {
                FailureRecord::new(
                    FailureKind::SourceRestoreFailed,
                    FailurePhase::Source,
                    format!("cannot create the checkout at {}: {err}", start.short()),
                )
            })?
    };
    let run_dir = ctx.workdir.run(id);
    std::fs::create_dir_all(&run_dir).map_err(|err| {
        FailureRecord::new(
            FailureKind::UnexpectedException,
            FailurePhase::Prepare,
            format!("cannot create {}: {err}", run_dir.display()),
        )
    })?;
    let commit = if spec.changes_code() && known_commit.is_none() {
        change_code(ctx, id, spec, &checkout.path, base).await?
    } else {
        start
    };
    let image = build(ctx, id, &checkout.path, &commit).await?;
    Ok(Prepared {
        checkout: checkout.path,
        commit,
        image,
    })
}

/// Has the agent make the change, checks it, and commits it.
async fn change_code(
    ctx: &Context,
    id: &str,
    spec: &ExperimentSpec,
    checkout: &Path,
    base: &CommitId,
) -> Result<CommitId, FailureRecord> {
    let fail = |message: String| {
        FailureRecord::new(
            FailureKind::CodeChangeFailed,
            FailurePhase::CodeChange,
            message,
        )
    };
    let Some(agent) = &ctx.agent else {
        return Err(fail(
            "this experiment changes code, and no coding agent is configured (--agent none)"
                .to_owned(),
        ));
    };
    let script = ctx.layout.script_in(checkout);
    let before = std::fs::read_to_string(&script)
        .map_err(|err| fail(format!("cannot read {}: {err}", script.display())))?;
    let prompt = change_prompt(ctx, spec, &before).map_err(fail)?;
    let call = AgentCall::new(format!("apply_{id}"), prompt).editing(checkout);
    let reply = agent
        .call(call)
        .await
        .map_err(|err| fail(format!("the agent could not make the change: {err}")))?;
    if !reply.edits.is_empty() {
        apply_edits(checkout, &reply.edits)
            .map_err(|err| fail(format!("the agent's edits cannot be applied: {err}")))?;
    }
    let problems = verify_script(&ctx.python, &before, &script)
        .await
        .map_err(fail)?;
    if !problems.is_empty() {
        return Err(fail(format!(
            "the edited script was rejected: {}",
            problems.join("; ")
        )));
    }
    let message = commit_message(id, spec);
    let (dir, vcs) = (checkout.to_owned(), ctx.vcs.clone());
    let commit = vcs
        .run(move |vcs| vcs.commit_all(&dir, &message))
        .await
        .map_err(|err| fail(format!("cannot commit the change: {err}")))?
        .ok_or_else(|| fail("the agent made no change to the code".to_owned()))?;
    let (from, to) = (base.clone(), commit.clone());
    if let Ok(diff) = ctx.vcs.run(move |vcs| vcs.diff(&from, &to)).await {
        let _ = std::fs::write(ctx.workdir.run(id).join("diff.patch"), diff);
    }
    Ok(commit)
}

/// Runs the build command (if any) in the checkout; returns the image.
async fn build(
    ctx: &Context,
    id: &str,
    checkout: &Path,
    commit: &CommitId,
) -> Result<String, FailureRecord> {
    let Some(template) = &ctx.config.build_command else {
        return Ok(String::new());
    };
    let fail = |message: String| {
        FailureRecord::new(FailureKind::BuildFailed, FailurePhase::Build, message)
    };
    let source = ctx.layout.source_in(checkout);
    let vars = Vars::new()
        .with("SOURCE_DIR", source.display().to_string())
        .with("RUN_ID", id)
        .with("COMMIT", commit.as_str())
        .with("WORKDIR", ctx.workdir.root().display().to_string());
    let command = expand(template, &vars).map_err(|err| fail(format!("--build-command: {err}")))?;
    let run_dir = ctx.workdir.run(id);
    let logs = BuildLogs {
        stdout: run_dir.join("build.stdout.log"),
        stderr: run_dir.join("build.stderr.log"),
    };
    ctx.platform
        .build(
            &command,
            &source,
            &vars.to_env(),
            Duration::from_secs(ctx.config.job_timeout_s.max(60)),
            &logs,
        )
        .await
        .map_err(|err| fail(format!("the build failed: {err}")))
}
