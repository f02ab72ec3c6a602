//! The workspace walk: which files on disk the index reads ([`admit`], the one filter privacy
//! rules plug into), honouring `.gitignore`, `.ignore` and `.switchboardignore`, within bounds on
//! files, bytes per file and total bytes; and reading one file's symbols.

use std::{
    path::Path,
    sync::{Arc, Mutex, mpsc},
};

use ropey::Rope;

use super::{FileKey, FileSymbols, IndexConfig, LONG_LINE_BYTES};
use crate::syntax::{Languages, SyntaxTree};

/// The ignore file of our own, next to `.gitignore` files: paths the index must never read.
pub const IGNORE_FILE: &str = ".switchboardignore";

/// Whether the index may read `path` at all. Every file the walk, a watched-file event or a save
/// brings in passes here: a language with a grammar, not minified, and not inside a dependency
/// folder that `.gitignore` might not list.
pub fn admit(path: &Path) -> bool {
    const SKIPPED_DIRS: &[&str] = &["node_modules", ".git", "__pycache__"];
    if path.components().any(|c| SKIPPED_DIRS.iter().any(|d| c.as_os_str() == *d)) {
        return false;
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.ends_with(".min.js") || name.ends_with(".min.css") || name.ends_with(".map") {
        return false;
    }
    Languages::global().by_path(&path.to_string_lossy()).is_some_and(|l| l.has_grammar())
}

/// The caller's own filter on top of [`admit`]: the privacy rules (excluded and local-only files
/// are never indexed, so no prompt can quote them).
pub type Keep = dyn Fn(&Path) -> bool + Send + Sync;

/// What the walk reports.
pub enum Event {
    File(FileKey, Box<FileSymbols>),
    Progress { files: usize, skipped: usize, done: bool },
}

/// Paths under `root` that the walk visits: ignore files honoured (also outside git
/// repositories), hidden files skipped, every path through [`admit`], at most `max_file_bytes`.
pub fn walk(root: &Path, settings: &IndexConfig) -> impl Iterator<Item = std::path::PathBuf> {
    ignore::WalkBuilder::new(root)
        .add_custom_ignore_filename(IGNORE_FILE)
        .require_git(false)
        .max_filesize(Some(settings.max_file_bytes))
        .follow_links(false)
        .build()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .map(ignore::DirEntry::into_path)
        .filter(|p| admit(p))
}

/// Walks and indexes `root`, calling `emit` per file and now and then with progress; stops early
/// when `emit` returns false (the index is gone). Parsing runs on at most half the cores.
pub fn build(root: &Path, settings: &IndexConfig, keep: &Keep, emit: &mut dyn FnMut(Event) -> bool) {
    let started = std::time::Instant::now();
    let workers = std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)).min(4);
    let (path_tx, path_rx) = mpsc::sync_channel::<std::path::PathBuf>(64);
    let path_rx = Arc::new(Mutex::new(path_rx));
    let (sym_tx, sym_rx) = mpsc::channel::<FileSymbols>();
    let max_file_bytes = settings.max_file_bytes;
    let mut handles = Vec::new();
    for i in 0..workers {
        let (rx, tx) = (path_rx.clone(), sym_tx.clone());
        let spawned = crate::threads::spawn_background(format!("switchboard-parse-{i}"), move || {
            loop {
                let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                let Ok(path) = next else { return };
                if let Some(s) = read_symbols(&path, max_file_bytes)
                    && tx.send(s).is_err()
                {
                    return;
                }
            }
        });
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => tracing::warn!("cannot start a parsing thread: {e}"),
        }
    }
    drop(sym_tx);
    if handles.is_empty() {
        emit(Event::Progress { files: 0, skipped: 0, done: true });
        return;
    }
    let (mut files, mut skipped, mut total) = (0usize, 0usize, 0u64);
    let mut alive = true;
    let mut drain = |files: &mut usize, total: &mut u64, block: bool| -> bool {
        loop {
            let got = if block { sym_rx.recv().ok() } else { sym_rx.try_recv().ok() };
            let Some(s) = got else { return true };
            *files += 1;
            *total += s.approx_bytes() as u64;
            if !emit(Event::File(s.key.clone(), Box::new(s))) {
                return false;
            }
            if files.is_multiple_of(500) && !emit(Event::Progress { files: *files, skipped: 0, done: false }) {
                return false;
            }
        }
    };
    let mut sent = 0usize;
    for path in walk(root, settings).filter(|p| keep(p)) {
        if sent >= settings.max_files || total >= settings.max_total_bytes {
            skipped += 1;
            continue;
        }
        if path_tx.send(path).is_err() {
            break;
        }
        sent += 1;
        if !drain(&mut files, &mut total, false) {
            alive = false;
            break;
        }
    }
    drop(path_tx);
    if alive {
        alive = drain(&mut files, &mut total, true);
    }
    for h in handles {
        let _ = h.join();
    }
    if alive {
        emit(Event::Progress { files, skipped, done: true });
    }
    tracing::info!(
        files,
        skipped,
        approx_bytes = total,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "workspace indexed"
    );
}

