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

/// Which header carries the key: `auth = "bearer" | "x-api-key"` in a provider's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthStyle {
    /// `Authorization: Bearer <key>` (OpenAI and compatible servers, Anthropic gateways).
    Bearer,
    /// Anthropic's `x-api-key: <key>`.
    XApiKey,
}

impl AuthStyle {
    /// The header as the user sees it in messages (never with the key).
    pub fn header(self) -> &'static str {
        match self {
            AuthStyle::Bearer => "Authorization: Bearer",
            AuthStyle::XApiKey => "x-api-key",
        }
    }
}

/// Anthropic's bearer-token variable (official SDKs, Claude Code): when set, it wins over
/// `ANTHROPIC_API_KEY` and goes out as `Authorization: Bearer` (gateways, LiteLLM, proxies).
pub const ANTHROPIC_AUTH_TOKEN: &str = "ANTHROPIC_AUTH_TOKEN";

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
    /// The whole request, from sending it to the last byte of the answer.
    pub total_ms: Option<u64>,
}

/// Resolved timeouts for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    /// From sending the request to the first event of the body.
    pub first_byte: Duration,
    /// Between two events.
    pub idle: Duration,
    /// The whole request: an upstream that streams and never finishes is cut here.
    pub total: Duration,
}

impl Timeouts {
    pub const INLINE: Timeouts = Timeouts {
        connect: Duration::from_secs(2),
        first_byte: Duration::from_secs(5),
        idle: Duration::from_secs(3),
        total: Duration::from_secs(4),
    };
    pub const ACTION: Timeouts = Timeouts {
        connect: Duration::from_secs(10),
        first_byte: Duration::from_secs(120),
        idle: Duration::from_secs(60),
        total: Duration::from_secs(300),
    };

    fn merged(self, c: &TimeoutsConfig) -> Timeouts {
        Timeouts {
            connect: c.connect_ms.map_or(self.connect, Duration::from_millis),
            first_byte: c.first_byte_ms.map_or(self.first_byte, Duration::from_millis),
            idle: c.idle_ms.map_or(self.idle, Duration::from_millis),
            total: c.total_ms.map_or(self.total, Duration::from_millis),
        }
    }
}

/// Size caps of one request class: every body read from an upstream is bounded by these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Text of the answer; past it the stream ends with what it has.
    pub output_bytes: usize,
    /// One SSE event or NDJSON line.
    pub event_bytes: usize,
    /// Everything a streamed body may carry (deltas cost ~150 bytes of JSON each).
    pub body_bytes: usize,
    /// A non-2xx answer's body, read only for its error message.
    pub error_body_bytes: usize,
}

impl Limits {
    /// A suggestion is a few lines; 64 KiB is far past any that would be shown.
    pub const INLINE: Limits =
        Limits { output_bytes: 64 << 10, event_bytes: 1 << 20, body_bytes: 16 << 20, error_body_bytes: 64 << 10 };
    /// 128K output tokens (the largest models') are about 512 KB of text; an event may carry the
    /// whole answer once more (Responses' `output_text.done`), JSON-escaped.
    pub const ACTION: Limits =
        Limits { output_bytes: 2 << 20, event_bytes: 4 << 20, body_bytes: 64 << 20, error_body_bytes: 64 << 10 };
    /// A model list (doctor).
    pub const MODEL_LIST_BYTES: usize = 4 << 20;

