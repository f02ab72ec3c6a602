//! Privacy: what may leave the machine. `exclude` decides which files never go upstream (or only
//! to `local`); `redact` takes secret-looking values out of everything that does, and out of every
//! text that comes back from upstream before it is logged or shown.
//!
//! The router calls [`outbound`] on every request before any provider sees it (the one choke
//! point), and wraps the answer's stream in [`restore_stream`], so inline, popup, actions, CLI agents
//! and the CLI commands are all covered by the same code.

pub mod exclude;
pub mod redact;

use std::{collections::HashMap, fmt::Write as _, ops::Range, path::Path};

use futures_util::StreamExt;

pub use exclude::{IGNORE_FILE, Policy, Verdict};
pub use redact::{Redaction, Restorer, remember_key, scrub};

use crate::providers::{EventStream, ModelRequest, ProviderError, StreamEvent, Task};

/// The user's switches (`[privacy] redact`, `[log] prompts`), as the router needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Redact secret-looking values (resolved keys are always redacted).
    pub redact: bool,
    /// Log every request (after redaction) at debug level. Off unless the user asks.
    pub log_prompts: bool,
}

impl Settings {
    pub fn from_config(config: &crate::config::Config) -> Settings {
        Settings { redact: config.privacy.redact, log_prompts: config.log.prompts }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings { redact: true, log_prompts: false }
    }
}

/// Which part of a request a redaction was made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    System,
    Context,
    Prefix,
    Suffix,
    User,
    Stop,
}

/// One redaction in a request: the part, the rule, the bytes of the original part, and the
/// placeholder the provider got instead. `switchboard context` lists these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRedaction {
    pub part: Part,
    pub rule: String,
    pub range: Range<usize>,
    pub placeholder: String,
}

/// A request made safe to send, and how to read its answer.
#[derive(Debug)]
pub struct Outbound {
    pub request: ModelRequest,
    pub redactions: Vec<PartRedaction>,
    restorer: Restorer,
}

impl Outbound {
    /// Wraps the answer so placeholders of this request's own file come back as the original text
    /// and any other placeholder is refused (see [`restore_stream`]).
    pub fn restore(self, stream: EventStream, provider: &str) -> EventStream {
        restore_stream(stream, self.restorer, provider.to_owned())
    }
}