/// The definitions of one file on disk; `None` when it is not admitted, too large, unreadable,
/// binary, or has a very long line (minified code).
pub fn read_symbols(path: &Path, max_file_bytes: u64) -> Option<FileSymbols> {
    if !admit(path) || std::fs::metadata(path).ok()?.len() > max_file_bytes {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    if bytes.len() as u64 > max_file_bytes || bytes.contains(&0) {
        return None;
    }
    let text = String::from_utf8_lossy(&bytes);
    if text.split('\n').any(|l| l.len() > LONG_LINE_BYTES) {
        return None;
    }
    let lang = Languages::global().by_path(&path.to_string_lossy())?;
    let rope = Rope::from_str(&text);
    let tree = SyntaxTree::parse(lang, &rope)?;
    Some(FileSymbols::build(FileKey::from_path(path), None, Some(lang), &rope, Some(&tree), false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn walked(root: &Path, settings: &IndexConfig) -> Vec<String> {
        let mut got: Vec<String> =
            walk(root, settings).map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned()).collect();
        got.sort();
        got
    }

    #[test]
    fn the_walk_honours_ignore_files_and_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, ".gitignore", "generated/\n*.tmp.py\n");
        write(root, ".switchboardignore", "secrets/\n");
        write(root, "src/a.py", "def a():\n    pass\n");
        write(root, "src/b.tmp.py", "def b():\n    pass\n");
        write(root, "generated/c.py", "def c():\n    pass\n");
        write(root, "secrets/d.py", "def d():\n    pass\n");
        write(root, "node_modules/e.js", "function e() {}\n");
        write(root, "notes.txt", "words\n");
        write(root, "big.rs", &"fn big() {}\n".repeat(200));
        let settings = IndexConfig::default();
        assert_eq!(walked(root, &settings), ["big.rs", "src/a.py"]);
        let small = IndexConfig { max_file_bytes: 100, ..IndexConfig::default() };
        assert_eq!(walked(root, &small), ["src/a.py"]);

        let mut keys = Vec::new();
        let mut done = None;
        let bounded = IndexConfig { max_files: 1, ..IndexConfig::default() };
        build(root, &bounded, &|_| true, &mut |ev| {
            match ev {
                Event::File(k, s) => keys.push((k, s.definitions.len())),
                Event::Progress { files, skipped, done: true } => done = Some((files, skipped)),
                Event::Progress { .. } => {}
            }
            true
        });
        assert_eq!(keys.len(), 1);
        assert_eq!(done, Some((1, 1)));
    }

    #[test]
    fn minified_and_binary_files_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "app.js", &format!("var x = {};\n", "1+".repeat(LONG_LINE_BYTES)));
        write(root, "bin.py", "def a():\0\n");
        write(root, "ok.ts", "export function ok(a: number): number {\n  return a;\n}\n");
        assert!(read_symbols(&root.join("app.js"), 1 << 20).is_none());
        assert!(read_symbols(&root.join("bin.py"), 1 << 20).is_none());
        let ok = read_symbols(&root.join("ok.ts"), 1 << 20).unwrap();
        assert_eq!(ok.definitions[0].signature, "export function ok(a: number): number");
        assert!(!ok.names.contains_key("number"), "files on disk keep definitions only");
    }
}