    pub fn for_task(task: &Task) -> Limits {
        if task.is_interactive() { Limits::INLINE } else { Limits::ACTION }
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
    /// The key's header; unset: the kind's own (`x-api-key` for anthropic, else bearer), and
    /// bearer for a key from `ANTHROPIC_AUTH_TOKEN`.
    pub auth: Option<AuthStyle>,
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
    /// Inline prompt layout, a file of `prompts/` (`qwen2.5-coder`, `starcoder2`, `deepseek-coder`,
    /// `codestral`, `plain`, `infill`, `instruct`); unset: chosen by the model name, else the
    /// protocol's own.
    pub prompt_format: Option<String>,
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
            auth: None,
            command: None,
            pass_env: Vec::new(),
            inline_timeouts: TimeoutsConfig::default(),
            action_timeouts: TimeoutsConfig::default(),
            max_output_tokens: None,
            reasoning_effort: None,
            verbosity: None,
            thinking: None,
            prompt_format: None,
            extra: serde_json::Map::new(),
            headers: BTreeMap::new(),
        }
    }

    /// The configured base URL, else the SDK environment variable, else the vendor default.
    pub fn resolved_base_url(&self) -> String {
        self.resolved_base_url_in(&|var| std::env::var(var).ok())
    }

    /// `resolved_base_url` with the environment passed in.
    pub fn resolved_base_url_in(&self, env: &dyn Fn(&str) -> Option<String>) -> String {
        let env = |var: &str| env(var).filter(|v| !v.trim().is_empty());
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
    /// For anthropic that is `ANTHROPIC_AUTH_TOKEN` when it is set (as in the SDKs and Claude
    /// Code), else `ANTHROPIC_API_KEY`.
    pub fn key_env(&self) -> Option<String> {
        self.key_env_in(&|var| std::env::var(var).ok())
    }

    /// `key_env` with the environment passed in (tests, doctor).
    pub fn key_env_in(&self, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        if self.api_key_env.is_some() {
            return self.api_key_env.clone();
        }
        match self.kind {
            ProviderKind::OpenaiResponses | ProviderKind::OpenaiChat | ProviderKind::OpenaiFim => {
                Some("OPENAI_API_KEY".into())
            }
            ProviderKind::Anthropic if env(ANTHROPIC_AUTH_TOKEN).is_some_and(|v| !v.trim().is_empty()) => {
                Some(ANTHROPIC_AUTH_TOKEN.into())
            }
            ProviderKind::Anthropic => Some("ANTHROPIC_API_KEY".into()),
            _ => None,
        }
    }

    /// The header for a key from `key_var` (`None`: from `api_key_cmd` or given directly): `auth`
    /// when configured, bearer for `ANTHROPIC_AUTH_TOKEN`, else the kind's own `default`.
    pub fn auth_style(&self, key_var: Option<&str>, default: AuthStyle) -> AuthStyle {
        match (self.auth, key_var) {
            (Some(auth), _) => auth,
            (None, Some(ANTHROPIC_AUTH_TOKEN)) => AuthStyle::Bearer,
            (None, _) => default,
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
        assert_eq!(c.timeouts(&Task::Inline).total, Timeouts::INLINE.total);
        let total: ProviderConfig =
            serde_json::from_value(serde_json::json!({"kind": "anthropic", "action_timeouts": {"total_ms": 60000}}))
                .unwrap();
        assert_eq!(total.timeouts(&Task::Refactor).total, Duration::from_secs(60));
        assert_eq!(c.timeouts(&Task::Explain), Timeouts::ACTION);
        let bad = serde_json::json!({"kind": "anthropic", "modle": "x"});
        assert!(serde_json::from_value::<ProviderConfig>(bad).is_err());
        let gw: ProviderConfig =
            serde_json::from_value(serde_json::json!({"kind": "anthropic", "auth": "bearer"})).unwrap();
        assert_eq!(gw.auth, Some(AuthStyle::Bearer));
        let x: ProviderConfig =
            serde_json::from_value(serde_json::json!({"kind": "anthropic", "auth": "x-api-key"})).unwrap();
        assert_eq!(x.auth, Some(AuthStyle::XApiKey));
        assert!(
            serde_json::from_value::<ProviderConfig>(serde_json::json!({"kind": "anthropic", "auth": "basic"}))
                .is_err()
        );
        for k in ["openai-chat", "openai-fim", "ollama", "llamacpp", "claude-cli", "codex-cli", "local"] {
            let c: ProviderConfig = serde_json::from_value(serde_json::json!({"kind": k})).unwrap();
            assert_eq!(c.kind.as_str(), k);
        }
    }

    #[test]
    fn anthropic_auth_token_is_preferred_and_sent_as_bearer() {
        let token = |v: &'static str| move |var: &str| (var == ANTHROPIC_AUTH_TOKEN).then(|| v.to_owned());
        let none = |_: &str| None;
        let claude = ProviderConfig::new("claude", ProviderKind::Anthropic, "m");
        assert_eq!(claude.key_env_in(&token("tok")).as_deref(), Some(ANTHROPIC_AUTH_TOKEN));
        assert_eq!(claude.key_env_in(&token(" ")).as_deref(), Some("ANTHROPIC_API_KEY"));
        assert_eq!(claude.key_env_in(&none).as_deref(), Some("ANTHROPIC_API_KEY"));
        let codex = ProviderConfig::new("codex", ProviderKind::OpenaiResponses, "m");
        assert_eq!(codex.key_env_in(&token("tok")).as_deref(), Some("OPENAI_API_KEY"));
        let mut named = claude.clone();
        named.api_key_env = Some("MY_KEY".into());
        assert_eq!(named.key_env_in(&token("tok")).as_deref(), Some("MY_KEY"));

        assert_eq!(claude.auth_style(Some(ANTHROPIC_AUTH_TOKEN), AuthStyle::XApiKey), AuthStyle::Bearer);
        assert_eq!(claude.auth_style(Some("ANTHROPIC_API_KEY"), AuthStyle::XApiKey), AuthStyle::XApiKey);
        assert_eq!(claude.auth_style(None, AuthStyle::XApiKey), AuthStyle::XApiKey);
        let mut chosen = claude.clone();
        chosen.auth = Some(AuthStyle::XApiKey);
        assert_eq!(chosen.auth_style(Some(ANTHROPIC_AUTH_TOKEN), AuthStyle::XApiKey), AuthStyle::XApiKey);
        chosen.auth = Some(AuthStyle::Bearer);
        assert_eq!(chosen.auth_style(None, AuthStyle::XApiKey), AuthStyle::Bearer);
    }
}
