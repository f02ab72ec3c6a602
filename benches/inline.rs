//! Inline completions end to end: the release binary over stdio against a fake OpenAI Responses
//! upstream on 127.0.0.1 that answers as a perfect model (the rest of the line the user is about to
//! type), at a fixed latency.
//!
//! 1. Typing traces replayed from real files of this repository (Rust, Python, TypeScript): each file
//!    is opened truncated at a line, then the next lines are typed a keystroke at a time, each
//!    keystroke a `didChange` and an `inlineCompletion` whose answer is awaited (a user who reads the
//!    ghost text). Reports upstream requests per 100 keystrokes, cache-hit share, tokens sent per
//!    request, time-to-ghost-text minus upstream time, and typing-through latency; upstream latency
//!    0 ms and 100 ms.
//! 2. Server overhead per inline completion that goes upstream (issue 3): ≥ 300 requests at distinct
//!    line ends, each a cache miss, upstream latency 0 ms.
//! 3. Client patterns: the same files typed on a clock (a keystroke every 60 ms, a pause after each
//!    line break) against a 100 ms model, requests sent the way editors send them without waiting
//!    for answers: VS Code (`$/cancelRequest` for the pending request on every keystroke, the new
//!    request 10 ms later, or in the same write) and Neovim 0.12 (`vim.lsp.inline_completion`: one
//!    request 200 ms after the last keystroke, never cancelled while typing). Reports upstream
//!    requests per 100 keystrokes and the share of keystrokes with ghost text.
//!
//! All times come from one monotonic clock (`Instant`): the client, the fake and the report share
//! the process. Prints a table and writes the figures to BENCHMARKS.md.
//! Run with `cargo bench --bench inline` (builds the release binary); `-- traces`, `-- overhead` or
//! `-- clients` runs one part. For investigations: `SWITCHBOARD_BENCH_BIN=path` uses a prebuilt
//! binary (one with symbols, for `perf`), `SWITCHBOARD_BENCH_LOG=debug` keeps the server's log.
//! `SWITCHBOARD_BENCH_BASELINE=path` also replays the client patterns against that binary (an
//! earlier build) and reports its rows as "before"; `SWITCHBOARD_BENCH_CONFIG=path` gives the
//! server a user config file.

mod common;

