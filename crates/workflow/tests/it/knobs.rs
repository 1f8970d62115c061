//! The script reader: the built-in instrumenter on the script shapes of
//! `fixtures/instrument/`, and the knobs an experiment may vary.

use std::path::{Path, PathBuf};

use autoresearch_workflow::knobs::{self, KnobRole};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/instrument")
        .join(name)
}

fn python() -> PathBuf {
    PathBuf::from("python3")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn the_instrumenter_wraps_the_training_loop_in_common_shapes_and_nothing_else() {
    let rt = runtime();
    let cases = [
        (
            "argparse_enumerate.py",
            "for i, batch in enumerate(probe.track(loader, batch_size=args.batch_size)):",
        ),
        (
            "main_get_iterator.py",
            "for batch in probe.track(pipeline.get_iterator(timeout=30), batch_size=BATCH_SIZE):",
        ),
        // `self.batch_size` comes from a literal the loader never sees: not proof, so the
        // probe measures the batch instead.
        ("class_trainer.py", "for batch in probe.track(self.loader):"),
        ("iter_next.py", "it = iter(probe.track(dataloader))"),
    ];
    for (name, expected) in cases {
        let path = fixture(name);
        let original = std::fs::read_to_string(&path).unwrap();
        let result = rt.block_on(knobs::instrument(&python(), &path)).unwrap();
        assert!(result.ok, "{name}: {result:?}");
        let source = result.source.unwrap();
        assert!(source.contains(expected), "{name}:\n{source}");
        assert_eq!(
            source
                .matches("import autoresearch_probe as probe\n")
                .count(),
            1,
            "{name}"
        );
        // Everything else is byte-identical: removing the two edits gives the original.
        let undone = source
            .replacen("import autoresearch_probe as probe\n", "", 1)
            .replace("probe.track(", "")
            .replace(", batch_size=args.batch_size)", "")
            .replace(", batch_size=BATCH_SIZE)", "")
            .replace("iter(dataloader))", "iter(dataloader)");
        let undone = undone
            .replacen("enumerate(loader))", "enumerate(loader)", 1)
            .replacen("self.loader):", "self.loader:", 1);
        assert_eq!(
            undone, original,
            "{name}: only the loop's iterable and one import changed"
        );
    }
}

#[test]
fn without_a_clear_loop_the_instrumenter_says_what_to_add() {
    let rt = runtime();
    for name in ["no_loop.py", "two_loops.py"] {
        let result = rt
            .block_on(knobs::instrument(&python(), &fixture(name)))
            .unwrap();
        assert!(!result.ok, "{name}");
        assert!(result.message.is_some(), "{name}");
    }
}

#[test]
fn workload_flags_are_not_knobs_and_roles_are_recognised() {
    let rt = runtime();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/demo/train.py");
    let options = rt.block_on(knobs::read_options(&python(), &demo)).unwrap();
    assert!(options.len() >= 12, "{options:?}");
    let found = knobs::knobs_from(&options, &[], &[]).unwrap();
    let names: Vec<&str> = found.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "batch_size",
            "fetch_concurrency",
            "decode_concurrency",
            "num_threads",
            "sink_buffer",
            "mode"
        ]
    );
    let role = |n: &str| found.iter().find(|k| k.name == n).unwrap().role.clone();
    assert_eq!(role("batch_size"), KnobRole::BatchSize);
    assert_eq!(
        role("fetch_concurrency"),
        KnobRole::Concurrency {
            stage: Some("fetch".to_owned())
        }
    );
    assert_eq!(role("num_threads"), KnobRole::Threads);
    assert_eq!(role("sink_buffer"), KnobRole::Buffer);
    assert_eq!(
        role("mode"),
        KnobRole::Subprocess {
            value: "mtp".to_owned()
        }
    );
    // The user narrows and widens.
    let narrowed = knobs::knobs_from(
        &options,
        &["steps=int:50..100".to_owned()],
        &["--mode".to_owned(), "batch-size".to_owned()],
    )
    .unwrap();
    let names: Vec<&str> = narrowed.iter().map(|k| k.name.as_str()).collect();
    assert!(
        names.contains(&"steps") && !names.contains(&"mode") && !names.contains(&"batch_size"),
        "{names:?}"
    );
    assert_eq!(
        narrowed.iter().find(|k| k.name == "steps").unwrap().range,
        Some((50, 100))
    );
    assert!(
        knobs::knobs_from(&options, &["nope=int:1..2".to_owned()], &[])
            .unwrap_err()
            .to_string()
            .contains("no such argparse option")
    );
    assert_eq!(
        knobs::knobs_from(&options, &["steps=int:9..2".to_owned()], &[])
            .unwrap_err()
            .to_string(),
        "--knob steps=int:9..2: expected name=int:LO..HI with LO ≤ HI"
    );
    assert_eq!(
        knobs::knobs_from(&options, &["steps".to_owned()], &[])
            .unwrap_err()
            .to_string(),
        "--knob steps: expected name=int:LO..HI"
    );
}

