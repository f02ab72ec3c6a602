//! The typing path from outside (issue 10): the release binary over stdio, an editor typing into
//! it, a fake OpenAI upstream on 127.0.0.1 that answers at once (so what is measured is the
//! server, not the model). Each keystroke is a `didChange` followed by the requests an editor
//! sends for it; a request's latency runs from the write of its frame to the read of its answer.
//!
//! Scenarios (the goals in brackets):
//! - a 100,000-line Rust file [every request after the first < 50 ms];
//! - a 7 MB one-line minified JavaScript file [< 50 ms];
//! - 10,000 open documents, typing in a small one [< 50 ms];
//! - 1 kHz typing on a 20,000-line file, requests pipelined without waiting [p99 < 20 ms].
//!
//! Run with `cargo bench --bench typing` (`-- 1khz`, `100k`, `minified` or `10k-docs` for one
//! scenario). Prints p50/p99/max per scenario and request kind; the figures are recorded in
//! BENCHMARKS.md ("Typing path").

mod common;

use std::{
    collections::HashMap,
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use common::{
    fake_openai::FakeOpenAi,
    lsp::{Lsp, binary},
    rust_source,
};
use serde_json::{Value, json};

/// Runs of the 1 kHz scenario, per variant.
const KHZ_RUNS: usize = 3;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Latencies of one request kind in one scenario.
#[derive(Default)]
struct Latencies {
    first: Option<Duration>,
    rest: Vec<Duration>,
}

impl Latencies {
    fn push(&mut self, d: Duration) {
        if self.first.is_none() { self.first = Some(d) } else { self.rest.push(d) }
    }

    /// The `q` quantile of the latencies after the first.
    fn quantile(&self, q: f64) -> Duration {
        let mut sorted = self.rest.clone();
        sorted.sort();
        sorted.get(((sorted.len().max(1) - 1) as f64 * q) as usize).copied().unwrap_or_default()
    }

    fn line(&self, what: &str, goal: &str) -> String {
        let cell = |d: Duration| format!("{:.2}", ms(d));
        format!(
            "| {what} | {} | {} | **{}** | {} | {} | {goal} |",
            self.rest.len(),
            self.first.map(cell).unwrap_or_default(),
            cell(self.quantile(0.5)),
            cell(self.quantile(0.99)),
            cell(self.quantile(1.0)),
        )
    }
}

struct Session {
    lsp: Lsp,
    _dir: tempfile::TempDir,
    next_id: u64,
    version: i32,
}

impl Session {
    /// `with_key`: an OpenAI key is set, so inline and popup requests go to the fake model;
    /// without one everything is answered by the built-in `local` provider.
    fn start(bin: &Path, fake: &FakeOpenAi, with_key: bool) -> Session {
        let dir = tempfile::tempdir().expect("temp dir");
        let sub = |name: &str| {
            let p = dir.path().join(name);
            std::fs::create_dir_all(&p).expect("mkdir");
            p.to_string_lossy().into_owned()
        };
        let closed = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
        let mut env = vec![
            ("HOME", sub("home")),
            ("XDG_CONFIG_HOME", sub("config")),
            ("XDG_DATA_HOME", sub("data")),
            ("XDG_STATE_HOME", sub("state")),
            ("XDG_CACHE_HOME", sub("cache")),
            ("OPENAI_BASE_URL", fake.base_url()),
            ("OPENAI_API_KEY", "bench".into()),
            ("ANTHROPIC_BASE_URL", format!("http://127.0.0.1:{closed}")),
            ("SWITCHBOARD_LOG", "error".into()),
            ("NO_PROXY", "*".into()),
        ];
        if !with_key {
            // A loopback base URL needs no key: without either, only `local` answers.
            env.retain(|(k, _)| *k != "OPENAI_API_KEY" && *k != "OPENAI_BASE_URL");
        }
        let work = sub("work");
        // For investigations: SWITCHBOARD_BENCH_LOG=debug writes the server's log to $TMPDIR.
        let stderr = match std::env::var("SWITCHBOARD_BENCH_LOG") {
            Ok(level) => {
                env.retain(|(k, _)| *k != "SWITCHBOARD_LOG");
                env.push(("SWITCHBOARD_LOG", level));
                let path = std::env::temp_dir().join(format!("switchboard-typing-bench-{with_key}.log"));
                Stdio::from(std::fs::File::create(path).expect("log file"))
            }
            Err(_) => Stdio::null(),
        };
        let mut lsp = Lsp::spawn(bin, &env, Some(Path::new(&work)), stderr);
        lsp.initialize_with(json!({
            "general": {"positionEncodings": ["utf-16"]},
            "textDocument": {"inlineCompletion": {"dynamicRegistration": false}},
        }));
        Session { lsp, _dir: dir, next_id: 100, version: 1 }
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn open(&mut self, uri: &str, language: &str, text: &str) {
        self.lsp.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": language, "version": 1, "text": text}}),
        );
    }

    /// Waits until every notification sent so far has been handled.
    fn sync(&mut self, uri: &str) {
        let id = self.id();
        let answer = self.lsp.request(id, "switchboard/documentText", json!({"textDocument": {"uri": uri}}));
        assert!(answer["result"]["text"].is_string(), "the document is not open yet: {answer}");
    }

    fn keystroke(&mut self, uri: &str, line: u32, col: u32, text: &str) {
        self.version += 1;
        let at = json!({"line": line, "character": col});
        self.lsp.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": self.version},
                   "contentChanges": [{"range": {"start": at, "end": at}, "text": text}]}),
        );
    }

    fn request(&mut self, method: &str, uri: &str, line: u32, col: u32) -> Duration {
        let id = self.id();
        let mut params = json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": col}});
        if method == "textDocument/inlineCompletion" {
            params["context"] = json!({"triggerKind": 2});
        }
        let (sent, got, answer) = self.lsp.request_with(id, method, params, |_| {});
        assert!(answer.get("error").is_none(), "{method} failed: {answer}");
        got - sent
    }
}

