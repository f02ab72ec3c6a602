//! Provider clients and the router: one module per wire protocol, all behind the `Provider` trait.
//!
//! Plain data in, a stream of text/usage events out. Nothing here knows LSP; the engine picks a chain
//! with `router`, and `Registry` builds every configured provider on one shared HTTP client.

pub mod anthropic;
pub mod body;
pub mod cli_agent;
pub mod config;
pub mod error;
pub mod framing;
pub mod http;
pub mod keys;
pub mod llamacpp;
pub mod ollama;
pub mod openai_chat;
pub mod openai_fim;
pub mod openai_responses;
pub mod prompt;
pub mod registry;
pub mod router;
pub mod sse;
pub mod tls;

#[cfg(test)]
mod fake_server;
#[cfg(test)]
mod faults;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;

pub use config::{Limits, ProviderConfig, ProviderKind, Timeouts};
pub use error::{ProviderError, TimeoutPhase};
pub use keys::Secret;
pub use registry::Registry;
pub use router::{AnswerRecord, Policy, ProviderStatus, RouteTable, Router, Served};

/// What the request is for; picks the route and the timeout class.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Task {
    Inline,
    Complete,
    Explain,
    Refactor,
    Fix,
    Document,
    Tests,
    /// A user-defined action, by its route name.
    Custom(String),
}

impl Task {
    /// The `[routes]` key of this task.
    pub fn route_name(&self) -> &str {
        match self {
            Task::Inline => "inline",
            Task::Complete => "complete",
            Task::Explain => "explain",
            Task::Refactor => "refactor",
            Task::Fix => "fix",
            Task::Document => "document",
            Task::Tests => "tests",
            Task::Custom(name) => name,
        }
    }

    /// Inline and popup completions: the user is typing, so short timeouts and no retries.
    pub fn is_interactive(&self) -> bool {
        matches!(self, Task::Inline | Task::Complete)
    }
}

/// One model call, provider-neutral. Stable parts come first so prompt caches can hit.
#[derive(Debug, Clone)]
pub struct ModelRequest {
    pub task: Task,
    /// Stable instructions (first, cacheable).
    pub system: String,
    /// Stable-ish context: path, language, imports, definitions (cacheable prefix).
    pub context: String,
    /// Inline: code before the cursor; actions: empty.
    pub prefix: String,
    /// Inline: code after the cursor.
    pub suffix: String,
    /// Actions: the task text with the code; inline: usually empty.
    pub user: String,
    /// LSP languageId, e.g. "rust".
    pub language: String,
    pub path: String,
    pub max_output_tokens: Option<u32>,
    pub stop: Vec<String>,
    /// e.g. "switchboard:<workspace hash>", sent as `prompt_cache_key`.
    pub cache_key: Option<String>,
    /// Where a local agent (claude-cli, codex-cli) runs: the workspace root, else the file's folder.
    pub workdir: Option<std::path::PathBuf>,
    /// Inline: the labelled context parts, for prompt formats that lay them out themselves (FIM
    /// templates, llama.cpp `input_extra`; see `context::format`). `None` for actions.
    pub parts: Option<std::sync::Arc<crate::context::Parts>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    Text(String),
    Usage(Usage),
    /// The end of the answer. `stop_reason` is the upstream's (`completed`, `end_turn`, `length`…),
    /// or `Truncation::stop_reason` when Switchboard cut the stream itself.
    Done {
        stop_reason: Option<String>,
    },
}

impl StreamEvent {
    /// `Some` on a `Done` that Switchboard forced at the deadline or a size cap.
    pub fn truncation(&self) -> Option<Truncation> {
        match self {
            StreamEvent::Done { stop_reason: Some(r) } => Truncation::from_stop_reason(r),
            _ => None,
        }
    }
}

/// Why Switchboard ended a stream the upstream had not finished. An interactive request ends with
/// what it has (`Done` with this stop reason); an action fails with `ProviderError::Truncated`, so
/// half an answer is never applied as an edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truncation {
    /// The request's overall deadline (`total_ms`).
    Deadline,
    /// The cap on answer text or on the bytes of the body.
    Size,
}

impl Truncation {
    pub fn stop_reason(self) -> &'static str {
        match self {
            Truncation::Deadline => "truncated: deadline",
            Truncation::Size => "truncated: size",
        }
    }

    pub fn from_stop_reason(reason: &str) -> Option<Truncation> {
        [Truncation::Deadline, Truncation::Size].into_iter().find(|t| t.stop_reason() == reason)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// All input tokens, cached ones included.
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
}

/// Dropping it drops the HTTP body (or kills the child process) at once.
pub type EventStream = BoxStream<'static, Result<StreamEvent, ProviderError>>;

/// The doctor's verdict on one provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    pub provider: String,
    pub reachable: bool,
    /// `None` when the provider takes no key.
    pub key_accepted: Option<bool>,
    /// `None` when the model list could not be read.
    pub model_listed: Option<bool>,
    pub ok: bool,
    /// One line for the user, with the fix when something is wrong.
    pub verdict: String,
}

pub trait Provider: Send + Sync {
    fn name(&self) -> &str;
    fn kind(&self) -> ProviderKind;
    fn model(&self) -> &str;
    /// Starts a request; errors before the first byte of the body come here.
    fn stream(&self, req: ModelRequest) -> BoxFuture<'static, Result<EventStream, ProviderError>>;
    /// Reachable? key accepted? model listed?
    fn check(&self) -> BoxFuture<'static, CheckReport>;
}
