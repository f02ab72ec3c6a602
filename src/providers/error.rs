//! Provider errors: what went wrong, whether to retry and when, and what the user should do.
//!
//! Messages never contain a key: they are built from the provider name, env var names and the
//! upstream's error message, from which `crate::privacy::scrub` takes every resolved key and any
//! key-looking value (an upstream may echo the credential it refused).

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use super::Truncation;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutPhase {
    Connect,
    FirstByte,
    Idle,
    /// The request's overall deadline (`total_ms`).
    Total,
}

impl std::fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimeoutPhase::Connect => "connecting",
            TimeoutPhase::FirstByte => "waiting for the first byte",
            TimeoutPhase::Idle => "waiting for the next event",
            TimeoutPhase::Total => "before the answer was complete (`total_ms`)",
        })
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    #[error("{provider}: the key was rejected ({message}); {hint}")]
    Auth { provider: String, message: String, hint: String },
    /// No key to send (the variable is not set, or `api_key_cmd` failed): nothing was sent.
    #[error("{provider}: no key ({message}); {hint}")]
    NoKey { provider: String, message: String, hint: String },
    #[error("{provider}: rate limited: {message}")]
    RateLimited {
        provider: String,
        message: String,
        retry_after: Option<Duration>,
        /// Quota or spend cap exhausted: waiting will not help.
        fatal: bool,
    },
    #[error("{provider}: overloaded: {message}")]
    Overloaded { provider: String, message: String, retry_after: Option<Duration> },
    #[error("{provider}: server error {status}: {message}")]
    Server { provider: String, status: u16, message: String, retry_after: Option<Duration> },
    #[error("{provider}: request rejected ({status}): {message}")]
    BadRequest { provider: String, status: u16, message: String },
    #[error(
        "{provider}: model `{model}` not found or not available to this key: {message}; check `model` in the config"
    )]
    ModelNotFound { provider: String, model: String, message: String },
    #[error("{provider}: timed out {phase} after {after:?}")]
    Timeout { provider: String, phase: TimeoutPhase, after: Duration },
    #[error("{provider}: cannot connect to {url}: {message}")]
    Connect { provider: String, url: String, message: String },
    #[error("{provider}: stream closed before {expected}")]
    StreamClosed { provider: String, expected: String },
    #[error("{provider}: error in stream ({code}): {message}")]
    Stream { provider: String, code: String, message: String, retry_after: Option<Duration> },
    #[error(
        "{provider}: refused to send the key over plain http to {url}; use https (plain http is allowed only for loopback hosts)"
    )]
    Refused { provider: String, url: String },
    #[error("{provider}: {message}")]
    Config { provider: String, message: String },
    /// A deadline or size cap ended the stream (see `Truncation`); `message` says which and why.
    #[error("{provider}: {message}")]
    Truncated { provider: String, reason: Truncation, message: String },
}

/// Stream error codes that mean "do not try again" (Codex CLI's list plus Anthropic's billing).
const FATAL_CODES: &[&str] = &[
    "context_length_exceeded",
    "insufficient_quota",
    "usage_not_included",
    "invalid_prompt",
    "billing_error",
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
];

impl ProviderError {
    pub fn provider(&self) -> &str {
        match self {
            ProviderError::Auth { provider, .. }
            | ProviderError::NoKey { provider, .. }
            | ProviderError::RateLimited { provider, .. }
            | ProviderError::Overloaded { provider, .. }
            | ProviderError::Server { provider, .. }
            | ProviderError::BadRequest { provider, .. }
            | ProviderError::ModelNotFound { provider, .. }
            | ProviderError::Timeout { provider, .. }
            | ProviderError::Connect { provider, .. }
            | ProviderError::StreamClosed { provider, .. }
            | ProviderError::Stream { provider, .. }
            | ProviderError::Refused { provider, .. }
            | ProviderError::Config { provider, .. }
            | ProviderError::Truncated { provider, .. } => provider,
        }
    }

