//! The one stream reader every HTTP provider shares: SSE (WHATWG rules, via eventsource-stream) or
//! NDJSON framing, idle and first-byte timeouts, and a per-protocol `Decoder` for the payloads.
//!
//! A stream that ends without its protocol's terminal event is an error, never a short answer.

use std::collections::VecDeque;
use std::fmt::Display;

use eventsource_stream::Eventsource;
use futures_util::stream::{self, BoxStream};
use futures_util::{Stream, StreamExt};
use reqwest::Response;

use super::config::Timeouts;
use super::error::{ProviderError, TimeoutPhase};
use super::{EventStream, StreamEvent};

/// Turns one payload (an SSE `data` or an NDJSON line) into events for the engine.
pub trait Decoder: Send + 'static {
    /// Pushes events to `out`; returns `Ok(true)` after the terminal event.
    fn decode(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<bool, ProviderError>;
    /// Named in the "stream closed before …" error.
    fn terminal(&self) -> &'static str;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Sse,
    Ndjson,
}

type Frames = BoxStream<'static, Result<String, ProviderError>>;

/// Checks the content type, then decodes the body. Dropping the result drops the body.
pub fn from_response<D: Decoder>(
    provider: &str,
    resp: Response,
    framing: Framing,
    timeouts: Timeouts,
    decoder: D,
) -> Result<EventStream, ProviderError> {
    let ct = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let ok = match framing {
        Framing::Sse => ct.starts_with("text/event-stream"),
        // Ollama says application/x-ndjson; some proxies say json or nothing.
        Framing::Ndjson => ct.is_empty() || ct.contains("json"),
    };
    if !ok {
        return Err(ProviderError::BadRequest {
            provider: provider.to_owned(),
            status: resp.status().as_u16(),
            message: format!("expected a streamed reply, got content-type `{ct}`"),
        });
    }
    Ok(decode_bytes(provider, resp.bytes_stream(), framing, timeouts, decoder))
}

/// Decodes a byte stream (any chunking) into engine events.
pub fn decode_bytes<S, B, E, D>(
    provider: &str,
    bytes: S,
    framing: Framing,
    timeouts: Timeouts,
    decoder: D,
) -> EventStream
where
    S: Stream<Item = Result<B, E>> + Send + 'static,
    B: AsRef<[u8]> + Send + 'static,
    E: Display + Send + 'static,
    D: Decoder,
{
    let terminal = decoder.terminal();
    let closed = {
        let provider = provider.to_owned();
        move |e: &dyn Display| {
            tracing::debug!(%provider, error = %e, "stream transport error");
            ProviderError::closed(&provider, terminal)
        }
    };
    // A trailing newline lets a final event ended by a lone CR dispatch; after `\n\n` it is a no-op.
    let bytes = bytes.map(|r| r.map(|b| b.as_ref().to_vec())).chain(stream::once(async { Ok(b"\n".to_vec()) }));
    let frames: Frames = match framing {
        Framing::Sse => bytes
            .eventsource()
            .map(move |r| match r {
                Ok(ev) => Ok(ev.data),
                Err(e) => Err(closed(&e)),
            })
            .boxed(),
        Framing::Ndjson => ndjson_lines(bytes.map(move |r| r.map_err(|e| closed(&e)))),
    };
    let state = State {
        provider: provider.to_owned(),
        frames: Some(frames),
        decoder,
        queue: VecDeque::new(),
        first: true,
        finished: false,
        timeouts,
    };
    stream::unfold(state, State::next).boxed()
}

struct State<D> {
    provider: String,
    frames: Option<Frames>,
    decoder: D,
    queue: VecDeque<Result<StreamEvent, ProviderError>>,
    first: bool,
    finished: bool,
    timeouts: Timeouts,
}

