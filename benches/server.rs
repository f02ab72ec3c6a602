//! Whole-server benchmarks against the release binary over stdio: process start to `initialize`
//! answered, and resident memory with 200 open 5,000-line files. Prints medians; figures are
//! recorded in BENCHMARKS.md. Run with `cargo bench --bench server` (builds the release binary).

mod common;

use std::{
    io::{BufRead, BufReader, Read, Write},
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

fn binary() -> std::path::PathBuf {
    let status = Command::new(env!("CARGO")).args(["build", "--release", "--quiet"]).status().expect("cargo build");
    assert!(status.success(), "cargo build --release failed");
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/switchboard")
}

struct Lsp {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Lsp {
    fn start(bin: &std::path::Path) -> Lsp {
        let home = std::env::temp_dir().join("switchboard-bench-home");
        let mut child = Command::new(bin)
            .env_clear()
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", &home)
            .env("SWITCHBOARD_LOG", "error")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn switchboard");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Lsp { child, stdin, stdout }
    }

    fn send(&mut self, msg: Value) {
        let body = msg.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write");
        self.stdin.flush().expect("flush");
    }

    fn recv(&mut self) -> Value {
        let mut len = 0;
        loop {
            let mut line = String::new();
            self.stdout.read_line(&mut line).expect("read header");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("Content-Length: ") {
                len = v.parse().expect("length");
            }
        }
        let mut body = vec![0; len];
        self.stdout.read_exact(&mut body).expect("read body");
        serde_json::from_slice(&body).expect("json")
    }

    fn request(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let msg = self.recv();
            if msg.get("id") == Some(&json!(id)) {
                return msg;
            }
        }
    }

    fn initialize(&mut self) {
        self.request(1, "initialize", json!({"capabilities": {"general": {"positionEncodings": ["utf-16"]}}}));
        self.send(json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}));
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Lsp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument that does not match skips us.
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