/// Reads the knobs of a script given as text.
fn knobs_of(source: &str) -> Vec<knobs::Knob> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.py");
    std::fs::write(&path, source).unwrap();
    let options = runtime()
        .block_on(knobs::read_options(&python(), &path))
        .unwrap();
    knobs::knobs_from(&options, &[], &[]).unwrap()
}

const SUBPROCESS_SCRIPT: &str = r#"
import argparse
from spdl.pipeline import run_pipeline_in_subprocess

def loader(args, config):
    return run_pipeline_in_subprocess(config, num_threads=args.num_threads)

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--num-threads", type=int, default=2)
    p.add_argument("--pin-memory", action="store_true")
    FLAG
    args = p.parse_args()
    config = None
    BRANCH
"#;

#[test]
fn the_subprocess_flag_is_found_from_the_branch_that_uses_it_in_every_style() {
    let cases = [
        (
            r#"p.add_argument("--use-subprocess", action="store_true")"#,
            "if args.use_subprocess:\n        it = loader(args, config)\n    else:\n        it = build(config)",
            "use_subprocess",
            "true",
        ),
        (
            r#"p.add_argument("--in-process", action="store_false", dest="spawn")"#,
            "it = run_pipeline_in_subprocess(config) if args.spawn else build(config)",
            "in_process",
            "false",
        ),
        (
            r#"p.add_argument("--inline", action=argparse.BooleanOptionalAction, default=True)"#,
            "if not args.inline:\n        it = loader(args, config)\n    else:\n        it = build(config)",
            "inline",
            "false",
        ),
        (
            r#"p.add_argument("--use-mtp", action="store_true")"#,
            "if args.num_threads > 0 and not args.use_mtp:\n        it = build(config)\n    else:\n        it = loader(args, config)",
            "use_mtp",
            "true",
        ),
        (
            r#"p.add_argument("--executor", choices=["thread", "proc"], default="thread")"#,
            "if args.executor == \"thread\":\n        it = build(config)\n    else:\n        it = loader(args, config)",
            "executor",
            "proc",
        ),
    ];
    for (flag, branch, name, value) in cases {
        let script = SUBPROCESS_SCRIPT
            .replace("FLAG", flag)
            .replace("BRANCH", branch);
        let found = knobs_of(&script);
        let knob = found
            .iter()
            .find(|k| k.name == name)
            .unwrap_or_else(|| panic!("{name}: {found:?}"));
        assert_eq!(
            knob.role,
            KnobRole::Subprocess {
                value: value.to_owned()
            },
            "{name}"
        );
        // An on/off flag that reaches no pipeline parameter is workload, not a knob.
        assert!(found.iter().all(|k| k.name != "pin_memory"), "{found:?}");
    }
    // Without such a branch there is no subprocess knob (the seed says why it skips).
    let script = SUBPROCESS_SCRIPT
        .replace(
            "FLAG",
            r#"p.add_argument("--use-subprocess", action="store_true")"#,
        )
        .replace("BRANCH", "it = build(config)");
    assert!(
        knobs_of(&script)
            .iter()
            .all(|k| !matches!(k.role, KnobRole::Subprocess { .. }))
    );
}