    /// Worth trying the same provider again (for actions; completions never retry).
    pub fn retryable(&self) -> bool {
        match self {
            ProviderError::RateLimited { fatal, .. } => !fatal,
            ProviderError::Overloaded { .. }
            | ProviderError::Server { .. }
            | ProviderError::Timeout { .. }
            | ProviderError::Connect { .. }
            | ProviderError::StreamClosed { .. } => true,
            ProviderError::Stream { code, .. } => !FATAL_CODES.contains(&code.as_str()),
            _ => false,
        }
    }

    /// The delay the upstream asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::RateLimited { retry_after, .. }
            | ProviderError::Overloaded { retry_after, .. }
            | ProviderError::Server { retry_after, .. }
            | ProviderError::Stream { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The same error with every text that came from upstream scrubbed of keys and key-looking
    /// values (`crate::privacy::scrub`), so it can be logged, shown and returned.
    pub fn scrubbed(self) -> Self {
        use crate::privacy::scrub;
        match self {
            ProviderError::Auth { provider, message, hint } => {
                ProviderError::Auth { provider, message: scrub(&message), hint }
            }
            ProviderError::NoKey { provider, message, hint } => {
                ProviderError::NoKey { provider, message: scrub(&message), hint }
            }
            ProviderError::RateLimited { provider, message, retry_after, fatal } => {
                ProviderError::RateLimited { provider, message: scrub(&message), retry_after, fatal }
            }
            ProviderError::Overloaded { provider, message, retry_after } => {
                ProviderError::Overloaded { provider, message: scrub(&message), retry_after }
            }
            ProviderError::Server { provider, status, message, retry_after } => {
                ProviderError::Server { provider, status, message: scrub(&message), retry_after }
            }
            ProviderError::BadRequest { provider, status, message } => {
                ProviderError::BadRequest { provider, status, message: scrub(&message) }
            }
            ProviderError::ModelNotFound { provider, model, message } => {
                ProviderError::ModelNotFound { provider, model, message: scrub(&message) }
            }
            ProviderError::Connect { provider, url, message } => {
                ProviderError::Connect { provider, url: scrub(&url), message: scrub(&message) }
            }
            ProviderError::Stream { provider, code, message, retry_after } => {
                ProviderError::Stream { provider, code: scrub(&code), message: scrub(&message), retry_after }
            }
            ProviderError::Config { provider, message } => ProviderError::Config { provider, message: scrub(&message) },
            ProviderError::Truncated { provider, reason, message } => {
                ProviderError::Truncated { provider, reason, message: scrub(&message) }
            }
            other @ (ProviderError::Timeout { .. }
            | ProviderError::StreamClosed { .. }
            | ProviderError::Refused { .. }) => other,
        }
    }

    /// The key is missing or was rejected: the user must act before this provider can work.
    pub fn is_auth(&self) -> bool {
        matches!(self, ProviderError::Auth { .. } | ProviderError::NoKey { .. })
    }

    /// Waiting will not help and the user must act (quota, key, config).
    pub fn is_fatal(&self) -> bool {
        match self {
            ProviderError::RateLimited { fatal, .. } => *fatal,
            ProviderError::Auth { .. }
            | ProviderError::NoKey { .. }
            | ProviderError::Refused { .. }
            | ProviderError::Config { .. } => true,
            ProviderError::Stream { code, .. } => FATAL_CODES.contains(&code.as_str()),
            _ => false,
        }
    }

    pub(crate) fn timeout(provider: &str, phase: TimeoutPhase, after: Duration) -> Self {
        ProviderError::Timeout { provider: provider.to_owned(), phase, after }
    }

    /// The answer was cut at the deadline or a size cap; `partial` when some text had arrived.
    pub(crate) fn truncated(provider: &str, reason: Truncation, limit: &str, partial: bool) -> Self {
        let message = match (reason, partial) {
            (Truncation::Deadline, true) => {
                format!(
                    "the answer was still streaming after {limit} and was cut off (raise `total_ms` to wait longer)"
                )
            }
            (Truncation::Deadline, false) => format!("no answer within {limit} (raise `total_ms` to wait longer)"),
            (Truncation::Size, true) => format!("the answer passed {limit} and was cut off"),
            (Truncation::Size, false) => format!("the upstream sent more than {limit} without an answer"),
        };
        ProviderError::Truncated { provider: provider.to_owned(), reason, message }
    }

    /// One SSE event or NDJSON line over the cap, or bytes that are not UTF-8: the stream is unreadable.
    pub(crate) fn unreadable(provider: &str, code: &str, message: String) -> Self {
        ProviderError::Stream { provider: provider.to_owned(), code: code.to_owned(), message, retry_after: None }
    }

    pub(crate) fn closed(provider: &str, expected: &str) -> Self {
        ProviderError::StreamClosed { provider: provider.to_owned(), expected: expected.to_owned() }
    }

    /// An error event inside a 200 stream, mapped like its HTTP twin where the code says which.
    pub(crate) fn in_stream(provider: &str, code: &str, message: &str) -> Self {
        let retry_after = parse_try_again(message);
        let provider = provider.to_owned();
        let message = crate::privacy::scrub(message);
        match code {
            "insufficient_quota" | "usage_not_included" => {
                ProviderError::RateLimited { provider, message, retry_after: None, fatal: true }
            }
            "rate_limit_exceeded" | "rate_limit_error" | "too_many_requests" => {
                ProviderError::RateLimited { provider, message, retry_after, fatal: false }
            }
            "overloaded_error" | "server_is_overloaded" | "slow_down" => {
                ProviderError::Overloaded { provider, message, retry_after }
            }
            "authentication_error" | "invalid_api_key" => {
                ProviderError::Auth { provider, message, hint: "check the key".into() }
            }
            _ => ProviderError::Stream { provider, code: code.to_owned(), message, retry_after },
        }
    }
}

/// Who the error is about, for the messages: provider name, model, where the key comes from.
pub(crate) struct ErrorContext<'a> {
    pub provider: &'a str,
    pub model: &'a str,
    pub key_hint: &'a str,
}

