//! The prompt templates, rendered with fixed values (snapshots), and the renderer's rules.

use std::collections::BTreeMap;

use autoresearch_workflow::prompts::{self, PromptError, render};

fn values(pairs: &[(&'static str, &str)]) -> BTreeMap<&'static str, String> {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

#[test]
fn every_placeholder_must_be_given_and_every_value_used() {
    assert_eq!(
        render("a {{X}} b", &values(&[("X", "1")])).unwrap(),
        "a 1 b"
    );
    assert_eq!(
        render("a {{X}} b", &values(&[])),
        Err(PromptError::Missing("X".to_owned()))
    );
    assert_eq!(
        render("a", &values(&[("X", "1")])),
        Err(PromptError::Unused("X".to_owned()))
    );
    assert_eq!(
        render("{{X}}", &values(&[("X", "{{Y}}")])).unwrap(),
        "{{Y}}",
        "values are not scanned again"
    );
    assert_eq!(
        render("dict {{not a name}}", &values(&[])).unwrap(),
        "dict {{not a name}}"
    );
}

#[test]
fn the_knowledge_base_covers_the_levers() {
    let knowledge = prompts::knowledge();
    for topic in [
        "Headspace",
        "run_pipeline_in_subprocess",
        "less can be more",
        "CPU budget",
        "Batch size",
        "Garbage collection",
        "occupancy",
    ] {
        assert!(knowledge.contains(topic), "{topic}");
    }
}

#[test]
fn instrument_prompt() {
    let text = render(
        prompts::INSTRUMENT,
        &values(&[
            ("SCRIPT", "train.py"),
            ("CODE", "for b in loader:\n    step(b)"),
        ]),
    )
    .unwrap();
    insta::assert_snapshot!(text);
}

#[test]
fn apply_change_prompt() {
    let text = render(
        prompts::APPLY_CHANGE,
        &values(&[
            ("SCRIPT", "train.py"),
            ("NAME", "load_concurrency_8"),
            ("DESCRIPTION", "Raise the load stage's concurrency to 8."),
            ("HYPOTHESIS", "More loader threads keep the sink full."),
            ("REPAIR", ""),
            ("KNOWLEDGE", "(knowledge)"),
            ("CODE", "print('train')"),
        ]),
    )
    .unwrap();
    insta::assert_snapshot!(text);
}

#[test]
fn analyze_prompt() {
    let text = render(
        prompts::ANALYZE,
        &values(&[
            ("NAME", "baseline"),
            ("RUN_ID", "000_baseline"),
            ("HYPOTHESIS", "The reference."),
            ("CHANGES", "none"),
            ("OUTCOME", "completed"),
            ("SUMMARY", "- Steady step time: 21.00 ms"),
            ("STAGES", "| stage |"),
            ("COMPARISON", "There is no best yet."),
            ("DIFF", "(no code change)"),
            ("LOG_TAIL", "done"),
            ("HISTORY", "(none yet)"),
            ("KNOWLEDGE", "(knowledge)"),
        ]),
    )
    .unwrap();
    insta::assert_snapshot!(text);
}

#[test]
fn plan_prompt() {
    use autoresearch_workflow::knobs::{Knob, KnobKind, KnobRole, table_markdown};
    let knob = |flag: &str, role: KnobRole, default: &str, kind: KnobKind| Knob {
        flag: flag.to_owned(),
        name: autoresearch_workflow::normalise_flag(flag),
        role,
        default: Some(default.to_owned()),
        range: (kind == KnobKind::Integer).then_some((1, 32)),
        choices: match kind {
            KnobKind::Switch | KnobKind::Toggle => vec!["true".to_owned(), "false".to_owned()],
            _ => Vec::new(),
        },
        value_kind: Some(kind),
        evidence: None,
        pipeline: None,
        env: false,
    };
    let table = table_markdown(&[
        knob("--batch-size", KnobRole::BatchSize, "4", KnobKind::Integer),
        knob(
            "--read-concurrency",
            KnobRole::Concurrency {
                stage: Some("read".to_owned()),
            },
            "1",
            KnobKind::Integer,
        ),
        knob(
            "--use-subprocess",
            KnobRole::Subprocess {
                value: "true".to_owned(),
            },
            "false",
            KnobKind::Switch,
        ),
        knob("--prefetch", KnobRole::Other, "true", KnobKind::Toggle),
    ]);
    let noise = autoresearch_workflow::describe::noise_rule(
        &autoresearch_workflow::policy::between_run_sigma(&[vec![20.2, 19.8]]),
        2.0,
    );
    let text = render(
        prompts::PLAN,
        &values(&[
            ("KNOBS", table.as_str()),
            ("NOISE", noise.as_str()),
            ("ITERATION", "2"),
            ("MAX_ITERATIONS", "10"),
            ("PLATEAU", "1"),
            ("PATIENCE", "3"),
            ("BEST", "003_x, steady step 9.00 ms"),
            ("FLOOR", "8.10 ms (headspace 60.0%)"),
            ("PRACTICES_TRIED", "mtp"),
            ("PRACTICES_LEFT", "batch_size_tuning, concurrency_tuning"),
            ("NOTES", "(none)"),
            ("BASE_COMMAND", "python $SCRIPT"),
            ("HISTORY", "| run |"),
            ("PARENT", "003_x"),
            ("LATEST", "# 003_x"),
            ("FINDINGS", "(none yet)"),
            ("CODE", "print('train')"),
            ("KNOWLEDGE", "(knowledge)"),
        ]),
    )
    .unwrap();
    insta::assert_snapshot!(text);
}
