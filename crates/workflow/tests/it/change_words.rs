//! The tree picture's box words: what an experiment changed against its parent.

use std::collections::BTreeMap;

use autoresearch_workflow::change_words::change_words;
use autoresearch_workflow::{ExperimentKind, ExperimentSpec};

fn planned(args: &[(&str, &str)]) -> ExperimentSpec {
    let mut spec = ExperimentSpec::new(ExperimentKind::Planned, "sized_for_batch_16");
    spec.launch_args = args
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    spec
}

#[test]
fn a_box_says_what_changed_against_its_parent() {
    let defaults: BTreeMap<String, String> = [("--read-concurrency", "1"), ("DECODE_WORKERS", "2")]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let base = planned(&[("--batch-size", "16")]);
    // One move, from the script's default.
    let one = planned(&[("--batch-size", "16"), ("--read-concurrency", "4")]);
    assert_eq!(change_words(&one, Some(&base), &defaults), "read conc. 1→4");
    // Several: the first and a count.
    let many = planned(&[
        ("--batch-size", "32"),
        ("--num_threads", "8"),
        ("--read-concurrency", "4"),
    ]);
    assert_eq!(
        change_words(&many, Some(&base), &defaults),
        "batch 16→32 +2"
    );
    // An environment variable, and a flag set to its own default is no move.
    let mut env = planned(&[("--batch-size", "16"), ("--read-concurrency", "1")]);
    env.env.insert("DECODE_WORKERS".into(), "6".into());
    assert_eq!(
        change_words(&env, Some(&base), &defaults),
        "$DECODE_WORKERS 2→6"
    );
    // A flag without a known default, and a store_true flag.
    let flag = planned(&[("--batch-size", "16"), ("--use-subprocess", "")]);
    assert_eq!(
        change_words(&flag, Some(&base), &defaults),
        "use subprocess –→on"
    );
    // A code change leads.
    let mut code = planned(&[("--batch-size", "16")]);
    code.description = "split decode from demux".into();
    code.change_summary = "split decode".into();
    assert_eq!(
        change_words(&code, Some(&base), &defaults),
        "code: split decode"
    );
    // Seeds say what they are; nothing changed reads as the name.
    assert_eq!(
        change_words(
            &ExperimentSpec::new(ExperimentKind::Headspace, "headspace"),
            None,
            &defaults
        ),
        "floor (cached)"
    );
    assert_eq!(
        change_words(&base, Some(&base), &defaults),
        "sized_for_batch_16"
    );
}