/// Classifies a non-2xx answer from its status, headers and body (OpenAI and Anthropic shapes).
pub(crate) fn classify_http(
    cx: &ErrorContext<'_>,
    status: StatusCode,
    headers: &HeaderMap,
    body: &str,
) -> ProviderError {
    classify_parsed(cx, status, headers, error_body(body))
}

/// `classify_http` with the body already read as `(type, code, message)` by the provider's codec.
pub(crate) fn classify_parsed(
    cx: &ErrorContext<'_>,
    status: StatusCode,
    headers: &HeaderMap,
    (kind, code, message): (String, String, String),
) -> ProviderError {
    // Upstream text may echo the key: scrub it before it can become a message anywhere.
    let (kind, code, message) =
        (crate::privacy::scrub(&kind), crate::privacy::scrub(&code), crate::privacy::scrub(&message));
    let message =
        if message.is_empty() { status.canonical_reason().unwrap_or("no message").to_owned() } else { message };
    let retry_after = header_retry_after(headers).or_else(|| parse_try_again(&message));
    let should_retry =
        headers.get("x-should-retry").and_then(|v| v.to_str().ok()).map(|v| v.eq_ignore_ascii_case("true"));
    let provider = cx.provider.to_owned();
    let s = status.as_u16();
    let quota = |t: &str| t.contains("insufficient_quota") || t.contains("spend") || t.contains("credit balance");
    match s {
        401 | 403 => ProviderError::Auth { provider, message, hint: cx.key_hint.to_owned() },
        404 if code == "model_not_found" || kind == "not_found_error" || message.contains("model") => {
            ProviderError::ModelNotFound { provider, model: cx.model.to_owned(), message }
        }
        429 => {
            // A spend-cap 429 comes without retry-after; insufficient_quota says so in its code.
            let fatal = quota(&code)
                || quota(&kind)
                || (kind == "rate_limit_error" && retry_after.is_none() && quota(&message.to_lowercase()))
                || should_retry == Some(false);
            ProviderError::RateLimited { provider, message, retry_after, fatal }
        }
        529 | 503 => ProviderError::Overloaded { provider, message, retry_after },
        500.. if should_retry != Some(false) => ProviderError::Server { provider, status: s, message, retry_after },
        408 | 409 if should_retry != Some(false) => ProviderError::Server { provider, status: s, message, retry_after },
        _ if should_retry == Some(true) => ProviderError::Server { provider, status: s, message, retry_after },
        _ => ProviderError::BadRequest { provider, status: s, message },
    }
}

