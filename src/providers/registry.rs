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
                    if is_http(cfg.kind) {
                        reg.base_urls.push(cfg.resolved_base_url());
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