impl<D: Decoder> State<D> {
    async fn next(mut self) -> Option<(Result<StreamEvent, ProviderError>, Self)> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Some((item, self));
            }
            let frames = self.frames.as_mut()?;
            let (wait, phase) = if self.first {
                (self.timeouts.first_byte, TimeoutPhase::FirstByte)
            } else {
                (self.timeouts.idle, TimeoutPhase::Idle)
            };
            let fail = match tokio::time::timeout(wait, frames.next()).await {
                Err(_) => ProviderError::timeout(&self.provider, phase, wait),
                Ok(None) => ProviderError::closed(&self.provider, self.decoder.terminal()),
                Ok(Some(Err(e))) => e,
                Ok(Some(Ok(data))) => {
                    self.first = false;
                    let mut out = Vec::new();
                    let result = self.decoder.decode(&data, &mut out);
                    self.queue.extend(out.into_iter().map(Ok));
                    match result {
                        Ok(false) => continue,
                        Ok(true) => {
                            self.finish(true);
                            continue;
                        }
                        Err(e) => e,
                    }
                }
            };
            self.finish(false);
            self.queue.push_back(Err(fail));
        }
    }

    /// Ends reading. After a clean end the rest of the body is drained in the background so the
    /// connection returns to the pool (the next keystroke pays no handshake); otherwise it is dropped.
    fn finish(&mut self, clean: bool) {
        self.finished = true;
        if let Some(frames) = self.frames.take()
            && clean
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                let drain = frames.for_each(|_| async {});
                let _ = tokio::time::timeout(std::time::Duration::from_secs(2), drain).await;
            });
        }
    }
}

/// Splits a byte stream into non-empty lines (`\n` or `\r\n`), keeping partial lines buffered.
fn ndjson_lines<S>(bytes: S) -> Frames
where
    S: Stream<Item = Result<Vec<u8>, ProviderError>> + Send + 'static,
{
    bytes
        .scan(Vec::<u8>::new(), |buf, chunk| {
            let out: Vec<Result<String, ProviderError>> = match chunk {
                Err(e) => vec![Err(e)],
                Ok(chunk) => {
                    buf.extend_from_slice(&chunk);
                    let mut lines = Vec::new();
                    while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=pos).collect();
                        let text = String::from_utf8_lossy(&line).trim().to_owned();
                        if !text.is_empty() {
                            lines.push(Ok(text));
                        }
                    }
                    lines
                }
            };
            futures_util::future::ready(Some(stream::iter(out)))
        })
        .flatten()
        .boxed()
}

/// Parses one JSON payload, mapping garbage to a stream error.
pub fn parse_json(provider: &str, data: &str) -> Result<serde_json::Value, ProviderError> {
    serde_json::from_str(data).map_err(|e| ProviderError::Stream {
        provider: provider.to_owned(),
        code: "bad_json".into(),
        message: format!("unreadable event ({e})"),
        retry_after: None,
    })
}

/// Test helpers shared by the protocol modules: feed a fixture through a decoder in any chunking.
#[cfg(test)]
pub mod testing {
    use super::*;
    use futures_util::TryStreamExt;

    pub const OPENAI_TEXT: &str = include_str!("../../tests/fixtures/openai-responses-text.sse");
    pub const OPENAI_FAILED: &str = include_str!("../../tests/fixtures/openai-responses-failed-rate-limit.sse");
    pub const OPENAI_ERROR_FLAT: &str = include_str!("../../tests/fixtures/openai-responses-error-flat.sse");
    pub const OPENAI_ERROR_NESTED: &str = include_str!("../../tests/fixtures/openai-responses-error-nested.sse");
    pub const CHAT_TEXT: &str = include_str!("../../tests/fixtures/openai-chat-text-usage.sse");
    pub const ANTHROPIC_TEXT: &str = include_str!("../../tests/fixtures/anthropic-messages-text.sse");
    pub const ANTHROPIC_THINKING: &str = include_str!("../../tests/fixtures/anthropic-messages-thinking-omitted.sse");
    pub const ANTHROPIC_OVERLOADED: &str = include_str!("../../tests/fixtures/anthropic-messages-error-overloaded.sse");

    /// Everything the decoder produced: events up to the first error, and that error.
    #[derive(Debug, PartialEq)]
    pub struct Outcome {
        pub events: Vec<StreamEvent>,
        pub error: Option<ProviderError>,
    }

    impl Outcome {
        pub fn text(&self) -> String {
            self.events
                .iter()
                .filter_map(|e| match e {
                    StreamEvent::Text(t) => Some(t.as_str()),
                    _ => None,
                })
                .collect()
        }
    }

    pub async fn run<D: Decoder>(chunks: Vec<Vec<u8>>, framing: Framing, decoder: D) -> Outcome {
        let bytes = stream::iter(chunks.into_iter().map(Ok::<_, std::convert::Infallible>));
        let mut s = decode_bytes("test", bytes, framing, Timeouts::INLINE, decoder);
        let mut events = Vec::new();
        loop {
            match s.try_next().await {
                Ok(Some(ev)) => events.push(ev),
                Ok(None) => return Outcome { events, error: None },
                Err(e) => return Outcome { events, error: Some(e) },
            }
        }
    }