/// Redacts a request: every text part, with the prefix and suffix redacted as one text so a
/// secret the cursor sits in goes whole. Placeholders of the request's own file (prefix, suffix,
/// user text: the document being completed or the action's target) may come back as the original;
/// those of other files (context) may not.
pub fn outbound(mut req: ModelRequest, settings: &Settings) -> Outbound {
    let redact_text = |t: &str| if settings.redact { redact::redact(t) } else { redact::redact_known_keys(t) };
    let mut redactions = Vec::new();
    let mut own = HashMap::new();
    let mut record = |part: Part, text: &str, reds: Vec<Redaction>, own_file: bool, shift: usize| {
        for r in reds {
            if own_file {
                own.insert(r.placeholder.clone(), text[r.range.clone()].to_owned());
            }
            let range = r.range.start.saturating_sub(shift)..r.range.end.saturating_sub(shift);
            redactions.push(PartRedaction { part, rule: r.rule, range, placeholder: r.placeholder });
        }
    };
    for (part, text) in [(Part::System, &mut req.system), (Part::Context, &mut req.context)] {
        let (out, reds) = redact_text(text.as_str());
        record(part, text.as_str(), reds, false, 0);
        *text = out;
    }
    // The FIM formats lay out the context's labelled parts themselves: the same texts as `context`,
    // so they get the same placeholders (not listed twice).
    if let Some(parts) = req.parts.take() {
        let mut parts = std::sync::Arc::unwrap_or_clone(parts);
        for item in &mut parts.items {
            item.text = redact_text(&item.text).0;
        }
        req.parts = Some(std::sync::Arc::new(parts));
    }
    let (out, reds) = redact_text(req.user.as_str());
    record(Part::User, req.user.as_str(), reds, true, 0);
    req.user = out;

    if !req.prefix.is_empty() || !req.suffix.is_empty() {
        let cursor = req.prefix.len();
        let joined = format!("{}{}", req.prefix, req.suffix);
        let (out, reds) = redact_text(&joined);
        if !reds.is_empty() {
            // Where the cursor lands in the redacted text: after any placeholder that covers it.
            let mut new_cursor = cursor as isize;
            for r in &reds {
                if r.range.end <= cursor {
                    new_cursor += r.placeholder.len() as isize - r.range.len() as isize;
                } else if r.range.start < cursor {
                    new_cursor += r.placeholder.len() as isize - (cursor - r.range.start) as isize;
                }
            }
            let new_cursor = (new_cursor.max(0) as usize).min(out.len());
            let (before, after): (Vec<_>, Vec<_>) = reds.into_iter().partition(|r| r.range.start < cursor);
            record(Part::Prefix, joined.as_str(), before, true, 0);
            record(Part::Suffix, joined.as_str(), after, true, cursor);
            req.prefix = out.get(..new_cursor).unwrap_or_default().to_owned();
            req.suffix = out.get(new_cursor..).unwrap_or_default().to_owned();
            if let Some(parts) = req.parts.as_mut() {
                let parts = std::sync::Arc::make_mut(parts);
                parts.prefix.clone_from(&req.prefix);
                parts.suffix.clone_from(&req.suffix);
            }
        }
    }
    for stop in &mut req.stop {
        let (out, reds) = redact_text(stop.as_str());
        record(Part::Stop, stop.as_str(), reds, false, 0);
        *stop = out;
    }
    if settings.log_prompts {
        tracing::debug!(
            task = req.task.route_name(),
            path = %req.path,
            system = %req.system,
            context = %req.context,
            prefix = %req.prefix,
            suffix = %req.suffix,
            user = %req.user,
            redactions = redactions.len(),
            "prompt (as sent, after redaction; log.prompts = true)"
        );
    }
    // Explanations are shown, never written into a file: an unknown placeholder may stay visible.
    let lenient = req.task == Task::Explain;
    Outbound { request: req, redactions, restorer: Restorer::new(own, lenient) }
}

/// What `switchboard context` shows: the request as it would be sent, and every redaction in it.
/// Registers the placeholders in this process's session, as a real request would.
pub fn preview(req: &ModelRequest, settings: &Settings) -> (ModelRequest, Vec<PartRedaction>) {
    let out = outbound(req.clone(), settings);
    (out.request, out.redactions)
}

/// The answer's stream with this request's placeholders put back. A placeholder that may not be
/// written here ends the stream with an error: inline keeps what came before it, an edit action
/// changes nothing and says why.
pub fn restore_stream(stream: EventStream, restorer: Restorer, provider: String) -> EventStream {
    struct State {
        inner: EventStream,
        restorer: Restorer,
        provider: String,
        queue: std::collections::VecDeque<Result<StreamEvent, ProviderError>>,
        done: bool,
    }
    let refused = |provider: &str, placeholder: &str| ProviderError::Stream {
        provider: provider.to_owned(),
        code: "redacted_value".into(),
        message: format!(
            "the answer contains {placeholder}, a value Switchboard redacted from another file; it is not copied here"
        ),
        retry_after: None,
    };
    let state = State { inner: stream, restorer, provider, queue: Default::default(), done: false };
    futures_util::stream::unfold(state, move |mut s| async move {
        loop {
            if let Some(item) = s.queue.pop_front() {
                return Some((item, s));
            }
            if s.done {
                return None;
            }
            match s.inner.next().await {
                Some(Ok(StreamEvent::Text(t))) => match s.restorer.push(&t) {
                    Ok(out) if out.is_empty() => {}
                    Ok(out) => s.queue.push_back(Ok(StreamEvent::Text(out))),
                    Err(p) => {
                        s.done = true;
                        s.queue.push_back(Err(refused(&s.provider, &p)));
                    }
                },
                Some(Ok(StreamEvent::Done { stop_reason })) => {
                    match s.restorer.finish() {
                        Ok(out) if out.is_empty() => {}
                        Ok(out) => s.queue.push_back(Ok(StreamEvent::Text(out))),
                        Err(p) => {
                            s.done = true;
                            s.queue.push_back(Err(refused(&s.provider, &p)));
                            continue;
                        }
                    }
                    s.queue.push_back(Ok(StreamEvent::Done { stop_reason }));
                }
                Some(other) => s.queue.push_back(other),
                None => {
                    s.done = true;
                    match s.restorer.finish() {
                        Ok(out) if !out.is_empty() => s.queue.push_back(Ok(StreamEvent::Text(out))),
                        Ok(_) => {}
                        Err(p) => s.queue.push_back(Err(refused(&s.provider, &p))),
                    }
                }
            }
        }
    })
    .boxed()
}

