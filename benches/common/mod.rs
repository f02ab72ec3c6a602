//! Shared by the benchmarks: generated source files and the LSP client ([`lsp`]).

pub mod fake_openai;
pub mod lsp;

const VERBS: [&str; 8] = ["compute", "parse", "render", "load", "store", "update", "fetch", "build"];
const NOUNS: [&str; 8] = ["total", "items", "config", "buffer", "state", "request", "value", "cache"];

/// A Rust file of `lines` lines: functions named verb_noun_N, as a real module might have.
#[allow(dead_code)]
pub fn rust_source(lines: usize, seed: usize) -> String {
    let mut out = String::from("use std::collections::HashMap;\n\n");
    let mut count = 2;
    let mut i = seed;
    while count + 9 <= lines {
        let (verb, noun) = (VERBS[i % 8], NOUNS[(i / 8) % 8]);
        out.push_str(&format!(
            "/// Adds up the values of bucket {i}.\npub fn {verb}_{noun}_{i}(items: &[u32], scale: u32) -> u32 {{\n    let mut total = 0;\n    for item in items {{\n        total += item * scale;\n    }}\n    total\n}}\n\n"
        ));
        count += 9;
        i += 1;
    }
    out
}
