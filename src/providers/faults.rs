//! The fault matrix: every route kind against every way an upstream fails, through the real router
//! and HTTP provider over the in-process fake, each with its deadline and the one message the user
//! sees. `cargo test --lib fault_matrix -- --nocapture` prints the table BENCHMARKS.md records.
//!
//! Deadlines are scaled down so the whole matrix runs in seconds: inline `total_ms` 1000 (default
//! 4000), actions `total_ms` 2000 and `idle_ms` 1000 (defaults 5 min and 60 s), retry backoff 20 ms.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::anthropic::Messages;
use super::config::{ProviderConfig, ProviderKind};
use super::fake_server::{FakeServer, Reply};
use super::http::{Codec, HttpProvider};
use super::keys::KeySource;
use super::openai_chat::Chat;
use super::openai_responses::Responses;
use super::router::{Link, Policy, RouteTable, Router, Served};
use super::sse::testing::{ANTHROPIC_OVERLOADED, ANTHROPIC_TEXT, CHAT_TEXT, OPENAI_ERROR_FLAT, OPENAI_TEXT};
use super::{ModelRequest, Provider, ProviderError, Secret, StreamEvent, Task, Truncation};

#[derive(Clone, Copy, PartialEq)]
enum Vendor {
    Responses,
    Anthropic,
    Chat,
}

struct Route {
    label: &'static str,
    vendor: Vendor,
    task: Task,
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    Status(u16),
    ErrorMidStream,
    Reset,
    Truncated,
    /// Empty deltas every 100 ms, forever.
    Drip,
    /// A real delta every 50 ms, forever.
    Endless,
    /// A 500 whose body never ends.
    HugeErrorBody,
    /// A 200 stream whose one event never ends.
    HugeEvent,
}

impl Fault {
    fn label(self) -> String {
        match self {
            Fault::Status(s) => format!("HTTP {s}"),
            Fault::ErrorMidStream => "error event mid-stream".into(),
            Fault::Reset => "connection reset mid-stream".into(),
            Fault::Truncated => "stream closed before its end event".into(),
            Fault::Drip => "drip: empty deltas every 100 ms, never ending".into(),
            Fault::Endless => "endless: a delta every 50 ms, never ending".into(),
            Fault::HugeErrorBody => "500 with an endless body".into(),
            Fault::HugeEvent => "200 with one endless event".into(),
        }
    }
}

/// What the user ends up with.
#[derive(Debug, PartialEq)]
enum Seen {
    /// Text, and how the stream ended: `None` cleanly, else the truncation or the error.
    Text(String, Option<Truncation>, Option<String>),
    Error(String),
}

