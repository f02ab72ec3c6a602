//! Builds every configured provider on the one shared HTTP client, and warms the connections of
//! those that can be used.

use std::collections::HashMap;
use std::sync::Arc;

use reqwest::Client;

use super::config::{ProviderConfig, ProviderKind};
use super::error::ProviderError;
use super::http::{Codec, HttpProvider, shared_client};
use super::router::LOCAL;
use super::{Provider, anthropic, cli_agent, llamacpp, ollama, openai_chat, openai_fim, openai_responses};

pub struct Registry {
    providers: HashMap<String, Arc<dyn Provider>>,
    local: Vec<String>,
    /// Base URLs of the providers worth a connection at start (see `Endpoint::can_warm`).
    warm_urls: Vec<String>,
}

impl Registry {
    /// Builds what it can; a bad provider config is returned as an error and the rest still work.
    /// Builds no HTTP client: that waits for the first request or `warm`.
    pub fn new(configs: &[ProviderConfig]) -> (Registry, Vec<ProviderError>) {
        let mut reg = Registry { providers: HashMap::new(), local: Vec::new(), warm_urls: Vec::new() };
        let mut errors = Vec::new();
        for cfg in configs {
            match build_warm(cfg) {
                Ok(Some((p, warm))) => {
                    reg.warm_urls.extend(warm);
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

    /// The shared client (built now if nothing needed it yet).
    pub fn client(&self) -> Client {
        shared_client()
    }

    /// The origins `warm` would connect to, in configuration order.
    pub fn warm_origins(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        self.warm_urls
            .iter()
            .filter_map(|url| reqwest::Url::parse(url).ok())
            .map(|u| u.origin().ascii_serialization())
            .filter(|o| seen.insert(o.clone()))
            .collect()
    }

    /// Opens a connection (TCP + TLS) to each host of a usable provider in the background, so the
    /// first keystroke pays no handshake. Sends no key; answers and errors are ignored. With
    /// nothing to warm it does nothing at all (not even build the client).
    pub fn warm(&self) {
        let origins = self.warm_origins();
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
        if origins.is_empty() {
            return;
        }
        rt.spawn(async move {
            // The system's CA certificates are read (blocking) only for https hosts.
            let tls = origins.iter().any(|o| o.starts_with("https:"));
            let Ok(client) = tokio::task::spawn_blocking(move || {
                if tls {
                    super::tls::load_roots();
                }
                shared_client()
            })
            .await
            else {
                return;
            };
            for origin in origins {
                let client = client.clone();
                tokio::spawn(async move {
                    let req = client.head(&origin).timeout(std::time::Duration::from_secs(10)).send();
                    if let Ok(resp) = req.await {
                        // Reading the (empty) body returns the connection to the pool.
                        let _ = resp.bytes().await;
                    }
                });
            }
        });
    }
}

/// One provider from its config; `Ok(None)` for `local`.
pub fn build(cfg: &ProviderConfig) -> Result<Option<Arc<dyn Provider>>, ProviderError> {
    Ok(build_warm(cfg)?.map(|(p, _)| p))
}

/// A provider and, when it is worth warming, its base URL.
type Built = (Arc<dyn Provider>, Option<String>);

fn build_warm(cfg: &ProviderConfig) -> Result<Option<Built>, ProviderError> {
    fn http<C: Codec>(cfg: &ProviderConfig) -> Result<Option<Built>, ProviderError> {
        let p = HttpProvider::<C>::new(cfg.clone())?;
        let ep = p.endpoint();
        let warm = ep.can_warm(&|var| std::env::var(var).ok()).then(|| ep.base_url.clone());
        Ok(Some((Arc::new(p), warm)))
    }
    match cfg.kind {
        ProviderKind::OpenaiResponses => http::<openai_responses::Responses>(cfg),
        ProviderKind::OpenaiChat => http::<openai_chat::Chat>(cfg),
        ProviderKind::OpenaiFim => http::<openai_fim::Fim>(cfg),
        ProviderKind::Ollama => http::<ollama::Generate>(cfg),
        ProviderKind::Llamacpp => http::<llamacpp::Infill>(cfg),
        ProviderKind::Anthropic => http::<anthropic::Messages>(cfg),
        ProviderKind::ClaudeCli | ProviderKind::CodexCli => {
            Ok(Some((Arc::new(cli_agent::CliAgent::new(cfg.clone())?), None)))
        }
        ProviderKind::Local => Ok(None),
    }
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

    #[test]
    fn warms_only_what_can_be_used() {
        let openai = |name: &str, key_env: &str, base: &str| {
            let mut cfg = ProviderConfig::new(name, ProviderKind::OpenaiResponses, "m");
            cfg.api_key_env = Some(key_env.into());
            cfg.base_url = Some(base.into());
            cfg
        };
        let mut ollama = ProviderConfig::new("ollama", ProviderKind::Ollama, "qwen");
        ollama.base_url = Some("http://127.0.0.1:11434".into());
        let configs = [
            // A key that is not set: no traffic at all, loopback or not.
            openai("nokey", "SWITCHBOARD_TEST_SURELY_UNSET", "http://127.0.0.1:9/v1"),
            openai("remote", "SWITCHBOARD_TEST_SURELY_UNSET", "https://api.example.com/v1"),
            openai("keyed", "PATH", "https://api.example.com/v1"),
            ollama,
            ProviderConfig::new("agent", ProviderKind::ClaudeCli, "sonnet"),
        ];
        let (reg, _) = Registry::new(&configs);
        assert_eq!(reg.warm_origins(), ["https://api.example.com", "http://127.0.0.1:11434"]);
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
