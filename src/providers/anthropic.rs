//! `anthropic`: POST `{base}/v1/messages`, streamed (wire-protocols §5). The default action provider.

use std::collections::HashMap;

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

use super::config::ProviderConfig;
use super::error::ProviderError;
use super::http::{AuthStyle, Check, Codec, HttpProvider};
use super::sse::{Decoder, parse_json};
use super::{ModelRequest, ProviderKind, StreamEvent, Task, Usage, prompt};

pub const API_VERSION: &str = "2023-06-01";

/// The Messages wire format. The key goes as `x-api-key`, or as `Authorization: Bearer` when it
/// comes from `ANTHROPIC_AUTH_TOKEN` or the config says `auth = "bearer"` (gateways); never both.
pub struct Messages;

pub type Anthropic = HttpProvider<Messages>;

impl Codec for Messages {
    const KIND: ProviderKind = ProviderKind::Anthropic;
    const AUTH: AuthStyle = AuthStyle::XApiKey;
    type Decoder = MessagesDecoder;

    fn headers(h: &mut HeaderMap) {
        h.insert("anthropic-version", HeaderValue::from_static(API_VERSION));
    }

    /// System blocks with the cache breakpoint on the stable context; no sampling parameters and no
    /// prefill (Claude 5.x rejects both); thinking and effort as configured.
    fn request(cfg: &ProviderConfig, req: &ModelRequest) -> (&'static str, Value) {
        let interactive = req.task.is_interactive();
        let default_max = if interactive { 256 } else { 8192 };
        let max = req.max_output_tokens.or(cfg.max_output_tokens).unwrap_or(default_max);
        let mut system = Vec::new();
        if !req.system.is_empty() {
            system.push(json!({"type": "text", "text": req.system}));
        }
        if !req.context.is_empty() {
            system.push(json!({"type": "text", "text": req.context}));
        }
        if let Some(last) = system.last_mut() {
            last["cache_control"] = json!({"type": "ephemeral"});
        }
        let mut body = json!({
            "model": cfg.model,
            "max_tokens": max,
            "stream": true,
            "messages": [{"role": "user", "content": prompt::task_text(req)}],
        });
        if !system.is_empty() {
            body["system"] = Value::Array(system);
        }
        match &cfg.thinking {
            None => body["thinking"] = json!({"type": "adaptive", "display": "omitted"}),
            Some(Value::Bool(false) | Value::Null) => {}
            Some(Value::String(s)) if s == "off" => {}
            Some(t) => body["thinking"] = t.clone(),
        }
        let default_effort = match req.task {
            Task::Inline | Task::Complete | Task::Explain => "low",
            _ => "medium",
        };
        let effort = cfg.reasoning_effort.as_deref().unwrap_or(default_effort);
        if effort != "off" {
            body["output_config"] = json!({"effort": effort});
        }
        if !req.stop.is_empty() {
            body["stop_sequences"] = json!(req.stop);
        }
        ("/v1/messages", body)
    }

    fn decoder(provider: &str) -> MessagesDecoder {
        MessagesDecoder::new(provider)
    }

    fn check() -> Check {
        Check::Models { path: "/v1/models?limit=1000", list: "data", id: "id" }
    }
}

/// Text blocks by type (thinking blocks may come first), cumulative usage, mid-stream errors.
pub struct MessagesDecoder {
    provider: String,
    block_types: HashMap<u64, String>,
    usage: Usage,
    stop_reason: Option<String>,
}

impl MessagesDecoder {
    pub fn new(provider: &str) -> Self {
        MessagesDecoder {
            provider: provider.to_owned(),
            block_types: HashMap::new(),
            usage: Usage::default(),
            stop_reason: None,
        }
    }

    /// Usage fields are cumulative: a present field replaces the earlier value.
    fn update_usage(&mut self, u: &Value) {
        let n = |k: &str| u.get(k).and_then(Value::as_u64);
        let (input, created, read) =
            (n("input_tokens"), n("cache_creation_input_tokens"), n("cache_read_input_tokens"));
        if input.is_some() || created.is_some() || read.is_some() {
            let old_read = self.usage.cached_input_tokens;
            let old_rest = self.usage.input_tokens - old_read;
            let read = read.unwrap_or(old_read);
            let rest = match (input, created) {
                (None, None) => old_rest,
                _ => input.unwrap_or(0) + created.unwrap_or(0),
            };
            self.usage.cached_input_tokens = read;
            self.usage.input_tokens = rest + read;
        }
        if let Some(out) = n("output_tokens") {
            self.usage.output_tokens = out;
        }
    }
}

