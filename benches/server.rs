//! Whole-server benchmarks against the release binary over stdio: process start to `initialize`
//! answered, and resident memory with 200 open 5,000-line files. Prints medians; figures are
//! recorded in BENCHMARKS.md. Run with `cargo bench --bench server` (builds the release binary).

mod common;

use std::time::{Duration, Instant};

use common::lsp::{Lsp, binary};
use serde_json::json;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` does not, and must not spend
    // minutes here. A filter argument that does not match skips us too.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    if !args.is_empty() && !args.iter().any(|a| "server".contains(a.as_str())) {
        return;
    }
    let bin = binary();

    let mut starts = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let mut lsp = Lsp::start(&bin);
        lsp.initialize();
        starts.push(t.elapsed());
    }
    let p90 = {
        let mut s = starts.clone();
        s.sort();
        s[s.len() * 9 / 10]
    };
    println!("process start -> initialize answered: median {:?}, p90 {:?} (30 runs)", median(starts), p90);

    let mut lsp = Lsp::start(&bin);
    lsp.initialize();
    let idle = lsp.rss_kib();
    let mut bytes = 0;
    for i in 0..200 {
        let text = common::rust_source(5_000, i);
        bytes += text.len();
        lsp.send(json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": format!("file:///bench/f{i}.rs"), "languageId": "rust", "version": 1, "text": text}}}));
    }
    // A request after the notifications: answered only once all 200 files are open.
    lsp.request(2, "switchboard/documentText", json!({"textDocument": {"uri": "file:///bench/f199.rs"}}));
    let rss = lsp.rss_kib();
    println!(
        "resident memory: idle {:.1} MiB; with 200 open 5,000-line files ({:.1} MiB of text) {:.1} MiB",
        idle as f64 / 1024.0,
        bytes as f64 / 1048576.0,
        rss as f64 / 1024.0
    );
}
