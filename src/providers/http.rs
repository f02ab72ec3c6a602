//! The one HTTP provider: a per-protocol `Codec` says what to send and how to read the answer;
//! `HttpProvider` owns the rest of the lifecycle — the key, the request, the status check, the
//! bounded error body, the stream with its deadlines and caps (`sse`, `body`), and the doctor's
//! check. `Endpoint` carries what a provider needs to talk to its host.
//!
//! A key goes only to its provider's own base URL, never over plain http except to loopback, and
//! never through a redirect (the client follows none).

use std::marker::PhantomData;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Method, RequestBuilder, Response, Url};
use serde_json::Value;

use super::body::read_capped;
use super::config::{Limits, ProviderConfig, ProviderKind, Timeouts};
use super::error::{ErrorContext, ProviderError, TimeoutPhase, classify_parsed, error_body};
use super::keys::{KeySource, Secret};
use super::sse::{Budget, Decoder, Framing};
use super::{CheckReport, EventStream, ModelRequest, Provider};

static CLIENT: OnceLock<Client> = OnceLock::new();

/// The one client every provider shares (keep-alive pool, HTTP/2 when the server offers it), built
/// on first use. Building it is cheap: the system's CA certificates are read only when an https
/// host is first contacted (see [`super::tls`]).
pub fn shared_client() -> Client {
    CLIENT.get_or_init(build_client).clone()
}

/// The shared client for a request to `url`. Before the first https request the CA certificates
/// are read on the blocking pool (or waited for, when the warm-up is reading them), so that the
/// handshake never stalls a runtime worker — and with it every message behind — for the
/// milliseconds they take. Plain-http requests (loopback providers) never read them.
pub async fn client_for(url: &str) -> Client {
    if url.starts_with("https:") && !super::tls::roots_loaded() {
        let _ = tokio::task::spawn_blocking(super::tls::load_roots).await;
    }
    shared_client()
}

/// Whether the shared client exists yet (tests of the startup path).
pub fn client_built() -> bool {
    CLIENT.get().is_some()
}

fn build_client() -> Client {
    let builder = Client::builder()
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(8)
        .tcp_nodelay(true)
        .tcp_keepalive(Duration::from_secs(30))
        .connect_timeout(Timeouts::ACTION.connect)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")));
    let built = match super::tls::client_config() {
        Ok(tls) => builder.use_preconfigured_tls(tls).build(),
        Err(e) => {
            tracing::warn!("cannot set up TLS ({e}); using reqwest's defaults");
            // reqwest is built without a default TLS provider; installing ring twice is harmless.
            let _ = rustls::crypto::ring::default_provider().install_default();
            builder.build()
        }
    };
    built.unwrap_or_default()
}

pub use super::config::AuthStyle;

