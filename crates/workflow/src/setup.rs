//! Set-up of a new run: anchor the user's code (a snapshot commit when it has uncommitted
//! changes, never touching their checkout), make sure the script calls the probe
//! (instrumenting it through the agent when it does not), commit that, and re-anchor.

use std::collections::BTreeMap;

use autoresearch_llm_client::{AgentCall, edits::apply_edits};
use autoresearch_metrics::{PROBE_FILE_NAME, PROBE_SOURCE};
use autoresearch_vcs::CommitId;

use crate::context::Context;
use crate::error::WorkflowError;
use crate::prepare::verify_script;
use crate::prompts;

/// The checkout set-up works in (`checkouts/_setup`).
pub(crate) const SETUP_CHECKOUT: &str = "_setup";
/// The commit message of the instrumentation.
pub const INSTRUMENT_MESSAGE: &str = "autoresearch: instrument TTFB and step timing";
/// The hint when the engine's Python cannot run the script tools.
const PYTHON_HINT: &str = "set AUTORESEARCH_PYTHON to a Python 3 interpreter";

/// The line a user adds by hand when automatic instrumentation is not possible.
pub const MANUAL_HINT: &str = "add `import autoresearch_probe as probe` to the script and wrap the training loop's iterable: \
`for batch in probe.track(loader, batch_size=BATCH_SIZE):` (the probe file is crates/metrics/probe/autoresearch_probe.py; \
autoresearch places it next to the script)";

fn setup_error(problem: impl Into<String>, hint: impl Into<String>) -> WorkflowError {
    WorkflowError::Setup {
        problem: problem.into(),
        hint: hint.into(),
    }
}

/// What set-up decided.
#[derive(Debug, Clone)]
pub(crate) struct SetupOutcome {
    /// The commit experiments start from.
    pub anchor: CommitId,
    /// The user's commit.
    pub user_head: CommitId,
    /// Whether the script was instrumented (by the agent or the built-in instrumenter).
    pub instrumented: bool,
    /// The knobs read from the anchored script.
    pub knobs: Vec<crate::knobs::Knob>,
}

/// The agent puts the probe on the training loop in `checkout`; the result is checked.
async fn agent_instrument(
    ctx: &Context,
    agent: &autoresearch_llm_client::LlmClient,
    checkout: &std::path::Path,
    original: &str,
    script: &std::path::Path,
) -> Result<(), WorkflowError> {
    ctx.say("instrumenting the script with the probe (TTFB and step timing)…");
    let values = BTreeMap::from([
        ("SCRIPT", ctx.layout.script.display().to_string()),
        ("CODE", original.to_owned()),
    ]);
    let prompt = prompts::render(prompts::INSTRUMENT, &values)
        .map_err(|err| setup_error(err.to_string(), "this is a bug"))?;
    let reply = agent
        .call(AgentCall::new("instrument", prompt).editing(checkout))
        .await
        .map_err(|err| {
            setup_error(
                format!("the agent could not instrument the script: {err}"),
                MANUAL_HINT,
            )
        })?;
    if !reply.edits.is_empty() {
        apply_edits(checkout, &reply.edits).map_err(|err| {
            setup_error(
                format!("the agent's instrumentation cannot be applied: {err}"),
                MANUAL_HINT,
            )
        })?;
    }
    check_instrumented(ctx, original, script).await
}

