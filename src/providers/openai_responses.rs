//! `openai-responses`: POST `{base}/responses`, streamed (wire-protocols §2). The default inline provider.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::config::ProviderConfig;
use super::error::ProviderError;
use super::http::{Check, Codec, HttpProvider};
use super::sse::{Decoder, parse_json};
use super::{ModelRequest, ProviderKind, StreamEvent, Usage, prompt};

/// The Responses wire format.
pub struct Responses;

pub type OpenAiResponses = HttpProvider<Responses>;

impl Codec for Responses {
    const KIND: ProviderKind = ProviderKind::OpenaiResponses;
    type Decoder = ResponsesDecoder;

    /// Stable parts first, no sampling parameters, nothing stored.
    fn request(cfg: &ProviderConfig, req: &ModelRequest) -> (&'static str, Value) {
        let interactive = req.task.is_interactive();
        let default_max = if interactive { 128 } else { 4096 };
        // The API rejects max_output_tokens below 16.
        let max = req.max_output_tokens.or(cfg.max_output_tokens).unwrap_or(default_max).max(16);
        let mut body = json!({
            "model": cfg.model,
            "input": [{"role": "user", "content": [{"type": "input_text", "text": prompt::with_context(req)}]}],
            "stream": true,
            "stream_options": {"include_obfuscation": false},
            "store": false,
            "max_output_tokens": max,
        });
        if !req.system.is_empty() {
            body["instructions"] = json!(req.system);
        }
        let effort = cfg.reasoning_effort.as_deref().or(interactive.then_some("none"));
        if let Some(effort) = effort.filter(|e| *e != "off") {
            body["reasoning"] = json!({ "effort": effort });
        }
        let verbosity = cfg.verbosity.as_deref().or(interactive.then_some("low"));
        if let Some(v) = verbosity.filter(|v| *v != "off") {
            body["text"] = json!({ "verbosity": v });
        }
        if let Some(key) = &req.cache_key {
            body["prompt_cache_key"] = json!(key);
        }
        ("/responses", body)
    }

    fn decoder(provider: &str) -> ResponsesDecoder {
        ResponsesDecoder::new(provider)
    }

    fn check() -> Check {
        Check::Models { path: "/models", list: "data", id: "id" }
    }
}

/// Text deltas of message items, usage on the terminal event, both error shapes.
pub struct ResponsesDecoder {
    provider: String,
    /// Output indices of items that are not messages (reasoning, tools): their text is not ours.
    foreign: HashSet<u64>,
}

impl ResponsesDecoder {
    pub fn new(provider: &str) -> Self {
        ResponsesDecoder { provider: provider.to_owned(), foreign: HashSet::new() }
    }
}

fn usage(response: &Value) -> Option<Usage> {
    let u = response.get("usage").filter(|u| u.is_object())?;
    let n = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
    Some(Usage {
        input_tokens: n(u.get("input_tokens")),
        cached_input_tokens: n(u.pointer("/input_tokens_details/cached_tokens")),
        output_tokens: n(u.get("output_tokens")),
    })
}

fn str_at<'a>(v: &'a Value, ptrs: &[&str]) -> &'a str {
    ptrs.iter().find_map(|p| v.pointer(p).and_then(Value::as_str)).unwrap_or("")
}

