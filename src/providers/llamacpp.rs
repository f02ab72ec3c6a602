//! `llamacpp`: POST `{base}/infill` with `input_prefix`/`input_suffix`, SSE until `"stop":true`
//! (wire-protocols §4.3); llama-server builds the prompt from the model's own FIM tokens.

use serde_json::{Value, json};

use super::config::ProviderConfig;
use super::error::ProviderError;
use super::http::{Check, Codec, HttpProvider};
use super::sse::{Decoder, parse_json};
use super::{ModelRequest, ProviderKind, StreamEvent, Usage};
use crate::context::format::{self, Rendered};

/// llama-server's native `/infill` format.
pub struct Infill;

pub type LlamaCpp = HttpProvider<Infill>;

impl Codec for Infill {
    const KIND: ProviderKind = ProviderKind::Llamacpp;
    type Decoder = InfillDecoder;

    fn request(cfg: &ProviderConfig, req: &ModelRequest) -> (&'static str, Value) {
        let max = req.max_output_tokens.or(cfg.max_output_tokens).unwrap_or(128);
        let mut body = json!({
            "input_prefix": req.prefix,
            "input_suffix": req.suffix,
            "n_predict": max,
            "stream": true,
            "cache_prompt": true,
        });
        let parts = req.parts.as_deref().filter(|_| !(req.prefix.is_empty() && req.suffix.is_empty()));
        let rendered =
            format::for_request(cfg.prompt_format.as_deref(), &cfg.model, "infill", parts, &req.prefix, &req.suffix);
        if let Some((_, Rendered::Infill { extra, .. })) = rendered {
            // One chunk per file the context draws on; llama-server lays them out with the model's
            // own repo-level tokens.
            let chunks: Vec<Value> = extra.into_iter().map(|(f, t)| json!({"filename": f, "text": t})).collect();
            if !chunks.is_empty() {
                body["input_extra"] = Value::Array(chunks);
            }
        } else if !req.context.is_empty() {
            body["input_extra"] = json!([{"filename": req.path, "text": req.context}]);
        }
        if req.prefix.is_empty() && req.suffix.is_empty() {
            body["input_prefix"] = json!(req.user);
        }
        if !req.stop.is_empty() {
            body["stop"] = json!(req.stop);
        }
        ("/infill", body)
    }

    fn decoder(provider: &str) -> InfillDecoder {
        InfillDecoder { provider: provider.to_owned() }
    }

    fn check() -> Check {
        Check::Health { path: "/health" }
    }
}

/// `{"content":…,"stop":false}` events; the last has `"stop":true` and the counts.
pub struct InfillDecoder {
    provider: String,
}

impl Decoder for InfillDecoder {
    fn decode(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<bool, ProviderError> {
        let v = parse_json(&self.provider, data)?;
        if let Some(e) = v.get("error") {
            let message = e.get("message").and_then(Value::as_str).or(e.as_str()).unwrap_or("error");
            return Err(ProviderError::in_stream(&self.provider, "error", message));
        }
        if let Some(t) = v.get("content").and_then(Value::as_str).filter(|t| !t.is_empty()) {
            out.push(StreamEvent::Text(t.to_owned()));
        }
        if v.get("stop").and_then(Value::as_bool) == Some(true) {
            let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
            out.push(StreamEvent::Usage(Usage {
                input_tokens: n("tokens_evaluated") + n("tokens_cached"),
                cached_input_tokens: n("tokens_cached"),
                output_tokens: n("tokens_predicted"),
            }));
            let reason = v.get("stop_type").and_then(Value::as_str).map(str::to_owned);
            out.push(StreamEvent::Done { stop_reason: reason });
            return Ok(true);
        }
        Ok(false)
    }

    fn terminal(&self) -> &'static str {
        "the final \"stop\":true event"
    }
}

#[cfg(test)]
mod tests {
    use super::super::Provider;
    use super::super::Task;
    use super::super::fake_server::{FakeServer, Reply};
    use super::super::prompt::request;
    use super::*;
    use futures_util::TryStreamExt;
    use std::time::Duration;

    #[tokio::test]
    async fn infill_over_http() {
        let sse = concat!(
            ": ping\n\n",
            "data: {\"content\":\"a +\",\"stop\":false}\n\n",
            "data: {\"content\":\" b\",\"stop\":false}\n\n",
            "data: {\"content\":\"\",\"stop\":true,\"stop_type\":\"eos\",\"tokens_evaluated\":30,\"tokens_cached\":10,\"tokens_predicted\":2}\n\n",
        );
        let server = FakeServer::start(vec![Reply::sse_events(sse, Duration::from_millis(2))]).await;
        let mut cfg = ProviderConfig::new("llama", ProviderKind::Llamacpp, "");
        cfg.base_url = Some(server.url(""));
        let p = LlamaCpp::new(cfg).unwrap();
        let events: Vec<_> = p.stream(request(Task::Inline)).await.unwrap().try_collect().await.unwrap();
        assert_eq!(events[1], StreamEvent::Text(" b".into()));
        assert!(events.contains(&StreamEvent::Usage(Usage {
            input_tokens: 40,
            cached_input_tokens: 10,
            output_tokens: 2
        })));
        let r = &server.requests().await[0];
        assert_eq!(r.path, "/infill");
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["input_suffix"], "\n}\n");
    }
}
