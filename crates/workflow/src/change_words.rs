//! What an experiment changed, in a few words, for the boxes of the tree picture
//! (`read conc. 1→4`); the full name goes in the SVG's tooltip.

use std::collections::BTreeMap;

use crate::spec::{ExperimentKind, ExperimentSpec};

/// The words for `spec`, against the spec of its parent node (`None` for the seeds); `defaults` are the flags' and variables' values when
/// no spec sets them (the script's defaults). Several moves read as the first and a
/// count (`batch 8→16 +2`): a box has room for about twenty characters.
pub fn change_words(
    spec: &ExperimentSpec,
    base: Option<&ExperimentSpec>,
    defaults: &BTreeMap<String, String>,
) -> String {
    match spec.kind {
        ExperimentKind::Baseline => return "baseline".to_owned(),
        ExperimentKind::Headspace => return "floor (cached)".to_owned(),
        ExperimentKind::Mtp => return "subprocess (MTP)".to_owned(),
        ExperimentKind::Repeat => return "repeat (noise)".to_owned(),
        ExperimentKind::Confirm => return "confirm the win".to_owned(),
        _ => {}
    }
    let empty = BTreeMap::new();
    let mut words = moves(
        base.map_or(&empty, |b| &b.launch_args),
        &spec.launch_args,
        defaults,
        short_flag,
    );
    words.extend(moves(
        base.map_or(&empty, |b| &b.env),
        &spec.env,
        defaults,
        |name| format!("${name}"),
    ));
    if !spec.description.trim().is_empty() {
        let label = if spec.change_summary.trim().is_empty() {
            &spec.name
        } else {
            &spec.change_summary
        };
        words.insert(0, format!("code: {}", label.trim()));
    }
    match words.len() {
        0 => spec.name.clone(),
        1 => words.remove(0),
        n => format!("{} +{}", words[0], n - 1),
    }
}

/// `name old→new` for every entry that differs; an entry not set has its default, or
/// reads `–` without one.
fn moves(
    from: &BTreeMap<String, String>,
    to: &BTreeMap<String, String>,
    defaults: &BTreeMap<String, String>,
    name: impl Fn(&str) -> String,
) -> Vec<String> {
    let mut keys: Vec<&String> = from.keys().chain(to.keys()).collect();
    keys.sort();
    keys.dedup();
    let value =
        |map: &BTreeMap<String, String>, k: &str| map.get(k).or_else(|| defaults.get(k)).cloned();
    keys.into_iter()
        .filter(|k| value(from, k) != value(to, k))
        .map(|k| {
            let show = |v: Option<String>| v.map_or("–".to_owned(), |v| short_value(&v));
            format!(
                "{} {}→{}",
                name(k),
                show(value(from, k)),
                show(value(to, k))
            )
        })
        .collect()
}

/// `--read-concurrency` → `read conc.`; `--num_threads` → `threads`.
fn short_flag(flag: &str) -> String {
    let words = flag.trim_start_matches('-').replace(['-', '_'], " ");
    words
        .replace("concurrency", "conc.")
        .replace("num threads", "threads")
        .replace("buffer size", "buffer")
        .replace("batch size", "batch")
        .replace("num workers", "workers")
}

/// A `store_true` flag's empty value reads `on`.
fn short_value(value: &str) -> String {
    if value.is_empty() {
        "on".to_owned()
    } else {
        value.to_owned()
    }
}
