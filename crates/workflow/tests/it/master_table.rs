//! master_table.tsv: the original columns, escaping, no duplicates, torn lines.

use autoresearch_workflow::master_table::{COLUMNS, MasterRow, MasterTable, escape, unescape};

fn row(id: &str) -> MasterRow {
    MasterRow {
        run_id: id.into(),
        name: "decode_concurrency_4".into(),
        job_id: "12345".into(),
        status: "completed".into(),
        throughput_samples_per_s: Some(312.5),
        step_time_ms: Some(52.1),
        steady_step_time_ms: Some(51.3),
        ttfb_s: Some(0.112),
        sm_util_pct: None,
        steady_sm_util_pct: None,
        data_readiness_pct: Some(97.0),
        duration_s: Some(14.2),
        changes: "Raise decode concurrency\\nfrom 2 to 4\tand see".into(),
        change_summary: "decode ×4".into(),
        notes: String::new(),
    }
}

#[test]
fn rows_keep_the_original_columns_and_survive_escaping() {
    assert_eq!(COLUMNS.len(), 15);
    let line = row("003_x").to_line();
    assert_eq!(line.split('\t').count(), 15, "{line}");
    assert!(
        line.contains("\t\t"),
        "unmeasured figures are empty cells, not zeros: {line}"
    );
    assert_eq!(MasterRow::from_line(&line).unwrap(), row("003_x"));
    for text in ["a\\b", "line\nbreak", "tab\there", "\\n literal", "end\\"] {
        assert_eq!(unescape(&escape(text)), text);
    }
    insta::assert_snapshot!("master_row", format!("{}\n{line}", COLUMNS.join("\t")));
}

#[test]
fn a_row_is_written_once_even_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master_table.tsv");
    let mut table = MasterTable::open(&path).unwrap();
    assert!(table.append(&row("001_a")).unwrap());
    assert!(!table.append(&row("001_a")).unwrap());
    drop(table);
    let mut table = MasterTable::open(&path).unwrap();
    assert!(
        !table.append(&row("001_a")).unwrap(),
        "a resumed run must not add the row again"
    );
    assert!(table.append(&row("002_b")).unwrap());
    let rows = MasterTable::read(&path).unwrap();
    assert_eq!(
        rows.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(),
        ["001_a", "002_b"]
    );
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .starts_with("run_id\tname\tjob_id\t")
    );
}

#[test]
fn a_torn_last_line_is_cut_off_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master_table.tsv");
    let mut table = MasterTable::open(&path).unwrap();
    table.append(&row("001_a")).unwrap();
    drop(table);
    let mut text = std::fs::read_to_string(&path).unwrap();
    let torn = row("002_b").to_line();
    text.push_str(&torn[..torn.len() / 2]);
    std::fs::write(&path, text).unwrap();
    let mut table = MasterTable::open(&path).unwrap();
    assert!(
        table.append(&row("002_b")).unwrap(),
        "the torn row was never recorded"
    );
    let rows = MasterTable::read(&path).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1], row("002_b"));
}