/// Reads `{"error":{type,code,message}}` (OpenAI), `{"type":"error","error":{type,message}}`
/// (Anthropic), `{"error":"…"}` (Ollama) or `{"message":…}`; falls back to the raw text.
pub(crate) fn error_body(body: &str) -> (String, String, String) {
    let text = |v: Option<&serde_json::Value>| -> String {
        match v {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => String::new(),
        }
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        // Not JSON (an HTML page from a proxy, a body cut at its cap): the start of it is enough.
        let text = body.trim();
        let mut short: String = text.chars().take(160).collect();
        if short.len() < text.len() {
            short.push('…');
        }
        return (String::new(), String::new(), short);
    };
    let e = v.get("error").filter(|e| e.is_object()).unwrap_or(&v);
    let message = match v.get("error") {
        Some(serde_json::Value::String(s)) => s.clone(),
        _ => text(e.get("message")),
    };
    (text(e.get("type")), text(e.get("code")), message)
}

/// The longest delay kept from an upstream's hint. The router moves on to the next provider when
/// the hint is over its own `max_retry_after` (60 s); this bound only keeps absurd values (a date
/// in year 9999, `1e30` seconds) from overflowing timer arithmetic.
pub(crate) const MAX_HINTED_DELAY: Duration = Duration::from_secs(24 * 60 * 60);

/// `retry-after-ms` (float ms, OpenAI), else `retry-after` as seconds or as an HTTP-date
/// (RFC 9110 §10.2.3; a date in the past means now). Unreadable values are ignored.
pub(crate) fn header_retry_after(headers: &HeaderMap) -> Option<Duration> {
    header_retry_after_at(headers, SystemTime::now())
}

fn header_retry_after_at(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(d) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()).and_then(|ms| secs(ms / 1000.0)) {
        return Some(d);
    }
    let value = get("retry-after")?;
    if let Ok(s) = value.parse::<f64>() {
        return secs(s);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO).min(MAX_HINTED_DELAY))
}

/// Seconds from the network as a delay: negative, NaN and infinite values are no delay at all.
fn secs(s: f64) -> Option<Duration> {
    if !(s.is_finite() && s >= 0.0) {
        return None;
    }
    Some(Duration::try_from_secs_f64(s).map_or(MAX_HINTED_DELAY, |d| d.min(MAX_HINTED_DELAY)))
}

