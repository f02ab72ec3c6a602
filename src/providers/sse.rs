//! The one stream reader every HTTP provider shares: SSE (WHATWG rules) or NDJSON framing
//! (`framing`) over the bounded body (`body::Guard`), first-byte, idle and overall deadlines, the
//! cap on answer text, and a per-protocol `Decoder` for the payloads.
//!
//! A stream that ends without its protocol's terminal event is an error, never a short answer. A
//! stream cut by the deadline or a size cap ends as `Truncation` says: with what it has for an
//! interactive request, with an error for an action.

use std::collections::VecDeque;
use std::fmt::Display;

use futures_util::stream::{self, BoxStream};
use futures_util::{Stream, StreamExt};
use reqwest::Response;
use tokio::time::Instant;

use super::body::{Guard, Overrun, guarded, human_bytes};
use super::config::{Limits, Timeouts};
use super::error::{ProviderError, TimeoutPhase};
use super::framing::Framer;
use super::{EventStream, StreamEvent, Task, Truncation};

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

/// What one request may spend: its timeouts, its size caps, and the instant it must be over by.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub timeouts: Timeouts,
    pub limits: Limits,
    pub deadline: Instant,
    /// Interactive requests end with the text they have when cut; actions fail instead.
    pub partial_ok: bool,
}

impl Budget {
    /// Starts the clock now.
    pub fn start(timeouts: Timeouts, task: &Task) -> Budget {
        Budget {
            timeouts,
            limits: Limits::for_task(task),
            deadline: Instant::now() + timeouts.total,
            partial_ok: task.is_interactive(),
        }
    }

    /// The error for a request that ran out of time before any text.
    pub fn expired(&self, provider: &str) -> ProviderError {
        ProviderError::truncated(provider, Truncation::Deadline, &format!("{:?}", self.timeouts.total), false)
    }
}

/// A frame, or why there are no more.
enum FrameError {
    /// The body passed its byte cap: the answer so far stands (or fails) as a truncation.
    BodyCap,
    Failed(ProviderError),
}

type Frames = BoxStream<'static, Result<String, FrameError>>;

/// Checks the content type, then decodes the body. Dropping the result drops the body.
pub fn from_response<D: Decoder>(
    provider: &str,
    resp: Response,
    framing: Framing,
    budget: Budget,
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
    Ok(decode_bytes(provider, resp.bytes_stream(), framing, budget, decoder))
}

/// Decodes a byte stream (any chunking) into engine events.
pub fn decode_bytes<S, B, E, D>(provider: &str, bytes: S, framing: Framing, budget: Budget, decoder: D) -> EventStream
where
    S: Stream<Item = Result<B, E>> + Send + 'static,
    B: AsRef<[u8]> + Send + 'static,
    E: Display + Send + 'static,
    D: Decoder,
{
    let terminal = decoder.terminal();
    let failed = {
        let provider = provider.to_owned();
        move |o: Overrun| match o {
            Overrun::Body(_) => FrameError::BodyCap,
            Overrun::Event(cap) => FrameError::Failed(ProviderError::unreadable(
                &provider,
                "event_too_large",
                format!("one stream event passed {}; the stream was dropped", human_bytes(cap)),
            )),
            Overrun::NotUtf8 => FrameError::Failed(ProviderError::unreadable(
                &provider,
                "not_utf8",
                "the stream is not UTF-8 text; the stream was dropped".into(),
            )),
            Overrun::Transport(e) => {
                tracing::debug!(%provider, error = %e, "stream transport error");
                FrameError::Failed(ProviderError::closed(&provider, terminal))
            }
        }
    };
    let mut framer = match framing {
        Framing::Sse => Framer::sse(),
        Framing::Ndjson => Framer::ndjson(),
    };
    // `None` marks the end of the body, where an NDJSON line without its line end still counts.
    let frames: Frames = guarded(bytes, Guard::new(framing, &budget.limits))
        .map(Some)
        .chain(stream::once(async { None }))
        .flat_map(move |item| {
            let mut out = Vec::new();
            let items: Vec<Result<String, FrameError>> = match item {
                Some(Ok(chunk)) => {
                    framer.push(&chunk, &mut out);
                    out.into_iter().map(Ok).collect()
                }
                Some(Err(o)) => vec![Err(failed(o))],
                None => {
                    framer.finish(&mut out);
                    out.into_iter().map(Ok).collect()
                }
            };
            stream::iter(items)
        })
        .boxed();
    let state = State {
        provider: provider.to_owned(),
        frames: Some(frames),
        decoder,
        queue: VecDeque::new(),
        first: true,
        text_bytes: 0,
        budget,
    };
    stream::unfold(state, State::next).boxed()
}

