//! The one door for bytes from an upstream: every body is read through here, capped in size and
//! in time. Whole bodies (error answers, model lists) are read up to a cap and a deadline; streamed
//! bodies pass through a `Guard`, which also bounds one SSE event or NDJSON line and refuses bytes
//! that are not UTF-8 (every payload is JSON), so no buffer downstream can grow without end.

use std::fmt;

use futures_util::{Stream, StreamExt};
use reqwest::Response;
use tokio::time::Instant;

use super::config::Limits;
use super::sse::Framing;

/// A streamed body broke one of its bounds, or the connection failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overrun {
    /// The whole body passed `Limits::body_bytes`.
    Body(usize),
    /// One event (SSE) or line (NDJSON) passed `Limits::event_bytes`.
    Event(usize),
    NotUtf8,
    Transport(String),
}

impl fmt::Display for Overrun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Overrun::Body(cap) => write!(f, "the body passed {}", human_bytes(*cap)),
            Overrun::Event(cap) => write!(f, "one event passed {}", human_bytes(*cap)),
            Overrun::NotUtf8 => f.write_str("the body is not UTF-8"),
            Overrun::Transport(e) => f.write_str(e),
        }
    }
}

/// `1.0 MiB`, `64 KiB`, `300 B`: caps as the user reads them in messages.
pub fn human_bytes(n: usize) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1 << 20) as f64),
        n if n >= 1 << 10 => format!("{} KiB", n >> 10),
        n => format!("{n} B"),
    }
}

/// Reads a whole body, stopping at `max` bytes or at `until`, whichever comes first (the rest is
/// dropped with the connection). `complete` is false when it stopped early.
pub async fn read_capped(resp: Response, max: usize, until: Instant) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut body = resp.bytes_stream();
    loop {
        match tokio::time::timeout_at(until, body.next()).await {
            Ok(Some(Ok(chunk))) => {
                let room = max.saturating_sub(out.len());
                out.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if chunk.len() > room {
                    return (out, false);
                }
            }
            Ok(None) => return (out, true),
            Ok(Some(Err(_))) | Err(_) => return (out, false),
        }
    }
}

/// Counts what passes and checks every bound; state carries across chunks cut anywhere.
#[derive(Debug)]
pub struct Guard {
    framing: Framing,
    body_cap: usize,
    event_cap: usize,
    total: usize,
    /// Bytes since the last event boundary (SSE: a blank line; NDJSON: a line end).
    since_boundary: usize,
    /// SSE: bytes of the current line, and whether the last byte was a CR (so CRLF is one end).
    line_len: usize,
    prev_cr: bool,
    /// The start of a UTF-8 sequence cut by a chunk boundary (at most 3 bytes).
    carry: Vec<u8>,
}

impl Guard {
    pub fn new(framing: Framing, limits: &Limits) -> Guard {
        Guard {
            framing,
            body_cap: limits.body_bytes,
            event_cap: limits.event_bytes,
            total: 0,
            since_boundary: 0,
            line_len: 0,
            prev_cr: false,
            carry: Vec::new(),
        }
    }

    /// Checks one chunk of the body.
    pub fn check(&mut self, chunk: &[u8]) -> Result<(), Overrun> {
        self.total = self.total.saturating_add(chunk.len());
        if self.total > self.body_cap {
            return Err(Overrun::Body(self.body_cap));
        }
        self.utf8(chunk)?;
        if !chunk.iter().any(|&b| b == b'\n' || b == b'\r') {
            self.since_boundary += chunk.len();
            self.line_len += chunk.len();
            self.prev_cr = false;
        } else {
            for &b in chunk {
                self.byte(b);
            }
        }
        if self.since_boundary > self.event_cap {
            return Err(Overrun::Event(self.event_cap));
        }
        Ok(())
    }

    fn byte(&mut self, b: u8) {
        match (self.framing, b) {
            (Framing::Ndjson, b'\n') => self.since_boundary = 0,
            (Framing::Sse, b'\n') if self.prev_cr => self.prev_cr = false,
            (Framing::Sse, b'\n' | b'\r') => {
                // A line end right after a line end is a blank line: the event is complete.
                if self.line_len == 0 {
                    self.since_boundary = 0;
                }
                self.line_len = 0;
                self.prev_cr = b == b'\r';
            }
            _ => {
                self.prev_cr = false;
                self.line_len += 1;
                self.since_boundary += 1;
            }
        }
    }