#[test]
fn whole_numbers_with_choices_stay_numbers_and_the_command_sets_toggles() {
    let found = knobs_of(
        r#"
import argparse
p = argparse.ArgumentParser()
p.add_argument("--read-concurrency", type=int, choices=[1, 2, 4, 8], default=2)
p.add_argument("--prefetch", action=argparse.BooleanOptionalAction, default=True)
p.add_argument("--pin-memory", action="store_true")
"#,
    );
    let read = found.iter().find(|k| k.name == "read_concurrency").unwrap();
    assert_eq!(read.kind(), knobs::KnobKind::Integer);
    assert_eq!(read.range, Some((1, 8)), "the range is the choices'");
    let v = |value: &str| autoresearch_workflow::policy::proposals::knob_value(read, value);
    assert_eq!(v("4.0").unwrap(), "4");
    assert!(
        v("3")
            .unwrap_err()
            .to_string()
            .contains("must be one of 1, 2, 4, 8")
    );
    let with_base = knobs::with_command_defaults(&found, "python t.py --no-prefetch --pin-memory");
    let default = |n: &str| {
        with_base
            .iter()
            .find(|k| k.name == n)
            .unwrap()
            .default
            .clone()
    };
    assert_eq!(default("prefetch").as_deref(), Some("false"));
    assert_eq!(default("pin_memory").as_deref(), Some("true"));
    let table = knobs::table_markdown(&found);
    assert!(
        table.contains(
            "| `--read-concurrency` | concurrency of stage read | 2 | one of 1, 2, 4, 8 |"
        ),
        "{table}"
    );
}

/// A text job's shape: a dataclass config, a builder method, a trainer class and
/// workload flags whose names say nothing. Roles come from where the values go.
const DATAFLOW_SCRIPT: &str = r#"
import argparse
from dataclasses import dataclass
from spdl.pipeline import PipelineBuilder, run_pipeline_in_subprocess

@dataclass
class LoaderConfig:
    readers: int
    tokenizers: int
    batch: int
    depth: int = 2

def tokenize(text):
    return text.split()

class Loader:
    def __init__(self, cfg, pool):
        self.cfg = cfg
        self.pool = pool

    def builder(self, seq_len):
        return (
            PipelineBuilder()
            .add_source(range(100))
            .pipe(read_block, concurrency=self.cfg.readers)
            .pipe(tokenize, concurrency=self.cfg.tokenizers, name="bpe")
            .aggregate(self.cfg.batch)
            .add_sink(self.cfg.depth)
        )

    def start(self, use_subprocess, seq_len):
        if use_subprocess:
            return run_pipeline_in_subprocess(self.builder(seq_len).get_config(), num_threads=self.pool)
        return self.builder(seq_len).build(num_threads=self.pool).get_iterator()

def read_block(i):
    return str(i)

