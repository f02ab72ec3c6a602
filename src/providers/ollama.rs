//! `ollama`: POST `{base}/api/generate` with `suffix`, NDJSON stream (wire-protocols §4.2); Ollama adds
//! the model's own fill-in-the-middle tokens.

use serde_json::{Value, json};

use super::config::ProviderConfig;
use super::error::ProviderError;
use super::http::{Check, Codec, HttpProvider};
use super::sse::{Decoder, Framing, parse_json};
use super::{ModelRequest, ProviderKind, StreamEvent, Usage, prompt};
use crate::context::format::{self, Kind, Rendered};

/// Ollama's native `/api/generate` format.
pub struct Generate;

pub type Ollama = HttpProvider<Generate>;

impl Codec for Generate {
    const KIND: ProviderKind = ProviderKind::Ollama;
    const FRAMING: Framing = Framing::Ndjson;
    type Decoder = GenerateDecoder;

    fn request(cfg: &ProviderConfig, req: &ModelRequest) -> (&'static str, Value) {
        let max = req.max_output_tokens.or(cfg.max_output_tokens).unwrap_or(128);
        let fim = !(req.prefix.is_empty() && req.suffix.is_empty());
        let mut options = json!({"temperature": 0, "num_predict": max});
        if !req.stop.is_empty() {
            options["stop"] = json!(req.stop);
        }
        let mut body = json!({"model": cfg.model, "stream": true, "options": options});
        let parts = req.parts.as_deref().filter(|_| fim);
        let rendered =
            format::for_request(cfg.prompt_format.as_deref(), &cfg.model, "plain", parts, &req.prefix, &req.suffix);
        if let Some((f, Rendered::Text(raw))) = rendered.clone().filter(|(f, _)| f.kind == Kind::Fim) {
            // Our own FIM tokens: Ollama must not wrap them in the model's template again.
            body["prompt"] = json!(raw);
            body["raw"] = json!(true);
            let mut stop = req.stop.clone();
            stop.extend(f.stop.iter().cloned());
            body["options"]["stop"] = json!(stop);
        } else if let Some((_, Rendered::Split { prompt, suffix })) = rendered {
            body["prompt"] = json!(prompt);
            body["suffix"] = json!(suffix);
        } else if fim {
            let mut p = req.context.clone();
            if !p.is_empty() && !p.ends_with('\n') {
                p.push('\n');
            }
            p.push_str(&req.prefix);
            body["prompt"] = json!(p);
            body["suffix"] = json!(req.suffix);
        } else {
            body["prompt"] = json!(prompt::with_context(req));
            if !req.system.is_empty() {
                body["system"] = json!(req.system);
            }
        }
        ("/api/generate", body)
    }

    fn decoder(provider: &str) -> GenerateDecoder {
        GenerateDecoder { provider: provider.to_owned() }
    }

    fn check() -> Check {
        Check::Models { path: "/api/tags", list: "models", id: "name" }
    }
}

/// `{"response":…,"done":false}` lines, then `"done":true` with counts; `{"error":…}` fails.
pub struct GenerateDecoder {
    provider: String,
}

impl Decoder for GenerateDecoder {
    fn decode(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<bool, ProviderError> {
        let v = parse_json(&self.provider, data)?;
        if let Some(e) = v.get("error") {
            let message = e.as_str().map_or_else(|| e.to_string(), str::to_owned);
            return Err(ProviderError::in_stream(&self.provider, "error", &message));
        }
        if let Some(t) = v.get("response").and_then(Value::as_str).filter(|t| !t.is_empty()) {
            out.push(StreamEvent::Text(t.to_owned()));
        }
        if v.get("done").and_then(Value::as_bool) == Some(true) {
            let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
            out.push(StreamEvent::Usage(Usage {
                input_tokens: n("prompt_eval_count"),
                cached_input_tokens: 0,
                output_tokens: n("eval_count"),
            }));
            let reason = v.get("done_reason").and_then(Value::as_str).map(str::to_owned);
            out.push(StreamEvent::Done { stop_reason: reason });
            return Ok(true);
        }
        Ok(false)
    }

    fn terminal(&self) -> &'static str {
        "the final \"done\":true line"
    }
}

#[cfg(test)]
mod tests {
    use super::super::Provider;
    use super::super::Task;
    use super::super::fake_server::{FakeServer, Reply};
    use super::super::prompt::request;
    use super::*;
    use futures_util::{StreamExt, TryStreamExt};
    use std::time::Duration;

    fn lines(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|p| format!("{p}\n")).collect()
    }

    #[tokio::test]
    async fn ndjson_fim_over_http() {
        let ok = lines(&[
            r#"{"model":"qwen","response":"a +","done":false}"#,
            r#"{"model":"qwen","response":" b","done":false}"#,
            r#"{"model":"qwen","response":"","done":true,"done_reason":"stop","prompt_eval_count":20,"eval_count":2}"#,
        ]);
        let err = lines(&[r#"{"response":"a","done":false}"#, r#"{"error":"model crashed"}"#]);
        let server = FakeServer::start(vec![
            Reply::stream("application/x-ndjson", ok, Duration::from_millis(2)),
            Reply::stream("application/x-ndjson", err, Duration::from_millis(2)),
            Reply::status(404, &[], r#"{"error":"model \"qwen\" not found, try pulling it first"}"#),
        ])
        .await;
        let mut cfg = ProviderConfig::new("ollama", ProviderKind::Ollama, "qwen");
        cfg.base_url = Some(server.url(""));
        let p = Ollama::new(cfg).unwrap();
        let events: Vec<_> = p.stream(request(Task::Inline)).await.unwrap().try_collect().await.unwrap();
        assert_eq!(events[0], StreamEvent::Text("a +".into()));
        assert!(events.contains(&StreamEvent::Usage(Usage {
            input_tokens: 20,
            cached_input_tokens: 0,
            output_tokens: 2
        })));
        let mut s = p.stream(request(Task::Inline)).await.unwrap();
        assert!(matches!(s.next().await, Some(Ok(_))));
        assert!(matches!(s.next().await, Some(Err(ProviderError::Stream { .. }))));
        let nf = p.stream(request(Task::Inline)).await.err().unwrap();
        assert!(matches!(nf, ProviderError::ModelNotFound { .. }), "{nf:?}");
        let r = &server.requests().await[0];
        assert_eq!(r.path, "/api/generate");
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["suffix"], "\n}\n");
        assert_eq!(r.header("authorization"), None);
    }
}
