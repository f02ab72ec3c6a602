//! An LSP-over-stdio client for the release binary, shared by the benchmarks.
//!
//! A reader thread parses frames from the server's stdout and stamps each with the moment it was
//! read, so receive times do not include the hand-off to the benchmark thread, and every receive
//! has a timeout: a hung server fails the benchmark with a message instead of hanging it.

#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

/// How long any single message may take to arrive before the benchmark gives up.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(15);

/// Builds the release binary (a no-op when it is up to date) and returns its path.
pub fn binary() -> PathBuf {
    // For profiling: a binary built elsewhere (say with symbols), used as it is.
    if let Some(bin) = std::env::var_os("SWITCHBOARD_BENCH_BIN") {
        return PathBuf::from(bin);
    }
    let status = Command::new(env!("CARGO")).args(["build", "--release", "--quiet"]).status().expect("cargo build");
    assert!(status.success(), "cargo build --release failed");
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/switchboard")
}

pub struct Lsp {
    child: Child,
    stdin: ChildStdin,
    rx: mpsc::Receiver<(Instant, Value)>,
}

impl Lsp {
    /// The server with an empty environment but a scratch HOME.
    pub fn start(bin: &Path) -> Lsp {
        let home = std::env::temp_dir().join("switchboard-bench-home");
        let home = home.to_string_lossy().into_owned();
        let env = [("HOME", home.clone()), ("XDG_CONFIG_HOME", home), ("SWITCHBOARD_LOG", "error".into())];
        Lsp::spawn(bin, &env, None, Stdio::null())
    }

    /// The server with exactly `env` as its environment, started in `cwd` when given, its log
    /// (stderr) going to `stderr`.
    pub fn spawn(bin: &Path, env: &[(&str, String)], cwd: Option<&Path>, stderr: Stdio) -> Lsp {
        let mut cmd = Command::new(bin);
        cmd.env_clear().stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(stderr);
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(dir) = cwd {
            cmd.current_dir(dir);
        }
        let mut child = cmd.spawn().expect("spawn switchboard");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || read_frames(stdout, tx));
        Lsp { child, stdin, rx }
    }

    /// Writes one message; returns the moment just before the write.
    pub fn send(&mut self, msg: Value) -> Instant {
        let body = msg.to_string();
        let frame = format!("Content-Length: {}\r\n\r\n{body}", body.len());
        let t = Instant::now();
        self.stdin.write_all(frame.as_bytes()).expect("write to the server");
        self.stdin.flush().expect("flush");
        t
    }

    /// Writes several messages in one write (the server reads them in one batch); returns the
    /// moment just before the write.
    pub fn send_all(&mut self, msgs: &[Value]) -> Instant {
        let mut frames = String::new();
        for msg in msgs {
            let body = msg.to_string();
            frames.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        }
        let t = Instant::now();
        self.stdin.write_all(frames.as_bytes()).expect("write to the server");
        self.stdin.flush().expect("flush");
        t
    }

    /// The next message if one arrives before `deadline`.
    pub fn recv_until(&mut self, deadline: Instant) -> Option<(Instant, Value)> {
        match self.rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(m) => Some(m),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = self.child.try_wait().ok().flatten();
                panic!("the server closed its stdout (exit status {status:?})")
            }
        }
    }

    pub fn notify(&mut self, method: &str, params: Value) -> Instant {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}))
    }

    /// The next message and the moment it was read, or a panic naming what was awaited.
    pub fn recv_timed(&mut self, timeout: Duration, waiting_for: &str) -> (Instant, Value) {
        match self.rx.recv_timeout(timeout) {
            Ok(m) => m,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("the server sent nothing for {timeout:?} while the benchmark waited for {waiting_for}")
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = self.child.try_wait().ok().flatten();
                panic!(
                    "the server closed its stdout (exit status {status:?}) while the benchmark waited for {waiting_for}"
                )
            }
        }
    }

    pub fn recv(&mut self) -> Value {
        self.recv_timed(RECV_TIMEOUT, "a message").1
    }

    /// Answers a request the server sent us (registerCapability, progress tokens...) with `null`.
    /// Returns true when `msg` was such a request.
    pub fn answer_server_request(&mut self, msg: &Value) -> bool {
        if msg.get("method").is_some()
            && let Some(id) = msg.get("id")
        {
            self.send(json!({"jsonrpc": "2.0", "id": id, "result": null}));
            return true;
        }
        false
    }

    /// Sends a request and waits for its response; messages in between go to `other`. Returns the
    /// send moment, the receive moment and the response.
    pub fn request_with(
        &mut self,
        id: u64,
        method: &str,
        params: Value,
        mut other: impl FnMut(&Value),
    ) -> (Instant, Instant, Value) {
        let sent = self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let deadline = sent + RECV_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (at, msg) = self.recv_timed(left, &format!("the answer to {method} (id {id})"));
            if self.answer_server_request(&msg) {
                continue;
            }
            if msg.get("id") == Some(&json!(id)) {
                return (sent, at, msg);
            }
            other(&msg);
        }
    }

    pub fn request(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.request_with(id, method, params, |_| {}).2
    }

    pub fn initialize(&mut self) {
        self.initialize_with(json!({"general": {"positionEncodings": ["utf-16"]}}));
    }

    pub fn initialize_with(&mut self, capabilities: Value) {
        let answer = self.request(1, "initialize", json!({"processId": null, "capabilities": capabilities}));
        assert!(answer.get("result").is_some(), "initialize failed: {answer}");
        self.notify("initialized", json!({}));
    }

    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Lsp {
    /// Asks the server to exit (so a wrapper such as a profiler can finish its work), then kills it
    /// if it has not gone within a second.
    fn drop(&mut self) {
        let body = json!({"jsonrpc": "2.0", "method": "exit"}).to_string();
        let _ = write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len());
        let _ = self.stdin.flush();
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses `Content-Length` frames until the pipe closes or the receiver is gone.
fn read_frames(mut stdout: impl BufRead, tx: mpsc::Sender<(Instant, Value)>) {
    loop {
        let mut len = None;
        loop {
            let mut line = String::new();
            match stdout.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("Content-Length: ") {
                len = v.parse::<usize>().ok();
            }
        }
        let Some(len) = len else { continue };
        let mut body = vec![0; len];
        if stdout.read_exact(&mut body).is_err() {
            return;
        }
        let at = Instant::now();
        let Ok(msg) = serde_json::from_slice::<Value>(&body) else { continue };
        if tx.send((at, msg)).is_err() {
            return;
        }
    }
}
