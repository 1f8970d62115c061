//! Atomic replacement and the sweep of what an interrupted write left.

use autoresearch_fs::{TMP_MARKER, sweep_stale_tmp, write_atomic};

#[test]
fn a_write_replaces_the_whole_file_and_leaves_no_temporary_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    write_atomic(&path, b"first, and longer").unwrap();
    write_atomic(&path, b"second").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "second");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["state.json"]);
}

#[test]
fn a_write_into_a_missing_folder_fails_and_leaves_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    assert!(write_atomic(&dir.path().join("missing/state.json"), b"x").is_err());
    assert!(
        write_atomic(std::path::Path::new("/"), b"x").is_err(),
        "no file name"
    );
}

#[test]
fn the_sweep_removes_only_the_temporaries_of_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("checkpoint.json");
    let stale = dir
        .path()
        .join(format!(".checkpoint.json{TMP_MARKER}123.0"));
    let other = dir.path().join(format!(".journal{TMP_MARKER}123.0"));
    std::fs::write(&stale, "half").unwrap();
    std::fs::write(&other, "half").unwrap();
    std::fs::write(&target, "whole").unwrap();
    sweep_stale_tmp(&target);
    assert!(!stale.exists());
    assert!(
        other.exists(),
        "another file's temporary is not this sweep's"
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "whole");
}