/// "Please try again in 1.898s" / "in 250ms" / "in 3 seconds".
pub(crate) fn parse_try_again(message: &str) -> Option<Duration> {
    let lower = message.to_ascii_lowercase();
    let at = lower.find("try again in")? + "try again in".len();
    let rest = lower[at..].trim_start();
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
    let value: f64 = rest[..end].parse().ok()?;
    let unit = rest[end..].trim_start();
    if unit.starts_with("ms") {
        secs(value / 1000.0)
    } else if unit.starts_with('s') {
        secs(value)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn cx() -> ErrorContext<'static> {
        ErrorContext { provider: "codex", model: "gpt-x", key_hint: "set OPENAI_API_KEY" }
    }

    fn classify(status: u16, headers: &[(&'static str, &'static str)], body: &str) -> ProviderError {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, HeaderValue::from_static(v));
        }
        classify_http(&cx(), StatusCode::from_u16(status).unwrap(), &h, body)
    }

    #[test]
    fn classifies_statuses() {
        let auth = classify(
            401,
            &[],
            r#"{"error":{"message":"Incorrect API key provided: sk-ab***cd","type":"invalid_request_error","code":"invalid_api_key"}}"#,
        );
        assert!(auth.is_auth() && !auth.retryable());
        assert!(auth.to_string().contains("codex") && auth.to_string().contains("OPENAI_API_KEY"));

        let nf =
            classify(404, &[], r#"{"type":"error","error":{"type":"not_found_error","message":"model: claude-nope"}}"#);
        assert!(matches!(nf, ProviderError::ModelNotFound { .. }));

        let rl = classify(
            429,
            &[("retry-after", "2")],
            r#"{"error":{"message":"Rate limit reached. Please try again in 1.898s.","type":"tokens","code":"rate_limit_exceeded"}}"#,
        );
        assert!(rl.retryable());
        assert_eq!(rl.retry_after(), Some(Duration::from_secs(2)));

        let rl = classify(
            429,
            &[],
            r#"{"error":{"message":"Please try again in 1.898s.","type":"tokens","code":"rate_limit_exceeded"}}"#,
        );
        assert_eq!(rl.retry_after(), Some(Duration::from_millis(1898)));
        let rl = classify(429, &[("retry-after-ms", "250.5")], "{}");
        assert_eq!(rl.retry_after(), Some(Duration::from_micros(250_500)));

        let quota = classify(
            429,
            &[],
            r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#,
        );
        assert!(!quota.retryable() && quota.is_fatal());
        let cap = classify(
            429,
            &[],
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"You have reached your monthly spend limit"}}"#,
        );
        assert!(!cap.retryable());
        let no = classify(429, &[("x-should-retry", "false")], "{}");
        assert!(!no.retryable());

        assert!(matches!(classify(500, &[], "oops"), ProviderError::Server { status: 500, .. }));
        assert!(matches!(classify(503, &[], "{}"), ProviderError::Overloaded { .. }));
        let over = classify(529, &[], r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#);
        assert!(matches!(over, ProviderError::Overloaded { .. }) && over.retryable());
        assert!(!classify(400, &[], r#"{"error":{"message":"bad","type":"invalid_request_error"}}"#).retryable());
        assert!(classify(409, &[], "{}").retryable());
        assert!(classify(400, &[("x-should-retry", "true")], "{}").retryable());
        let ollama = classify(400, &[], r#"{"error":"qwen does not support insert"}"#);
        assert!(ollama.to_string().contains("does not support insert"));
    }

    fn retry_headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_after_as_seconds_ms_or_http_date() {
        let now = httpdate::parse_http_date("Wed, 25 Nov 2026 21:29:30 GMT").unwrap();
        let at = |pairs: &[(&'static str, &str)]| header_retry_after_at(&retry_headers(pairs), now);
        assert_eq!(at(&[("retry-after", "7")]), Some(Duration::from_secs(7)));
        assert_eq!(at(&[("retry-after", " 2 ")]), Some(Duration::from_secs(2)));
        assert_eq!(at(&[("retry-after", "0")]), Some(Duration::ZERO));
        // RFC 9110: an HTTP-date, in any of its three forms; the future is a delay, the past none.
        assert_eq!(at(&[("retry-after", "Wed, 25 Nov 2026 21:30:00 GMT")]), Some(Duration::from_secs(30)));
        assert_eq!(at(&[("retry-after", "Wed Nov 25 21:31:00 2026")]), Some(Duration::from_secs(90)));
        assert_eq!(at(&[("retry-after", "Tue, 24 Nov 2026 21:30:00 GMT")]), Some(Duration::ZERO));
        assert_eq!(at(&[("retry-after", "Thu, 01 Jan 1970 00:00:00 GMT")]), Some(Duration::ZERO));
        // OpenAI's retry-after-ms (float ms) comes first; unreadable, it gives way to retry-after.
        assert_eq!(at(&[("retry-after-ms", "250.5"), ("retry-after", "9")]), Some(Duration::from_micros(250_500)));
        assert_eq!(at(&[("retry-after-ms", "soon"), ("retry-after", "9")]), Some(Duration::from_secs(9)));
        assert_eq!(at(&[("retry-after-ms", "-1"), ("retry-after", "9")]), Some(Duration::from_secs(9)));
        // Garbage is no hint at all (the router then backs off on its own).
        for junk in ["soon", "", "-5", "NaN", "inf", "Wed, 32 Nov 2026 21:30:00 GMT", "2026-11-25T21:30:00Z"] {
            assert_eq!(at(&[("retry-after", junk)]), None, "{junk:?}");
        }
        assert_eq!(at(&[]), None);
        // Absurd values are bounded rather than overflowing (Duration::from_secs_f64 would panic).
        assert_eq!(at(&[("retry-after", "1e30")]), Some(MAX_HINTED_DELAY));
        assert_eq!(at(&[("retry-after-ms", "1e300")]), Some(MAX_HINTED_DELAY));
        assert_eq!(at(&[("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT")]), Some(MAX_HINTED_DELAY));
        assert_eq!(parse_try_again("Please try again in 99999999999999999999999s."), Some(MAX_HINTED_DELAY));
    }

    #[test]
    fn http_date_hints_follow_the_seconds_rules() {
        use super::super::router::{Decision, Policy};
        let date = |d: SystemTime| HeaderValue::from_str(&httpdate::fmt_http_date(d)).unwrap();
        let body = r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your rate limit"}}"#;
        let rl = |h: HeaderMap| classify_http(&cx(), StatusCode::TOO_MANY_REQUESTS, &h, body);

        let mut h = HeaderMap::new();
        h.insert("retry-after", date(SystemTime::now() + Duration::from_secs(20)));
        let soon = rl(h);
        let d = soon.retry_after().unwrap();
        assert!(d > Duration::from_secs(17) && d <= Duration::from_secs(20), "{d:?}");
        assert!(matches!(Policy::default().decide(false, 1, &soon), Decision::Retry(r) if r == d));

        // Further off than the router will wait: move on to the next provider, as for seconds.
        let mut h = HeaderMap::new();
        h.insert("retry-after", date(SystemTime::now() + Duration::from_secs(3600)));
        let later = rl(h);
        assert!(later.retryable());
        assert_eq!(Policy::default().decide(false, 1, &later), Decision::Next);

        let mut h = HeaderMap::new();
        h.insert("retry-after", date(SystemTime::now() - Duration::from_secs(60)));
        assert_eq!(rl(h).retry_after(), Some(Duration::ZERO));
    }

    #[test]
    fn keys_an_upstream_echoes_are_scrubbed() {
        crate::privacy::remember_key("resolved-from-a-key-command-42");
        let echo = classify(
            401,
            &[],
            r#"{"error":{"message":"Incorrect API key provided: resolved-from-a-key-command-42","code":"invalid_api_key"}}"#,
        );
        assert!(echo.is_auth());
        assert!(!echo.to_string().contains("resolved-from-a-key-command-42"), "{echo}");
        let look_alike = classify(500, &[], "upstream said: sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123 is wrong");
        assert!(!look_alike.to_string().contains("sk-ant-api03-abc"), "{look_alike}");
        let in_stream = ProviderError::in_stream("codex", "invalid_api_key", "bad key resolved-from-a-key-command-42");
        assert!(!in_stream.to_string().contains("resolved-from"), "{in_stream}");
        let built = ProviderError::Server {
            provider: "p".into(),
            status: 500,
            message: "resolved-from-a-key-command-42".into(),
            retry_after: None,
        };
        assert!(!built.scrubbed().to_string().contains("resolved-from"));
    }

    #[test]
    fn stream_errors_map_codes() {
        let e = ProviderError::in_stream("codex", "rate_limit_exceeded", "Please try again in 11.054s.");
        assert_eq!(e.retry_after(), Some(Duration::from_millis(11054)));
        assert!(e.retryable());
        assert!(!ProviderError::in_stream("codex", "context_length_exceeded", "x").retryable());
        assert!(!ProviderError::in_stream("codex", "insufficient_quota", "x").retryable());
        assert!(ProviderError::in_stream("claude", "overloaded_error", "Overloaded").retryable());
        assert!(ProviderError::in_stream("codex", "server_error", "x").retryable());
        assert_eq!(parse_try_again("try again in 250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_try_again("Try again in 3 seconds"), Some(Duration::from_secs(3)));
        assert_eq!(parse_try_again("nothing"), None);
    }
}