impl Decoder for MessagesDecoder {
    fn decode(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<bool, ProviderError> {
        let v = parse_json(&self.provider, data)?;
        match v.get("type").and_then(Value::as_str).unwrap_or("") {
            "message_start" => {
                if let Some(u) = v.pointer("/message/usage") {
                    self.update_usage(u);
                }
            }
            "content_block_start" => {
                if let (Some(i), Some(t)) =
                    (v.get("index").and_then(Value::as_u64), v.pointer("/content_block/type").and_then(Value::as_str))
                {
                    self.block_types.insert(i, t.to_owned());
                }
            }
            "content_block_delta" => {
                let index = v.get("index").and_then(Value::as_u64);
                let is_text_block = index.and_then(|i| self.block_types.get(&i)).is_none_or(|t| t == "text");
                if is_text_block
                    && v.pointer("/delta/type").and_then(Value::as_str) == Some("text_delta")
                    && let Some(text) = v.pointer("/delta/text").and_then(Value::as_str)
                    && !text.is_empty()
                {
                    out.push(StreamEvent::Text(text.to_owned()));
                }
            }
            "message_delta" => {
                if let Some(u) = v.get("usage") {
                    self.update_usage(u);
                }
                if let Some(r) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(r.to_owned());
                }
            }
            "message_stop" => {
                out.push(StreamEvent::Usage(self.usage));
                out.push(StreamEvent::Done { stop_reason: self.stop_reason.take() });
                return Ok(true);
            }
            "error" => {
                let kind = v.pointer("/error/type").and_then(Value::as_str).unwrap_or("error");
                let message = v.pointer("/error/message").and_then(Value::as_str).unwrap_or("");
                return Err(ProviderError::in_stream(&self.provider, kind, message));
            }
            _ => {} // ping and anything new
        }
        Ok(false)
    }

    fn terminal(&self) -> &'static str {
        "message_stop"
    }
}

#[cfg(test)]
mod tests {
    use super::super::Provider;
    use super::super::fake_server::{FakeServer, Reply};
    use super::super::keys::KeySource;
    use super::super::prompt::request;
    use super::super::sse::Framing;
    use super::super::sse::testing::*;
    use super::*;
    use futures_util::{StreamExt, TryStreamExt};
    use std::sync::Arc;
    use std::time::Duration;

    fn provider(base: &str) -> Anthropic {
        let mut cfg = ProviderConfig::new("claude", ProviderKind::Anthropic, "claude-sonnet-5-5");
        cfg.base_url = Some(base.to_owned());
        cfg.api_key_cmd = Some(super::super::config::CommandLine::Argv(vec!["printf".into(), "sk-ant-test".into()]));
        Anthropic::new(cfg).unwrap()
    }

    fn action() -> ModelRequest {
        ModelRequest {
            prefix: String::new(),
            suffix: String::new(),
            user: "Explain lines 1-3.".into(),
            ..request(Task::Explain)
        }
    }

    #[tokio::test]
    async fn fixtures_decode_in_any_chunking() {
        let text = check_all_chunkings(ANTHROPIC_TEXT, Framing::Sse, || MessagesDecoder::new("claude")).await;
        assert_eq!(text.text(), "Hello there!");
        assert_eq!(text.error, None);
        assert!(text.events.contains(&StreamEvent::Usage(Usage {
            input_tokens: 11,
            cached_input_tokens: 0,
            output_tokens: 6
        })));
        assert_eq!(text.events.last(), Some(&StreamEvent::Done { stop_reason: Some("end_turn".into()) }));

        let thinking = check_all_chunkings(ANTHROPIC_THINKING, Framing::Sse, || MessagesDecoder::new("claude")).await;
        assert_eq!(thinking.text(), "This function computes the greatest common divisor.");
        let usage = Usage { input_tokens: 9 + 2122 + 12366, cached_input_tokens: 12366, output_tokens: 57 };
        assert!(thinking.events.contains(&StreamEvent::Usage(usage)), "{:?}", thinking.events);

        let over = check_all_chunkings(ANTHROPIC_OVERLOADED, Framing::Sse, || MessagesDecoder::new("claude")).await;
        assert_eq!(over.text(), "Hel");
        let e = over.error.unwrap();
        assert!(matches!(e, ProviderError::Overloaded { .. }) && e.retryable(), "{e:?}");
    }