    fn utf8(&mut self, chunk: &[u8]) -> Result<(), Overrun> {
        let joined;
        let bytes = if self.carry.is_empty() {
            chunk
        } else {
            joined = [self.carry.as_slice(), chunk].concat();
            &joined
        };
        match std::str::from_utf8(bytes) {
            Ok(_) => self.carry.clear(),
            // Cut inside a character: keep its start for the next chunk.
            Err(e) if e.error_len().is_none() => self.carry = bytes[e.valid_up_to()..].to_vec(),
            Err(_) => return Err(Overrun::NotUtf8),
        }
        Ok(())
    }
}

/// The body through its guard: chunks pass unchanged until a bound breaks, then one error ends it.
pub fn guarded<S, B, E>(bytes: S, mut guard: Guard) -> impl Stream<Item = Result<Vec<u8>, Overrun>> + Send + 'static
where
    S: Stream<Item = Result<B, E>> + Send + 'static,
    B: AsRef<[u8]> + Send + 'static,
    E: fmt::Display + Send + 'static,
{
    bytes
        .map(move |r| match r {
            Ok(b) => guard.check(b.as_ref()).map(|()| b.as_ref().to_vec()),
            Err(e) => Err(Overrun::Transport(e.to_string())),
        })
        .scan(false, |failed, r| {
            // Nothing after the first error: a broken body is not read any further.
            let item = if *failed { None } else { Some(r) };
            if let Some(Err(_)) = &item {
                *failed = true;
            }
            futures_util::future::ready(item)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(event: usize, body: usize) -> Limits {
        Limits { event_bytes: event, body_bytes: body, ..Limits::INLINE }
    }

    #[test]
    fn sse_events_are_bounded_whatever_the_line_ends() {
        for end in ["\n", "\r\n", "\r"] {
            let ev = format!("data: 123456{end}{end}");
            let mut g = Guard::new(Framing::Sse, &limits(12, 1 << 20));
            for _ in 0..100 {
                // Byte by byte, so every cut (inside CRLF too) is exercised.
                for b in ev.as_bytes() {
                    assert_eq!(g.check(&[*b]), Ok(()), "{end:?}");
                }
            }
            let long = format!("data: 1234{end}data: 1234{end}");
            let mut g = Guard::new(Framing::Sse, &limits(12, 1 << 20));
            assert_eq!(g.check(long.as_bytes()), Err(Overrun::Event(12)), "{end:?}: lines of one event add up");
        }
        let mut g = Guard::new(Framing::Sse, &limits(8, 1 << 20));
        assert_eq!(g.check(b"data: x"), Ok(()));
        assert_eq!(g.check(b"xxxxxxx"), Err(Overrun::Event(8)), "an endless line");
    }

    #[test]
    fn ndjson_lines_and_the_whole_body_are_bounded() {
        let mut g = Guard::new(Framing::Ndjson, &limits(10, 40));
        assert_eq!(g.check(b"{\"a\":1}\n{\"b\":2}\n"), Ok(()));
        assert_eq!(g.check(b"{\"c\":33333}"), Err(Overrun::Event(10)));
        let mut g = Guard::new(Framing::Ndjson, &limits(10, 40));
        for _ in 0..5 {
            assert_eq!(g.check(b"{\"a\":1}\n"), Ok(()));
        }
        assert_eq!(g.check(b"{}\n"), Err(Overrun::Body(40)));
    }

    #[test]
    fn utf8_cut_anywhere_passes_and_garbage_does_not() {
        let text = "data: {\"t\":\"é€😀\"}\n\n".as_bytes();
        for cut in 0..text.len() {
            let mut g = Guard::new(Framing::Sse, &Limits::INLINE);
            assert_eq!(g.check(&text[..cut]).and_then(|()| g.check(&text[cut..])), Ok(()), "cut at {cut}");
        }
        let mut g = Guard::new(Framing::Sse, &Limits::INLINE);
        assert_eq!(g.check(b"data: \xff\n\n"), Err(Overrun::NotUtf8));
    }

    #[tokio::test]
    async fn nothing_passes_after_the_first_error() {
        let chunks = futures_util::stream::iter(
            [&b"data: 1\n\n"[..], b"xxxxxxxxxxxxxxxxxxxxxxxxx", b"data: 2\n\n"].map(Ok::<_, std::convert::Infallible>),
        );
        let out: Vec<_> = guarded(chunks, Guard::new(Framing::Sse, &limits(16, 1 << 20))).collect().await;
        assert_eq!(out, vec![Ok(b"data: 1\n\n".to_vec()), Err(Overrun::Event(16))]);
    }

    #[test]
    fn bytes_read_as_people_do() {
        assert_eq!(human_bytes(64 << 10), "64 KiB");
        assert_eq!(human_bytes(16 << 20), "16.0 MiB");
        assert_eq!(human_bytes(300), "300 B");
    }
}