use std::{
    fmt::Write as _,
    path::Path,
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use common::{
    fake_openai::FakeOpenAi,
    lsp::{Lsp, binary},
};
use serde_json::{Value, json};

/// (language id, file in this repository, first line typed (0-based)).
const TRACES: [(&str, &str, usize); 3] = [
    ("rust", "src/documents.rs", 255),
    ("python", "tests/e2e/harness/textmodel.py", 72),
    ("typescript", "editors/vscode/src/extension.ts", 55),
];
/// Lines typed per trace.
const TYPED_LINES: usize = 40;
/// Upstream latencies the traces run at.
const LATENCIES_MS: [u64; 2] = [0, 100];
/// Requests measured for the overhead figure, after the warm-up ones.
const OVERHEAD_REQUESTS: usize = 320;
const OVERHEAD_WARMUP: usize = 10;
/// Wall-clock budget for one trace; a slower one stops early and says so.
const TRACE_BUDGET: Duration = Duration::from_secs(30);
/// Client patterns: lines typed per file, the keystroke clock, the model's latency.
const CLIENT_LINES: usize = 8;
const KEY_GAP: Duration = Duration::from_millis(60);
/// The typist's pause after a line break (a steady 60 ms typist never lets Neovim's 200 ms
/// debounce fire); every pattern gets the same clock.
const LINE_PAUSE: Duration = Duration::from_millis(400);
const CLIENT_LATENCY: Duration = Duration::from_millis(100);
/// Neovim 0.12's fixed debounce (`vim.defer_fn(..., 200)`, restarted on every CursorMovedI).
const NEOVIM_DEBOUNCE: Duration = Duration::from_millis(200);
const SECTION_START: &str = "<!-- inline-bench:start -->";
const SECTION_END: &str = "<!-- inline-bench:end -->";

/// Figures of one trace (or a sum of traces).
#[derive(Default, Clone)]
struct Figures {
    keystrokes: usize,
    /// Keystrokes whose typed character was the first character of the ghost text shown before it.
    followed: usize,
    upstream: usize,
    cache_hits: usize,
    answered: usize,
    errors: usize,
    tokens: Vec<u64>,
    /// Time to ghost text minus upstream time, for keystrokes that went upstream (µs).
    added_us: Vec<f64>,
    /// Time to ghost text for keystrokes answered from the typing-through cache (µs).
    cache_us: Vec<f64>,
    /// Answered by the provider without an upstream request (a finished in-flight stream joined).
    joined: usize,
    joined_us: Vec<f64>,
    truncated: bool,
}

impl Figures {
    fn add(&mut self, o: &Figures) {
        self.keystrokes += o.keystrokes;
        self.followed += o.followed;
        self.upstream += o.upstream;
        self.cache_hits += o.cache_hits;
        self.answered += o.answered;
        self.errors += o.errors;
        self.tokens.extend(&o.tokens);
        self.added_us.extend(&o.added_us);
        self.cache_us.extend(&o.cache_us);
        self.joined += o.joined;
        self.joined_us.extend(&o.joined_us);
        self.truncated |= o.truncated;
    }
}

fn percentile(v: &[f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    Some(s[rank.clamp(1, s.len()) - 1])
}

fn ms(v: Option<f64>) -> String {
    v.map_or("–".into(), |us| format!("{:.2}", us / 1000.0))
}

fn pct(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { 100.0 * a as f64 / b as f64 }
}

/// A running server with a clean environment pointed at the fake.
struct Session {
    lsp: Lsp,
    _dir: tempfile::TempDir,
    next_id: u64,
}

impl Session {
    fn start(bin: &Path, fake: &FakeOpenAi) -> Session {
        let dir = tempfile::tempdir().expect("temp dir");
        let sub = |name: &str| {
            let p = dir.path().join(name);
            std::fs::create_dir_all(&p).expect("mkdir");
            p.to_string_lossy().into_owned()
        };
        // A port that was just free: the Anthropic client finds nothing there.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
        let log = std::env::var("SWITCHBOARD_BENCH_LOG").ok();
        let mut env = vec![
            ("HOME", sub("home")),
            ("XDG_CONFIG_HOME", sub("config")),
            ("XDG_DATA_HOME", sub("data")),
            ("XDG_STATE_HOME", sub("state")),
            ("XDG_CACHE_HOME", sub("cache")),
            ("OPENAI_BASE_URL", fake.base_url()),
            ("OPENAI_API_KEY", "bench".into()),
            ("ANTHROPIC_BASE_URL", format!("http://127.0.0.1:{closed}")),
            ("SWITCHBOARD_LOG", log.clone().unwrap_or_else(|| "error".into())),
        ];
        env.push(("NO_PROXY", "*".into()));
        // SWITCHBOARD_BENCH_CONFIG=path: a user config for the server (e.g. another cancel grace).
        if let Ok(config) = std::env::var("SWITCHBOARD_BENCH_CONFIG") {
            env.push(("SWITCHBOARD_CONFIG", config));
        }
        // For investigations: SWITCHBOARD_BENCH_LOG=debug writes the server's log to $TMPDIR.
        let stderr = match &log {
            Some(_) => {
                let path = std::env::temp_dir().join(format!("switchboard-inline-bench-{}.log", fake.port));
                eprintln!("server log: {}", path.display());
                Stdio::from(std::fs::File::create(path).expect("log file"))
            }
            None => Stdio::null(),
        };
        let work = sub("work");
        let mut lsp = Lsp::spawn(bin, &env, Some(Path::new(&work)), stderr);
        lsp.initialize_with(json!({
            "general": {"positionEncodings": ["utf-16"]},
            "textDocument": {"inlineCompletion": {"dynamicRegistration": false}},
            "experimental": {"switchboard": {"status": true}},
        }));
        Session { lsp, _dir: dir, next_id: 100 }
    }

    fn open(&mut self, uri: &str, language: &str, text: &str) {
        self.lsp.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": language, "version": 1, "text": text}}),
        );
        // Answered only once the notification before it is handled.
        let id = self.id();
        self.lsp.request(id, "switchboard/documentText", json!({"textDocument": {"uri": uri}}));
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// One inline request at `pos`; returns (send moment, receive moment, response, provider named
    /// by the `switchboard/status` notification that came with an answer).
    fn inline(&mut self, uri: &str, pos: (usize, usize)) -> (Instant, Instant, Value, Option<String>) {
        let id = self.id();
        let mut provider = None;
        let params = json!({
            "textDocument": {"uri": uri},
            "position": {"line": pos.0, "character": pos.1},
            "context": {"triggerKind": 2},
        });
        let status = |m: &Value| {
            (m.get("method").and_then(Value::as_str) == Some("switchboard/status"))
                .then(|| m.pointer("/params/provider").and_then(Value::as_str).map(str::to_owned))
        };
        let (sent, at, msg) = self.lsp.request_with(id, "textDocument/inlineCompletion", params, |m| {
            if let Some(p) = status(m) {
                provider = p;
            }
        });
        // The notification is sent before the answer but may overtake it or trail it: an answer
        // always has one, so wait for it (bounded) to keep it from being taken for the next one's.
        if ghost(&msg).is_some() && provider.is_none() {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                let (_, m) = self.lsp.recv_timed(left, "the switchboard/status notification of an answer");
                if self.lsp.answer_server_request(&m) {
                    continue;
                }
                if let Some(p) = status(&m) {
                    provider = p;
                    break;
                }
            }
        }
        (sent, at, msg, provider)
    }
}

/// The ghost text of an inlineCompletion response.
fn ghost(msg: &Value) -> Option<String> {
    let result = msg.get("result")?;
    let items = result.get("items").or(Some(result)).and_then(Value::as_array)?;
    let text = items.first()?.get("insertText")?;
    text.as_str().or_else(|| text.get("value").and_then(Value::as_str)).map(str::to_owned)
}

/// Keystrokes for typing `text` at a line start: the line's indentation as one keystroke (editors
/// indent on Enter), then each character; a line break is one keystroke with the next line's
/// indentation.
fn keystrokes(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut at_line_start = true;
    while let Some(c) = chars.next() {
        let mut k = String::from(c);
        if c == '\n' || at_line_start && (c == ' ' || c == '\t') {
            while let Some(&n) = chars.peek().filter(|n| **n == ' ' || **n == '\t') {
                k.push(n);
                chars.next();
            }
        }
        at_line_start = c == '\n';
        out.push(k);
    }
    out
}

/// Advances an LSP position (utf-16) over inserted text.
fn advance(pos: &mut (usize, usize), text: &str) {
    for c in text.chars() {
        if c == '\n' {
            *pos = (pos.0 + 1, 0);
        } else {
            pos.1 += c.len_utf16();
        }
    }
}

fn trace(s: &mut Session, fake: &FakeOpenAi, language: &str, path: &str, first: usize) -> Figures {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(root.join(path)).expect("trace source").replace("\r\n", "\n");
    fake.register(&source);
    let starts: Vec<usize> = std::iter::once(0)
        .chain(source.match_indices('\n').map(|(i, _)| i + 1))
        .filter(|&i| i < source.len())
        .collect();
    let first = first.min(starts.len().saturating_sub(TYPED_LINES + 1));
    let start = starts[first];
    let end = starts.get(first + TYPED_LINES).map_or(source.len(), |&e| e - 1);
    let keys = keystrokes(&source[start..end]);
    let uri = format!("file:///bench/{}", path.rsplit('/').next().unwrap_or(path));
    s.open(&uri, language, &source[..start]);

    let mut fig = Figures::default();
    let mut pos = (first, 0);
    let mut version = 1;
    let mut shown: Option<String> = None;
    // SWITCHBOARD_BENCH_KEYLOG=path appends one line per keystroke: what was typed, who answered.
    let keylog_path = std::env::var_os("SWITCHBOARD_BENCH_KEYLOG");
    let mut keylog = keylog_path.as_ref().map(|_| String::new());
    let began = Instant::now();
    for (i, key) in keys.iter().enumerate() {
        if began.elapsed() > TRACE_BUDGET {
            fig.truncated = true;
            break;
        }
        if shown.as_deref().and_then(|g| g.chars().next()) == key.chars().next() {
            fig.followed += 1;
        }
        version += 1;
        let at = json!({"line": pos.0, "character": pos.1});
        let before = fake.request_count();
        let sent = s.lsp.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version},
                   "contentChanges": [{"range": {"start": at, "end": at}, "text": key}]}),
        );
        advance(&mut pos, key);
        let (_, received, msg, provider) = s.inline(&uri, pos);
        fig.keystrokes += 1;
        if msg.get("error").is_some() {
            fig.errors += 1;
        }
        shown = ghost(&msg);
        fig.answered += usize::from(shown.is_some());
        let records = fake.settled_records(before, Duration::from_secs(2));
        let total = received.duration_since(sent).as_secs_f64() * 1e6;
        if let (Some(first), Some(last)) = (records.first(), records.iter().filter_map(|r| r.last_byte).max()) {
            fig.upstream += records.len();
            fig.tokens.extend(records.iter().map(|r| r.body_bytes as u64 / 4));
            let upstream = last.duration_since(first.arrival).as_secs_f64() * 1e6;
            fig.added_us.push(total - upstream);
        } else if provider.as_deref() == Some("cache") {
            fig.cache_us.push(total);
        } else if provider.is_some() && shown.is_some() {
            fig.joined += 1;
            fig.joined_us.push(total);
        }
        fig.cache_hits += usize::from(provider.as_deref() == Some("cache"));
        if let Some(log) = keylog.as_mut() {
            let _ = writeln!(
                log,
                "{language}\t{}:{}\t{key:?}\t{}\tupstream={:?}\tghost={:?}\t{:.0}us",
                pos.0,
                pos.1,
                provider.as_deref().unwrap_or("-"),
                records.iter().map(|r| &r.completion).collect::<Vec<_>>(),
                shown,
                total
            );
        }
        if i + 1 == keys.len() {
            break;
        }
    }
    s.lsp.notify("textDocument/didClose", json!({"textDocument": {"uri": uri}}));
    if let (Some(path), Some(log)) = (keylog_path, keylog) {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("keylog");
        f.write_all(log.as_bytes()).expect("write keylog");
    }
    fig
}

