//! The run's branch names: a namespace of its own, and the old names recognised.

use std::path::Path;

use autoresearch_workflow::branches::{Branches, is_legacy};

#[test]
fn every_work_directory_gets_a_namespace_of_its_own() {
    let a = Branches::new_namespace(Path::new("/runs/My Opt!"), "2026-12-02T10:00:00Z");
    let b = Branches::new_namespace(Path::new("/other/My Opt!"), "2026-12-02T10:00:00Z");
    let c = Branches::new_namespace(Path::new("/runs/My Opt!"), "2026-12-02T11:00:00Z");
    assert!(a.starts_with("autoresearch/my-opt-"), "{a}");
    assert_eq!(a.len(), "autoresearch/my-opt-".len() + 8, "{a}");
    assert!(a != b && a != c, "{a} {b} {c}");
    let branches = Branches::new(&a);
    assert_eq!(branches.node("003_x"), format!("{a}/003_x"));
    assert!(branches.owns(&branches.setup()) && branches.owns(&branches.snapshot()));
    assert!(
        !branches.owns(&format!("{a}x/setup")),
        "a longer name is another run's"
    );
    assert!(!branches.owns(&b));
}

#[test]
fn old_style_names_are_recognised_only_for_this_run_s_nodes() {
    let ours = |id: &str| id == "003_x";
    assert!(is_legacy("autoresearch/setup", ours));
    assert!(is_legacy("autoresearch/snapshot", ours));
    assert!(is_legacy("autoresearch/003_x", ours));
    assert!(!is_legacy("autoresearch/004_y", ours), "another run's node");
    assert!(
        !is_legacy("autoresearch/work-1234abcd/003_x", ours),
        "a namespaced branch"
    );
    assert!(!is_legacy("autoresearchers/setup", ours));
    assert!(!is_legacy("main", ours));
}