class Trainer:
    def __init__(self, loader, batch_size):
        self.loader = loader
        self.batch_size = batch_size

    def fit(self):
        for step, batch in enumerate(self.loader):
            loss = step

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--read-concurrency", type=int, default=1)
    p.add_argument("--tokenize-concurrency", type=int, default=4)
    p.add_argument("--num-threads", type=int, default=2)
    p.add_argument("--buffer-size", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--use-subprocess", action="store_true")
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--vocab-size", type=int, default=1000)
    p.add_argument("--accum-steps", type=int, default=1)
    p.add_argument("--warmup", type=int, default=10)
    args = p.parse_args()
    cfg = LoaderConfig(args.read_concurrency, args.tokenize_concurrency, args.batch_size, depth=args.buffer_size)
    loader = Loader(cfg, args.num_threads).start(args.use_subprocess, args.seq_len)
    Trainer(loader, args.batch_size).fit()

main()
"#;

#[test]
fn roles_come_from_where_the_values_go_and_other_flags_are_workload() {
    let found = knobs_of(DATAFLOW_SCRIPT);
    let role = |n: &str| {
        found
            .iter()
            .find(|k| k.name == n)
            .unwrap_or_else(|| panic!("{n} is no knob: {found:?}"))
            .role
            .clone()
    };
    assert_eq!(
        role("read_concurrency"),
        KnobRole::Concurrency {
            stage: Some("read_block".to_owned())
        },
        "an unnamed stage is named after its function, as SPDL does"
    );
    assert_eq!(
        role("tokenize_concurrency"),
        KnobRole::Concurrency {
            stage: Some("bpe".to_owned())
        }
    );
    assert_eq!(role("num_threads"), KnobRole::Threads);
    assert_eq!(role("buffer_size"), KnobRole::Buffer);
    assert_eq!(role("batch_size"), KnobRole::BatchSize);
    assert_eq!(
        role("use_subprocess"),
        KnobRole::Subprocess {
            value: "true".to_owned()
        }
    );
    for workload in ["seq_len", "vocab_size", "accum_steps", "warmup"] {
        assert!(
            found.iter().all(|k| k.name != workload),
            "{workload} reaches no pipeline parameter: {found:?}"
        );
    }
    let evidence = found
        .iter()
        .find(|k| k.name == "tokenize_concurrency")
        .and_then(|k| k.evidence.clone())
        .unwrap();
    assert!(
        evidence.starts_with("line 26: pipe(concurrency=) of stage bpe"),
        "{evidence}"
    );
}

#[test]
fn the_instrumenter_passes_a_batch_size_only_when_the_code_proves_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.py");
    std::fs::write(&path, DATAFLOW_SCRIPT).unwrap();
    let result = runtime()
        .block_on(knobs::instrument(&python(), &path))
        .unwrap();
    let source = result.source.unwrap();
    // `self.batch_size` holds args.batch_size, which also reaches aggregate().
    assert!(
        source.contains("enumerate(probe.track(self.loader, batch_size=self.batch_size))"),
        "{source}"
    );
    // The same trainer given a literal that the pipeline never sees: no proof.
    let unproven =
        DATAFLOW_SCRIPT.replace("Trainer(loader, args.batch_size)", "Trainer(loader, 64)");
    std::fs::write(&path, unproven).unwrap();
    let result = runtime()
        .block_on(knobs::instrument(&python(), &path))
        .unwrap();
    let source = result.source.unwrap();
    assert!(
        source.contains("enumerate(probe.track(self.loader))"),
        "{source}"
    );
}

#[test]
fn a_script_that_sets_no_pipeline_parameter_is_read_by_names() {
    let found = knobs_of(
        r#"
import argparse
from mylib import make_loader
p = argparse.ArgumentParser()
p.add_argument("--fetch-concurrency", type=int, default=1)
p.add_argument("--seq-len", type=int, default=128)
p.add_argument("--steps", type=int, default=10)
args = p.parse_args()
for batch in make_loader(args):
    pass
"#,
    );
    let fetch = found
        .iter()
        .find(|k| k.name == "fetch_concurrency")
        .unwrap();
    assert!(
        fetch.evidence.as_deref().unwrap().contains("by its name"),
        "{fetch:?}"
    );
    assert!(found.iter().all(|k| k.name != "steps"));
}

/// Whether `x.batch_size` is the option is decided by where `x` comes from: a
/// `parse_args()` result, directly or returned by a function of any name; a config
/// parsed from a file is not the options, even when its loader says "parse".
#[test]
fn the_parsed_options_are_found_by_data_flow_not_by_names() {
    let found = knobs_of(
        r#"
import argparse, json
from spdl.pipeline import PipelineBuilder

def settings():
    p = argparse.ArgumentParser()
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--depth", type=int, default=2)
    return p.parse_args()

def parse_yaml(path):
    return json.load(open(path))

def main():
    opts = settings()
    file_cfg = parse_yaml("run.json")
    pipe = PipelineBuilder().add_source(range(9)).add_sink(file_cfg.depth).build(num_threads=opts.workers)

main()
"#,
    );
    let names: Vec<&str> = found.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["workers"], "{found:?}");
}

const ENV_SCRIPT: &str = r#"
import argparse, os
from spdl.pipeline import PipelineBuilder, run_pipeline_in_subprocess

THREADS = int(os.environ.get("LOADER_THREADS", "2"))
CROP = int(os.environ.get("CROP", "112"))
SUBPROCESS_TEST