/// What `doctor` asks a provider's server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// GET a model list: `list` names the JSON array, `id` the field of each entry.
    Models { path: &'static str, list: &'static str, id: &'static str },
    /// GET a health endpoint (a server that serves one model, e.g. llama-server).
    Health { path: &'static str },
}

/// One wire protocol: what to send and how to read the answer. Pure: no I/O here.
pub trait Codec: Send + Sync + 'static {
    const KIND: ProviderKind;
    /// The header the kind's own key goes in.
    const AUTH: AuthStyle = AuthStyle::Bearer;
    const FRAMING: Framing = Framing::Sse;
    type Decoder: Decoder;

    /// The path after the base URL and the JSON body (the config's `extra` is merged over it).
    fn request(cfg: &ProviderConfig, req: &ModelRequest) -> (&'static str, Value);
    /// Reads one answer's stream.
    fn decoder(provider: &str) -> Self::Decoder;
    fn check() -> Check;
    /// Headers every request carries (e.g. `anthropic-version`).
    fn headers(_: &mut HeaderMap) {}
    /// `(type, code, message)` of a non-2xx body; the vendors share their shapes (`error::error_body`).
    fn error_body(body: &str) -> (String, String, String) {
        error_body(body)
    }
}

/// A provider that speaks HTTP through codec `C`.
pub struct HttpProvider<C> {
    pub(super) cfg: ProviderConfig,
    pub(super) ep: Arc<Endpoint>,
    codec: PhantomData<fn() -> C>,
}

impl<C: Codec> HttpProvider<C> {
    pub fn new(cfg: ProviderConfig) -> Result<Self, ProviderError> {
        Self::new_in(cfg, &|var| std::env::var(var).ok())
    }

    /// `new` with the environment passed in (which variables are set, and the base URL).
    pub fn new_in(cfg: ProviderConfig, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ProviderError> {
        let mut ep = Endpoint::from_config_in(&cfg, C::AUTH, env)?;
        C::headers(&mut ep.headers);
        Ok(HttpProvider { cfg, ep: Arc::new(ep), codec: PhantomData })
    }

    /// The request body as it goes out.
    pub fn body(&self, req: &ModelRequest) -> Value {
        let (_, mut body) = C::request(&self.cfg, req);
        merge_extra(&mut body, &self.cfg.extra);
        body
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.ep
    }
}

impl<C: Codec> Provider for HttpProvider<C> {
    fn name(&self) -> &str {
        &self.cfg.name
    }
    fn kind(&self) -> ProviderKind {
        C::KIND
    }
    fn model(&self) -> &str {
        &self.cfg.model
    }

    fn stream(&self, req: ModelRequest) -> BoxFuture<'static, Result<EventStream, ProviderError>> {
        let budget = Budget::start(self.cfg.timeouts(&req.task), &req.task);
        let (path, mut body) = C::request(&self.cfg, &req);
        merge_extra(&mut body, &self.cfg.extra);
        let ep = self.ep.clone();
        Box::pin(async move {
            // The key (maybe a command), the connection and the status line, all inside the deadline.
            let started = async {
                let rb = ep.request(Method::POST, path).await?.json(&body);
                ep.send(rb, &budget, C::error_body).await
            };
            let resp = match tokio::time::timeout_at(budget.deadline, started).await {
                Ok(r) => r?,
                Err(_) => return Err(budget.expired(&ep.provider)),
            };
            super::sse::from_response(&ep.provider, resp, C::FRAMING, budget, C::decoder(&ep.provider))
        })
    }

    fn check(&self) -> BoxFuture<'static, CheckReport> {
        let ep = self.ep.clone();
        Box::pin(async move {
            match C::check() {
                Check::Models { path, list, id } => ep.check_models(path, list, id, C::error_body).await,
                Check::Health { path } => ep.check_health(path, C::error_body).await,
            }
        })
    }
}

type ErrorBodyFn = fn(&str) -> (String, String, String);

/// Everything a provider needs to talk to its host.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub provider: String,
    pub model: String,
    pub base_url: String,
    pub key: KeySource,
    pub auth: AuthStyle,
    pub headers: HeaderMap,
    /// A key from `api_key_cmd`, run once per configuration (not per keystroke).
    key_cache: Arc<OnceCell<Secret>>,
}

impl Endpoint {
    /// `auth` is the kind's own header; the config's `auth`, or a key from `ANTHROPIC_AUTH_TOKEN`,
    /// may choose the other one. Exactly one of the two is ever sent.
    pub fn from_config(cfg: &ProviderConfig, auth: AuthStyle) -> Result<Self, ProviderError> {
        Self::from_config_in(cfg, auth, &|var| std::env::var(var).ok())
    }