    #[test]
    fn request_body_follows_the_contract() {
        let p = provider("http://127.0.0.1:1");
        let b = p.body(&action());
        assert_eq!(b["system"][0]["text"], "You complete code.");
        assert!(b["system"][0].get("cache_control").is_none());
        assert_eq!(b["system"][1]["cache_control"]["type"], "ephemeral");
        assert_eq!(b["messages"], json!([{"role": "user", "content": "Explain lines 1-3."}]));
        assert_eq!(b["thinking"], json!({"type": "adaptive", "display": "omitted"}));
        assert_eq!(b["output_config"]["effort"], "low");
        for k in ["temperature", "top_p", "top_k"] {
            assert!(b.get(k).is_none());
        }
        let mut old = provider("http://127.0.0.1:1");
        old.cfg.thinking = Some(Value::Bool(false));
        old.cfg.reasoning_effort = Some("off".into());
        let b = old.body(&action());
        assert!(b.get("thinking").is_none() && b.get("output_config").is_none());
    }

    #[tokio::test]
    async fn happy_path_and_headers() {
        let server =
            FakeServer::start(vec![Reply::sse_events(ANTHROPIC_THINKING, Duration::from_millis(3)).chunked()]).await;
        let p = provider(&server.url(""));
        let events: Vec<_> = p.stream(action()).await.unwrap().try_collect().await.unwrap();
        assert!(events.contains(&StreamEvent::Text("This function".into())));
        let r = &server.requests().await[0];
        assert_eq!(r.path, "/v1/messages");
        assert_eq!(r.header("x-api-key").as_deref(), Some("sk-ant-test"));
        assert_eq!(r.header("anthropic-version").as_deref(), Some(API_VERSION));
        assert_eq!(r.header("authorization"), None);
    }

