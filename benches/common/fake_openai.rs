//! A fake OpenAI Responses server for the benchmarks: hand-written HTTP/1.1 with keep-alive on
//! 127.0.0.1, answering `POST …/responses` with the event sequence of
//! `tests/fixtures/openai-responses-text.sse` after a fixed latency.
//!
//! It is a perfect model: it finds `<CURSOR>` in the prompt, locates the cursor in the registered
//! source files by the text before it, and answers the rest of that line (what the user is about to
//! type). Each request is recorded with one monotonic clock (`Instant`), shared with the benchmark.

#![allow(dead_code)]

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

const FIXTURE: &str = include_str!("../../tests/fixtures/openai-responses-text.sse");
const CURSOR: &str = "<CURSOR>";
/// Bytes of the text before `<CURSOR>` first matched against the source files.
const WINDOW: usize = 200;
/// A request larger than this is refused (the fake never buffers without bound).
const MAX_REQUEST: usize = 4 << 20;

/// One `POST /responses`.
#[derive(Debug, Clone)]
pub struct Record {
    /// The request (headers and body) fully read.
    pub arrival: Instant,
    /// The last byte of the answer written (or the write that failed because the server hung up).
    pub last_byte: Option<Instant>,
    pub body_bytes: usize,
    /// What the fake answered.
    pub completion: String,
}

#[derive(Default)]
struct State {
    files: Vec<String>,
    records: Vec<Record>,
    /// Answer when the perfect model has nothing (no match, or nothing left on the line).
    fallback: Option<String>,
}

pub struct FakeOpenAi {
    pub port: u16,
    /// TCP connections accepted (keep-alive working: about one per concurrent request).
    pub connections: AtomicU64,
    latency_ms: AtomicU64,
    state: Mutex<State>,
    template: Vec<(String, Value)>,
}

impl FakeOpenAi {
    /// Binds 127.0.0.1:0 and serves on `rt`.
    pub fn start(rt: &tokio::runtime::Runtime, latency: Duration) -> Arc<FakeOpenAi> {
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind the fake upstream");
        let port = listener.local_addr().expect("local addr").port();
        let fake = Arc::new(FakeOpenAi {
            port,
            connections: AtomicU64::new(0),
            latency_ms: AtomicU64::new(latency.as_millis() as u64),
            state: Mutex::default(),
            template: parse_fixture(FIXTURE),
        });
        let f = fake.clone();
        rt.spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                f.connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve_connection(sock, f.clone()));
            }
        });
        fake
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    pub fn set_latency(&self, latency: Duration) {
        self.latency_ms.store(latency.as_millis() as u64, Ordering::Relaxed);
    }

    /// A source file the perfect model knows (the final text the user is typing toward).
    pub fn register(&self, text: &str) {
        self.lock().files.push(text.to_owned());
    }

    pub fn set_fallback(&self, answer: Option<&str>) {
        self.lock().fallback = answer.map(str::to_owned);
    }

    pub fn request_count(&self) -> usize {
        self.lock().records.len()
    }

    pub fn records(&self) -> Vec<Record> {
        self.lock().records.clone()
    }

    /// Records from `from` on, once each has its last byte written (waits at most `timeout`).
    pub fn settled_records(&self, from: usize, timeout: Duration) -> Vec<Record> {
        let deadline = Instant::now() + timeout;
        loop {
            let recs: Vec<Record> = self.lock().records[from..].to_vec();
            if recs.iter().all(|r| r.last_byte.is_some()) || Instant::now() >= deadline {
                return recs;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The perfect model: the rest of the cursor's line in the registered file.
    pub fn answer(&self, prompt: &str) -> String {
        let state = self.lock();
        let found = prompt.find(CURSOR).and_then(|c| locate(&state.files, &prompt[..c]));
        let rest = found.map(|(f, at)| {
            let text = &state.files[f][at..];
            text[..text.find('\n').unwrap_or(text.len())].to_owned()
        });
        match rest {
            Some(r) if !r.is_empty() => r,
            _ => state.fallback.clone().unwrap_or_default(),
        }
    }
}

/// Where in `files` the text `before` ends: the last `WINDOW` bytes matched, widened while the match
/// is ambiguous (then the last occurrence), narrowed when nothing matches (the prompt's context
/// header may precede a short prefix).
fn locate(files: &[String], before: &str) -> Option<(usize, usize)> {
    let tail = |n: usize| {
        let mut start = before.len().saturating_sub(n);
        while !before.is_char_boundary(start) {
            start += 1;
        }
        &before[start..]
    };
    let find_all = |needle: &str| -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (i, f) in files.iter().enumerate() {
            out.extend(f.match_indices(needle).map(|(at, _)| (i, at + needle.len())));
        }
        out
    };
    let mut n = WINDOW;
    let mut best = None;
    for _ in 0..16 {
        let needle = tail(n);
        if needle.is_empty() {
            return best;
        }
        let hits = find_all(needle);
        match hits.len() {
            0 if best.is_some() => return best,
            0 if n <= 16 => return None,
            0 => n /= 2,
            1 => return hits.last().copied(),
            _ => {
                best = hits.last().copied();
                if needle.len() == before.len() {
                    return best;
                }
                n *= 2;
            }
        }
    }
    best
}

fn parse_fixture(sse: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for block in sse.split("\n\n") {
        let mut name = None;
        let mut data = None;
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event: ") {
                name = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("data: ") {
                data = serde_json::from_str::<Value>(v).ok();
            }
        }
        if let (Some(n), Some(d)) = (name, data) {
            out.push((n, d));
        }
    }
    assert!(out.len() >= 9, "the fixture has the full event sequence");
    out
}