#[derive(Default)]
struct Overhead {
    /// (response received − request sent) − (last upstream byte − upstream request read), µs.
    samples: Vec<f64>,
    /// Request sent → upstream request read, µs.
    request_out: Vec<f64>,
    /// Last upstream byte → response received, µs.
    response_out: Vec<f64>,
    missed: usize,
    cached: usize,
}

/// Server overhead per inline completion that goes upstream: requests at the ends of distinct lines
/// (each a cache miss), upstream latency 0 ms.
fn overhead(bin: &Path, fake: &FakeOpenAi) -> Overhead {
    let mut text = String::from("pub fn checksums(input: u64) -> u64 {\n");
    let n = OVERHEAD_WARMUP + OVERHEAD_REQUESTS;
    for i in 0..n {
        let _ = writeln!(text, "    let value_{i} = input.wrapping_mul({}).rotate_left({});", 2 * i + 1, i % 61);
    }
    text.push_str("    input\n}\n");
    // The perfect model has nothing left on these lines; it answers a trailing comment instead.
    fake.register(&text);
    fake.set_fallback(Some(" // checked"));
    let mut s = Session::start(bin, fake);
    let uri = "file:///bench/overhead.rs";
    s.open(uri, "rust", &text);
    let lines: Vec<&str> = text.lines().collect();
    let mut o = Overhead::default();
    for i in 0..n {
        let line = i + 1;
        let col = lines[line].encode_utf16().count();
        let before = fake.request_count();
        let (sent, received, _, provider) = s.inline(uri, (line, col));
        let records = fake.settled_records(before, Duration::from_secs(2));
        if i < OVERHEAD_WARMUP {
            continue;
        }
        o.cached += usize::from(provider.as_deref() == Some("cache"));
        match (records.first(), records.iter().filter_map(|r| r.last_byte).max()) {
            (Some(first), Some(last)) => {
                let us = |d: Duration| d.as_secs_f64() * 1e6;
                let total = us(received.duration_since(sent));
                o.samples.push(total - us(last.duration_since(first.arrival)));
                o.request_out.push(us(first.arrival.duration_since(sent)));
                o.response_out.push(us(received.duration_since(last)));
            }
            _ => o.missed += 1,
        }
    }
    fake.set_fallback(None);
    o
}