def crop(x):
    return x[:CROP]

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=10)
    args = p.parse_args()
    print(os.environ["HOME"], os.getenv("RANK", "0"))
    builder = (PipelineBuilder().add_source(range(10))
               .pipe(crop, concurrency=int(os.getenv("DECODE_WORKERS", 4)), name="decode")
               .aggregate(8).add_sink(2))
    BRANCH
"#;

#[test]
fn environment_variables_that_size_the_pipeline_are_knobs_and_the_rest_is_not() {
    let cases = [
        (
            r#"USE_MP = os.environ.get("USE_MP", "0") == "1""#,
            "if USE_MP:\n        it = run_pipeline_in_subprocess(builder, num_threads=THREADS)\n    else:\n        it = builder.build(num_threads=THREADS)",
            ("0", "1"),
        ),
        (
            "",
            "if os.getenv(\"USE_MP\") != \"1\":\n        it = builder.build(num_threads=THREADS)\n    else:\n        it = run_pipeline_in_subprocess(builder, num_threads=THREADS)",
            ("0", "1"),
        ),
        (
            "",
            "it = run_pipeline_in_subprocess(builder, num_threads=THREADS) if int(os.environ.get(\"USE_MP\", 0)) else builder.build(num_threads=THREADS)",
            ("0", "1"),
        ),
    ];
    for (test, branch, (off, on)) in cases {
        let script = ENV_SCRIPT
            .replace("SUBPROCESS_TEST", test)
            .replace("BRANCH", branch);
        let found = knobs_of(&script);
        let by = |name: &str| found.iter().find(|k| k.name == name);
        let threads = by("env:LOADER_THREADS").unwrap_or_else(|| panic!("{found:?}"));
        assert!(
            threads.env && threads.role == KnobRole::Threads,
            "{threads:?}"
        );
        assert_eq!(threads.flag, "LOADER_THREADS");
        assert_eq!(threads.default.as_deref(), Some("2"));
        assert_eq!(threads.setting_text("8"), "LOADER_THREADS=8");
        let decode = by("env:DECODE_WORKERS").unwrap();
        assert_eq!(
            decode.role,
            KnobRole::Concurrency {
                stage: Some("decode".to_owned())
            }
        );
        assert_eq!(decode.default.as_deref(), Some("4"));
        let mp = by("env:USE_MP").unwrap_or_else(|| panic!("{branch}: {found:?}"));
        assert_eq!(
            mp.role,
            KnobRole::Subprocess {
                value: on.to_owned()
            },
            "{branch}"
        );
        assert_eq!(mp.default.as_deref(), Some(off), "{branch}");
        // CROP changes what is computed; HOME and RANK are the machine's.
        for name in ["env:CROP", "env:HOME", "env:RANK", "crop"] {
            assert!(by(name).is_none(), "{name}: {found:?}");
        }
        let options = {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("train.py");
            std::fs::write(&path, &script).unwrap();
            runtime()
                .block_on(knobs::read_options(&python(), &path))
                .unwrap()
        };
        let table = knobs::table_text(&options, &found);
        assert!(table.contains("env LOADER_THREADS"), "{table}");
        let markdown = knobs::table_markdown(&found);
        assert!(
            markdown.contains("`LOADER_THREADS` (environment variable: set it under `env`)"),
            "{markdown}"
        );
    }
    // `--freeze LOADER_THREADS` keeps the variable out.
    let script = ENV_SCRIPT
        .replace("SUBPROCESS_TEST", "")
        .replace("BRANCH", "it = builder.build(num_threads=THREADS)");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.py");
    std::fs::write(&path, &script).unwrap();
    let options = runtime()
        .block_on(knobs::read_options(&python(), &path))
        .unwrap();
    let frozen = knobs::knobs_from(&options, &[], &["LOADER_THREADS".to_owned()]).unwrap();
    assert!(frozen.iter().all(|k| k.name != "env:LOADER_THREADS"));
    // A variable set on the base command is the knob's default there.
    let found = knobs::knobs_from(&options, &[], &[]).unwrap();
    let with = knobs::with_command_defaults(&found, "LOADER_THREADS=6 python train.py --steps 3");
    assert_eq!(
        with.iter()
            .find(|k| k.name == "env:LOADER_THREADS")
            .and_then(|k| k.default.as_deref()),
        Some("6")
    );
}