    /// The fixture whole, split at every byte boundary, in small random-ish chunks, and with CRLF
    /// and CR line ends; every variant must give the same outcome.
    pub async fn check_all_chunkings<D: Decoder>(fixture: &str, framing: Framing, make: impl Fn() -> D) -> Outcome {
        let whole = run(vec![fixture.as_bytes().to_vec()], framing, make()).await;
        let b = fixture.as_bytes();
        for cut in 1..b.len() {
            let split = run(vec![b[..cut].to_vec(), b[cut..].to_vec()], framing, make()).await;
            assert_eq!(split, whole, "split at byte {cut}");
        }
        let mut seed = 0x2545_f491_u32;
        for _ in 0..20 {
            let mut chunks = Vec::new();
            let mut i = 0;
            while i < b.len() {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let n = 1 + (seed as usize % 40);
                chunks.push(b[i..(i + n).min(b.len())].to_vec());
                i += n;
            }
            assert_eq!(run(chunks, framing, make()).await, whole, "random chunking");
        }
        if framing == Framing::Sse {
            let one_byte = |s: String| s.into_bytes().into_iter().map(|c| vec![c]).collect::<Vec<_>>();
            let crlf = fixture.replace('\n', "\r\n");
            assert_eq!(run(one_byte(crlf), framing, make()).await, whole, "CRLF");
            let cr = fixture.replace('\n', "\r");
            assert_eq!(run(vec![cr.into_bytes()], framing, make()).await, whole, "CR");
        }
        whole
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    /// Collects every payload as text; the terminal event is `{"end":true}`.
    struct Echo;
    impl Decoder for Echo {
        fn decode(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<bool, ProviderError> {
            if data == r#"{"end":true}"# {
                out.push(StreamEvent::Done { stop_reason: None });
                return Ok(true);
            }
            out.push(StreamEvent::Text(format!("[{data}]")));
            Ok(false)
        }
        fn terminal(&self) -> &'static str {
            "the end event"
        }
    }

    #[tokio::test]
    async fn whatwg_rules() {
        let body = ": keep-alive\nid: 7\nretry: 100\nevent: x\ndata:a\ndata: b\n\ndata:  two spaces\nunknown: y\n\n:c\n\ndata: {\"end\":true}\n\n";
        let out = run(vec![body.as_bytes().to_vec()], Framing::Sse, Echo).await;
        assert_eq!(out.text(), "[a\nb][ two spaces]");
        assert_eq!(out.error, None);
    }

    #[tokio::test]
    async fn end_without_terminal_event_is_an_error() {
        let out = run(vec![b"data: x\n\n".to_vec()], Framing::Sse, Echo).await;
        assert_eq!(out.text(), "[x]");
        assert!(matches!(out.error, Some(ProviderError::StreamClosed { .. })));
        let out = run(vec![b"{\"a\":1}\n{\"b\"".to_vec()], Framing::Ndjson, Echo).await;
        assert!(matches!(out.error, Some(ProviderError::StreamClosed { .. })));
    }

    #[tokio::test]
    async fn ndjson_lines_any_chunking() {
        let body = "{\"a\":1}\r\n\n{\"b\":2}\n{\"end\":true}\n";
        let out = check_all_chunkings(body, Framing::Ndjson, || Echo).await;
        assert_eq!(out.text(), "[{\"a\":1}][{\"b\":2}]");
    }

    #[tokio::test]
    async fn idle_timeout_between_events() {
        let bytes =
            stream::iter(vec![Ok::<_, std::convert::Infallible>(b"data: x\n\n".to_vec())]).chain(stream::pending());
        let t = Timeouts { idle: std::time::Duration::from_millis(30), ..Timeouts::INLINE };
        let mut s = decode_bytes("p", bytes, Framing::Sse, t, Echo);
        assert_eq!(s.next().await, Some(Ok(StreamEvent::Text("[x]".into()))));
        let err = s.next().await;
        assert!(matches!(err, Some(Err(ProviderError::Timeout { phase: TimeoutPhase::Idle, .. }))), "{err:?}");
        assert_eq!(s.next().await, None);
    }
}