struct State<D> {
    provider: String,
    frames: Option<Frames>,
    decoder: D,
    queue: VecDeque<Result<StreamEvent, ProviderError>>,
    first: bool,
    /// Answer text passed on so far, against `Limits::output_bytes`.
    text_bytes: usize,
    budget: Budget,
}

impl<D: Decoder> State<D> {
    async fn next(mut self) -> Option<(Result<StreamEvent, ProviderError>, Self)> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Some((item, self));
            }
            let frames = self.frames.as_mut()?;
            let (wait, phase) = if self.first {
                (self.budget.timeouts.first_byte, TimeoutPhase::FirstByte)
            } else {
                (self.budget.timeouts.idle, TimeoutPhase::Idle)
            };
            // Whichever comes first: the phase's own timeout or the request's deadline.
            let left = self.budget.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                // Checked first: a body that is always ready would otherwise never time out.
                self.cut(Truncation::Deadline, format!("{:?}", self.budget.timeouts.total));
                continue;
            }
            let fail = match tokio::time::timeout(wait.min(left), frames.next()).await {
                Err(_) if left <= wait => {
                    self.cut(Truncation::Deadline, format!("{:?}", self.budget.timeouts.total));
                    continue;
                }
                Err(_) => ProviderError::timeout(&self.provider, phase, wait),
                Ok(None) => ProviderError::closed(&self.provider, self.decoder.terminal()),
                Ok(Some(Err(FrameError::BodyCap))) => {
                    self.cut(Truncation::Size, human_bytes(self.budget.limits.body_bytes));
                    continue;
                }
                Ok(Some(Err(FrameError::Failed(e)))) => e,
                Ok(Some(Ok(data))) => {
                    self.first = false;
                    // `data:` alone is an empty event (WHATWG dispatches it): nothing to decode.
                    if data.trim().is_empty() {
                        continue;
                    }
                    let mut out = Vec::new();
                    let result = self.decoder.decode(&data, &mut out);
                    if self.pass(out) {
                        continue;
                    }
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

    /// Queues decoded events, holding text to `Limits::output_bytes`; true when that cut the stream.
    fn pass(&mut self, out: Vec<StreamEvent>) -> bool {
        for ev in out {
            if let StreamEvent::Text(t) = &ev {
                let room = self.budget.limits.output_bytes.saturating_sub(self.text_bytes);
                if t.len() > room {
                    let end = (0..=room).rev().find(|i| t.is_char_boundary(*i)).unwrap_or(0);
                    if end > 0 {
                        self.text_bytes += end;
                        self.queue.push_back(Ok(StreamEvent::Text(t[..end].to_owned())));
                    }
                    self.cut(Truncation::Size, human_bytes(self.budget.limits.output_bytes));
                    return true;
                }
                self.text_bytes += t.len();
            }
            self.queue.push_back(Ok(ev));
        }
        false
    }

    /// Ends the stream at a deadline or cap (`limit`, as the user reads it): with what it has when
    /// that is allowed, else an error.
    fn cut(&mut self, reason: Truncation, limit: String) {
        self.finish(false);
        let partial = self.text_bytes > 0;
        if partial && self.budget.partial_ok {
            self.queue.push_back(Ok(StreamEvent::Done { stop_reason: Some(reason.stop_reason().to_owned()) }));
            return;
        }
        self.queue.push_back(Err(ProviderError::truncated(&self.provider, reason, &limit, partial)));
    }

    /// Ends reading. After a clean end the rest of the body is drained in the background so the
    /// connection returns to the pool (the next keystroke pays no handshake); otherwise it is dropped.
    fn finish(&mut self, clean: bool) {
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

    /// The inline class, its clock started now.
    pub fn inline_budget() -> Budget {
        Budget::start(Timeouts::INLINE, &super::super::Task::Inline)
    }

    pub async fn run<D: Decoder>(chunks: Vec<Vec<u8>>, framing: Framing, decoder: D) -> Outcome {
        let bytes = stream::iter(chunks.into_iter().map(Ok::<_, std::convert::Infallible>));
        let mut s = decode_bytes("test", bytes, framing, inline_budget(), decoder);
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
        let mut s = decode_bytes("p", bytes, Framing::Sse, Budget { timeouts: t, ..inline_budget() }, Echo);
        assert_eq!(s.next().await, Some(Ok(StreamEvent::Text("[x]".into()))));
        let err = s.next().await;
        assert!(matches!(err, Some(Err(ProviderError::Timeout { phase: TimeoutPhase::Idle, .. }))), "{err:?}");
        assert_eq!(s.next().await, None);
    }

    fn budget(total_ms: u64, limits: Limits, partial_ok: bool) -> Budget {
        let timeouts = Timeouts { total: std::time::Duration::from_millis(total_ms), ..Timeouts::INLINE };
        Budget { timeouts, limits, deadline: Instant::now() + timeouts.total, partial_ok }
    }

    /// `data: x` events every `gap`, forever.
    fn drip(
        event: &'static str,
        gap: std::time::Duration,
    ) -> impl Stream<Item = Result<Vec<u8>, std::convert::Infallible>> {
        stream::unfold((), move |()| async move {
            tokio::time::sleep(gap).await;
            Some((Ok(event.as_bytes().to_vec()), ()))
        })
    }

    async fn collect(mut s: EventStream) -> (String, Vec<StreamEvent>, Option<ProviderError>) {
        let (mut text, mut events) = (String::new(), Vec::new());
        while let Some(item) = s.next().await {
            match item {
                Ok(StreamEvent::Text(t)) => text.push_str(&t),
                Ok(ev) => events.push(ev),
                Err(e) => return (text, events, Some(e)),
            }
        }
        (text, events, None)
    }

    #[tokio::test]
    async fn an_empty_data_event_is_skipped() {
        let body = "data: a\n\ndata:\n\ndata: \n\ndata\n\ndata: b\n\ndata: {\"end\":true}\n\n";
        let out = run(vec![body.as_bytes().to_vec()], Framing::Sse, Echo).await;
        assert_eq!((out.text().as_str(), out.error), ("[a][b]", None));
        let out = run(vec![b"{\"a\":1}\n  \n{\"end\":true}\n".to_vec()], Framing::Ndjson, Echo).await;
        assert_eq!(out.error, None);
    }

    #[tokio::test]
    async fn a_drip_that_never_ends_meets_the_deadline() {
        let gap = std::time::Duration::from_millis(20);
        // Interactive, some text: the stream ends with it and says why.
        let head = stream::iter([Ok(b"data: x\n\n".to_vec())]);
        let s = decode_bytes(
            "p",
            head.chain(drip("data: \n\n", gap)),
            Framing::Sse,
            budget(150, Limits::INLINE, true),
            Echo,
        );
        let started = std::time::Instant::now();
        let (text, events, err) = collect(s).await;
        assert!(started.elapsed() < std::time::Duration::from_millis(400), "{:?}", started.elapsed());
        assert_eq!((text.as_str(), err), ("[x]", None));
        assert_eq!(events.last().and_then(StreamEvent::truncation), Some(Truncation::Deadline));
        // Nothing at all, or an action: a clear error.
        let s = decode_bytes("p", drip(": ping\n\n", gap), Framing::Sse, budget(100, Limits::INLINE, true), Echo);
        let (_, _, err) = collect(s).await;
        assert!(matches!(err, Some(ProviderError::Truncated { reason: Truncation::Deadline, .. })), "{err:?}");
        let s = decode_bytes("p", drip("data: y\n\n", gap), Framing::Sse, budget(100, Limits::ACTION, false), Echo);
        let (text, _, err) = collect(s).await;
        assert!(text.starts_with("[y]"));
        let msg = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("cut off") && msg.contains("total_ms"), "{msg}");
    }

    #[tokio::test]
    async fn a_stream_that_is_always_ready_meets_the_deadline_too() {
        let endless = stream::repeat_with(|| Ok::<_, std::convert::Infallible>(b"data: z\n\n".to_vec()));
        let limits = Limits { body_bytes: usize::MAX, output_bytes: usize::MAX, ..Limits::INLINE };
        let s = decode_bytes("p", endless, Framing::Sse, budget(50, limits, true), Echo);
        let (_, events, err) = collect(s).await;
        assert_eq!((events.last().and_then(StreamEvent::truncation), err), (Some(Truncation::Deadline), None));
    }

    #[tokio::test]
    async fn answer_text_and_body_bytes_are_capped() {
        let endless = stream::repeat_with(|| Ok::<_, std::convert::Infallible>("data: é\n\n".as_bytes().to_vec()));
        let limits = Limits { output_bytes: 11, ..Limits::INLINE };
        let (text, events, err) =
            collect(decode_bytes("p", endless, Framing::Sse, budget(5000, limits, true), Echo)).await;
        // "[é]" is 4 bytes: two whole ones, then as much of the third as fits on a char boundary.
        assert_eq!((text.as_str(), err), ("[é][é][é", None));
        assert_eq!(events.last().and_then(StreamEvent::truncation), Some(Truncation::Size));

        let pings = stream::repeat_with(|| Ok::<_, std::convert::Infallible>(b": keep-alive\n\n".to_vec()));
        let limits = Limits { body_bytes: 1000, ..Limits::INLINE };
        let (_, _, err) = collect(decode_bytes("p", pings, Framing::Sse, budget(5000, limits, true), Echo)).await;
        let msg = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("more than 1000 B without an answer"), "{msg}");
    }

    #[tokio::test]
    async fn an_endless_event_or_line_is_dropped_not_buffered() {
        let endless = stream::iter([Ok::<_, std::convert::Infallible>(b"data: {\"a\":\"".to_vec())])
            .chain(stream::repeat_with(|| Ok(vec![b'x'; 4096])));
        let limits = Limits { event_bytes: 1 << 16, ..Limits::INLINE };
        let (_, _, err) = collect(decode_bytes("p", endless, Framing::Sse, budget(5000, limits, true), Echo)).await;
        assert!(matches!(err, Some(ProviderError::Stream { ref code, .. }) if code == "event_too_large"), "{err:?}");
        let endless = stream::repeat_with(|| Ok::<_, std::convert::Infallible>(vec![b'x'; 4096]));
        let (_, _, err) = collect(decode_bytes("p", endless, Framing::Ndjson, budget(5000, limits, true), Echo)).await;
        assert!(matches!(err, Some(ProviderError::Stream { ref code, .. }) if code == "event_too_large"), "{err:?}");
    }

    /// Every decoder fed `body` cut at `cuts`: it must end (no hang, no panic), pass at most the
    /// text cap, and stop at the first error or end event.
    fn survives(body: &[u8], cuts: &[usize]) {
        use super::super::{anthropic, llamacpp, ollama, openai_chat, openai_responses};
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut at = 0;
        for p in points.into_iter().chain([body.len()]) {
            chunks.push(body[at..p].to_vec());
            at = p;
        }
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
        let outcomes = rt.block_on(async {
            vec![
                run(chunks.clone(), Framing::Sse, openai_responses::ResponsesDecoder::new("p")).await,
                run(chunks.clone(), Framing::Sse, openai_chat::ChunkDecoder::chat("p")).await,
                run(chunks.clone(), Framing::Sse, anthropic::MessagesDecoder::new("p")).await,
                run(chunks.clone(), Framing::Sse, <llamacpp::Infill as super::super::http::Codec>::decoder("p")).await,
                run(chunks.clone(), Framing::Ndjson, <ollama::Generate as super::super::http::Codec>::decoder("p"))
                    .await,
            ]
        });
        for out in outcomes {
            assert!(out.text().len() <= Limits::INLINE.output_bytes);
            let done = out.events.iter().position(|e| matches!(e, StreamEvent::Done { .. }));
            assert!(done.is_none_or(|i| i + 1 == out.events.len()), "events after the end: {:?}", out.events);
            assert!(done.is_none() || out.error.is_none(), "an end and an error: {out:?}");
        }
    }

    /// Pieces an SSE stream is made of, so random streams look like the real ones.
    const PIECES: &[&str] = &[
        "data: ",
        "data:",
        "event: x\n",
        ": ping\n",
        "\n",
        "\r\n",
        "\r",
        "\n\n",
        "id: 1\n",
        "retry: 5\n",
        "{\"type\":\"response.output_text.delta\",\"output_index\":0,\"delta\":\"a\"}",
        "{\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":1}}}",
        "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"é\"}}",
        "{\"type\":\"message_stop\"}",
        "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}",
        "{\"choices\":[{\"delta\":{\"content\":\"b\"}}]}",
        "[DONE]",
        "{\"content\":\"c\",\"stop\":false}",
        "{\"response\":\"d\",\"done\":false}\n",
        "{\"done\":true}\n",
        "{",
        "}",
        "\"",
        "\u{1F600}",
        "\u{0}",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 300, ..Default::default() })]

        #[test]
        fn decoders_survive_random_bytes(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1024),
            cuts in proptest::collection::vec(0usize..1024, 0..6),
        ) {
            survives(&body, &cuts);
        }

        #[test]
        fn decoders_survive_random_sse_shaped_streams(
            picks in proptest::collection::vec(0usize..PIECES.len(), 0..60),
            cuts in proptest::collection::vec(0usize..4096, 0..8),
        ) {
            let body: String = picks.iter().map(|&i| PIECES[i]).collect();
            survives(body.as_bytes(), &cuts);
        }
    }
}
