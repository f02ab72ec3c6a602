//! Engine benchmarks (criterion): a one-character edit plus incremental reparse on a 100,000-line
//! file, and local completion latency with 200 open files. Figures are recorded in BENCHMARKS.md.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

mod common;
use common::rust_source;
use switchboard::{
    documents::{Change, Encoding, Position},
    engine::Engine,
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

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = edit_and_reparse, local_completion
}
criterion_main!(benches);
