//! `openai-chat`: POST `{base}/chat/completions`, streamed (wire-protocols §3), for OpenAI-compatible
//! servers (Ollama, vLLM, LM Studio, OpenRouter, LiteLLM).

use serde_json::{Value, json};

use super::config::ProviderConfig;
use super::error::ProviderError;
use super::http::{Check, Codec, HttpProvider};
use super::sse::{Decoder, parse_json};
use super::{ModelRequest, ProviderKind, StreamEvent, Usage, prompt};

/// The Chat Completions wire format.
pub struct Chat;

pub type OpenAiChat = HttpProvider<Chat>;

impl Codec for Chat {
    const KIND: ProviderKind = ProviderKind::OpenaiChat;
    type Decoder = ChunkDecoder;

    fn request(cfg: &ProviderConfig, req: &ModelRequest) -> (&'static str, Value) {
        let interactive = req.task.is_interactive();
        let default_max = if interactive { 128 } else { 4096 };
        let max = req.max_output_tokens.or(cfg.max_output_tokens).unwrap_or(default_max);
        let mut messages = Vec::new();
        if !req.system.is_empty() {
            messages.push(json!({"role": "system", "content": req.system}));
        }
        messages.push(json!({"role": "user", "content": prompt::with_context(req)}));
        let mut body = json!({
            "model": cfg.model,
            "messages": messages,
            "stream": true,
            "stream_options": {"include_usage": true},
            // max_tokens is rejected by reasoning models; every compatible server knows this one.
            "max_completion_tokens": max,
        });
        if let Some(e) = cfg.reasoning_effort.as_deref().filter(|e| *e != "off") {
            body["reasoning_effort"] = json!(e);
        }
        if let Some(v) = cfg.verbosity.as_deref().filter(|v| *v != "off") {
            body["verbosity"] = json!(v);
        }
        if !req.stop.is_empty() {
            body["stop"] = json!(req.stop.iter().take(4).collect::<Vec<_>>());
        }
        if let Some(key) = &req.cache_key {
            body["prompt_cache_key"] = json!(key);
        }
        ("/chat/completions", body)
    }

    fn decoder(provider: &str) -> ChunkDecoder {
        ChunkDecoder::chat(provider)
    }

    fn check() -> Check {
        Check::Models { path: "/models", list: "data", id: "id" }
    }
}

/// Chat and legacy-completions chunks: text from `choices[0].delta.content` (chat) or
/// `choices[0].text` (completions), usage from the final chunk, `[DONE]` ends, `error` fails.
pub struct ChunkDecoder {
    provider: String,
    chat: bool,
    stop_reason: Option<String>,
}

impl ChunkDecoder {
    pub fn chat(provider: &str) -> Self {
        ChunkDecoder { provider: provider.to_owned(), chat: true, stop_reason: None }
    }

    pub fn completions(provider: &str) -> Self {
        ChunkDecoder { provider: provider.to_owned(), chat: false, stop_reason: None }
    }
}

impl Decoder for ChunkDecoder {
    fn decode(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<bool, ProviderError> {
        if data.trim() == "[DONE]" {
            out.push(StreamEvent::Done { stop_reason: self.stop_reason.take() });
            return Ok(true);
        }
        let v = parse_json(&self.provider, data)?;
        if let Some(e) = v.get("error") {
            let text = |k: &str| match e.get(k) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            let message = if e.is_string() { e.as_str().unwrap_or("").to_owned() } else { text("message") };
            let code =
                [text("code"), text("type")].into_iter().find(|c| !c.is_empty()).unwrap_or_else(|| "error".into());
            return Err(ProviderError::in_stream(&self.provider, &code, &message));
        }
        if let Some(choice) = v.pointer("/choices/0") {
            let text = if self.chat { choice.pointer("/delta/content") } else { choice.get("text") };
            if let Some(t) = text.and_then(Value::as_str).filter(|t| !t.is_empty()) {
                out.push(StreamEvent::Text(t.to_owned()));
            }
            if let Some(r) = choice.get("finish_reason").and_then(Value::as_str) {
                self.stop_reason = Some(r.to_owned());
            }
        }
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            let n = |p: &str| u.pointer(p).and_then(Value::as_u64).unwrap_or(0);
            out.push(StreamEvent::Usage(Usage {
                input_tokens: n("/prompt_tokens"),
                cached_input_tokens: n("/prompt_tokens_details/cached_tokens"),
                output_tokens: n("/completion_tokens"),
            }));
        }
        Ok(false)
    }

    fn terminal(&self) -> &'static str {
        "[DONE]"
    }
}

#[cfg(test)]
mod tests {
    use super::super::Provider;
    use super::super::Task;
    use super::super::fake_server::{FakeServer, Reply};
    use super::super::prompt::request;
    use super::super::sse::Framing;
    use super::super::sse::testing::*;
    use super::*;
    use futures_util::TryStreamExt;
    use std::time::Duration;

    #[tokio::test]
    async fn fixture_decodes_in_any_chunking() {
        let out = check_all_chunkings(CHAT_TEXT, Framing::Sse, || ChunkDecoder::chat("chat")).await;
        assert_eq!(out.text(), "a + b");
        assert_eq!(out.error, None);
        assert!(out.events.contains(&StreamEvent::Usage(Usage {
            input_tokens: 412,
            cached_input_tokens: 384,
            output_tokens: 3
        })));
        assert_eq!(out.events.last(), Some(&StreamEvent::Done { stop_reason: Some("stop".into()) }));
        let err = "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\ndata: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\",\"code\":null}}\n\n";
        let out = run(vec![err.as_bytes().to_vec()], Framing::Sse, ChunkDecoder::chat("chat")).await;
        assert_eq!(out.text(), "x");
        assert!(matches!(out.error, Some(ProviderError::Stream { .. })));
    }

    #[tokio::test]
    async fn local_server_without_key() {
        let server = FakeServer::start(vec![Reply::sse_events(CHAT_TEXT, Duration::from_millis(2))]).await;
        let mut cfg = ProviderConfig::new("lmstudio", ProviderKind::OpenaiChat, "qwen");
        cfg.base_url = Some(server.url("/v1"));
        let p = OpenAiChat::new(cfg).unwrap();
        let body = p.body(&request(Task::Inline));
        assert!(body.get("max_tokens").is_none() && body["max_completion_tokens"] == 64);
        assert_eq!(body["stream_options"]["include_usage"], true);
        let events: Vec<_> = p.stream(request(Task::Inline)).await.unwrap().try_collect().await.unwrap();
        assert!(events.contains(&StreamEvent::Text(" + b".into())));
        let r = &server.requests().await[0];
        assert_eq!(r.path, "/v1/chat/completions");
    }
}