/// Upstream errors in a stream, scrubbed of keys before anyone logs or shows them.
pub fn scrub_stream_errors(stream: EventStream) -> EventStream {
    stream.map(|item| item.map_err(ProviderError::scrubbed)).boxed()
}

/// The doctor's "Privacy" section.
pub fn doctor_section(policy: &Policy, settings: &Settings, exclude: &[String], local_only: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\nPrivacy");
    let _ = writeln!(
        out,
        "  excluded (never sent): {} built-in secret patterns (.env, *.pem, id_rsa*, .ssh/ …)",
        exclude::BUILTIN.len()
    );
    let files = policy.ignore_files_found();
    if files.is_empty() {
        let _ = writeln!(out, "  {IGNORE_FILE}: none at the workspace root");
    } else {
        let shown: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        let _ = writeln!(out, "  {IGNORE_FILE}: {}", shown.join(", "));
    }
    let list = |v: &[String]| if v.is_empty() { "none".to_owned() } else { v.join(", ") };
    let _ = writeln!(out, "  privacy.exclude: {}", list(exclude));
    let _ = writeln!(out, "  privacy.local_only: {}", list(local_only));
    let rules = redact::Rules::global();
    let _ = writeln!(
        out,
        "  redaction: {} ({} rules from privacy/rules.toml, plus the resolved keys)",
        if settings.redact { "on" } else { "OFF (only resolved keys are redacted)" },
        rules.rules.len()
    );
    for e in &rules.errors {
        let _ = writeln!(out, "  error: {e}");
    }
    for p in &policy.problems {
        let _ = writeln!(out, "  warning: {p}");
    }
    let _ =
        writeln!(out, "  prompts in logs: {}", if settings.log_prompts { "yes (log.prompts = true)" } else { "no" });
    out
}

/// The doctor's list of open documents that are not sent, and why (empty when there are none).
pub fn withheld_report(docs: &[(String, Verdict)]) -> String {
    let mut out = String::new();
    if docs.is_empty() {
        return out;
    }
    let _ = writeln!(out, "\nOpen files not sent upstream");
    for (uri, verdict) in docs {
        let label = verdict.label().unwrap_or_default();
        let _ = writeln!(out, "  {label}: {}", verdict.reason().unwrap_or(uri));
    }
    out
}

/// The verdict for a document URI (`file://` URIs; anything else is allowed).
pub fn verdict_for_uri(policy: &Policy, uri: &str) -> Verdict {
    match crate::actions::edit::uri_to_path(uri) {
        Some(path) => policy.verdict(&path),
        None => Verdict::Allowed,
    }
}