/// Runs set-up. Idempotent: an interrupted set-up reuses its checkout.
pub(crate) async fn setup(ctx: &Context) -> Result<SetupOutcome, WorkflowError> {
    let source_error = |err: autoresearch_vcs::VcsError| WorkflowError::Source {
        problem: format!("cannot anchor the source repository: {err}"),
        hint: "make sure --source-dir is inside a git repository with at least one commit"
            .to_owned(),
    };
    let snapshot = ctx.branches.snapshot();
    let anchor = ctx
        .vcs
        .run(move |vcs| vcs.anchor(&snapshot))
        .await
        .map_err(source_error)?;
    if let Some(branch) = &anchor.snapshot_branch {
        ctx.say(&format!(
            "your uncommitted changes ({} paths) were snapshotted on branch {branch}; your checkout is untouched",
            anchor.snapshotted_paths.len()
        ));
    }
    let path = ctx.workdir.checkout(SETUP_CHECKOUT);
    let commit = anchor.commit.clone();
    let checkout = {
        let (path, commit, branch) = (path.clone(), commit.clone(), ctx.branches.setup());
        ctx.vcs
            .run(move |vcs| vcs.create_checkout(&path, &branch, &commit))
            .await
            .map_err(source_error)?
    };
    let script = ctx.layout.script_in(&checkout.path);
    let original = std::fs::read_to_string(&script).map_err(|err| {
        setup_error(
            format!(
                "cannot read {} in the anchored commit: {err}",
                ctx.layout.script.display()
            ),
            "commit the script, or check --pipeline-script",
        )
    })?;
    let _ = std::fs::write(ctx.workdir.root().join("pipeline.py"), &original);
    let probe_path = script.with_file_name(PROBE_FILE_NAME);
    if std::fs::read_to_string(&probe_path).ok().as_deref() != Some(PROBE_SOURCE) {
        std::fs::write(&probe_path, PROBE_SOURCE)
            .map_err(WorkflowError::io("write", &probe_path))?;
    }
    let already = verify_script(&ctx.python, &original, &script)
        .await
        .map_err(|err| setup_error(err.to_string(), PYTHON_HINT))?;
    let mut instrumented = false;
    if already.iter().any(|p| p.contains("autoresearch_probe")) {
        if ctx.config.skip_instrument {
            // The user vouches that the job prints probe lines (a wrapper, another
            // module, or a simulator); a job that does not will fail as unmeasured.
            ctx.say("--skip-instrument: the script does not call probe.track itself; trusting that the job prints probe lines");
            return finish(ctx, anchor, checkout, false).await;
        }
        let Some(agent) = &ctx.agent else {
            builtin_instrument(ctx, &script, &original).await?;
            return finish(ctx, anchor, checkout, true).await;
        };
        agent_instrument(ctx, agent, &checkout.path, &original, &script).await?;
        instrumented = true;
    } else if !already.is_empty() {
        return Err(setup_error(
            format!(
                "the script has problems before any change: {}",
                already.join("; ")
            ),
            "fix the script so that it compiles",
        ));
    }
    finish(ctx, anchor, checkout, instrumented).await
}

/// Refuses an instrumented script that changed more than the probe or no longer
/// compiles.
async fn check_instrumented(
    ctx: &Context,
    original: &str,
    script: &std::path::Path,
) -> Result<(), WorkflowError> {
    let problems = verify_script(&ctx.python, original, script)
        .await
        .map_err(|err| setup_error(err.to_string(), PYTHON_HINT))?;
    if problems.is_empty() {
        return Ok(());
    }
    Err(setup_error(
        format!(
            "the instrumented script was rejected: {}",
            problems.join("; ")
        ),
        MANUAL_HINT,
    ))
}

/// The built-in instrumenter: wraps the training loop's iterable, or stops with the
/// line the user should add.
async fn builtin_instrument(
    ctx: &Context,
    script: &std::path::Path,
    original: &str,
) -> Result<(), WorkflowError> {
    ctx.say("instrumenting the script with the built-in instrumenter (no agent)…");
    let result = crate::knobs::instrument(&ctx.python, script)
        .await
        .map_err(|err| setup_error(err.to_string(), PYTHON_HINT))?;
    let Some(source) = result.source.filter(|_| result.ok) else {
        return Err(setup_error(
            format!(
                "the built-in instrumenter could not place the probe: {}",
                result.message.unwrap_or_default()
            ),
            MANUAL_HINT,
        ));
    };
    std::fs::write(script, &source).map_err(WorkflowError::io("write", script))?;
    check_instrumented(ctx, original, script).await?;
    ctx.say(&format!(
        "wrapped {} at line {}",
        result
            .reason
            .unwrap_or_else(|| "the training loop".to_owned()),
        result.line_number.unwrap_or(0)
    ));
    Ok(())
}

/// Commits the set-up checkout and reads the knobs from the anchored script.
async fn finish(
    ctx: &Context,
    anchor: autoresearch_vcs::Anchor,
    checkout: autoresearch_vcs::Checkout,
    instrumented: bool,
) -> Result<SetupOutcome, WorkflowError> {
    let source_error = |err: autoresearch_vcs::VcsError| WorkflowError::Source {
        problem: format!("cannot commit the instrumented script: {err}"),
        hint: "check the repository's state".to_owned(),
    };
    let dir = checkout.path.clone();
    let committed = ctx
        .vcs
        .run(move |vcs| vcs.commit_all(&dir, INSTRUMENT_MESSAGE))
        .await
        .map_err(source_error)?;
    let new_anchor = committed.unwrap_or(checkout.commit);
    let script = ctx.layout.script_in(&checkout.path);
    let options = crate::knobs::read_options(&ctx.python, &script)
        .await
        .map_err(|err| setup_error(err.to_string(), PYTHON_HINT))?;
    let knobs = crate::knobs::knobs_from(&options, &ctx.config.knobs, &ctx.config.frozen)
        .map_err(|err| setup_error(err.to_string(), "fix --knob or --freeze"))?;
    Ok(SetupOutcome {
        anchor: new_anchor,
        user_head: anchor.head,
        instrumented,
        knobs,
    })
}