/// How an editor sends inline requests while the user types.
#[derive(Clone, Copy, Debug)]
enum Client {
    /// VS Code + vscode-languageclient: on each keystroke the `didChange`, `$/cancelRequest` for
    /// the pending request, and the new request `gap` later (VS Code's debounce); with a zero gap
    /// all three go out in one write, so the server reads them in one batch.
    VsCode { gap: Duration },
    /// Neovim 0.12: a request 200 ms after the last keystroke (the timer restarts on every
    /// CursorMovedI), no `$/cancelRequest` while typing; between answers it keeps showing the last
    /// item with what was typed since skipped.
    Neovim,
}

impl Client {
    fn label(self) -> String {
        match self {
            Client::VsCode { gap } if gap.is_zero() => "VS Code, cancel + request in one write".into(),
            Client::VsCode { gap } => format!("VS Code, request {} ms after the cancel", gap.as_millis()),
            Client::Neovim => "Neovim 0.12 (200 ms debounce, no cancel)".into(),
        }
    }
}

const CLIENTS: [Client; 3] =
    [Client::VsCode { gap: Duration::from_millis(10) }, Client::VsCode { gap: Duration::ZERO }, Client::Neovim];

#[derive(Default, Clone)]
struct ClientFigures {
    keystrokes: usize,
    requests: usize,
    upstream: usize,
    /// Answered `-32800` (cancelled or superseded).
    cancelled: usize,
    errors: usize,
    /// A non-empty answer for the keystroke's own version arrived before the next keystroke.
    ghost: usize,
    /// What the client shows before the next keystroke is a suggestion consistent with what was
    /// typed (Neovim: its last item minus the text typed since; VS Code: as `ghost`).
    shown: usize,
    unanswered: usize,
}