    #[tokio::test]
    async fn errors_before_and_inside_the_stream() {
        let server = FakeServer::start(vec![
            Reply::status(401, &[], r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#),
            Reply::status(529, &[], r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#),
            Reply::status(429, &[("retry-after", "7")], r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your rate limit"}}"#),
            Reply::sse_events(ANTHROPIC_OVERLOADED, Duration::from_millis(2)),
        ])
        .await;
        let p = provider(&server.url(""));
        let auth = p.stream(action()).await.err().unwrap();
        assert!(auth.is_auth() && auth.to_string().contains("claude"), "{auth}");
        assert!(matches!(p.stream(action()).await.err().unwrap(), ProviderError::Overloaded { .. }));
        let rl = p.stream(action()).await.err().unwrap();
        assert_eq!(rl.retry_after(), Some(Duration::from_secs(7)));
        assert!(rl.retryable());
        let mut s = p.stream(action()).await.unwrap();
        assert_eq!(s.next().await, Some(Ok(StreamEvent::Text("Hel".into()))));
        assert!(matches!(s.next().await, Some(Err(ProviderError::Overloaded { .. }))));
        assert_eq!(s.next().await, None);
    }

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    /// Which variable and which header, decided as the SDKs and Claude Code do.
    fn key_and_auth(cfg: ProviderConfig, env: &[(&str, &str)]) -> (KeySource, AuthStyle, String) {
        let p = Anthropic::new_in(cfg, &env_of(env)).unwrap();
        (p.ep.key.clone(), p.ep.auth, p.ep.base_url.clone())
    }

    #[test]
    fn auth_token_wins_over_the_api_key_and_goes_as_bearer() {
        let cfg = || ProviderConfig::new("claude", ProviderKind::Anthropic, "claude-sonnet-5-5");
        let env = |var: &str| KeySource::Env { var: var.into(), optional: false };
        let both = [("ANTHROPIC_AUTH_TOKEN", "tok"), ("ANTHROPIC_API_KEY", "key")];
        assert_eq!(key_and_auth(cfg(), &both), (env("ANTHROPIC_AUTH_TOKEN"), AuthStyle::Bearer, DEFAULT_URL.into()));
        let key_only = [("ANTHROPIC_API_KEY", "key")];
        assert_eq!(key_and_auth(cfg(), &key_only).0, env("ANTHROPIC_API_KEY"));
        assert_eq!(key_and_auth(cfg(), &key_only).1, AuthStyle::XApiKey);
        let blank = [("ANTHROPIC_AUTH_TOKEN", "  "), ("ANTHROPIC_API_KEY", "key")];
        assert_eq!(key_and_auth(cfg(), &blank).0, env("ANTHROPIC_API_KEY"));

        // A gateway named by ANTHROPIC_BASE_URL (the user's environment) gets the token.
        let gateway = [("ANTHROPIC_AUTH_TOKEN", "tok"), ("ANTHROPIC_BASE_URL", "https://llm.corp.example/")];
        let got = key_and_auth(cfg(), &gateway);
        assert_eq!(got, (env("ANTHROPIC_AUTH_TOKEN"), AuthStyle::Bearer, "https://llm.corp.example".into()));

        // Explicit settings win: api_key_env / api_key_cmd, and `auth`.
        let mut named = cfg();
        named.api_key_env = Some("ANTHROPIC_API_KEY".into());
        assert_eq!(key_and_auth(named, &both).1, AuthStyle::XApiKey);
        let mut cmd = cfg();
        cmd.api_key_cmd = Some(super::super::config::CommandLine::Line("pass show claude".into()));
        assert_eq!(key_and_auth(cmd.clone(), &both).1, AuthStyle::XApiKey);
        cmd.auth = Some(AuthStyle::Bearer);
        assert_eq!(key_and_auth(cmd, &both).1, AuthStyle::Bearer);
        let mut header = cfg();
        header.auth = Some(AuthStyle::XApiKey);
        assert_eq!(key_and_auth(header, &both), (env("ANTHROPIC_AUTH_TOKEN"), AuthStyle::XApiKey, DEFAULT_URL.into()));

        // A base_url from the config (maybe a cloned repo's) gets no default key, token or not.
        let mut custom = cfg();
        custom.base_url = Some("https://elsewhere.example".into());
        assert_eq!(key_and_auth(custom, &both).0, KeySource::None);
    }

    const DEFAULT_URL: &str = "https://api.anthropic.com";

    #[tokio::test]
    async fn bearer_replaces_x_api_key_on_the_wire() {
        let models = r#"{"data":[{"id":"claude-sonnet-5-5"}]}"#;
        let server =
            FakeServer::start(vec![Reply::sse_events(ANTHROPIC_TEXT, Duration::ZERO), Reply::status(200, &[], models)])
                .await;
        let mut cfg = provider(&server.url("")).cfg;
        cfg.auth = Some(AuthStyle::Bearer);
        // A stale credential in `headers` must not go out beside the key.
        cfg.headers.insert("x-api-key".into(), "stale".into());
        let p = Anthropic::new(cfg).unwrap();
        let events: Vec<_> = p.stream(action()).await.unwrap().try_collect().await.unwrap();
        assert!(events.contains(&StreamEvent::Text("Hello".into())));
        let report = p.check().await;
        assert!(report.ok, "{}", report.verdict);
        assert!(report.verdict.contains("api_key_cmd `printf` as Authorization: Bearer"), "{}", report.verdict);
        assert!(!report.verdict.contains("sk-ant-test"));
        for r in server.requests().await {
            assert_eq!(r.header("authorization").as_deref(), Some("Bearer sk-ant-test"), "{}", r.path);
            assert_eq!(r.header("x-api-key"), None, "{}", r.path);
            assert_eq!(r.header("anthropic-version").as_deref(), Some(API_VERSION));
        }
    }

    #[tokio::test]
    async fn a_bearer_token_never_goes_over_plain_http() {
        let gateway = [("ANTHROPIC_AUTH_TOKEN", "sk-tok-SECRET"), ("ANTHROPIC_BASE_URL", "http://llm.corp.example")];
        let cfg = ProviderConfig::new("claude", ProviderKind::Anthropic, "claude-sonnet-5-5");
        let mut p = Anthropic::new_in(cfg, &env_of(&gateway)).unwrap();
        assert_eq!(p.ep.auth, AuthStyle::Bearer);
        // Stands for the resolved token: this test does not touch the process environment.
        Arc::make_mut(&mut p.ep).key = KeySource::Static(super::super::Secret::new("sk-tok-SECRET"));
        let err = p.stream(action()).await.err().unwrap();
        assert!(matches!(err, ProviderError::Refused { .. }), "{err}");
        assert!(!err.to_string().contains("SECRET"));
    }

    #[tokio::test]
    async fn dropping_the_stream_hangs_up() {
        let server = FakeServer::start(vec![Reply::sse_events(ANTHROPIC_TEXT, Duration::from_millis(150))]).await;
        let p = provider(&server.url(""));
        let mut s = p.stream(action()).await.unwrap();
        assert_eq!(s.next().await, Some(Ok(StreamEvent::Text("Hello".into()))));
        drop(s);
        assert!(server.wait_hangup(Duration::from_secs(3)).await);
    }
}