impl Vendor {
    fn text(self) -> &'static str {
        match self {
            Vendor::Responses => OPENAI_TEXT,
            Vendor::Anthropic => ANTHROPIC_TEXT,
            Vendor::Chat => CHAT_TEXT,
        }
    }

    /// The stream up to and including its first text delta (so an answer has begun).
    fn head(self) -> String {
        let marker = match self {
            Vendor::Responses => "response.output_text.delta",
            Vendor::Anthropic => "text_delta",
            Vendor::Chat => "\"content\":\"a",
        };
        let text = self.text();
        let at = text.find(marker).unwrap_or(0);
        let end = text[at..].find("\n\n").map_or(text.len(), |i| at + i + 2);
        text[..end].to_owned()
    }

    /// The stream's head without any text: only the events that open an answer.
    fn opening(self) -> String {
        let head = self.head();
        let last = head[..head.len() - 2].rfind("\n\n").map_or(0, |i| i + 2);
        head[..last].to_owned()
    }

    fn delta(self, text: &str) -> String {
        match self {
            Vendor::Responses => format!(
                "event: response.output_text.delta\ndata: {{\"type\":\"response.output_text.delta\",\"output_index\":0,\"delta\":\"{text}\"}}\n\n"
            ),
            Vendor::Anthropic => format!(
                "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"{text}\"}}}}\n\n"
            ),
            Vendor::Chat => format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}}}}]}}\n\n"),
        }
    }

    fn mid_stream_error(self) -> String {
        match self {
            Vendor::Responses => OPENAI_ERROR_FLAT.to_owned(),
            Vendor::Anthropic => ANTHROPIC_OVERLOADED.to_owned(),
            Vendor::Chat => format!(
                "{}data: {{\"error\":{{\"message\":\"The server had an error while processing your request.\",\"type\":\"server_error\",\"code\":null}}}}\n\n",
                self.head()
            ),
        }
    }

    fn error_body(self, status: u16) -> String {
        let (kind, message) = match status {
            401 => ("authentication_error", "invalid x-api-key"),
            403 => ("permission_error", "your key has no access to this model"),
            404 => ("not_found_error", "model: the-model"),
            413 => ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
            429 => ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
            503 => ("server_is_overloaded", "The server is overloaded. Please try again later."),
            529 => ("overloaded_error", "Overloaded"),
            _ => ("server_error", "The server had an error while processing your request."),
        };
        match self {
            Vendor::Anthropic => {
                format!(r#"{{"type":"error","error":{{"type":"{kind}","message":"{message}"}}}}"#)
            }
            _ => format!(r#"{{"error":{{"message":"{message}","type":"{kind}","param":null,"code":null}}}}"#),
        }
    }

    fn replies(self, fault: Fault) -> Vec<Reply> {
        let gap = Duration::from_millis(2);
        let one = match fault {
            Fault::Status(s) => Reply::status(s, &[], &self.error_body(s)),
            Fault::ErrorMidStream => Reply::sse_events(&self.mid_stream_error(), gap),
            Fault::Reset => Reply::sse_events(&self.head(), gap).cut(),
            Fault::Truncated => Reply::sse_events(&self.head(), gap),
            Fault::Drip => Reply::sse_events(&self.opening(), gap).endless(&self.delta(""), Duration::from_millis(100)),
            Fault::Endless => {
                Reply::sse_events(&self.head(), gap).endless(&self.delta("x "), Duration::from_millis(50))
            }
            Fault::HugeErrorBody => {
                Reply::status(500, &[], r#"{"error":{"message":""#).endless(&"x".repeat(1 << 16), Duration::ZERO)
            }
            Fault::HugeEvent => Reply::stream("text/event-stream", vec!["data: {\"type\":\"".into()], gap)
                .endless(&"x".repeat(1 << 16), Duration::ZERO),
        };
        // Enough for an action's retries.
        vec![one; 3]
    }
}

fn provider(vendor: Vendor, base: &str) -> Arc<dyn Provider> {
    fn build<C: Codec>(kind: ProviderKind, base: &str) -> Arc<dyn Provider> {
        let mut cfg = ProviderConfig::new("upstream", kind, "the-model");
        cfg.base_url = Some(base.to_owned());
        cfg.inline_timeouts.total_ms = Some(1000);
        cfg.action_timeouts.total_ms = Some(2000);
        cfg.action_timeouts.idle_ms = Some(1000);
        let mut p = HttpProvider::<C>::new(cfg).expect("provider");
        if let Some(ep) = Arc::get_mut(&mut p.ep) {
            ep.key = KeySource::Static(Secret::new("sk-fault-matrix"));
        }
        Arc::new(p)
    }
    match vendor {
        Vendor::Responses => build::<Responses>(ProviderKind::OpenaiResponses, &format!("{base}/v1")),
        Vendor::Anthropic => build::<Messages>(ProviderKind::Anthropic, base),
        Vendor::Chat => build::<Chat>(ProviderKind::OpenaiChat, &format!("{base}/v1")),
    }
}

fn request(task: Task) -> ModelRequest {
    let mut req = super::prompt::request(task.clone());
    if !task.is_interactive() {
        req.prefix.clear();
        req.suffix.clear();
        req.user = "Refactor lines 1-3.".into();
    }
    req
}

async fn run(route: &Route, fault: Fault) -> (Seen, Duration) {
    let server = FakeServer::start(route.vendor.replies(fault)).await;
    let router =
        Router::new(RouteTable::default(), Policy { backoff_base: Duration::from_millis(20), ..Policy::default() });
    let link = Link::Remote(provider(route.vendor, &server.url("")));
    let started = Instant::now();
    let seen = match router.run(request(route.task.clone()), &[link]).await {
        Err(e) => Seen::Error(e.last.as_ref().map_or_else(|| e.to_string(), |l| l.to_string())),
        Ok(Served::Local { .. }) => Seen::Error("local".into()),
        Ok(Served::Remote { mut stream, .. }) => {
            let mut text = String::new();
            let mut end = (None, None);
            while let Some(item) = stream.next().await {
                match item {
                    Ok(StreamEvent::Text(t)) => text.push_str(&t),
                    Ok(ev @ StreamEvent::Done { .. }) => end.0 = ev.truncation(),
                    Ok(StreamEvent::Usage(_)) => {}
                    Err(e) => end.1 = Some(e.to_string()),
                }
            }
            Seen::Text(text, end.0, end.1)
        }
    };
    (seen, started.elapsed())
}

/// The one line the user gets.
fn shown(route: &Route, seen: &Seen) -> String {
    let inline = route.task.is_interactive();
    let quote = |t: &str| {
        let t: String = t.chars().take(24).collect();
        format!("`{}`", t.replace('\n', "⏎"))
    };
    match seen {
        Seen::Error(e) if inline => format!("local suggestions; log: {e}"),
        Seen::Error(e) => format!("error: {e}"),
        Seen::Text(t, None, None) => format!("the answer {}", quote(t)),
        Seen::Text(t, Some(cut), None) => format!("{} so far (`{}`)", quote(t), cut.stop_reason()),
        Seen::Text(t, _, Some(e)) if inline => format!("{} so far; log: {e}", quote(t)),
        Seen::Text(t, _, Some(e)) => format!("{} streamed, then error: {e}", quote(t)),
    }
}

/// What each cell must be; a row that does not hold fails the test.
fn check(route: &Route, fault: Fault, seen: &Seen, took: Duration) {
    let inline = route.task.is_interactive();
    let deadline = Duration::from_millis(if inline { 1000 } else { 2000 });
    assert!(took < deadline + Duration::from_millis(700), "{} × {fault:?}: {took:?}", route.label);
    let err = |needle: &str| match seen {
        Seen::Error(e) => assert!(e.contains(needle), "{} × {fault:?}: {e}", route.label),
        other => panic!("{} × {fault:?}: expected an error with {needle:?}, got {other:?}", route.label),
    };
    let partial_then = |needle: &str| match seen {
        Seen::Text(t, None, Some(e)) => {
            assert!(!t.is_empty() && e.contains(needle), "{} × {fault:?}: {t:?} {e}", route.label)
        }
        other => panic!("{} × {fault:?}: expected text then {needle:?}, got {other:?}", route.label),
    };
    match fault {
        Fault::Status(401 | 403) => err("key was rejected"),
        Fault::Status(404) => err("not found"),
        Fault::Status(413) => err("(413)"),
        Fault::Status(429) => err("rate limited"),
        Fault::Status(503 | 529) => err("overloaded"),
        Fault::Status(_) => err("server error"),
        Fault::HugeErrorBody => err("server error 500"),
        Fault::HugeEvent => err("one stream event passed"),
        Fault::ErrorMidStream if route.vendor == Vendor::Responses => err("error in stream"),
        Fault::ErrorMidStream => partial_then(if route.vendor == Vendor::Anthropic { "overloaded" } else { "error" }),
        Fault::Reset | Fault::Truncated => partial_then("stream closed before"),
        Fault::Drip => err("no answer within"),
        Fault::Endless if inline => {
            assert!(matches!(seen, Seen::Text(t, Some(Truncation::Deadline), None) if t.contains("x x")), "{seen:?}")
        }
        Fault::Endless => partial_then("cut off"),
    }
}

#[tokio::test]
async fn fault_matrix() {
    let routes = [
        Route { label: "inline · openai-responses", vendor: Vendor::Responses, task: Task::Inline },
        Route { label: "refactor · anthropic", vendor: Vendor::Anthropic, task: Task::Refactor },
        Route { label: "inline · openai-chat", vendor: Vendor::Chat, task: Task::Inline },
    ];
    let mut faults: Vec<Fault> = [401, 403, 404, 413, 429, 500, 502, 503, 529].map(Fault::Status).to_vec();
    faults.extend([
        Fault::ErrorMidStream,
        Fault::Reset,
        Fault::Truncated,
        Fault::Drip,
        Fault::Endless,
        Fault::HugeErrorBody,
        Fault::HugeEvent,
    ]);
    let mut table = String::from("| fault | route | what the user sees | time |\n|---|---|---|---|\n");
    for fault in &faults {
        for route in &routes {
            let (seen, took) = run(route, *fault).await;
            check(route, *fault, &seen, took);
            let row = format!(
                "| {} | {} | {} | {} ms |\n",
                fault.label(),
                route.label,
                shown(route, &seen),
                took.as_millis()
            );
            assert!(!row.contains("sk-fault-matrix"), "a key reached a message: {row}");
            table.push_str(&row);
        }
    }
    println!("{table}");
}

#[test]
fn errors_name_the_provider_not_the_key() {
    let e = ProviderError::truncated("codex", Truncation::Deadline, "4s", false);
    assert_eq!(e.to_string(), "codex: no answer within 4s (raise `total_ms` to wait longer)");
}
