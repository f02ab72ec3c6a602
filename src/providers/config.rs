//! Provider settings as the config module deserializes them (`[providers.NAME]`), with their defaults.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::Task;

/// The wire protocol a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    OpenaiResponses,
    OpenaiChat,
    OpenaiFim,
    Ollama,
    Llamacpp,
    Anthropic,
    ClaudeCli,
    CodexCli,
    Local,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenaiResponses => "openai-responses",
            ProviderKind::OpenaiChat => "openai-chat",
            ProviderKind::OpenaiFim => "openai-fim",
            ProviderKind::Ollama => "ollama",
            ProviderKind::Llamacpp => "llamacpp",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::ClaudeCli => "claude-cli",
            ProviderKind::CodexCli => "codex-cli",
            ProviderKind::Local => "local",
        }
    }

    fn is_openai(self) -> bool {
        matches!(self, ProviderKind::OpenaiResponses | ProviderKind::OpenaiChat | ProviderKind::OpenaiFim)
    }
}

/// A command line, written either as one string (split on whitespace) or as a list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum CommandLine {
    Line(String),
    Argv(Vec<String>),
}

impl CommandLine {
    pub fn argv(&self) -> Vec<String> {
        match self {
            CommandLine::Line(s) => s.split_whitespace().map(str::to_owned).collect(),
            CommandLine::Argv(v) => v.clone(),
        }
    }
}

/// Timeouts of one task class, in milliseconds; unset fields take the class default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct TimeoutsConfig {
    pub connect_ms: Option<u64>,
    pub first_byte_ms: Option<u64>,
    pub idle_ms: Option<u64>,
}

/// Resolved timeouts for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    /// From sending the request to the first event of the body.
    pub first_byte: Duration,
    /// Between two events.
    pub idle: Duration,
}

impl Timeouts {
    pub const INLINE: Timeouts =
        Timeouts { connect: Duration::from_secs(2), first_byte: Duration::from_secs(5), idle: Duration::from_secs(3) };
    pub const ACTION: Timeouts = Timeouts {
        connect: Duration::from_secs(10),
        first_byte: Duration::from_secs(120),
        idle: Duration::from_secs(60),
    };

    fn merged(self, c: &TimeoutsConfig) -> Timeouts {
        Timeouts {
            connect: c.connect_ms.map_or(self.connect, Duration::from_millis),
            first_byte: c.first_byte_ms.map_or(self.first_byte, Duration::from_millis),
            idle: c.idle_ms.map_or(self.idle, Duration::from_millis),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ProviderConfig {
    /// The `[providers.NAME]` key; the config module fills it in.
    #[serde(default)]
    pub name: String,
    pub kind: ProviderKind,
    #[serde(default)]
    pub model: String,
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    pub api_key_cmd: Option<CommandLine>,
    /// CLI providers: the program and its leading arguments (default `claude` / `codex`).
    pub command: Option<CommandLine>,
    /// CLI providers: environment variables passed through to the child (auth); nothing else is.
    #[serde(default)]
    pub pass_env: Vec<String>,
    #[serde(default)]
    pub inline_timeouts: TimeoutsConfig,
    #[serde(default)]
    pub action_timeouts: TimeoutsConfig,
    pub max_output_tokens: Option<u32>,
    /// OpenAI `reasoning.effort` / Anthropic `output_config.effort`; "off" omits the field.
    pub reasoning_effort: Option<String>,
    /// OpenAI `text.verbosity`; "off" omits it (Codex-tuned models reject it).
    pub verbosity: Option<String>,
    /// Anthropic `thinking` object; `false` omits it (models without adaptive thinking).
    pub thinking: Option<serde_json::Value>,
    /// Extra request body fields, merged over the generated body.
    #[serde(default)]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Extra request headers (never put a key here: use `api_key_env` / `api_key_cmd`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

impl ProviderConfig {
    pub fn new(name: &str, kind: ProviderKind, model: &str) -> Self {
        ProviderConfig {
            name: name.to_owned(),
            kind,
            model: model.to_owned(),
            base_url: None,
            api_key_env: None,
            api_key_cmd: None,
            command: None,
            pass_env: Vec::new(),
            inline_timeouts: TimeoutsConfig::default(),
            action_timeouts: TimeoutsConfig::default(),
            max_output_tokens: None,
            reasoning_effort: None,
            verbosity: None,
            thinking: None,
            extra: serde_json::Map::new(),
            headers: BTreeMap::new(),
        }
    }

    /// The configured base URL, else the SDK environment variable, else the vendor default.
    pub fn resolved_base_url(&self) -> String {
        let env = |var: &str| std::env::var(var).ok().filter(|v| !v.trim().is_empty());
        let url = match (&self.base_url, self.kind) {
            (Some(url), _) => url.clone(),
            (None, k) if k.is_openai() || k == ProviderKind::CodexCli => {
                env("OPENAI_BASE_URL").unwrap_or_else(|| "https://api.openai.com/v1".into())
            }
            (None, ProviderKind::Anthropic | ProviderKind::ClaudeCli) => {
                env("ANTHROPIC_BASE_URL").unwrap_or_else(|| "https://api.anthropic.com".into())
            }
            (None, ProviderKind::Ollama) => "http://localhost:11434".into(),
            (None, ProviderKind::Llamacpp) => "http://localhost:8080".into(),
            (None, _) => String::new(),
        };
        url.trim_end_matches('/').to_owned()
    }

    /// The env var holding the key: configured, else the SDK's own name for kinds that need one.
    pub fn key_env(&self) -> Option<String> {
        if self.api_key_env.is_some() {
            return self.api_key_env.clone();
        }
        match self.kind {
            ProviderKind::OpenaiResponses | ProviderKind::OpenaiChat | ProviderKind::OpenaiFim => {
                Some("OPENAI_API_KEY".into())
            }
            ProviderKind::Anthropic => Some("ANTHROPIC_API_KEY".into()),
            _ => None,
        }
    }

    pub fn timeouts(&self, task: &Task) -> Timeouts {
        if task.is_interactive() {
            Timeouts::INLINE.merged(&self.inline_timeouts)
        } else {
            Timeouts::ACTION.merged(&self.action_timeouts)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deserializes_a_providers_table() {
        let json = serde_json::json!({
            "kind": "openai-responses", "model": "gpt-5.4-mini",
            "api_key_cmd": "pass show openai", "inline_timeouts": {"first_byte_ms": 900},
            "extra": {"service_tier": "priority"}
        });
        let c: ProviderConfig = serde_json::from_value(json).unwrap();
        assert_eq!(c.kind, ProviderKind::OpenaiResponses);
        assert_eq!(c.api_key_cmd.as_ref().unwrap().argv(), ["pass", "show", "openai"]);
        assert_eq!(c.timeouts(&Task::Inline).first_byte, Duration::from_millis(900));
        assert_eq!(c.timeouts(&Task::Explain), Timeouts::ACTION);
        let bad = serde_json::json!({"kind": "anthropic", "modle": "x"});
        assert!(serde_json::from_value::<ProviderConfig>(bad).is_err());
        for k in ["openai-chat", "openai-fim", "ollama", "llamacpp", "claude-cli", "codex-cli", "local"] {
            let c: ProviderConfig = serde_json::from_value(serde_json::json!({"kind": k})).unwrap();
            assert_eq!(c.kind.as_str(), k);
        }
    }
}