impl ClientFigures {
    fn add(&mut self, o: &ClientFigures) {
        self.keystrokes += o.keystrokes;
        self.requests += o.requests;
        self.upstream += o.upstream;
        self.cancelled += o.cancelled;
        self.errors += o.errors;
        self.ghost += o.ghost;
        self.shown += o.shown;
        self.unanswered += o.unanswered;
    }
}

/// One answer: the keystroke its request was sent after, when it arrived, and its ghost text.
struct Answer {
    key: usize,
    at: Instant,
    ghost: Option<String>,
}

/// Reads messages until `deadline`, filing answers to our requests (`sent`: id → keystroke).
fn pump(
    s: &mut Session,
    deadline: Instant,
    sent: &std::collections::HashMap<u64, usize>,
    fig: &mut ClientFigures,
    answers: &mut Vec<Answer>,
) {
    while let Some((at, msg)) = s.lsp.recv_until(deadline) {
        if s.lsp.answer_server_request(&msg) {
            continue;
        }
        let Some(&key) = msg.get("id").and_then(Value::as_u64).and_then(|id| sent.get(&id)) else { continue };
        match msg.pointer("/error/code").and_then(Value::as_i64) {
            Some(-32800) => fig.cancelled += 1,
            Some(_) => fig.errors += 1,
            None => answers.push(Answer { key, at, ghost: ghost(&msg).filter(|g| !g.is_empty()) }),
        }
    }
}