/// Whether `path` may be indexed, sent as context, or read for a prompt at all.
pub fn admits(policy: &Policy, path: &Path) -> bool {
    !policy.is_excluded(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;

    fn inline(prefix: &str, suffix: &str) -> ModelRequest {
        ModelRequest {
            task: Task::Inline,
            system: "sys".into(),
            context: String::new(),
            prefix: prefix.into(),
            suffix: suffix.into(),
            user: String::new(),
            language: "python".into(),
            path: "a.py".into(),
            max_output_tokens: None,
            stop: Vec::new(),
            cache_key: None,
            workdir: None,
            parts: None,
        }
    }

    #[test]
    fn a_secret_the_cursor_sits_in_goes_whole() {
        let key = "sk-proj-CURSORa1b2c3d4e5f6g7h8i9j0kLmNoP";
        let (a, b) = key.split_at(15);
        let out = outbound(inline(&format!("x = 1\nk = \"{a}"), &format!("{b}\"\ny = 2\n")), &Settings::default());
        let sent = format!("{}{}", out.request.prefix, out.request.suffix);
        assert!(!sent.contains(a) && !sent.contains(b), "{sent}");
        assert!(out.request.prefix.ends_with('»'), "{}", out.request.prefix);
        assert_eq!(out.request.suffix, "\"\ny = 2\n");
        assert_eq!(out.redactions.len(), 1);
        assert_eq!(out.redactions[0].part, Part::Prefix);
    }

    #[test]
    fn the_context_parts_fim_formats_render_are_redacted_too() {
        let key = "ghp_PARTaB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3";
        let mut req = inline("x = ", "");
        let item = crate::context::Part {
            kind: crate::context::PartKind::Neighbour,
            source: "b.py:1-2".into(),
            path: "b.py".into(),
            text: format!("TOKEN = \"{key}\"\n"),
            tokens: 12,
        };
        req.context = item.text.clone();
        req.parts = Some(std::sync::Arc::new(crate::context::Parts { items: vec![item], ..Default::default() }));
        let out = outbound(req, &Settings::default());
        let parts = out.request.parts.as_deref().unwrap();
        assert!(!parts.items[0].text.contains(key), "{}", parts.items[0].text);
        assert_eq!(parts.items[0].text, out.request.context);
        assert_eq!(out.redactions.len(), 1, "the parts repeat the context: listed once");
    }

    #[test]
    fn suffix_redactions_are_reported_relative_to_the_suffix() {
        let suffix = "\nTOKEN = \"ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5\"\n";
        let out = outbound(inline("def f():\n    ", suffix), &Settings::default());
        let r = &out.redactions[0];
        assert_eq!(r.part, Part::Suffix);
        assert_eq!(&suffix[r.range.clone()], "ghp_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5");
        assert_eq!(out.request.prefix, "def f():\n    ");
    }

    #[tokio::test]
    async fn answers_get_their_own_secrets_back_and_refuse_others() {
        let own_key = "ghp_OWNaB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3";
        let mut req = inline("t = \"", &format!("{own_key}\"\n"));
        req.context = "From other.py: OTHER = \"ghp_OTHERdE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3x\"".into();
        let out = outbound(req, &Settings::default());
        assert!(!out.request.context.contains("ghp_OTHER"));
        let own_p = out.redactions.iter().find(|r| r.part == Part::Suffix).unwrap().placeholder.clone();
        let other_p = out.redactions.iter().find(|r| r.part == Part::Context).unwrap().placeholder.clone();

        let events = |texts: Vec<String>| {
            let mut v: Vec<Result<StreamEvent, ProviderError>> =
                texts.into_iter().map(|t| Ok(StreamEvent::Text(t))).collect();
            v.push(Ok(StreamEvent::Done { stop_reason: None }));
            futures_util::stream::iter(v).boxed()
        };
        let (a, b) = own_p.split_at(6);
        let restored: Vec<StreamEvent> =
            out.restore(events(vec![format!("x{a}"), format!("{b}y")]), "codex").try_collect().await.unwrap();
        assert_eq!(restored[0], StreamEvent::Text("x".into()));
        assert_eq!(restored[1], StreamEvent::Text(format!("{own_key}y")));

        let mut req = inline("t = \"", &format!("{own_key}\"\n"));
        req.context = "OTHER = \"ghp_OTHERdE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3x\"".into();
        let out = outbound(req, &Settings::default());
        let err = out.restore(events(vec![format!("a = {other_p}")]), "codex").try_collect::<Vec<_>>().await;
        assert!(err.unwrap_err().to_string().contains("redacted from another file"));
    }

    /// Answers with whatever placeholder it was sent (as a model repeating the code would), or
    /// fails with a 401 that echoes `echo`; records every request it gets.
    struct Echo {
        seen: std::sync::Mutex<Vec<ModelRequest>>,
        echo: Option<String>,
    }

    impl crate::providers::Provider for Echo {
        fn name(&self) -> &str {
            "echo"
        }
        fn kind(&self) -> crate::providers::ProviderKind {
            crate::providers::ProviderKind::OpenaiResponses
        }
        fn model(&self) -> &str {
            "m"
        }
        fn stream(
            &self,
            req: ModelRequest,
        ) -> futures_util::future::BoxFuture<'static, Result<EventStream, ProviderError>> {
            self.seen.lock().unwrap().push(req.clone());
            let echo = self.echo.clone();
            Box::pin(async move {
                if let Some(key) = echo {
                    return Err(ProviderError::Auth {
                        provider: "echo".into(),
                        message: format!("Incorrect API key provided: {key}"),
                        hint: "set ECHO_KEY".into(),
                    });
                }
                let sent = format!("{}{}", req.prefix, req.suffix);
                let p = &sent[sent.find('«').unwrap_or(0)..sent.find('»').map_or(0, |e| e + 2)];
                let events = vec![Ok(StreamEvent::Text(format!("= {p}"))), Ok(StreamEvent::Done { stop_reason: None })];
                Ok(futures_util::stream::iter(events).boxed())
            })
        }
        fn check(&self) -> futures_util::future::BoxFuture<'static, crate::providers::CheckReport> {
            unimplemented!("not used here")
        }
    }

    #[tokio::test]
    async fn the_router_is_the_choke_point() {
        use crate::providers::{Policy, RouteTable, Router, Served, router::Link};
        let router = Router::new(RouteTable::default(), Policy::default());
        let provider = std::sync::Arc::new(Echo { seen: Default::default(), echo: None });
        let key = "glpat-ROUTERa1b2c3d4e5f6g7h8";
        let req = inline("token ", &format!("\nOTHER = \"{key}\"\n"));
        let Ok(Served::Remote { stream, .. }) = router.run(req, &[Link::Remote(provider.clone())]).await else {
            panic!("expected a stream");
        };
        let seen = provider.seen.lock().unwrap()[0].clone();
        assert!(!seen.suffix.contains(key) && seen.suffix.contains("«redacted:gitlab-token-"));
        let answer: Vec<StreamEvent> = stream.try_collect().await.unwrap();
        assert_eq!(answer[0], StreamEvent::Text(format!("= {key}")), "the file's own secret comes back");

        let leaked = "sk-proj-ECHOEDa1b2c3d4e5f6g7h8i9j0kLmNoPq";
        remember_key(leaked);
        let failing = std::sync::Arc::new(Echo { seen: Default::default(), echo: Some(leaked.into()) });
        let err = router.run(inline("a", ""), &[Link::Remote(failing)]).await.err().unwrap();
        assert!(!err.to_string().contains(leaked), "{err}");
        assert!(err.to_string().contains("«redacted:api-key»"), "{err}");
        let notices = router.breakers().take_notices();
        assert!(notices.iter().all(|n| !n.contains(leaked)) && !notices.is_empty());
    }

    #[test]
    fn redaction_off_still_takes_resolved_keys_out() {
        remember_key("resolved-key-value-0987654321");
        let mut req = inline("a = \"resolved-key-value-0987654321\" # ", "");
        req.user = "password = \"hunter2hunter2\"".into();
        let out = outbound(req, &Settings { redact: false, log_prompts: false });
        assert!(!out.request.prefix.contains("resolved-key-value"));
        assert!(out.request.user.contains("hunter2hunter2"));
    }
}