impl Decoder for ResponsesDecoder {
    fn decode(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<bool, ProviderError> {
        let v = parse_json(&self.provider, data)?;
        match v.get("type").and_then(Value::as_str).unwrap_or("") {
            "response.output_item.added" => {
                if v.pointer("/item/type").and_then(Value::as_str) != Some("message")
                    && let Some(i) = v.get("output_index").and_then(Value::as_u64)
                {
                    self.foreign.insert(i);
                }
            }
            "response.output_text.delta" => {
                let index = v.get("output_index").and_then(Value::as_u64);
                let delta = v.get("delta").and_then(Value::as_str).unwrap_or("");
                if !delta.is_empty() && !index.is_some_and(|i| self.foreign.contains(&i)) {
                    out.push(StreamEvent::Text(delta.to_owned()));
                }
            }
            kind @ ("response.completed" | "response.incomplete") => {
                let response = v.get("response").unwrap_or(&Value::Null);
                if let Some(u) = usage(response) {
                    out.push(StreamEvent::Usage(u));
                }
                let reason = match kind {
                    "response.completed" => "completed",
                    _ => str_at(response, &["/incomplete_details/reason"]),
                };
                let stop_reason = Some(if reason.is_empty() { "incomplete" } else { reason }.to_owned());
                out.push(StreamEvent::Done { stop_reason });
                return Ok(true);
            }
            "response.failed" => {
                let code = str_at(&v, &["/response/error/code"]);
                let message = str_at(&v, &["/response/error/message"]);
                return Err(ProviderError::in_stream(&self.provider, code, message));
            }
            "error" => {
                // Flat as documented, or nested as sent in production.
                let code = str_at(&v, &["/code", "/error/code", "/error/type"]);
                let message = str_at(&v, &["/message", "/error/message"]);
                return Err(ProviderError::in_stream(&self.provider, code, message));
            }
            _ => {}
        }
        Ok(false)
    }

    fn terminal(&self) -> &'static str {
        "response.completed"
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake_server::{FakeServer, Reply};
    use super::super::prompt::request;
    use super::super::sse::Framing;
    use super::super::sse::testing::*;
    use super::super::{ModelRequest, Provider, Task};
    use super::*;
    use futures_util::{StreamExt, TryStreamExt};
    use std::sync::Arc;
    use std::time::Duration;

    fn provider(base: &str) -> OpenAiResponses {
        let mut cfg = ProviderConfig::new("codex", ProviderKind::OpenaiResponses, "gpt-5.4-mini");
        cfg.base_url = Some(base.to_owned());
        let mut p = OpenAiResponses::new(cfg).unwrap();
        if let Some(ep) = Arc::get_mut(&mut p.ep) {
            ep.key = super::super::keys::KeySource::Static(super::super::Secret::new("sk-test-123"));
        }
        p
    }

    #[tokio::test]
    async fn fixtures_decode_in_any_chunking() {
        let ok = check_all_chunkings(OPENAI_TEXT, Framing::Sse, || ResponsesDecoder::new("codex")).await;
        assert_eq!(ok.text(), "a + b");
        assert_eq!(ok.error, None);
        assert!(ok.events.contains(&StreamEvent::Usage(Usage {
            input_tokens: 412,
            cached_input_tokens: 384,
            output_tokens: 3
        })));
        assert_eq!(ok.events.last(), Some(&StreamEvent::Done { stop_reason: Some("completed".into()) }));

        let failed = check_all_chunkings(OPENAI_FAILED, Framing::Sse, || ResponsesDecoder::new("codex")).await;
        let e = failed.error.unwrap();
        assert!(matches!(e, ProviderError::RateLimited { fatal: false, .. }), "{e:?}");
        assert_eq!(e.retry_after(), Some(Duration::from_millis(11054)));

        let flat = check_all_chunkings(OPENAI_ERROR_FLAT, Framing::Sse, || ResponsesDecoder::new("codex")).await;
        assert!(matches!(flat.error, Some(ProviderError::Stream { ref code, .. }) if code == "server_error"));
        let nested = check_all_chunkings(OPENAI_ERROR_NESTED, Framing::Sse, || ResponsesDecoder::new("codex")).await;
        assert!(matches!(nested.error, Some(ProviderError::RateLimited { .. })), "{:?}", nested.error);
    }

    #[tokio::test]
    async fn incomplete_keeps_text_and_reasoning_text_is_not_ours() {
        let body = concat!(
            "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"type\":\"reasoning\"}}\n\n",
            "data: {\"type\":\"response.output_text.delta\",\"output_index\":0,\"delta\":\"thinking\"}\n\n",
            "data: {\"type\":\"response.output_item.added\",\"output_index\":1,\"item\":{\"type\":\"message\"}}\n\n",
            "data: {\"type\":\"response.output_text.delta\",\"output_index\":1,\"delta\":\"x\"}\n\n",
            "data: {\"type\":\"response.some_future_event\"}\n\n",
            "data: {\"type\":\"response.incomplete\",\"response\":{\"incomplete_details\":{\"reason\":\"max_output_tokens\"},\"usage\":null}}\n\n",
        );
        let out = run(vec![body.as_bytes().to_vec()], Framing::Sse, ResponsesDecoder::new("codex")).await;
        assert_eq!(out.text(), "x");
        assert_eq!(out.events.last(), Some(&StreamEvent::Done { stop_reason: Some("max_output_tokens".into()) }));
    }

    #[test]
    fn request_body_follows_the_contract() {
        let p = provider("http://127.0.0.1:1/v1");
        let b = p.body(&request(Task::Inline));
        assert_eq!(b["stream"], true);
        assert_eq!(b["store"], false);
        assert_eq!(b["stream_options"]["include_obfuscation"], false);
        assert_eq!(b["reasoning"]["effort"], "none");
        assert_eq!(b["text"]["verbosity"], "low");
        assert_eq!(b["prompt_cache_key"], "switchboard:abc");
        assert_eq!(b["instructions"], "You complete code.");
        assert_eq!(b["max_output_tokens"], 64);
        assert!(b.get("temperature").is_none() && b.get("top_p").is_none());
        let text = b["input"][0]["content"][0]["text"].as_str().unwrap();
        assert!(text.starts_with("path: src/lib.rs\n") && text.contains("    <CURSOR>\n}"));
        let small = ModelRequest { max_output_tokens: Some(3), ..request(Task::Inline) };
        assert_eq!(p.body(&small)["max_output_tokens"], 16);
        let action = p.body(&request(Task::Explain));
        assert!(action.get("text").is_none() && action.get("reasoning").is_none());
    }

    #[tokio::test]
    async fn happy_path_over_http() {
        let server = FakeServer::start(vec![Reply::sse_events(OPENAI_TEXT, Duration::from_millis(5))]).await;
        let p = provider(&server.url("/v1"));
        let events: Vec<_> = p.stream(request(Task::Inline)).await.unwrap().try_collect().await.unwrap();
        let text: String =
            events.iter().filter_map(|e| if let StreamEvent::Text(t) = e { Some(t.as_str()) } else { None }).collect();
        assert_eq!(text, "a + b");
        let seen = server.requests().await;
        assert_eq!((seen[0].method.as_str(), seen[0].path.as_str()), ("POST", "/v1/responses"));
        assert_eq!(seen[0].header("authorization").as_deref(), Some("Bearer sk-test-123"));
        let body: Value = serde_json::from_str(&seen[0].body).unwrap();
        assert_eq!(body["model"], "gpt-5.4-mini");
    }

    #[tokio::test]
    async fn http_errors_are_classified() {
        let server = FakeServer::start(vec![
            Reply::status(401, &[], r#"{"error":{"message":"Incorrect API key provided: sk-te***23","type":"invalid_request_error","code":"invalid_api_key"}}"#),
            Reply::status(404, &[], r#"{"error":{"message":"The model `gpt-5.4-mini` does not exist","type":"invalid_request_error","code":"model_not_found"}}"#),
            Reply::status(429, &[("retry-after", "2")], r#"{"error":{"message":"Rate limit reached","type":"tokens","code":"rate_limit_exceeded"}}"#),
            Reply::status(500, &[], r#"{"error":{"message":"server error","type":"server_error","code":null}}"#),
            Reply::status(503, &[], r#"{"error":{"message":"slow down","type":"server_error","code":"slow_down"}}"#),
        ])
        .await;
        let p = provider(&server.url("/v1"));
        let mut errors = Vec::new();
        for _ in 0..5 {
            errors.push(p.stream(request(Task::Inline)).await.err().unwrap());
        }
        assert!(errors[0].is_auth());
        let msg = errors[0].to_string();
        assert!(msg.contains("codex") && !msg.contains("sk-test-123"), "{msg}");
        assert!(matches!(errors[1], ProviderError::ModelNotFound { .. }));
        assert_eq!(errors[2].retry_after(), Some(Duration::from_secs(2)));
        assert!(matches!(errors[3], ProviderError::Server { status: 500, .. }));
        assert!(matches!(errors[4], ProviderError::Overloaded { .. }));
    }

    #[tokio::test]
    async fn mid_stream_failures() {
        let half: String = OPENAI_TEXT.split("event: response.output_text.done").next().unwrap().to_owned();
        let server = FakeServer::start(vec![
            Reply::sse_events(OPENAI_ERROR_NESTED, Duration::from_millis(2)),
            Reply::sse_events(&half, Duration::from_millis(2)),
            Reply::sse_events(&half, Duration::from_millis(2)).cut(),
        ])
        .await;
        let p = provider(&server.url("/v1"));
        let r: Result<Vec<_>, _> = p.stream(request(Task::Inline)).await.unwrap().try_collect().await;
        assert!(matches!(r, Err(ProviderError::RateLimited { .. })));
        for _ in 0..2 {
            let mut s = p.stream(request(Task::Inline)).await.unwrap();
            let mut text = String::new();
            let err = loop {
                match s.next().await {
                    Some(Ok(StreamEvent::Text(t))) => text.push_str(&t),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break e,
                    None => panic!("no error"),
                }
            };
            assert_eq!(text, "a + b");
            assert!(matches!(err, ProviderError::StreamClosed { .. }), "{err:?}");
            assert!(err.retryable());
        }
    }

    #[tokio::test]
    async fn slow_first_byte_times_out() {
        let server =
            FakeServer::start(vec![Reply::sse_events(OPENAI_TEXT, Duration::ZERO).delay(Duration::from_millis(500))])
                .await;
        let mut p = provider(&server.url("/v1"));
        p.cfg.inline_timeouts.first_byte_ms = Some(100);
        p.cfg.inline_timeouts.connect_ms = Some(50);
        let err = p.stream(request(Task::Inline)).await.err().unwrap();
        assert!(matches!(err, ProviderError::Timeout { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn dropping_the_stream_hangs_up() {
        let server = FakeServer::start(vec![Reply::sse_events(OPENAI_TEXT, Duration::from_millis(200))]).await;
        let p = provider(&server.url("/v1"));
        let mut s = p.stream(request(Task::Inline)).await.unwrap();
        assert_eq!(s.next().await, Some(Ok(StreamEvent::Text("a".into()))));
        drop(s);
        assert!(server.wait_hangup(Duration::from_secs(3)).await, "server did not see the hang-up");
    }

    #[tokio::test]
    async fn key_is_refused_over_plain_http_to_remote_hosts() {
        // 192.0.2.0/24 is TEST-NET-1: never routed, so a connection attempt would hang, not succeed.
        let p = provider("http://192.0.2.1/v1");
        let started = std::time::Instant::now();
        let err = p.stream(request(Task::Inline)).await.err().unwrap();
        assert!(matches!(err, ProviderError::Refused { .. }), "{err:?}");
        assert!(started.elapsed() < Duration::from_millis(500));
        assert!(!format!("{err:?} {err}").contains("sk-test-123"));
        assert!(!format!("{:?}", p.ep).contains("sk-test-123"));
    }

    #[tokio::test]
    async fn check_lists_the_model() {
        let models =
            r#"{"object":"list","data":[{"id":"gpt-5.4-mini","object":"model"},{"id":"gpt-6-luna","object":"model"}]}"#;
        let server = FakeServer::start(vec![
            Reply::status(200, &[("content-type", "application/json")], models),
            Reply::status(401, &[], r#"{"error":{"message":"bad key","code":"invalid_api_key"}}"#),
        ])
        .await;
        let p = provider(&server.url("/v1"));
        let ok = p.check().await;
        assert!(ok.ok && ok.model_listed == Some(true) && ok.key_accepted == Some(true), "{ok:?}");
        let bad = p.check().await;
        assert!(!bad.ok && bad.key_accepted == Some(false) && bad.reachable, "{bad:?}");
        assert!(bad.verdict.contains("codex"));
    }
}
