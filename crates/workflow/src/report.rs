//! `report.md`: the final report. The facts part is deterministic, made from the master
//! table, the tree, the state and every run's analysis; with an agent, its synthesis is
//! written above the facts (the agent adds words, never numbers of its own).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use autoresearch_hypothesis_tree::HypothesisTree;
use autoresearch_llm_client::{AgentCall, LlmClient};

use crate::agent::AgentEnv;
use crate::config::RunConfig;
use crate::error::WorkflowError;
use crate::master_table::{COLUMNS, MasterRow, MasterTable};
use crate::policy::describe_stop;
use crate::prompts;
use crate::state::RunState;
use crate::workdir::Workdir;

fn cell(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.digits$}"))
}

/// The deterministic part of the report.
pub fn facts(workdir: &Workdir) -> Result<String, WorkflowError> {
    if RunConfig::load(workdir.root())?.is_none() {
        return Err(WorkflowError::NotAWorkdir(workdir.root().to_owned()));
    }
    let state = RunState::load(&workdir.state())?.unwrap_or_default();
    let tree = crate::books::load_tree(workdir)?;
    let rows = if workdir.master_table().exists() {
        MasterTable::read(&workdir.master_table()).map_err(|err| WorkflowError::Corrupt {
            path: workdir.master_table(),
            detail: err.to_string(),
            hint: "restore the file from a backup".to_owned(),
        })?
    } else {
        Vec::new()
    };
    let mut md = results(&state, &tree, &rows);
    md.push_str(&best_path(&state, &tree));
    md.push_str(&experiments_table(&rows));
    md.push_str(&failures(&state, &tree));
    md.push_str(&dropped_proposals(&tree));
    let findings = std::fs::read_to_string(workdir.findings()).unwrap_or_default();
    if !findings.trim().is_empty() {
        let _ = writeln!(
            md,
            "\n## Findings\n\n{}",
            findings.trim_start_matches("# Findings").trim()
        );
    }
    md.push_str(
        "\n## Pictures\n\n![hypothesis tree](hypothesis_tree.png)\n\n![progress](progress.png)\n",
    );
    Ok(md)
}

