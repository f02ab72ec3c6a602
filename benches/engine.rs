//! Engine benchmarks (criterion): a one-character edit plus incremental reparse on a 100,000-line
//! file, local completion latency with 200 open files, and the syntax gate every model suggestion
//! passes, and the request side of an inline completion. Figures are recorded in BENCHMARKS.md.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

mod common;
use common::rust_source;
use switchboard::{
    completion::inline::{DocView, syntax_gate},
    documents::{Change, Encoding, Position},
    engine::Engine,
    syntax::{Languages, SyntaxTree},
};

fn edit_and_reparse(c: &mut Criterion) {
    let engine = Engine::default();
    let text = rust_source(100_000, 0);
    // Type inside an identifier in the middle of the file (`total` -> `totxal`), as a user would.
    let line = text.lines().enumerate().skip(50_000).find(|(_, l)| l.starts_with("        total +=")).unwrap().0 as u32;
    engine.open("file:///big.rs", "rust", 1, &text);
    let mut version = 1;
    let at = Position::new(line, 11);
    let mut typed = false;
    // Alternately type a character and delete it, so the document keeps its size.
    let mut keystroke = move |engine: &Engine| {
        version += 1;
        let change = if typed {
            Change { range: Some((at, Position::new(line, 12))), text: String::new() }
        } else {
            Change { range: Some((at, at)), text: "x".into() }
        };
        typed = !typed;
        engine.change("file:///big.rs", version, &[change], Encoding::Utf16).unwrap();
    };
    c.bench_function("keystroke on 100k lines (tree edited, reparse deferred)", |b| {
        b.iter(|| keystroke(&engine));
    });
    c.bench_function("keystroke + incremental reparse on 100k lines", |b| {
        b.iter(|| {
            keystroke(&engine);
            black_box(engine.snapshot("file:///big.rs").unwrap());
        })
    });
    // What a completion request pays on the same file: the typing path leaves the reparse to a
    // background thread (the server always runs inside a tokio runtime).
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
    let _inside = runtime.enter();
    c.bench_function("keystroke + typing-path snapshot on 100k lines (reparse in the background)", |b| {
        b.iter(|| {
            keystroke(&engine);
            black_box(engine.snapshot_for_typing("file:///big.rs").unwrap());
        })
    });
}

fn local_completion(c: &mut Criterion) {
    let engine = Engine::default();
    for i in 0..200 {
        engine.open(&format!("file:///f{i}.rs"), "rust", 1, &rust_source(5_000, i));
    }
    let mut text = rust_source(5_000, 999);
    text.push_str("fn main() {\n    let x = compute_to\n}\n");
    engine.open("file:///main.rs", "rust", 1, &text);
    let offset = text.find("compute_to\n").unwrap() + "compute_to".len();
    c.bench_function("local completion (200 open files)", |b| {
        b.iter(|| black_box(engine.complete_local("file:///main.rs", offset, 50).unwrap()))
    });
}

/// The syntax gate on a suggestion at a line end: inside one long function (the inline overhead
/// benchmark's file: 330 statements, the function is the whole file), inside a short function of a
/// long file, and a suggestion that closes the block it starts in (judged twice).
fn syntax_gate_shapes(c: &mut Criterion) {
    let view = |text: &str| {
        let rope = ropey::Rope::from_str(text);
        let lang = Languages::global().by_id("rust");
        DocView {
            uri: "file:///gate.rs".into(),
            version: 1,
            syntax: lang.and_then(|l| SyntaxTree::parse(l, &rope)),
            syntax_behind: false,
            rope,
            lang,
            language_id: "rust".into(),
        }
    };
    let mut long_fn = String::from("pub fn checksums(input: u64) -> u64 {\n");
    for i in 0..330 {
        long_fn.push_str(&format!("    let value_{i} = input.wrapping_mul({}).rotate_left({});\n", 2 * i + 1, i % 61));
    }
    long_fn.push_str("    input\n}\n");
    let at = long_fn.find("let value_200").unwrap();
    let at = at + long_fn[at..].find('\n').unwrap();
    let long = view(&long_fn);
    c.bench_function("syntax gate: a line in a 330-line function", |b| {
        b.iter(|| black_box(syntax_gate(&long, at, 0, black_box(" // checked"))))
    });
    let closes = "\n    if input > 0 {\n        return 1;\n    }";
    c.bench_function("syntax gate: a 4-line suggestion in a 330-line function", |b| {
        b.iter(|| black_box(syntax_gate(&long, at, 0, black_box(closes))))
    });
    let ends = "\n    input\n}\n\npub fn more(input: u64) -> u64 {";
    c.bench_function("syntax gate: a suggestion that ends the 330-line function (judged twice)", |b| {
        b.iter(|| black_box(syntax_gate(&long, at, 0, black_box(ends))))
    });
    // What the request side spends before the prompt goes upstream, in the same function: the
    // typing-path snapshot, the context (scope names, resolution, code window) and the prompt.
    let engine = Engine::default();
    engine.open("file:///long.rs", "rust", 1, &long_fn);
    c.bench_function("inline request: context and prompt at a line in a 330-line function", |b| {
        b.iter(|| black_box(engine.inline_request("file:///long.rs", black_box(at))))
    });
    let file = rust_source(2_000, 0);
    let short = view(&file);
    let at = file.find("        total +=").unwrap();
    let at = at + file[at..].find('\n').unwrap();
    c.bench_function("syntax gate: a line in a short function of a 2,000-line file", |b| {
        b.iter(|| black_box(syntax_gate(&short, at, 0, black_box(" // checked"))))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = edit_and_reparse, local_completion, syntax_gate_shapes
}
criterion_main!(benches);
