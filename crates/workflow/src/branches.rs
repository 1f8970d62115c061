//! The branches a run makes in the user's repository, all under one namespace of its
//! own, `autoresearch/<work-directory name>-<8 hex digits>/`, so that several campaigns
//! on one repository (two scripts of a monorepo, or a second campaign on the same
//! script) never share a branch, and `autoresearch clean` knows which are this run's.
//! Work directories from before namespaces used `autoresearch/<name>`; their branches
//! are still recognised by [`is_legacy`].

use std::hash::{Hash, Hasher};
use std::path::Path;

/// The top of every namespace.
pub const ROOT: &str = "autoresearch";

/// One run's branch names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branches {
    namespace: String,
}

impl Branches {
    /// The names under `namespace` (as stored in `state.json`).
    pub fn new(namespace: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
        }
    }

    /// A new namespace for the work directory at `workdir` (absolute), started at
    /// `started_at`: its folder name for people, and a hash of the path and the time,
    /// so that two work directories never share one.
    pub fn new_namespace(workdir: &Path, started_at: &str) -> String {
        let name: String = workdir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .take(24)
            .collect();
        let name = name.trim_matches(['-', '_', '.']);
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        workdir.hash(&mut hasher);
        started_at.hash(&mut hasher);
        // Eight hex digits: 32 bits are plenty to tell one user's work directories apart.
        let tag = hasher.finish() & 0xffff_ffff;
        let name = if name.is_empty() { "run" } else { name };
        format!("{ROOT}/{name}-{tag:08x}")
    }

    /// The namespace (`autoresearch/<name>-<hex>`).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The branch of experiment `id`'s checkout.
    pub fn node(&self, id: &str) -> String {
        format!("{}/{id}", self.namespace)
    }

    /// The branch of the set-up checkout (where the script is instrumented).
    pub fn setup(&self) -> String {
        format!("{}/setup", self.namespace)
    }

    /// The branch that holds a snapshot of the user's uncommitted changes.
    pub fn snapshot(&self) -> String {
        format!("{}/snapshot", self.namespace)
    }

    /// Whether `branch` (short name) is in this namespace.
    pub fn owns(&self, branch: &str) -> bool {
        branch
            .strip_prefix(&self.namespace)
            .is_some_and(|rest| rest.starts_with('/'))
    }
}

/// Whether `branch` is one a work directory from before namespaces made:
/// `autoresearch/setup`, `autoresearch/snapshot` or `autoresearch/<id>` for a node id
/// `is_node` knows.
pub fn is_legacy(branch: &str, is_node: impl Fn(&str) -> bool) -> bool {
    let Some(rest) = branch
        .strip_prefix(ROOT)
        .and_then(|rest| rest.strip_prefix('/'))
    else {
        return false;
    };
    !rest.contains('/') && (rest == "setup" || rest == "snapshot" || is_node(rest))
}