/// Types `CLIENT_LINES` lines of a file on the keystroke clock, sending requests as `client` does.
fn client_trace(
    s: &mut Session,
    fake: &FakeOpenAi,
    client: Client,
    language: &str,
    path: &str,
    first: usize,
) -> ClientFigures {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(root.join(path)).expect("trace source").replace("\r\n", "\n");
    let starts: Vec<usize> = std::iter::once(0)
        .chain(source.match_indices('\n').map(|(i, _)| i + 1))
        .filter(|&i| i < source.len())
        .collect();
    let first = first.min(starts.len().saturating_sub(CLIENT_LINES + 1));
    let start = starts[first];
    let end = starts.get(first + CLIENT_LINES).map_or(source.len(), |&e| e - 1);
    let keys = keystrokes(&source[start..end]);
    let uri = format!("file:///bench/clients/{}", path.rsplit('/').next().unwrap_or(path));
    s.open(&uri, language, &source[..start]);

    // The clock: a keystroke every KEY_GAP, LINE_PAUSE more after a line break.
    let mut times = Vec::with_capacity(keys.len() + 1);
    let mut t = Instant::now() + Duration::from_millis(50);
    for key in &keys {
        times.push(t);
        t += if key.starts_with('\n') { KEY_GAP + LINE_PAUSE } else { KEY_GAP };
    }
    times.push(t);
    let mut fig = ClientFigures { keystrokes: keys.len(), ..ClientFigures::default() };
    let mut sent = std::collections::HashMap::new();
    let mut answers = Vec::new();
    let mut pending: Option<u64> = None;
    let mut pos = (first, 0);
    let before = fake.request_count();
    for (k, key) in keys.iter().enumerate() {
        pump(s, times[k], &sent, &mut fig, &mut answers);
        let at = json!({"line": pos.0, "character": pos.1});
        let change = json!({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
            "textDocument": {"uri": uri, "version": k + 2},
            "contentChanges": [{"range": {"start": at, "end": at}, "text": key}]}});
        advance(&mut pos, key);
        let id = s.id();
        let request = json!({"jsonrpc": "2.0", "id": id, "method": "textDocument/inlineCompletion", "params": {
            "textDocument": {"uri": uri}, "position": {"line": pos.0, "character": pos.1},
            "context": {"triggerKind": 2}}});
        match client {
            Client::VsCode { gap } => {
                let mut batch = vec![change];
                if let Some(p) = pending.take().filter(|p| !answers.iter().any(|a| sent.get(p) == Some(&a.key))) {
                    batch.push(json!({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": p}}));
                }
                if gap.is_zero() {
                    batch.push(request);
                    s.lsp.send_all(&batch);
                } else {
                    s.lsp.send_all(&batch);
                    pump(s, times[k] + gap, &sent, &mut fig, &mut answers);
                    s.lsp.send(request);
                }
                sent.insert(id, k);
                pending = Some(id);
            }
            Client::Neovim => {
                s.lsp.send(change);
                // The debounce fires only when the next keystroke is more than 200 ms away.
                if times[k + 1].duration_since(times[k]) > NEOVIM_DEBOUNCE {
                    pump(s, times[k] + NEOVIM_DEBOUNCE, &sent, &mut fig, &mut answers);
                    s.lsp.send(request);
                    sent.insert(id, k);
                }
            }
        }
    }
    // Let the last answers arrive.
    let last = *times.last().unwrap_or(&Instant::now());
    pump(s, last + Duration::from_millis(1500), &sent, &mut fig, &mut answers);
    fig.requests = sent.len();
    fig.unanswered = sent.len() - answers.len() - fig.cancelled - fig.errors;
    fig.upstream = fake.settled_records(before, Duration::from_secs(2)).len();

    // SWITCHBOARD_BENCH_KEYLOG=path appends one line per keystroke here too: what was typed, what
    // the client had to show before the next keystroke.
    let mut keylog = std::env::var_os("SWITCHBOARD_BENCH_KEYLOG").map(|p| (p, String::new()));
    for k in 0..keys.len() {
        let next = times[k + 1];
        fig.ghost += usize::from(answers.iter().any(|a| a.key == k && a.at < next && a.ghost.is_some()));
        // The last answer (with items) the client has before the next keystroke, re-rendered
        // over what was typed since its request.
        let shown = answers.iter().filter(|a| a.at < next && a.key <= k && a.ghost.is_some()).max_by_key(|a| a.at);
        let consistent = shown.is_some_and(|a| {
            let typed: String = keys[a.key + 1..=k].concat();
            a.ghost.as_deref().is_some_and(|g| g.len() > typed.len() && g.starts_with(&typed))
        });
        let own = answers.iter().any(|a| a.key == k && a.at < next && a.ghost.is_some());
        fig.shown += usize::from(match client {
            Client::VsCode { .. } => own,
            Client::Neovim => consistent,
        });
        if let Some((_, log)) = keylog.as_mut() {
            let _ = writeln!(
                log,
                "{}\t{k}\t{:?}\town={own}\tconsistent={consistent}\tlast={:?}",
                client.label(),
                keys[k],
                shown.map(|a| (a.key, a.ghost.as_deref().unwrap_or_default())),
            );
        }
    }
    if let Some((path, log)) = keylog {
        use std::io::Write as _;
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(log.as_bytes()));
    }
    s.lsp.notify("textDocument/didClose", json!({"textDocument": {"uri": uri}}));
    fig
}

/// Every client pattern over the three files, against `bin`; one table row per pattern.
fn clients(bin: &Path, fake: &FakeOpenAi, run: &str, out: &mut String) -> Vec<(Client, ClientFigures)> {
    let mut rows = Vec::new();
    for client in CLIENTS {
        let mut s = Session::start(bin, fake);
        let mut total = ClientFigures::default();
        for (language, path, first) in TRACES {
            total.add(&client_trace(&mut s, fake, client, language, path, first));
        }
        let f = &total;
        let _ = writeln!(
            out,
            "| {run} | {} | {} | {} | **{:.1}** | {} | **{:.0}%** | {:.0}% | {} |",
            client.label(),
            f.keystrokes,
            f.requests,
            pct(f.upstream, f.keystrokes),
            f.cancelled,
            pct(f.ghost, f.keystrokes),
            pct(f.shown, f.keystrokes),
            f.errors + f.unanswered,
        );
        rows.push((client, total));
    }
    rows
}

fn row(out: &mut String, run: &str, lang: &str, f: &Figures) {
    let tokens = {
        let mut t = f.tokens.clone();
        t.sort();
        t.get(t.len() / 2).map_or("–".into(), |m| m.to_string())
    };
    let _ = writeln!(
        out,
        "| {run} | {lang}{} | {} | {:.0}% | {:.1} | {:.1}% | {:.1}% ({} ms) | {} | {} / {} | {} / {} |",
        if f.truncated { " (cut short)" } else { "" },
        f.keystrokes,
        pct(f.followed, f.keystrokes),
        pct(f.upstream, f.keystrokes),
        pct(f.cache_hits, f.keystrokes),
        pct(f.joined, f.keystrokes),
        ms(percentile(&f.joined_us, 50.0)),
        tokens,
        ms(percentile(&f.added_us, 50.0)),
        ms(percentile(&f.added_us, 99.0)),
        ms(percentile(&f.cache_us, 50.0)),
        ms(percentile(&f.cache_us, 99.0)),
    );
}

/// Civil date (UTC) of now, without a date crate.
fn today() -> String {
    let days = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400) as i64;
    // Howard Hinnant's days_from_civil, inverted.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn write_benchmarks_md(section: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    let old = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n".into());
    let block = format!("{SECTION_START}\n{section}{SECTION_END}\n");
    let new = match (old.find(SECTION_START), old.find(SECTION_END)) {
        (Some(a), Some(b)) if a < b => {
            format!("{}{block}{}", &old[..a], old[b + SECTION_END.len()..].trim_start_matches('\n'))
        }
        _ => format!("{}\n{block}", old.trim_end_matches('\n').to_owned() + "\n"),
    };
    std::fs::write(&path, new).expect("write BENCHMARKS.md");
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` does not, and must not spend
    // minutes here. A filter argument that does not match skips us too.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    // `-- traces` or `-- overhead` runs one part (and leaves BENCHMARKS.md alone).
    let part = |name: &str| args.iter().any(|a| a == name);
    let parts = ["traces", "overhead", "clients"];
    if !args.is_empty() && !args.iter().any(|a| "inline".contains(a.as_str())) && !parts.iter().any(|p| part(p)) {
        return;
    }
    let all = !parts.iter().any(|p| part(p));
    let (run_traces, run_overhead, run_clients) =
        (all || part("traces"), all || part("overhead"), all || part("clients"));
    // SWITCHBOARD_BENCH_BIN: a prebuilt binary (e.g. one with symbols, for a profiler).
    let bin = std::env::var_os("SWITCHBOARD_BENCH_BIN").map_or_else(binary, std::path::PathBuf::from);
    let began = Instant::now();
    // How busy the machine was when the run began: the figures move with it.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime for the fake upstream");

    let mut table = String::from(
        "| upstream latency | language | keystrokes | typed what was suggested | upstream requests / 100 keystrokes | cache hits (share of keystrokes) | other answers without an upstream request (p50) | tokens sent / request (median) | time to ghost text − upstream, p50 / p99 (ms) | typing-through, p50 / p99 (ms) |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut errors = 0;
    let mut notes = String::new();
    let mut all_runs = Vec::new();
    for latency in LATENCIES_MS.into_iter().filter(|_| run_traces) {
        let fake: Arc<FakeOpenAi> = FakeOpenAi::start(&rt, Duration::from_millis(latency));
        let mut s = Session::start(&bin, &fake);
        let mut total = Figures::default();
        for (language, path, first) in TRACES {
            let f = trace(&mut s, &fake, language, path, first);
            row(&mut table, &format!("{latency} ms"), language, &f);
            total.add(&f);
        }
        row(&mut table, &format!("{latency} ms"), "**all**", &total);
        let _ = writeln!(
            notes,
            "- {latency} ms: the fake accepted {} TCP connections for {} upstream requests.",
            fake.connections.load(std::sync::atomic::Ordering::Relaxed),
            fake.request_count()
        );
        errors += total.errors;
        all_runs.push((latency, total));
    }

    let fake = FakeOpenAi::start(&rt, Duration::ZERO);
    let o = if run_overhead { overhead(&bin, &fake) } else { Overhead::default() };
    let connections = fake.connections.load(std::sync::atomic::Ordering::Relaxed);
    let requests = fake.request_count();
    let p = |v: &[f64]| format!("p50 {} ms, p99 {} ms", ms(percentile(v, 50.0)), ms(percentile(v, 99.0)));
    let overhead_line = format!(
        "Server overhead per inline completion (request in → upstream request out, plus last upstream byte → response out), upstream latency 0 ms, {} requests at distinct line ends ({} cache hits, {} not sent upstream; after {} warm-up requests): **{}** (goal p50 < 1 ms, p99 < 5 ms). Split: request sent → upstream request read {}; last upstream byte → response read {}. The fake accepted {} TCP connections for {} requests.\n",
        o.samples.len(),
        o.cached,
        o.missed,
        OVERHEAD_WARMUP,
        p(&o.samples),
        p(&o.request_out),
        p(&o.response_out),
        connections,
        requests,
    );
    let mut client_table = String::from(
        "| build | client pattern | keystrokes | requests sent | upstream requests / 100 keystrokes | answered -32800 | keystrokes with ghost text (an answer for their version before the next keystroke) | keystrokes showing a consistent suggestion (Neovim re-renders its last item) | errors or unanswered |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut client_rows = Vec::new();
    if run_clients {
        if let Some(baseline) = std::env::var_os("SWITCHBOARD_BENCH_BASELINE") {
            let fake = FakeOpenAi::start(&rt, CLIENT_LATENCY);
            for (_, path, _) in TRACES {
                fake.register(
                    &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
                        .expect("source")
                        .replace("\r\n", "\n"),
                );
            }
            clients(Path::new(&baseline), &fake, "before", &mut client_table);
        }
        let fake = FakeOpenAi::start(&rt, CLIENT_LATENCY);
        for (_, path, _) in TRACES {
            fake.register(
                &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
                    .expect("source")
                    .replace("\r\n", "\n"),
            );
        }
        client_rows = clients(&bin, &fake, "this build", &mut client_table);
    }
    rt.shutdown_background();

    println!("\nInline completions against a perfect-model fake upstream\n");
    if run_clients {
        println!("{client_table}");
    }
    if run_traces {
        println!("{table}\n{notes}");
    }
    if run_overhead {
        println!("{overhead_line}");
    }
    if errors > 0 {
        println!("note: {errors} inline requests were answered with an error");
    }
    println!("total run time {:.1} s", began.elapsed().as_secs_f64());

    let mut section = String::new();
    let _ = write!(
        section,
        "## Inline completions (`cargo bench --bench inline`)\n\n\
         Measured {} on {cores} cores, load average {load} when the run began. Command: `cargo bench --bench inline`.\n\n\
         The release binary over stdio against a fake OpenAI Responses server on 127.0.0.1 (hand-written HTTP/1.1, \
         keep-alive, TCP_NODELAY, the event sequence of `tests/fixtures/openai-responses-text.sse`) that answers as a \
         perfect model: the rest of the line the user is about to type. Typing traces: {TYPED_LINES} lines of \
         `src/documents.rs` (Rust), `tests/e2e/harness/textmodel.py` (Python) and `editors/vscode/src/extension.ts` \
         (TypeScript), each opened truncated at a line and typed a keystroke at a time (Enter inserts the next line's \
         indentation, as editors do); every keystroke is an incremental `didChange` (UTF-16 positions) and an \
         `inlineCompletion` (automatic trigger) whose answer is awaited before the next keystroke. \
         \"Time to ghost text − upstream\" is (response received − `didChange` sent) − (last upstream byte written − \
         upstream request read), over keystrokes that went upstream; typing-through is the whole round trip of \
         keystrokes answered from the cache (`switchboard/status` provider `cache`). Tokens ≈ request body bytes / 4. \
         Goals: ≤ 25 upstream requests per 100 keystrokes, added latency p50 < 2 ms, typing-through p50 < 1 ms.\n\n{table}\n{notes}\n{overhead_line}\n\
         For context only (not our measurement): on a similar fake, lsp-ai measured 5–6.6 ms and llm-ls about 1.1 ms \
         median overhead per completion.\n\n\
         ### Client patterns (`cargo bench --bench inline -- clients`)\n\n\
         The same files ({CLIENT_LINES} lines each) typed on a clock — a keystroke every {} ms, {} ms more after a line \
         break — against the same perfect model answering after {} ms, with requests sent the way the editors send \
         them, without waiting for answers. VS Code (vscode-languageclient 11): on every keystroke the `didChange`, \
         `$/cancelRequest` for the pending request, and the new request 10 ms later (or all three in one write: the \
         cancel/request race). Neovim 0.12 (`runtime/lua/vim/lsp/inline_completion.lua`): a request {} ms after the \
         last keystroke (its timer restarts on every CursorMovedI, so requests go out in pauses), never cancelled while \
         typing (only InsertLeave cancels); between answers it shows its last item minus what was typed since. \
         \"before\" rows: the same replay against an earlier build (`SWITCHBOARD_BENCH_BASELINE`). \
         Goal: ≤ 25 upstream requests per 100 keystrokes and ghost text on most keystrokes in every pattern.\n\n{client_table}\n",
        today(),
        KEY_GAP.as_millis(),
        LINE_PAUSE.as_millis(),
        CLIENT_LATENCY.as_millis(),
        NEOVIM_DEBOUNCE.as_millis(),
    );
    if run_traces && run_overhead && run_clients {
        write_benchmarks_md(&section);
        println!("figures written to BENCHMARKS.md");
    }
    for (latency, total) in all_runs {
        assert!(total.keystrokes > 0, "no keystrokes at {latency} ms");
    }
    for (client, f) in client_rows {
        assert!(f.keystrokes > 0, "no keystrokes for {client:?}");
    }
}
