//! Repository checks that run as ordinary tests (`cargo test -p xtask`).

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::{Path, PathBuf};

    use crate::workspace_root;

    fn crate_dirs() -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = fs::read_dir(workspace_root().join("crates"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.join("Cargo.toml").exists())
            .collect();
        dirs.sort();
        dirs
    }

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_crate_is_named_after_its_folder_and_uses_the_workspace_lints() {
        for dir in crate_dirs() {
            let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
            let folder = dir.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                manifest.contains(&format!("name = \"autoresearch-{folder}\"")),
                "{}: the package must be named autoresearch-{folder}",
                dir.display()
            );
            assert!(
                manifest.contains("[lints]\nworkspace = true"),
                "{}: add `[lints] workspace = true`",
                dir.display()
            );
        }
    }

    #[test]
    fn every_library_opens_with_its_purpose() {
        for dir in crate_dirs() {
            let lib = dir.join("src/lib.rs");
            let text = fs::read_to_string(&lib).unwrap();
            assert!(
                text.starts_with("//! "),
                "{}: open with a `//!` crate doc",
                lib.display()
            );
            assert!(
                text.contains("**What it must not know:**"),
                "{}: the crate doc must say what the crate must not know",
                lib.display()
            );
            assert!(
                text.contains("Main types") || text.contains("Main items"),
                "{}: the crate doc must name the main types",
                lib.display()
            );
        }
    }

    #[test]
    fn the_runner_core_knows_no_domain_words() {
        let forbidden = [
            "spdl",
            "git",
            "llm",
            "claude",
            "metric",
            "slurm",
            "experiment",
            "gpu",
        ];
        let root = workspace_root().join("crates/runner-core");
        let mut files = Vec::new();
        rust_files(&root.join("src"), &mut files);
        files.push(root.join("Cargo.toml"));
        for file in files {
            let text = fs::read_to_string(&file).unwrap().to_lowercase();
            for (number, line) in text.lines().enumerate() {
                let words = line.split(|c: char| !c.is_ascii_alphanumeric());
                for word in words {
                    for bad in forbidden {
                        assert!(
                            !(word == bad || word.starts_with(bad) && bad.len() > 3),
                            "{}:{}: runner-core must not mention `{bad}`: {line}",
                            file.display(),
                            number + 1
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn ci_runs_exactly_the_test_command_of_the_readme() {
        let root = workspace_root();
        let readme = fs::read_to_string(root.join("README.md")).unwrap();
        let ci = fs::read_to_string(root.join(".ci/run")).unwrap();
        let command = "cargo xtask ci";
        assert!(
            readme.contains(&format!("\n{command}\n")),
            "README.md must show `{command}`"
        );
        let last = ci
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .unwrap();
        assert_eq!(
            last.trim(),
            format!("exec {command}"),
            ".ci/run must end by running `{command}`"
        );
    }

    #[test]
    fn no_pending_snapshots_are_left_behind() {
        let mut files = Vec::new();
        collect_all(&workspace_root().join("crates"), &mut files);
        let pending: Vec<_> = files
            .iter()
            .filter(|path| {
                let name = path.to_string_lossy();
                name.ends_with(".snap.new") || name.ends_with(".pending-snap")
            })
            .collect();
        assert!(pending.is_empty(), "review these snapshots: {pending:?}");
    }

    /// The lines of `section` (`[dependencies]`, …) in a manifest, up to the next header.
    fn section<'a>(manifest: &'a str, header: &str) -> Vec<&'a str> {
        manifest
            .lines()
            .skip_while(|line| line.trim() != header)
            .skip(1)
            .take_while(|line| !line.trim_start().starts_with('['))
            .filter(|line| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
            .collect()
    }

    /// The dependency a manifest line names (`name.workspace = true`, `name = …`).
    fn dependency_name(line: &str) -> &str {
        let key = line.split('=').next().unwrap_or("").trim();
        key.strip_suffix(".workspace").unwrap_or(key)
    }

    /// The allowed-dependency table of docs/architecture.md: crate → project crates.
    fn allowed_dependencies() -> std::collections::BTreeMap<String, Vec<String>> {
        let doc = fs::read_to_string(workspace_root().join("docs/architecture.md")).unwrap();
        let table: Vec<&str> = doc
            .lines()
            .skip_while(|line| !line.starts_with("| crate | may depend on |"))
            .skip(2)
            .take_while(|line| line.starts_with('|'))
            .collect();
        assert!(
            !table.is_empty(),
            "docs/architecture.md lost its allowed-dependency table"
        );
        table
            .iter()
            .map(|row| {
                let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
                // A name may carry its reason in parentheses: `jobs (the supervisor)`.
                let allowed = cells[1]
                    .split(',')
                    .map(|c| c.split(" (").next().unwrap_or(c).trim())
                    .filter(|c| !c.is_empty() && *c != "–")
                    .map(str::to_owned)
                    .collect();
                (cells[0].to_owned(), allowed)
            })
            .collect()
    }

    #[test]
    fn crates_depend_only_on_what_the_architecture_allows() {
        let allowed = allowed_dependencies();
        for dir in crate_dirs() {
            let folder = dir.file_name().unwrap().to_string_lossy().into_owned();
            let Some(may) = allowed.get(&folder) else {
                panic!("docs/architecture.md has no row for crates/{folder}");
            };
            let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
            for line in section(&manifest, "[dependencies]") {
                let name = dependency_name(line);
                if let Some(dep) = name.strip_prefix("autoresearch-") {
                    assert!(
                        may.iter().any(|m| m == dep),
                        "crates/{folder} depends on autoresearch-{dep}, which docs/architecture.md does not allow (allowed: {may:?})"
                    );
                }
            }
        }
    }

    #[test]
    fn every_workspace_dependency_is_used_by_a_member() {
        let root = workspace_root();
        let workspace = fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let mut manifests: Vec<String> = crate_dirs()
            .iter()
            .map(|d| fs::read_to_string(d.join("Cargo.toml")).unwrap())
            .collect();
        manifests.push(fs::read_to_string(root.join("xtask/Cargo.toml")).unwrap());
        let used = |name: &str| {
            manifests.iter().any(|m| {
                m.lines().any(|line| {
                    let line = line.trim_start();
                    !line.starts_with('#')
                        && dependency_name(line) == name
                        && line.contains("workspace")
                })
            })
        };
        let unused: Vec<&str> = section(&workspace, "[workspace.dependencies]")
            .into_iter()
            .map(dependency_name)
            .filter(|name| !used(name))
            .collect();
        assert!(
            unused.is_empty(),
            "Cargo.toml declares workspace dependencies no member uses: {unused:?} (remove them, or use them)"
        );
    }

    /// Most lines a workflow function may have without a `Long on purpose:` comment.
    const MAX_FUNCTION_LINES: usize = 80;

    /// A line with its string and character literals and `//` comment taken out, so
    /// only code braces are counted.
    fn code_of(line: &str) -> String {
        let mut out = String::new();
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' => {
                    while let Some(d) = chars.next() {
                        match d {
                            '\\' => {
                                chars.next();
                            }
                            '"' => break,
                            _ => {}
                        }
                    }
                }
                // A character literal ('{'), not a lifetime ('a).
                '\'' if matches!(chars.clone().nth(1), Some('\'')) => {
                    chars.next();
                    chars.next();
                }
                '/' if chars.peek() == Some(&'/') => break,
                _ => out.push(c),
            }
        }
        out
    }

    /// Every function of `text` outside its tests: (name, first line, length in lines,
    /// whether the lines above it say why it is long).
    fn functions(text: &str) -> Vec<(String, usize, usize, bool)> {
        let lines: Vec<&str> = text.lines().collect();
        let end = lines
            .iter()
            .position(|l| l.trim_start().starts_with("#[cfg(test)]"))
            .unwrap_or(lines.len());
        let mut found = Vec::new();
        for (i, line) in lines[..end].iter().enumerate() {
            let code = code_of(line);
            let words: Vec<&str> = code.split_whitespace().collect();
            let Some(at) = words.iter().position(|w| *w == "fn") else {
                continue;
            };
            let leading = &words[..at];
            if !leading
                .iter()
                .all(|w| w.starts_with("pub") || matches!(*w, "async" | "const" | "unsafe"))
            {
                continue;
            }
            let name = words
                .get(at + 1)
                .map_or("", |w| w.split(['(', '<']).next().unwrap_or(w));
            let (mut depth, mut opened) = (0i64, false);
            let mut last = i;
            for (j, body) in lines[i..end].iter().enumerate() {
                let code = code_of(body);
                if !opened && code.contains(';') && !code.contains('{') {
                    break;
                }
                for c in code.chars() {
                    match c {
                        '{' => {
                            depth += 1;
                            opened = true;
                        }
                        '}' => depth -= 1,
                        _ => {}
                    }
                }
                last = i + j;
                if opened && depth <= 0 {
                    break;
                }
            }
            if !opened {
                continue;
            }
            let explained = lines[i.saturating_sub(12)..i]
                .iter()
                .any(|l| l.contains("Long on purpose"));
            found.push((name.to_owned(), i + 1, last - i + 1, explained));
        }
        found
    }

    #[test]
    fn the_length_check_finds_functions_and_their_ends() {
        let text = "fn a() {\n    let s = \"}\";\n    let c = '{';\n}\n\n// Long on purpose: a test.\npub(crate) async fn b<'a>(x: &'a str) {\n    if x.is_empty() {\n        // }\n    }\n}\nfn c();\n#[cfg(test)]\nfn d() {}\n";
        assert_eq!(
            functions(text),
            vec![("a".to_owned(), 1, 4, false), ("b".to_owned(), 7, 5, true)]
        );
    }

    #[test]
    fn no_workflow_function_is_longer_than_a_screen_without_saying_why() {
        let mut files = Vec::new();
        rust_files(&workspace_root().join("crates/workflow/src"), &mut files);
        files.sort();
        let mut long = Vec::new();
        for file in files {
            let text = fs::read_to_string(&file).unwrap();
            for (name, line, length, explained) in functions(&text) {
                if length > MAX_FUNCTION_LINES && !explained {
                    long.push(format!("{}:{line} {name} ({length} lines)", file.display()));
                }
            }
        }
        assert!(
            long.is_empty(),
            "functions over {MAX_FUNCTION_LINES} lines: split them, or say above them why not (`// Long on purpose: …`):\n{}",
            long.join("\n")
        );
    }

    fn collect_all(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                collect_all(&path, out);
            } else {
                out.push(path);
            }
        }
    }
}
