//! `openai-fim`: legacy POST `{base}/completions` with `prompt` + `suffix` (wire-protocols §4.1), for
//! local servers and instruct models with real fill-in-the-middle.

use serde_json::{Value, json};

use super::config::ProviderConfig;
use super::http::{Check, Codec, HttpProvider};
use super::openai_chat::ChunkDecoder;
use super::{ModelRequest, ProviderKind, prompt};
use crate::context::format::{self, Kind, Rendered};

/// The legacy Completions format, with `suffix`.
pub struct Fim;

pub type OpenAiFim = HttpProvider<Fim>;

impl Codec for Fim {
    const KIND: ProviderKind = ProviderKind::OpenaiFim;
    type Decoder = ChunkDecoder;

    /// The raw prefix (context first) as `prompt`, the code after the cursor as `suffix`; with a
    /// FIM prompt format (`prompt_format`, or one the model name picks), the whole raw FIM prompt.
    fn request(cfg: &ProviderConfig, req: &ModelRequest) -> (&'static str, Value) {
        let fim = !(req.prefix.is_empty() && req.suffix.is_empty());
        let parts = req.parts.as_deref().filter(|_| fim);
        let rendered =
            format::for_request(cfg.prompt_format.as_deref(), &cfg.model, "plain", parts, &req.prefix, &req.suffix);
        let mut stop = req.stop.clone();
        let raw = rendered.clone().filter(|(f, _)| f.kind == Kind::Fim);
        let (prefix, suffix) = if let Some((f, Rendered::Text(raw))) = raw {
            stop.extend(f.stop.iter().cloned());
            (raw, None)
        } else if let Some((_, Rendered::Split { prompt, suffix })) = rendered {
            (prompt, Some(suffix))
        } else if !fim {
            (prompt::with_context(req), Some(String::new()))
        } else {
            let mut p = req.context.clone();
            if !p.is_empty() && !p.ends_with('\n') {
                p.push('\n');
            }
            p.push_str(&req.prefix);
            (p, Some(req.suffix.clone()))
        };
        let max = req.max_output_tokens.or(cfg.max_output_tokens).unwrap_or(128);
        let mut body = json!({
            "model": cfg.model,
            "prompt": prefix,
            "max_tokens": max,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        if let Some(suffix) = suffix {
            body["suffix"] = json!(suffix);
        }
        if !stop.is_empty() {
            body["stop"] = json!(stop.iter().take(4).collect::<Vec<_>>());
        }
        ("/completions", body)
    }

    fn decoder(provider: &str) -> ChunkDecoder {
        ChunkDecoder::completions(provider)
    }

    fn check() -> Check {
        Check::Models { path: "/models", list: "data", id: "id" }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Provider;
    use super::super::fake_server::{FakeServer, Reply};
    use super::super::prompt::request;
    use super::super::{StreamEvent, Task};
    use super::*;
    use futures_util::TryStreamExt;
    use std::time::Duration;

    #[tokio::test]
    async fn prompt_and_suffix_over_http() {
        let sse = concat!(
            "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"choices\":[{\"text\":\"a +\",\"index\":0,\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"choices\":[{\"text\":\" b\",\"index\":0,\"finish_reason\":\"stop\"}]}\n\n",
            "data: [DONE]\n\n"
        );
        let server = FakeServer::start(vec![Reply::sse_events(sse, Duration::from_millis(2))]).await;
        let mut cfg = ProviderConfig::new("fim", ProviderKind::OpenaiFim, "gpt-3.5-turbo-instruct");
        cfg.base_url = Some(server.url("/v1"));
        cfg.api_key_env = Some("SWITCHBOARD_TEST_UNSET_KEY".into());
        cfg.api_key_cmd = Some(super::super::config::CommandLine::Argv(vec!["printf".into(), "k".into()]));
        let p = OpenAiFim::new(cfg).unwrap();
        let events: Vec<_> = p.stream(request(Task::Inline)).await.unwrap().try_collect().await.unwrap();
        assert_eq!(events.last(), Some(&StreamEvent::Done { stop_reason: Some("stop".into()) }));
        let r = &server.requests().await[0];
        assert_eq!(r.path, "/v1/completions");
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["prompt"], "path: src/lib.rs\nfn add(a: i32, b: i32) -> i32 {\n    ");
        assert_eq!(body["suffix"], "\n}\n");
    }
}