/// `## Results`: counts, the baseline, the best, the floor, the stop.
fn results(state: &RunState, tree: &HypothesisTree, rows: &[MasterRow]) -> String {
    let mut md = String::from("## Results\n\n");
    // The baseline by its kind, as everywhere: a node's name says nothing.
    let baseline = crate::spec::node_of_kind(tree, crate::spec::ExperimentKind::Baseline)
        .and_then(|id| tree.get(&id).and_then(|n| n.metrics.step_ms));
    let _ = writeln!(
        md,
        "- Experiments: {} ({} completed, {} failed)",
        rows.len(),
        rows.iter().filter(|r| r.status == "completed").count(),
        rows.iter().filter(|r| r.status == "failed").count()
    );
    let _ = writeln!(md, "- Baseline steady step: {}", cell(baseline, 2) + " ms");
    if let (Some(best), Some(ms)) = (&state.current_best, state.best_step_ms) {
        let speedup = crate::speedup::Speedup::of(tree, best)
            .map(|s| format!(", {}", s.headline()))
            .unwrap_or_default();
        let _ = writeln!(md, "- Best: {best} at {ms:.2} ms per step{speedup}");
    } else {
        md.push_str("- Best: none\n");
    }
    if let Some(floor) = state.floor_ms {
        let _ = writeln!(
            md,
            "- Compute-only floor (headspace run): {floor:.2} ms{}",
            state
                .headspace_pct
                .map(|h| format!("; headspace {h:.1}%"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(
        md,
        "- Noise between runs: {}",
        crate::describe::noise_line(&state.noise)
    );
    if let Some(stop) = &state.stop {
        let _ = writeln!(md, "- Stopped: {}", describe_stop(stop));
    }
    md
}

/// `## Best path`: the changes from the root to the best.
fn best_path(state: &RunState, tree: &HypothesisTree) -> String {
    let mut md = String::from("\n## Best path\n\n");
    match &state.current_best {
        Some(best) => {
            for (id, change) in tree.changes_along(best) {
                let ms = tree.get(&id).and_then(|n| n.metrics.step_ms);
                let _ = writeln!(md, "1. {id}: {change} ({} ms)", cell(ms, 2));
            }
        }
        None => md.push_str("(no best)\n"),
    }
    md
}

/// `## All experiments`: the master table's main columns.
fn experiments_table(rows: &[MasterRow]) -> String {
    let mut md = String::from("\n## All experiments\n\n| ");
    let shown = [0usize, 1, 3, 4, 6, 7, 10, 11, 12, 14];
    md.push_str(
        &shown
            .iter()
            .map(|i| COLUMNS[*i])
            .collect::<Vec<_>>()
            .join(" | "),
    );
    md.push_str(" |\n|");
    md.push_str(&"---|".repeat(shown.len()));
    md.push('\n');
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.run_id,
            r.name,
            r.status,
            cell(r.throughput_samples_per_s, 1),
            cell(r.steady_step_time_ms, 2),
            cell(r.ttfb_s, 2),
            cell(r.data_readiness_pct, 1),
            cell(r.duration_s, 1),
            r.changes.replace('|', "\\|"),
            r.notes.replace('|', "\\|")
        );
    }
    md
}

/// `## Failures`: every experiment's and set-up's.
fn failures(state: &RunState, tree: &HypothesisTree) -> String {
    let failed: Vec<_> = tree
        .nodes()
        .filter_map(|n| n.failure.as_ref().map(|f| (n, f)))
        .collect();
    let mut md = String::from("\n## Failures\n\n");
    if failed.is_empty() && state.setup_failures.is_empty() {
        md.push_str("(none)\n");
    }
    for (n, f) in failed {
        let _ = writeln!(
            md,
            "- {}: {} — {}",
            n.node_id,
            crate::record::kind_name(f),
            f.message
        );
    }
    for f in &state.setup_failures {
        let _ = writeln!(
            md,
            "- setup: {} — {}",
            crate::record::kind_name(f),
            f.message
        );
    }
    md
}

/// Most dropped proposals the report lists (the node records keep them all).
const MAX_DROPPED_SHOWN: usize = 30;

/// The proposals that did not run, with why, from every planning round's record.
fn dropped_proposals(tree: &autoresearch_hypothesis_tree::HypothesisTree) -> String {
    let dropped: Vec<(String, String, String)> = tree
        .nodes()
        .flat_map(|n| {
            n.result["plan"]["dropped"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |d| {
                    let text = |key: &str| d[key].as_str().unwrap_or_default().to_owned();
                    (n.node_id.clone(), text("name"), text("reason"))
                })
        })
        .collect();
    if dropped.is_empty() {
        return String::new();
    }
    let mut md = String::from("\n## Proposals that did not run\n\n");
    for (round, name, reason) in dropped.iter().take(MAX_DROPPED_SHOWN) {
        let name: String = name.chars().take(60).collect();
        let _ = writeln!(md, "- after {round}: {name} — {reason}");
    }
    if dropped.len() > MAX_DROPPED_SHOWN {
        let _ = writeln!(
            md,
            "- … and {} more (see `plan` in engine/nodes/*/result.json)",
            dropped.len() - MAX_DROPPED_SHOWN
        );
    }
    md
}

/// `autoresearch report`: writes `report.md` with the synthesis of the agent the run is
/// configured with, or the facts alone when `agent_env` is `None` (`--no-agent`) or the
/// run has no agent. The agent is set up as a run's is (see [`crate::agent`]): its call
/// logs and the synthesis in the report have the environment's API keys redacted.
pub async fn report(
    workdir: &Workdir,
    agent_env: Option<&AgentEnv>,
) -> Result<std::path::PathBuf, WorkflowError> {
    let Some(env) = agent_env else {
        return write_report(workdir, None).await;
    };
    let config = RunConfig::load(workdir.root())?
        .ok_or_else(|| WorkflowError::NotAWorkdir(workdir.root().to_owned()))?;
    let agent = crate::agent::backend_for(config.agent, env)?
        .map(|backend| crate::agent::client(backend, None, 0.0, &workdir.logs(), env));
    write_report(workdir, agent.as_ref()).await
}

/// Writes `report.md`: the agent's synthesis (when `agent` is given and answers) above
/// the facts. Returns the path.
pub async fn write_report(
    workdir: &Workdir,
    agent: Option<&LlmClient>,
) -> Result<std::path::PathBuf, WorkflowError> {
    let facts = facts(workdir)?;
    let mut md = String::from("# Autoresearch report\n\n");
    if let Some(agent) = agent {
        let mut analyses = String::new();
        let runs = workdir.root().join("runs");
        let mut dirs: Vec<_> = std::fs::read_dir(&runs)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        dirs.sort();
        for dir in dirs {
            if let Ok(text) = std::fs::read_to_string(dir.join("analysis.md")) {
                analyses.push_str(&autoresearch_fs::text::truncate_lines(&text, 3000));
                analyses.push('\n');
            }
        }
        let values = BTreeMap::from([
            ("TABLE", facts.clone()),
            (
                "ANALYSES",
                autoresearch_fs::text::truncate_lines(&analyses, 60_000),
            ),
            (
                "FINDINGS",
                autoresearch_fs::text::truncate_lines(
                    &std::fs::read_to_string(workdir.findings()).unwrap_or_default(),
                    16_000,
                ),
            ),
        ]);
        match prompts::render(prompts::REPORT, &values) {
            Ok(prompt) => match agent.call(AgentCall::new("report", prompt)).await {
                Ok(reply) => {
                    let text = agent.log().redact(&autoresearch_llm_client::json::cap_text(
                        reply.text.trim(),
                        autoresearch_llm_client::json::MAX_STRING_BYTES,
                    ));
                    md.push_str(&text);
                    md.push_str("\n\n---\n\n");
                }
                Err(err) => {
                    let _ = writeln!(
                        md,
                        "(the agent's synthesis failed: {err}; the facts follow)\n"
                    );
                }
            },
            Err(err) => tracing::warn!(%err, "report prompt"),
        }
    }
    md.push_str(&facts);
    let path = workdir.report();
    autoresearch_fs::write_atomic(&path, md.as_bytes())
        .map_err(WorkflowError::io("write", &path))?;
    Ok(path)
}
