//! Builds every configured provider on one shared HTTP client, and warms their connections.

use std::collections::HashMap;
use std::sync::Arc;

use reqwest::Client;

use super::config::{ProviderConfig, ProviderKind};
use super::error::ProviderError;
use super::http::shared_client;
use super::router::LOCAL;
use super::{Provider, anthropic, cli_agent, llamacpp, ollama, openai_chat, openai_fim, openai_responses};

pub struct Registry {
    client: Client,
    providers: HashMap<String, Arc<dyn Provider>>,
    local: Vec<String>,
    base_urls: Vec<String>,
}

impl Registry {
    /// Builds what it can; a bad provider config is returned as an error and the rest still work.
    pub fn new(configs: &[ProviderConfig]) -> (Registry, Vec<ProviderError>) {
        Registry::with_client(shared_client(), configs)
    }

    pub fn with_client(client: Client, configs: &[ProviderConfig]) -> (Registry, Vec<ProviderError>) {
        let mut reg = Registry { client, providers: HashMap::new(), local: Vec::new(), base_urls: Vec::new() };
        let mut errors = Vec::new();
        for cfg in configs {
            match build(&reg.client, cfg) {
                Ok(Some(p)) => {
                    // Warm only what will be used: a provider with no key never sends a request,
                    // so opening a connection to it would be traffic for nothing.
                    let url = cfg.resolved_base_url();
                    let has_key = cfg.api_key_cmd.is_some()
                        || cfg.key_env().is_none_or(|v| std::env::var(v).is_ok_and(|k| !k.trim().is_empty()))
                        || super::http::is_loopback_url(&url);
                    if is_http(cfg.kind) && has_key {
                        reg.base_urls.push(url);
                    }
                    reg.providers.insert(cfg.name.clone(), p);
                }
                Ok(None) => reg.local.push(cfg.name.clone()),
                Err(e) => errors.push(e),
            }
        }
        (reg, errors)
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Provider>> {
        self.providers.get(name).cloned()
    }

    /// `local`, or a provider of kind `local`: the engine answers itself.
    pub fn is_local(&self, name: &str) -> bool {
        name == LOCAL || self.local.iter().any(|n| n == name)
    }

    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.providers.keys().cloned().collect();
        names.sort();
        names
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens a connection (TCP + TLS) to each remote host in the background, so the first keystroke
    /// pays no handshake. Sends no key; answers and errors are ignored.
    pub fn warm(&self) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
        let mut seen = std::collections::HashSet::new();
        for url in &self.base_urls {
            let Ok(u) = reqwest::Url::parse(url) else { continue };
            let origin = u.origin().ascii_serialization();
            if !seen.insert(origin.clone()) {
                continue;
            }
            let client = self.client.clone();
            rt.spawn(async move {
                let req = client.head(&origin).timeout(std::time::Duration::from_secs(10)).send();
                if let Ok(resp) = req.await {
                    // Reading the (empty) body returns the connection to the pool.
                    let _ = resp.bytes().await;
                }
            });
        }
    }
}

fn is_http(kind: ProviderKind) -> bool {
    !matches!(kind, ProviderKind::ClaudeCli | ProviderKind::CodexCli | ProviderKind::Local)
}

/// One provider from its config; `Ok(None)` for `local`.
pub fn build(client: &Client, cfg: &ProviderConfig) -> Result<Option<Arc<dyn Provider>>, ProviderError> {
    let p: Arc<dyn Provider> = match cfg.kind {
        ProviderKind::OpenaiResponses => Arc::new(openai_responses::OpenAiResponses::new(client, cfg.clone())?),
        ProviderKind::OpenaiChat => Arc::new(openai_chat::OpenAiChat::new(client, cfg.clone())?),
        ProviderKind::OpenaiFim => Arc::new(openai_fim::OpenAiFim::new(client, cfg.clone())?),
        ProviderKind::Ollama => Arc::new(ollama::Ollama::new(client, cfg.clone())?),
        ProviderKind::Llamacpp => Arc::new(llamacpp::LlamaCpp::new(client, cfg.clone())?),
        ProviderKind::Anthropic => Arc::new(anthropic::Anthropic::new(client, cfg.clone())?),
        ProviderKind::ClaudeCli | ProviderKind::CodexCli => Arc::new(cli_agent::CliAgent::new(cfg.clone())?),
        ProviderKind::Local => return Ok(None),
    };
    Ok(Some(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn builds_what_it_can() {
        let mut bad = ProviderConfig::new("broken", ProviderKind::OpenaiChat, "m");
        bad.base_url = Some("not a url".into());
        let configs = [
            ProviderConfig::new("codex", ProviderKind::OpenaiResponses, "gpt-5.4-mini"),
            ProviderConfig::new("claude", ProviderKind::Anthropic, "claude-sonnet-5-5"),
            ProviderConfig::new("agent", ProviderKind::ClaudeCli, "sonnet"),
            ProviderConfig::new("words", ProviderKind::Local, ""),
            bad,
        ];
        let (reg, errors) = Registry::new(&configs);
        assert_eq!(reg.names(), ["agent", "claude", "codex"]);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].to_string().contains("broken"));
        assert!(reg.is_local("words") && reg.is_local("local") && !reg.is_local("codex"));
        assert_eq!(reg.get("claude").map(|p| p.kind()), Some(ProviderKind::Anthropic));
    }

    #[tokio::test]
    async fn warm_opens_a_connection_without_a_key() {
        let server =
            super::super::fake_server::FakeServer::start(vec![super::super::fake_server::Reply::status(200, &[], "")])
                .await;
        let mut cfg = ProviderConfig::new("codex", ProviderKind::OpenaiResponses, "m");
        cfg.base_url = Some(server.url("/v1"));
        cfg.api_key_env = Some("PATH".into()); // any set variable: it must not be sent
        let (reg, _) = Registry::new(&[cfg]);
        reg.warm();
        for _ in 0..100 {
            if let Some(r) = server.requests().await.first() {
                assert_eq!((r.method.as_str(), r.path.as_str()), ("HEAD", "/"));
                assert_eq!(r.header("authorization"), None);
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("no warm-up request");
    }
}
