//! Test-only HTTP/1.1 upstream on 127.0.0.1:0: scripted replies, events in separate writes, slow
//! starts, abrupt closes, and a record of each request and of every early client hang-up.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    parts: Vec<String>,
    gap: Duration,
    delay: Duration,
    chunked: bool,
    cut: bool,
    /// Written again and again after `parts`, `gap` apart, until the client hangs up.
    repeat: Option<String>,
}

impl Reply {
    /// An SSE body written one event per write, `gap` apart, close-delimited.
    pub fn sse_events(body: &str, gap: Duration) -> Reply {
        Reply::stream("text/event-stream; charset=utf-8", split_events(body), gap)
    }

    /// Any streamed body, one part per write.
    pub fn stream(content_type: &str, parts: Vec<String>, gap: Duration) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            parts,
            gap,
            delay: Duration::ZERO,
            chunked: false,
            cut: false,
            repeat: None,
        }
    }

    /// A body that never ends: `parts`, then `piece` every `gap` (zero: as fast as it is read).
    pub fn endless(mut self, piece: &str, gap: Duration) -> Reply {
        self.repeat = Some(piece.to_owned());
        self.gap = gap;
        self
    }

    /// A whole reply with a length; JSON unless a content-type is given.
    pub fn status(status: u16, headers: &[(&str, &str)], body: &str) -> Reply {
        let mut h: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        if !h.iter().any(|(k, _)| k == "content-type") {
            h.push(("content-type".into(), "application/json".into()));
        }
        Reply {
            status,
            headers: h,
            parts: vec![body.to_owned()],
            gap: Duration::ZERO,
            delay: Duration::ZERO,
            chunked: false,
            cut: false,
            repeat: None,
        }
    }

    /// Chunked transfer encoding; the final zero chunk is sent only if the body is complete.
    pub fn chunked(mut self) -> Reply {
        self.chunked = true;
        self
    }

    /// Chunked, and the connection drops before the final zero chunk.
    pub fn cut(mut self) -> Reply {
        self.chunked = true;
        self.cut = true;
        self
    }

    /// Waits before sending the status line (slow first byte).
    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
}

/// Splits after each blank line, so each event is its own write.
fn split_events(body: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find("\n\n") {
        parts.push(rest[..i + 2].to_owned());
        rest = &rest[i + 2..];
    }
    if !rest.is_empty() {
        parts.push(rest.to_owned());
    }
    parts
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    }
}

#[derive(Default)]
struct Shared {
    replies: VecDeque<Reply>,
    requests: Vec<Recorded>,
    hangups: usize,
}

pub struct FakeServer {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeServer {
    /// Serves `replies` in order, one per request.
    pub async fn start(replies: Vec<Reply>) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Mutex::new(Shared { replies: replies.into(), ..Shared::default() }));
        let s = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, s.clone()));
            }
        });
        FakeServer { addr, shared, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().map(|s| s.requests.clone()).unwrap_or_default()
    }

    pub async fn wait_hangup(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while tokio::time::Instant::now() < deadline {
            if self.shared.lock().map(|s| s.hangups > 0).unwrap_or(false) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }
}

async fn read_request(sock: &mut TcpStream) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let path = first.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    Some(Recorded { method, path, headers, body: String::from_utf8_lossy(&body).to_string() })
}

async fn serve(mut sock: TcpStream, shared: Arc<Mutex<Shared>>) {
    let Some(req) = read_request(&mut sock).await else { return };
    let reply = {
        let Ok(mut s) = shared.lock() else { return };
        s.requests.push(req);
        s.replies.pop_front()
    };
    let Some(reply) = reply else {
        let _ =
            sock.write_all(b"HTTP/1.1 599 No Reply Scripted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
        return;
    };
    tokio::time::sleep(reply.delay).await;
    let mut head = format!("HTTP/1.1 {} X\r\nconnection: close\r\nx-request-id: req_fake\r\n", reply.status);
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let streamed = reply.repeat.is_some()
        || (reply.status == 200
            && reply.headers.iter().any(|(_, v)| v.contains("event-stream") || v.contains("ndjson")));
    if reply.chunked {
        head.push_str("transfer-encoding: chunked\r\n");
    } else if !streamed {
        let len: usize = reply.parts.iter().map(String::len).sum();
        head.push_str(&format!("content-length: {len}\r\n"));
    }
    head.push_str("\r\n");
    if sock.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let endless = reply.repeat.iter().cycle();
    for (i, part) in reply.parts.iter().chain(endless).enumerate() {
        if i > 0 && !reply.gap.is_zero() {
            // Wait, but notice a client that hangs up meanwhile (read returns 0).
            let mut probe = [0u8; 1];
            tokio::select! {
                _ = tokio::time::sleep(reply.gap) => {}
                r = sock.read(&mut probe) => {
                    if matches!(r, Ok(0) | Err(_)) {
                        if let Ok(mut s) = shared.lock() { s.hangups += 1; }
                        return;
                    }
                }
            }
        }
        let bytes = if reply.chunked { format!("{:x}\r\n{part}\r\n", part.len()) } else { part.clone() };
        if sock.write_all(bytes.as_bytes()).await.is_err() {
            if let Ok(mut s) = shared.lock() {
                s.hangups += 1;
            }
            return;
        }
    }
    if reply.chunked && !reply.cut {
        let _ = sock.write_all(b"0\r\n\r\n").await;
    }
    let _ = sock.shutdown().await;
}