/// Types `n` keys at `line`:`col` (an identifier, a space every tenth key), asking for an inline
/// completion and the completion popup after each, `gap` apart.
fn type_into(s: &mut Session, uri: &str, line: u32, col: u32, n: usize, gap: Duration) -> (Latencies, Latencies) {
    let (mut inline, mut popup) = (Latencies::default(), Latencies::default());
    let mut col = col;
    for i in 0..n {
        s.keystroke(uri, line, col, if i % 10 == 9 { " " } else { "x" });
        col += 1;
        inline.push(s.request("textDocument/inlineCompletion", uri, line, col));
        popup.push(s.request("textDocument/completion", uri, line, col));
        std::thread::sleep(gap);
    }
    (inline, popup)
}

/// Keystrokes every `gap` with a completion request each, written without waiting for answers
/// (an editor at 1 kHz); each answer's latency from the write of its request.
fn pipelined(s: &mut Session, uri: &str, line: u32, col: u32, n: usize, gap: Duration) -> Latencies {
    let mut sent: HashMap<u64, Instant> = HashMap::new();
    let mut out = Latencies::default();
    let mut col = col;
    let start = Instant::now();
    let handle = |lsp: &mut Lsp, msg: Value, at: Instant, sent: &mut HashMap<u64, Instant>, out: &mut Latencies| {
        if lsp.answer_server_request(&msg) {
            return;
        }
        if let Some(t) = msg.get("id").and_then(Value::as_u64).and_then(|id| sent.remove(&id)) {
            out.push(at - t);
        }
    };
    for i in 0..n {
        s.keystroke(uri, line, col, if i % 10 == 9 { " " } else { "x" });
        col += 1;
        let id = s.id();
        let t = s.lsp.send(json!({"jsonrpc": "2.0", "id": id, "method": "textDocument/completion",
            "params": {"textDocument": {"uri": uri}, "position": {"line": line, "character": col}}}));
        sent.insert(id, t);
        // Read what has arrived until the next keystroke is due.
        let due = start + gap * (i as u32 + 1);
        while let Some((at, msg)) = s.lsp.recv_until(due) {
            handle(&mut s.lsp, msg, at, &mut sent, &mut out);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sent.is_empty() {
        let Some((at, msg)) = s.lsp.recv_until(deadline) else { panic!("{} answers never came", sent.len()) };
        handle(&mut s.lsp, msg, at, &mut sent, &mut out);
    }
    if std::env::var_os("SWITCHBOARD_BENCH_TIMELINE").is_some() {
        let mut slow: Vec<(usize, Duration)> = out.rest.iter().copied().enumerate().collect();
        slow.sort_by_key(|(_, d)| std::cmp::Reverse(*d));
        eprintln!("slowest answers (keystroke, latency): {:?}", &slow[..slow.len().min(25)]);
    }
    out
}

fn line_of(text: &str, starts_with: &str, after: usize) -> u32 {
    text.lines().enumerate().skip(after).find(|(_, l)| l.starts_with(starts_with)).map(|(i, _)| i as u32).unwrap_or(0)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    // `cargo bench --bench typing -- 1khz` runs the scenarios whose name contains an argument.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let wanted = |name: &str| args.is_empty() || args.iter().any(|a| a == "typing" || name.contains(a.as_str()));
    if !["100k", "minified", "10k-docs", "1khz"].iter().any(|n| wanted(n)) {
        return;
    }
    let bin = binary();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let fake = FakeOpenAi::start(&rt, Duration::ZERO);
    fake.set_fallback(Some("value"));
    let mut rows = Vec::new();
    let gap = Duration::from_millis(20);

    if wanted("100k") {
        let mut s = Session::start(&bin, &fake, true);
        let text = rust_source(100_000, 0);
        let line = line_of(&text, "        total +=", 50_000);
        let t = Instant::now();
        s.open("file:///bench/big.rs", "rust", &text);
        s.sync("file:///bench/big.rs");
        rows.push(format!("didOpen of a 100,000-line file, until the next request is answered: {:?}", t.elapsed()));
        // At the end of a line, where inline completions are asked for (not inside a word).
        let col = text.lines().nth(line as usize).map_or(0, str::len) as u32;
        let upstream = fake.request_count();
        let (i, p) = type_into(&mut s, "file:///bench/big.rs", line, col, 300, gap);
        rows.push(format!(
            "100,000-line file: {} upstream requests for 300 keystrokes",
            fake.request_count() - upstream
        ));
        rows.push(i.line("100,000-line Rust file: inline completion", "< 50 ms"));
        rows.push(p.line("100,000-line Rust file: completion popup", "< 50 ms"));
    }
    if wanted("minified") {
        let mut s = Session::start(&bin, &fake, true);
        let text: String = "var a=".to_owned() + &(0..640_000).map(|i| format!("f{i}(x)+")).collect::<String>() + "0;";
        let t = Instant::now();
        s.open("file:///bench/app.min.js", "javascript", &text);
        s.sync("file:///bench/app.min.js");
        rows.push(format!(
            "didOpen of a {:.1} MB one-line file, until the next request is answered: {:?}",
            text.len() as f64 / 1e6,
            t.elapsed()
        ));
        let upstream = fake.request_count();
        let (i, p) = type_into(&mut s, "file:///bench/app.min.js", 0, text.len() as u32, 200, gap);
        rows.push(format!("7 MB line: {} upstream requests for 200 keystrokes", fake.request_count() - upstream));
        rows.push(i.line("7 MB one-line JavaScript file: inline completion", "< 50 ms"));
        rows.push(p.line("7 MB one-line JavaScript file: completion popup", "< 50 ms"));
    }
    if wanted("10k-docs") {
        let mut s = Session::start(&bin, &fake, true);
        let t = Instant::now();
        for i in 0..10_000 {
            s.open(&format!("file:///bench/many/f{i}.rs"), "rust", &rust_source(60, i));
        }
        let text = "fn main() {\n    let x = compute_to\n}\n";
        s.open("file:///bench/many/main.rs", "rust", text);
        s.sync("file:///bench/many/main.rs");
        rows.push(format!("10,000 didOpens, until the next request is answered: {:?}", t.elapsed()));
        let upstream = fake.request_count();
        let (i, p) = type_into(&mut s, "file:///bench/many/main.rs", 1, 22, 200, gap);
        rows.push(format!(
            "10,000 documents: {} upstream requests for 200 keystrokes",
            fake.request_count() - upstream
        ));
        rows.push(i.line("10,000 open documents: inline completion", "< 50 ms"));
        rows.push(p.line("10,000 open documents: completion popup", "< 50 ms"));
    }
    if wanted("1khz") {
        let text = rust_source(20_000, 3);
        let line = line_of(&text, "        total +=", 9_000);
        let col = text.lines().nth(line as usize).map_or(0, str::len) as u32;
        let settle = std::env::var("SWITCHBOARD_BENCH_SETTLE").ok().and_then(|v| v.parse().ok());
        for (with_key, what) in [(true, "model + local"), (false, "no key: local")] {
            // Each run a new server, typing from its didOpen on; the shared machine's noise moves
            // a single run's p99 by several milliseconds, so the run with the median p99 is shown.
            let mut runs = Vec::new();
            let upstream = fake.request_count();
            for _ in 0..KHZ_RUNS {
                let mut s = Session::start(&bin, &fake, with_key);
                s.open("file:///bench/mid.rs", "rust", &text);
                s.sync("file:///bench/mid.rs");
                if let Some(ms) = settle {
                    std::thread::sleep(Duration::from_millis(ms));
                }
                runs.push(pipelined(&mut s, "file:///bench/mid.rs", line, col, 2_000, Duration::from_millis(1)));
            }
            runs.sort_by_key(|l| l.quantile(0.99));
            let p99s: Vec<String> = runs.iter().map(|l| format!("{:.1}", ms(l.quantile(0.99)))).collect();
            rows.push(format!("1 kHz typing ({what}): p99 of the {KHZ_RUNS} runs {} ms", p99s.join(", ")));
            if with_key {
                let sent = (fake.request_count() - upstream) / KHZ_RUNS;
                rows.push(format!("1 kHz typing: {sent} upstream requests for 2,000 keystrokes (mean of the runs)"));
            }
            let mid = runs.len() / 2;
            rows.push(runs[mid].line(
                &format!("1 kHz typing, 20,000-line file, pipelined: completion popup ({what}), median run"),
                "p99 < 20 ms",
            ));
        }
    }
    rt.shutdown_background();

    println!("| scenario: request | requests after the first | first (ms) | p50 (ms) | p99 (ms) | max (ms) | goal |");
    println!("|---|---|---|---|---|---|---|");
    for r in rows.iter().filter(|r| r.starts_with('|')) {
        println!("{r}");
    }
    println!();
    for r in rows.iter().filter(|r| !r.starts_with('|')) {
        println!("- {r}");
    }
}
