//! Index benchmarks: request latencies (p50, p99, max after the first) while typing into a
//! 100,000-line file, into a 7 MB one-line file, with 10,000 documents open, and at 1 kHz on a
//! 20,000-line file; and the workspace index's build time and memory for this repository and a
//! generated 5,000-file tree. Prints the figures recorded in BENCHMARKS.md under "Index".
//! Run with `cargo bench --bench index`.

mod common;

use std::{
    path::Path,
    time::{Duration, Instant},
};

use common::rust_source;
use switchboard::{
    completion::inline::InlineRequest,
    documents::{Change, Encoding, Position},
    engine::Engine,
    providers::Task,
};

struct Latencies(Vec<Duration>);

impl Latencies {
    fn report(mut self, what: &str) {
        let first = self.0.remove(0);
        self.0.sort();
        let at = |q: f64| self.0[((self.0.len() - 1) as f64 * q) as usize];
        println!(
            "{what}: first {first:?}, then p50 {:?}, p99 {:?}, max {:?} ({} requests)",
            at(0.5),
            at(0.99),
            self.0.last().copied().unwrap_or_default(),
            self.0.len()
        );
    }
}

fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0.0);
    pages * 4096.0 / 1048576.0
}

fn insert(engine: &Engine, uri: &str, version: i32, line: u32, col: u32, text: &str) {
    let at = Position::new(line, col);
    engine.change(uri, version, &[Change { range: Some((at, at)), text: text.into() }], Encoding::Utf16).unwrap();
}

/// Types `n` characters at the end of `line` (an identifier being written), asking for local
/// completion after each, with `gap` between keystrokes.
fn type_and_complete(engine: &Engine, uri: &str, line: u32, col: u32, n: usize, gap: Duration) -> Latencies {
    let mut out = Vec::new();
    let mut changes = Vec::new();
    let mut version = 1;
    let mut offset_col = col;
    for i in 0..n {
        version += 1;
        let c = if i % 10 == 9 { " " } else { "x" };
        let t = Instant::now();
        insert(engine, uri, version, line, offset_col, c);
        changes.push(t.elapsed());
        offset_col += 1;
        let t = Instant::now();
        let (offset, _) = engine.offset(uri, Position::new(line, offset_col), Encoding::Utf16).unwrap();
        std::hint::black_box(engine.complete_local(uri, offset, 50).unwrap());
        out.push(t.elapsed());
        std::thread::sleep(gap);
    }
    Latencies(changes).report("  (the didChange itself)");
    Latencies(out)
}

fn generated_tree(root: &Path, files: usize) {
    for i in 0..files {
        let dir = root.join(format!("pkg{}/mod{}", i % 50, i % 7));
        std::fs::create_dir_all(&dir).unwrap();
        let text = match i % 3 {
            0 => rust_source(120, i),
            1 => (0..12)
                .map(|j| format!("def func_{i}_{j}(a, b=None, *args, **kw):\n    return a\n\n\nclass Model{i}_{j}:\n    def __init__(self, x):\n        self.x = x\n\n"))
                .collect(),
            _ => (0..12).map(|j| format!("export function fn{i}_{j}(a: number, b: string = '{{'): number {{\n  return a;\n}}\n\n")).collect(),
        };
        let ext = ["rs", "py", "ts"][i % 3];
        std::fs::write(dir.join(format!("f{i}.{ext}")), text).unwrap();
    }
}

fn build_workspace(what: &str, root: &Path) {
    let before = rss_mib();
    let engine = Engine::default();
    let t = Instant::now();
    engine.index_workspace(root);
    while !engine.index_snapshot().stats.workspace_done {
        std::thread::sleep(Duration::from_millis(5));
    }
    engine.wait_indexed();
    let elapsed = t.elapsed();
    let stats = engine.index_snapshot().stats.clone();
    let definitions: usize = {
        let snap = engine.index_snapshot();
        snap.files().map(|k| snap.definitions_in(k).len()).sum()
    };
    println!(
        "workspace index, {what}: {} files, {definitions} definitions in {elapsed:?}; index ~{:.1} MiB (estimate), resident +{:.1} MiB",
        stats.workspace_files,
        stats.approx_bytes as f64 / 1048576.0,
        rss_mib() - before
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let _inside = runtime.enter();

    // 100,000 lines: type an identifier in the middle of the file, a completion after each key.
    {
        let engine = Engine::default();
        let text = rust_source(100_000, 0);
        let line = text.lines().position(|l| l.starts_with("        total +=")).unwrap() as u32 + 50_000 / 9 * 9;
        let t = Instant::now();
        engine.open("file:///big.rs", "rust", 1, &text);
        println!("didOpen of a 100,000-line file returns in {:?}", t.elapsed());
        type_and_complete(&engine, "file:///big.rs", line, 8, 300, Duration::from_millis(20))
            .report("local completion after each keystroke, 100,000-line file (20 ms between keys)");
    }

    // A 7 MB minified line.
    {
        let engine = Engine::default();
        let text: String = "var a=".to_owned() + &(0..640_000).map(|i| format!("f{i}(x)+")).collect::<String>() + "0;";
        let t = Instant::now();
        engine.open("file:///app.min.js", "javascript", 1, &text);
        println!("didOpen of a {:.1} MB one-line file returns in {:?}", text.len() as f64 / 1e6, t.elapsed());
        let col = text.len() as u32;
        type_and_complete(&engine, "file:///app.min.js", 0, col, 200, Duration::from_millis(20))
            .report("local completion after each keystroke, 7 MB one-line file");
    }

    // 10,000 open documents: local and inline (local provider: no key) requests in a small one.
    {
        let engine = Engine::default();
        for i in 0..10_000 {
            engine.open(&format!("file:///many/f{i}.rs"), "rust", 1, &rust_source(60, i));
        }
        engine.wait_indexed();
        let text = "fn main() {\n    let x = compute_to\n}\n";
        engine.open("file:///many/main.rs", "rust", 1, text);
        let lat = type_and_complete(&engine, "file:///many/main.rs", 1, 22, 200, Duration::from_millis(5));
        lat.report("local completion, 10,000 open documents");
        let mut inline = Vec::new();
        let offset = text.find("compute_to").unwrap() + "compute_to".len();
        for _ in 0..200 {
            let req = InlineRequest {
                uri: "file:///many/main.rs".into(),
                offset,
                task: Task::Inline,
                invoked: true,
                selected: None,
            };
            let t = Instant::now();
            std::hint::black_box(runtime.block_on(engine.inline_completion(req)).unwrap());
            inline.push(t.elapsed());
        }
        Latencies(inline).report("inline request (local provider), 10,000 open documents");
    }

    // 1 kHz typing on 20,000 lines.
    {
        let engine = Engine::default();
        let text = rust_source(20_000, 3);
        let line = text.lines().position(|l| l.starts_with("        total +=")).unwrap() as u32 + 9_000;
        let col = text.lines().nth(line as usize).map_or(0, str::len) as u32;
        engine.open("file:///mid.rs", "rust", 1, &text);
        // Typing starts right after didOpen, while the indexer still parses the file.
        type_and_complete(&engine, "file:///mid.rs", line, col, 1000, Duration::from_millis(1))
            .report("1 kHz typing, local completion after each keystroke, 20,000-line file");
    }

    // The workspace index.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    build_workspace("this repository", repo);
    let dir = tempfile::tempdir().unwrap();
    generated_tree(dir.path(), 5_000);
    build_workspace("generated 5,000-file tree", dir.path());
}
