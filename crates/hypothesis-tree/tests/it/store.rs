//! The tree's files: round trips, changed nodes only, damaged files.

use autoresearch_hypothesis_tree::store::{load, node_dir, save_changes, write_tree_json};
use autoresearch_hypothesis_tree::{HypothesisNode, NodeStatus, TreeError};

use crate::support::{big, sample};

fn all(tree: &autoresearch_hypothesis_tree::HypothesisTree) -> Vec<HypothesisNode> {
    tree.nodes().cloned().collect()
}

#[test]
fn node_files_and_tree_json_round_trip_exactly() {
    let (mut tree, _) = sample();
    let dir = tempfile::tempdir().unwrap();
    save_changes(&mut tree, dir.path()).unwrap();
    write_tree_json(&tree, dir.path()).unwrap();
    let loaded = load(dir.path()).unwrap();
    assert_eq!(all(&loaded), all(&tree));
    // tree.json alone loads the same tree.
    let only_json = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.path().join("tree.json"),
        only_json.path().join("tree.json"),
    )
    .unwrap();
    assert_eq!(all(&load(only_json.path()).unwrap()), all(&tree));
    // The original tool's per-node views.
    let node = node_dir(dir.path(), "004_torch_compile");
    assert_eq!(
        std::fs::read_to_string(node.join("status.txt")).unwrap(),
        "failed\n"
    );
    assert!(node.join("failure.json").exists() && node.join("spec.json").exists());
    assert!(
        load(tempfile::tempdir().unwrap().path())
            .unwrap()
            .is_empty()
    );
    // The id counter continues after a reload.
    let mut loaded = loaded;
    assert_eq!(
        loaded
            .add("next", None, serde_json::json!({}), 0.0)
            .unwrap(),
        "008_next"
    );
}

#[test]
fn a_save_writes_only_what_changed() {
    let (mut tree, _) = big(1000, 7, true);
    let dir = tempfile::tempdir().unwrap();
    let first = save_changes(&mut tree, dir.path()).unwrap();
    assert_eq!(first.nodes, 1000);
    let nothing = save_changes(&mut tree, dir.path()).unwrap();
    assert_eq!((nothing.nodes, nothing.files), (0, 0));
    let id = tree
        .nodes()
        .find(|n| n.status == NodeStatus::Running)
        .unwrap()
        .node_id
        .clone();
    tree.transition(&id, NodeStatus::Analyzing).unwrap();
    let one = save_changes(&mut tree, dir.path()).unwrap();
    assert_eq!(one.nodes, 1);
    assert_eq!(one.files, 2, "node.json and status.txt");
    assert_eq!(
        std::fs::read_to_string(node_dir(dir.path(), &id).join("status.txt")).unwrap(),
        "analyzing\n"
    );
    assert_eq!(all(&load(dir.path()).unwrap()), all(&tree));
}

#[test]
fn damaged_files_are_errors_that_name_them() {
    let (mut tree, _) = sample();
    let dir = tempfile::tempdir().unwrap();
    save_changes(&mut tree, dir.path()).unwrap();
    let victim = node_dir(dir.path(), "005_sink_buffer_8").join("node.json");
    let text = std::fs::read_to_string(&victim).unwrap();
    std::fs::write(&victim, &text[..text.len() / 2]).unwrap();
    let err = load(dir.path()).unwrap_err();
    assert!(matches!(err, TreeError::Corrupt { .. }), "{err}");
    assert!(
        err.to_string().contains("005_sink_buffer_8/node.json"),
        "{err}"
    );
    std::fs::write(&victim, text).unwrap();
    // A node whose parent's folder is gone.
    std::fs::remove_dir_all(node_dir(dir.path(), "003_decode_concurrency_4")).unwrap();
    let err = load(dir.path()).unwrap_err();
    assert!(
        err.to_string()
            .contains("parent `003_decode_concurrency_4` is missing"),
        "{err}"
    );
    // A node file in the wrong folder.
    let (mut tree, _) = sample();
    let dir = tempfile::tempdir().unwrap();
    save_changes(&mut tree, dir.path()).unwrap();
    std::fs::copy(
        node_dir(dir.path(), "000_baseline").join("node.json"),
        node_dir(dir.path(), "001_headspace").join("node.json"),
    )
    .unwrap();
    assert!(
        load(dir.path())
            .unwrap_err()
            .to_string()
            .contains("001_headspace")
    );
}
