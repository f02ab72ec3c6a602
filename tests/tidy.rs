//! Repository hygiene that keeps the docs honest: every source file opens with a `//!` line saying
//! its job, and every module named in ARCHITECTURE.md's code map exists.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            // Third-party code checked in as benchmark data keeps its own conventions.
            if path.file_name().is_some_and(|n| n == "corpus") {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_source_file_opens_with_a_module_doc() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "benches", "tests"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 20);
    let missing: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .map(|f| f.strip_prefix(root).unwrap_or(f).display().to_string())
        .collect();
    assert!(missing.is_empty(), "these files lack a `//!` line saying their job: {missing:?}");
}

#[test]
fn the_code_map_names_real_modules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    for line in map.lines().filter(|l| l.starts_with("### ")) {
        for path in line.split('`').skip(1).step_by(2) {
            assert!(
                root.join(path.trim_end_matches('/')).exists(),
                "ARCHITECTURE.md names {path}, which does not exist"
            );
        }
    }
}