    /// `from_config` with the environment passed in (which variables are set, and the base URL).
    pub fn from_config_in(
        cfg: &ProviderConfig,
        auth: AuthStyle,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ProviderError> {
        let base_url = cfg.resolved_base_url_in(env);
        let config_err = |message: String| ProviderError::Config { provider: cfg.name.clone(), message };
        Url::parse(&base_url).map_err(|e| config_err(format!("base_url `{base_url}` is not a URL: {e}")))?;
        let mut headers = HeaderMap::new();
        for (k, v) in &cfg.headers {
            let name = HeaderName::try_from(k.as_str()).map_err(|_| config_err(format!("bad header name `{k}`")))?;
            let value =
                HeaderValue::try_from(v.as_str()).map_err(|_| config_err(format!("bad value for header `{k}`")))?;
            headers.insert(name, value);
        }
        let key = if let Some(cmd) = &cfg.api_key_cmd {
            KeySource::Command(cmd.argv())
        } else if let Some(var) = &cfg.api_key_env {
            KeySource::Env { var: var.clone(), optional: false }
        } else if let Some(var) = cfg.key_env_in(env).filter(|_| cfg.base_url.is_none() || is_vendor_host(&base_url)) {
            // The SDK's own variable (ANTHROPIC_AUTH_TOKEN before ANTHROPIC_API_KEY) goes only to
            // the vendor (or where OPENAI_BASE_URL / ANTHROPIC_BASE_URL point); a local server may
            // run without it.
            KeySource::Env { var, optional: is_loopback_url(&base_url) }
        } else {
            // A configured base_url elsewhere gets no key unless api_key_env/api_key_cmd names one.
            KeySource::None
        };
        let key_var = match &key {
            KeySource::Env { var, .. } => Some(var.as_str()),
            _ => None,
        };
        let auth = cfg.auth_style(key_var, auth);
        Ok(Endpoint {
            provider: cfg.name.clone(),
            model: cfg.model.clone(),
            base_url,
            key,
            auth,
            headers,
            key_cache: Arc::default(),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Worth a connection at start: a key is at hand (an env var that is set, a command, one
    /// given directly), or the provider takes none (a local server the user configured). A
    /// provider still waiting for its key never causes traffic, not even a handshake.
    pub fn can_warm(&self, env: &dyn Fn(&str) -> Option<String>) -> bool {
        match &self.key {
            KeySource::None | KeySource::Command(_) | KeySource::Static(_) => true,
            KeySource::Env { var, .. } => env(var).is_some_and(|v| !v.trim().is_empty()),
        }
    }

    fn error_cx(&self) -> (String, ErrorContext<'_>) {
        (self.key.hint(), ErrorContext { provider: &self.provider, model: &self.model, key_hint: "" })
    }

    /// Resolves the key and refuses to send it over plain http to a non-loopback host.
    pub async fn key_for(&self, url: &str) -> Result<Option<Secret>, ProviderError> {
        // Nothing was sent yet: this is "no key", never "rejected".
        let auth_err = |e: super::keys::KeyError| ProviderError::NoKey {
            provider: self.provider.clone(),
            message: e.to_string(),
            hint: self.key.hint(),
        };
        let key = match &self.key {
            KeySource::Command(_) => Some(
                self.key_cache
                    .get_or_try_init(|| async {
                        self.key.resolve().await?.ok_or(super::keys::KeyError::Missing("no key".into()))
                    })
                    .await
                    .map_err(auth_err)?
                    .clone(),
            ),
            other => other.resolve().await.map_err(auth_err)?,
        };
        if key.is_some() && url.starts_with("http://") && !is_loopback_url(url) {
            return Err(ProviderError::Refused { provider: self.provider.clone(), url: url.to_owned() });
        }
        Ok(key)
    }

    /// A request to `path` with the provider's headers and key.
    pub async fn request(&self, method: Method, path: &str) -> Result<RequestBuilder, ProviderError> {
        let url = self.url(path);
        let key = self.key_for(&url).await?;
        let mut headers = self.headers.clone();
        if key.is_some() {
            // Exactly one credential: ours replaces any the `headers` table carries.
            headers.remove(reqwest::header::AUTHORIZATION);
            headers.remove("x-api-key");
        }
        let mut rb = client_for(&url).await.request(method, &url).headers(headers);
        if let Some(key) = key {
            let (name, value) = match self.auth {
                AuthStyle::Bearer => ("authorization", format!("Bearer {}", key.expose())),
                AuthStyle::XApiKey => ("x-api-key", key.expose().to_owned()),
            };
            let mut value = HeaderValue::try_from(value).map_err(|_| ProviderError::Auth {
                provider: self.provider.clone(),
                message: "the key contains characters not allowed in a header".into(),
                hint: self.key.hint(),
            })?;
            value.set_sensitive(true);
            rb = rb.header(name, value);
        }
        Ok(rb)
    }

    /// Sends and waits for the status line; a non-2xx answer becomes a classified error, its body
    /// read only up to `Limits::error_body_bytes` and for a second or so.
    pub async fn send(
        &self,
        rb: RequestBuilder,
        budget: &Budget,
        parse: ErrorBodyFn,
    ) -> Result<Response, ProviderError> {
        let t = budget.timeouts;
        let limit = t.connect + t.first_byte;
        let resp = match tokio::time::timeout(limit, rb.send()).await {
            Err(_) => return Err(ProviderError::timeout(&self.provider, TimeoutPhase::FirstByte, limit)),
            Ok(Err(e)) => return Err(self.transport_error(&e, t)),
            Ok(Ok(resp)) => resp,
        };
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let headers = resp.headers().clone();
        let until =
            budget.deadline.min(Instant::now() + t.idle.clamp(Duration::from_millis(200), Duration::from_secs(2)));
        let (body, _) = read_capped(resp, budget.limits.error_body_bytes, until).await;
        let body = String::from_utf8_lossy(&body);
        let (hint, mut cx) = self.error_cx();
        cx.key_hint = &hint;
        if let Some(id) = headers.get("x-request-id").or_else(|| headers.get("request-id")) {
            tracing::debug!(provider = %self.provider, status = %status, request_id = ?id, "upstream error");
        }
        Err(classify_parsed(&cx, status, &headers, parse(&body)))
    }

    pub fn transport_error(&self, e: &reqwest::Error, t: Timeouts) -> ProviderError {
        if e.is_timeout() {
            let phase = if e.is_connect() { TimeoutPhase::Connect } else { TimeoutPhase::FirstByte };
            return ProviderError::timeout(&self.provider, phase, t.connect);
        }
        ProviderError::Connect { provider: self.provider.clone(), url: self.base_url.clone(), message: error_chain(e) }
    }

    /// Where the key comes from and which header carries it, for doctor: names, never the value.
    pub fn key_label(&self) -> Option<String> {
        let header = self.auth.header();
        match &self.key {
            KeySource::None => None,
            KeySource::Env { var, .. } if std::env::var(var).is_ok_and(|v| !v.trim().is_empty()) => {
                Some(format!("key: {var} as {header}"))
            }
            KeySource::Env { var, .. } => Some(format!("no key: {var} is not set")),
            KeySource::Command(argv) => {
                Some(format!("key: api_key_cmd `{}` as {header}", argv.first().map_or("", String::as_str)))
            }
            KeySource::Static(_) => Some(format!("key: from the editor settings as {header}")),
        }
    }

    fn report(&self) -> CheckReport {
        CheckReport {
            provider: self.provider.clone(),
            reachable: false,
            key_accepted: None,
            model_listed: None,
            ok: false,
            verdict: String::new(),
        }
    }

    /// The doctor's budget: a few seconds, model-list sized.
    fn check_budget() -> Budget {
        let timeouts = Timeouts {
            connect: Duration::from_secs(5),
            first_byte: Duration::from_secs(10),
            idle: Duration::from_secs(10),
            total: Duration::from_secs(15),
        };
        let limits = Limits { body_bytes: Limits::MODEL_LIST_BYTES, ..Limits::ACTION };
        Budget { timeouts, limits, deadline: Instant::now() + timeouts.total, partial_ok: false }
    }

    /// GETs `path` for the doctor: the answer, or the report filled in with why not.
    async fn get_for_check(
        &self,
        path: &str,
        budget: &Budget,
        parse: ErrorBodyFn,
        report: &mut CheckReport,
    ) -> Option<Response> {
        let rb = match self.request(Method::GET, path).await {
            Ok(rb) => rb,
            Err(e) => {
                report.key_accepted = Some(false).filter(|_| e.is_auth());
                report.verdict = e.to_string();
                return None;
            }
        };
        match self.send(rb, budget, parse).await {
            Ok(resp) => {
                report.reachable = true;
                Some(resp)
            }
            Err(e) => {
                report.reachable = !matches!(e, ProviderError::Connect { .. } | ProviderError::Timeout { .. });
                if e.is_auth() {
                    report.key_accepted = Some(false);
                }
                report.verdict = e.to_string();
                None
            }
        }
    }

    /// Doctor: GET a model list and look for the configured model.
    /// `list`/`id` name the JSON array and the id field (`data`/`id`, Ollama `models`/`name`).
    pub async fn check_models(&self, path: &str, list: &str, id: &str, parse: ErrorBodyFn) -> CheckReport {
        let mut report = self.report();
        let budget = Self::check_budget();
        let Some(resp) = self.get_for_check(path, &budget, parse, &mut report).await else { return report };
        report.key_accepted = (self.key != KeySource::None).then_some(true);
        let key = self.key_label().map(|l| format!(" ({l})")).unwrap_or_default();
        let (bytes, complete) = read_capped(resp, budget.limits.body_bytes, budget.deadline).await;
        let body: Value = match serde_json::from_slice(&bytes) {
            Ok(v) if complete => v,
            _ => {
                report.ok = true;
                report.verdict =
                    format!("{}: reachable at {}{key}; the model list was unreadable", self.provider, self.base_url);
                return report;
            }
        };
        let ids: Vec<&str> = body
            .get(list)
            .and_then(|l| l.as_array())
            .map(|a| a.iter().filter_map(|m| m.get(id).and_then(|v| v.as_str())).collect())
            .unwrap_or_default();
        let listed = ids.iter().any(|m| *m == self.model || m.strip_suffix(":latest") == Some(&self.model));
        report.model_listed = Some(listed);
        report.ok = listed;
        report.verdict = if listed {
            format!("{}: ok — {} at {}{key}", self.provider, self.model, self.base_url)
        } else {
            format!(
                "{}: reachable{key}, but model `{}` is not listed at {} ({} models); fix `model` in the config",
                self.provider,
                self.model,
                self.base_url,
                ids.len()
            )
        };
        report
    }

    /// Doctor for a server that serves one model: its health endpoint answers 2xx.
    pub async fn check_health(&self, path: &str, parse: ErrorBodyFn) -> CheckReport {
        let mut report = self.report();
        let budget = Self::check_budget();
        if self.get_for_check(path, &budget, parse, &mut report).await.is_some() {
            report.ok = true;
            report.verdict = format!("{}: ok — llama-server at {}", self.provider, self.base_url);
        }
        report
    }
}

/// A reqwest error with its source chain (keys are never in URLs, so the URL may stay).
fn error_chain(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

/// `http://localhost`, `127.0.0.0/8` and `::1` are loopback; anything unparsable is not.
pub fn is_loopback_url(url: &str) -> bool {
    let Ok(u) = Url::parse(url) else { return false };
    match u.host_str() {
        Some("localhost") => true,
        Some(h) => h.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// The vendors whose SDK key variables we send by default.
fn is_vendor_host(url: &str) -> bool {
    Url::parse(url)
        .is_ok_and(|u| u.scheme() == "https" && matches!(u.host_str(), Some("api.openai.com" | "api.anthropic.com")))
}

/// Merges the configured extra fields over a generated body.
pub fn merge_extra(body: &mut serde_json::Value, extra: &serde_json::Map<String, serde_json::Value>) {
    if let Some(obj) = body.as_object_mut() {
        for (k, v) in extra {
            obj.insert(k.clone(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keys_go_only_to_their_vendor() {
        let ep = |kind, base: Option<&str>| {
            let mut cfg = ProviderConfig::new("p", kind, "m");
            cfg.base_url = base.map(str::to_owned);
            Endpoint::from_config(&cfg, AuthStyle::Bearer).unwrap().key
        };
        let openai = KeySource::Env { var: "OPENAI_API_KEY".into(), optional: false };
        assert_eq!(ep(ProviderKind::OpenaiChat, Some("https://api.openai.com/v1")), openai);
        assert_eq!(ep(ProviderKind::OpenaiChat, Some("https://openrouter.ai/api/v1")), KeySource::None);
        assert_eq!(ep(ProviderKind::OpenaiChat, Some("http://localhost:1234/v1")), KeySource::None);
        assert_eq!(ep(ProviderKind::Ollama, None), KeySource::None);
        let mut cfg = ProviderConfig::new("p", ProviderKind::OpenaiChat, "m");
        cfg.base_url = Some("https://openrouter.ai/api/v1".into());
        cfg.api_key_env = Some("OPENROUTER_API_KEY".into());
        let key = Endpoint::from_config(&cfg, AuthStyle::Bearer).unwrap().key;
        assert_eq!(key, KeySource::Env { var: "OPENROUTER_API_KEY".into(), optional: false });
    }

    #[test]
    fn key_labels_name_the_source_never_the_value() {
        let mut cfg = ProviderConfig::new("p", ProviderKind::Anthropic, "m");
        cfg.api_key_env = Some("PATH".into()); // any set variable
        let mut ep = Endpoint::from_config(&cfg, AuthStyle::XApiKey).unwrap();
        assert_eq!(ep.key_label().as_deref(), Some("key: PATH as x-api-key"));
        ep.key = KeySource::Env { var: "SWITCHBOARD_TEST_SURELY_UNSET".into(), optional: true };
        assert_eq!(ep.key_label().as_deref(), Some("no key: SWITCHBOARD_TEST_SURELY_UNSET is not set"));
        ep.key = KeySource::Static(Secret::new("sk-live-SECRET"));
        ep.auth = AuthStyle::Bearer;
        assert_eq!(ep.key_label().as_deref(), Some("key: from the editor settings as Authorization: Bearer"));
        ep.key = KeySource::None;
        assert_eq!(ep.key_label(), None);
    }

    #[tokio::test]
    async fn a_missing_key_is_not_set_never_rejected() {
        let mut cfg = ProviderConfig::new("p", ProviderKind::OpenaiResponses, "m");
        cfg.base_url = Some("https://api.example.invalid/v1".into());
        cfg.api_key_env = Some("SWITCHBOARD_TEST_SURELY_UNSET".into());
        let ep = Endpoint::from_config(&cfg, AuthStyle::Bearer).unwrap();
        let err = ep.key_for("https://api.example.invalid/v1/responses").await.unwrap_err();
        assert!(err.is_auth(), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("no key (SWITCHBOARD_TEST_SURELY_UNSET is not set)"), "{text}");
        assert!(!text.contains("rejected"), "{text}");
    }

    #[test]
    fn loopback_hosts() {
        for u in ["http://localhost:8080", "http://127.0.0.1/v1", "http://127.3.4.5", "http://[::1]:9/x"] {
            assert!(is_loopback_url(u), "{u}");
        }
        for u in ["http://example.com", "http://10.0.0.1", "http://localhost.evil.com", "nonsense"] {
            assert!(!is_loopback_url(u), "{u}");
        }
    }
}
