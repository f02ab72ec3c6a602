//! Privacy benchmarks (criterion): what redaction adds to every request — an inline prompt of the
//! default budget (1500 tokens, ~6 KB of code) with no secret and with a few — and scrubbing an
//! upstream error body. Figures are recorded in BENCHMARKS.md.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use switchboard::{
    privacy::{self, Settings},
    providers::{ModelRequest, Task},
};

fn code(lines: usize) -> String {
    (0..lines).map(|i| format!("    let total_{i} = compute(items[{i}], rate) + offset; // step {i}\n")).collect()
}

fn request(prefix: String, suffix: String) -> ModelRequest {
    ModelRequest {
        task: Task::Inline,
        system: "You are a code completion engine.".into(),
        context: "path: src/lib.rs\nlanguage: rust\n".repeat(4),
        prefix,
        suffix,
        user: String::new(),
        language: "rust".into(),
        path: "src/lib.rs".into(),
        max_output_tokens: Some(64),
        stop: Vec::new(),
        cache_key: Some("switchboard:bench".into()),
        workdir: None,
        parts: None,
    }
}

fn redaction(c: &mut Criterion) {
    let settings = Settings::default();
    let clean = request(code(70), code(30));
    assert!(clean.prefix.len() + clean.suffix.len() > 6000);
    c.bench_function("outbound: 6 KB inline prompt, no secret", |b| {
        b.iter(|| black_box(privacy::outbound(black_box(clean.clone()), &settings)))
    });
    let secrets = "const STRIPE_KEY: &str = \"sk_live_51HxQ2eK8yTzP4mWvB7nR3cJ\";\n\
                   const GH: &str = \"ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5\";\n\
                   let url = \"postgres://app:Tr0ub4dor-3@db:5432/app\";\n";
    let dirty = request(format!("{secrets}{}", code(67)), code(30));
    c.bench_function("outbound: 6 KB inline prompt, 3 secrets", |b| {
        b.iter(|| black_box(privacy::outbound(black_box(dirty.clone()), &settings)))
    });
    // An action's whole file with non-ASCII comments: where Unicode `\b` keeps the lazy DFA out.
    let big: String = (0..4000).map(|i| format!("    let größe_{i} = 計算(items[{i}]); // 合計 {i}\n")).collect();
    let whole = request(big, String::new());
    c.bench_function("outbound: 200 KB non-ASCII file, no secret", |b| {
        b.iter(|| black_box(privacy::outbound(black_box(whole.clone()), &settings)))
    });
    let body = r#"{"error":{"message":"Incorrect API key provided: sk-proj-abcdefghijklmnopqrstuvwxyz012345. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
    c.bench_function("scrub: a 401 error body", |b| b.iter(|| black_box(privacy::scrub(black_box(body)))));
}

criterion_group!(benches, redaction);
criterion_main!(benches);
