//! Paths and helpers shared by the metrics tests.

use std::path::{Path, PathBuf};

use autoresearch_metrics::{Evidence, RunSummary};

pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_owned()
}

/// The fixtures shared by the project (real SPDL 0.8.0 logs).
pub(crate) fn shared_fixtures() -> PathBuf {
    workspace()
        .parent()
        .unwrap()
        .join("shared/fixtures/spdl_logs")
}

pub(crate) fn evidence_of(path: &Path) -> Evidence {
    let file = std::fs::File::open(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    Evidence::from_reader(std::io::BufReader::new(file)).unwrap()
}

pub(crate) fn summary_of(path: &Path) -> RunSummary {
    RunSummary::from_evidence(&evidence_of(path), None)
}

/// The Python with the pinned packages (spdl 0.8.0 …) that `cargo xtask setup` installs.
pub(crate) fn venv_python() -> PathBuf {
    let python = workspace().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `cargo xtask setup` (part of `cargo xtask ci`) to install the \
         pinned Python packages",
        python.display()
    );
    python
}

/// The probe's folder, for `PYTHONPATH`.
pub(crate) fn probe_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("probe")
}

/// A summary as a snapshot: the long list of steady step times replaced by its length.
pub(crate) fn snapshot_value(summary: &RunSummary) -> serde_json::Value {
    let mut value = serde_json::to_value(summary).unwrap();
    value["steady_steps_ms"] =
        serde_json::Value::String(format!("[{} values]", summary.steady_steps_ms.len()));
    round_floats(&mut value);
    value
}

/// Floats to 3 decimals, so snapshots do not churn on the last bits.
fn round_floats(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            let rounded = (n.as_f64().unwrap() * 1000.0).round() / 1000.0;
            *value = serde_json::json!(rounded);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(round_floats),
        serde_json::Value::Object(map) => map.values_mut().for_each(round_floats),
        _ => {}
    }
}