/// The fixture's events with `text` as the answer: its deltas replaced by `text` in pieces of a few
/// characters, the final texts and the usage filled in, sequence numbers renumbered.
fn events(template: &[(String, Value)], text: &str, input_tokens: u64) -> Vec<(String, Value)> {
    let mut pieces = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    for chunk in chars.chunks(4) {
        pieces.push(chunk.iter().collect::<String>());
    }
    let delta = template.iter().find(|(n, _)| n == "response.output_text.delta").expect("delta event").1.clone();
    let mut out = Vec::new();
    for (name, data) in template {
        match name.as_str() {
            "response.output_text.delta" => {
                if out.iter().any(|(n, _): &(String, Value)| n == name) {
                    continue;
                }
                for p in &pieces {
                    let mut d = delta.clone();
                    d["delta"] = json!(p);
                    out.push((name.clone(), d));
                }
                // No delta event for an empty answer.
                if pieces.is_empty() {
                    out.push((name.clone(), Value::Null));
                }
            }
            _ => {
                let mut d = data.clone();
                if name != "response.content_part.added" {
                    set_texts(&mut d, text);
                }
                if name == "response.completed" {
                    let output = pieces.len() as u64;
                    d["response"]["usage"] = json!({
                        "input_tokens": input_tokens,
                        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                        "output_tokens": output,
                        "output_tokens_details": {"reasoning_tokens": 0},
                        "total_tokens": input_tokens + output,
                    });
                }
                out.push((name.clone(), d));
            }
        }
    }
    out.retain(|(_, d)| !d.is_null());
    for (i, (_, d)) in out.iter_mut().enumerate() {
        d["sequence_number"] = json!(i);
    }
    out
}

/// Every `"text"` of an output_text part in `v` becomes `text`.
fn set_texts(v: &mut Value, text: &str) {
    match v {
        Value::Object(map) => {
            let is_text = map.get("type").and_then(Value::as_str) == Some("output_text")
                || map.get("type").and_then(Value::as_str) == Some("response.output_text.done");
            if is_text && map.contains_key("text") {
                map.insert("text".into(), json!(text));
            }
            for (_, child) in map.iter_mut() {
                set_texts(child, text);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|c| set_texts(c, text)),
        _ => {}
    }
}

fn chunk(out: &mut Vec<u8>, name: &str, data: &Value) {
    let payload = format!("event: {name}\ndata: {data}\n\n");
    out.extend_from_slice(format!("{:x}\r\n", payload.len()).as_bytes());
    out.extend_from_slice(payload.as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn serve_connection(mut sock: TcpStream, fake: Arc<FakeOpenAi>) {
    let _ = sock.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(16 << 10);
    let mut tmp = vec![0u8; 64 << 10];
    loop {
        // Headers.
        let head_end = loop {
            if let Some(p) = find(&buf, b"\r\n\r\n") {
                break p + 4;
            }
            if buf.len() > MAX_REQUEST {
                return;
            }
            match sock.read(&mut tmp).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.lines();
        let mut request_line = lines.next().unwrap_or("").split_whitespace();
        let method = request_line.next().unwrap_or("").to_owned();
        let path = request_line.next().unwrap_or("").to_owned();
        let mut length = 0usize;
        let mut close = false;
        for line in lines {
            let Some((k, v)) = line.split_once(':') else { continue };
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = v.trim().parse().unwrap_or(0),
                "connection" => close = v.trim().eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
        if length > MAX_REQUEST {
            return;
        }
        // Body.
        while buf.len() < head_end + length {
            match sock.read(&mut tmp).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        }
        let arrival = Instant::now();
        let body: Vec<u8> = buf.drain(..head_end + length).skip(head_end).collect();
        let ok = match (method.as_str(), path.as_str()) {
            ("POST", p) if p.ends_with("/responses") => respond(&mut sock, &fake, &body, arrival).await,
            ("HEAD", _) => sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await.is_ok(),
            _ => sock.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n").await.is_ok(),
        };
        if !ok || close {
            return;
        }
    }
}

/// Answers one `POST /responses`; false when the connection is gone.
async fn respond(sock: &mut TcpStream, fake: &FakeOpenAi, body: &[u8], arrival: Instant) -> bool {
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let prompt = request.pointer("/input/0/content/0/text").and_then(Value::as_str).unwrap_or("");
    let completion = fake.answer(prompt);
    let index = {
        let mut s = fake.lock();
        s.records.push(Record { arrival, last_byte: None, body_bytes: body.len(), completion: completion.clone() });
        s.records.len() - 1
    };
    let latency = fake.latency_ms.load(Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let events = events(&fake.template, &completion, body.len() as u64 / 4);
    // Head and the opening events in one write, each delta in its own write, the rest in one.
    let mut writes: Vec<Vec<u8>> = Vec::new();
    let mut current = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for (name, data) in &events {
        if name == "response.output_text.delta" {
            writes.push(std::mem::take(&mut current));
            chunk(&mut current, name, data);
            writes.push(std::mem::take(&mut current));
        } else {
            chunk(&mut current, name, data);
        }
    }
    current.extend_from_slice(b"0\r\n\r\n");
    writes.push(current);
    let mut ok = true;
    for w in writes.iter().filter(|w| !w.is_empty()) {
        if sock.write_all(w).await.is_err() {
            ok = false;
            break;
        }
    }
    let done = Instant::now();
    fake.lock().records[index].last_byte = Some(done);
    ok
}
