//! Routing: task + language → ordered provider chain; fallback, retry and backoff policy; circuit
//! breakers; and the record of who served each answer, how fast, and for how many tokens.
//!
//! The policy and the breakers are pure (time is passed in); `Router::run` is the only async part.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::time::Instant;

use super::error::ProviderError;
use super::registry::Registry;
use super::{EventStream, ModelRequest, Provider, StreamEvent, Task, Usage};

/// The name that means "the engine answers from its own symbols and words".
pub const LOCAL: &str = "local";

/// `[routes]`: task → providers tried in order, with per-language overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTable {
    pub routes: HashMap<String, Vec<String>>,
    /// language id → (task → providers); wins over `routes` for that language.
    pub per_language: HashMap<String, HashMap<String, Vec<String>>>,
}

impl Default for RouteTable {
    fn default() -> Self {
        let mut routes = HashMap::new();
        for task in ["inline", "complete"] {
            routes.insert(task.to_owned(), vec!["codex".to_owned(), LOCAL.to_owned()]);
        }
        for task in ["explain", "refactor", "fix", "document", "tests"] {
            routes.insert(task.to_owned(), vec!["claude".to_owned()]);
        }
        RouteTable { routes, per_language: HashMap::new() }
    }
}

impl RouteTable {
    /// The defaults with the configured routes laid over them.
    pub fn new(
        routes: HashMap<String, Vec<String>>,
        per_language: HashMap<String, HashMap<String, Vec<String>>>,
    ) -> Self {
        let mut table = RouteTable::default();
        table.routes.extend(routes);
        table.per_language = per_language;
        table
    }

    /// Providers to try, in order. A custom action whose route is not a `[routes]` key names a
    /// provider directly.
    pub fn chain(&self, task: &Task, language: &str) -> Vec<String> {
        let key = task.route_name();
        if let Some(chain) = self.per_language.get(language).and_then(|r| r.get(key)) {
            return chain.clone();
        }
        match (self.routes.get(key), task) {
            (Some(chain), _) => chain.clone(),
            (None, Task::Custom(name)) => vec![name.clone()],
            (None, _) => Vec::new(),
        }
    }
}

/// Retry, backoff and breaker settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Tries per provider for actions (completions always try once).
    pub max_tries: u32,
    /// A longer retry-after moves on to the next provider instead of waiting.
    pub max_retry_after: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Consecutive failures that open a provider's breaker.
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
    /// The cool-down doubles each time the breaker reopens, up to this.
    pub breaker_max_cooldown: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_tries: 3,
            max_retry_after: Duration::from_secs(60),
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(8),
            breaker_threshold: 3,
            breaker_cooldown: Duration::from_secs(30),
            breaker_max_cooldown: Duration::from_secs(600),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Try the same provider again after this delay.
    Retry(Duration),
    /// Go on down the chain.
    Next,
    /// The key was refused: skip this provider until the config changes, then go on.
    Disable,
}

impl Policy {
    /// What to do after `tries` failed tries of one provider ended with `err`.
    pub fn decide(&self, interactive: bool, tries: u32, err: &ProviderError) -> Decision {
        if err.is_auth() {
            return Decision::Disable;
        }
        // The user is typing: never sleep, never retry; the next provider or `local` answers.
        if interactive || !err.retryable() || tries >= self.max_tries {
            return Decision::Next;
        }
        match err.retry_after() {
            Some(d) if d > self.max_retry_after => Decision::Next,
            // "Now" (0 s, or a date already past) is no reason to hammer a struggling server.
            Some(d) if !d.is_zero() => Decision::Retry(d),
            _ => Decision::Retry(self.backoff(tries)),
        }
    }

    /// `base × 2^(tries-1)`, capped.
    pub fn backoff(&self, tries: u32) -> Duration {
        let factor = 1u32 << tries.saturating_sub(1).min(16);
        self.backoff_base.saturating_mul(factor).min(self.backoff_max)
    }
}

/// A provider's state, for `doctor` and the status notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Ready,
    CoolingDown { until: Instant },
    Disabled { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderStatus {
    pub name: String,
    pub availability: Availability,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct Entry {
    failures: u32,
    open_until: Option<Instant>,
    cooldown: Duration,
    disabled: Option<String>,
    last_error: Option<String>,
}

/// Per-provider failure bookkeeping: consecutive failures open a breaker for a doubling cool-down;
/// a refused key disables the provider until `reset` (config change).
#[derive(Debug, Default)]
pub struct Breakers {
    policy: Policy,
    entries: Mutex<HashMap<String, Entry>>,
    notices: Mutex<Vec<String>>,
}

impl Breakers {
    pub fn new(policy: Policy) -> Self {
        Breakers { policy, ..Breakers::default() }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // A panic elsewhere cannot leave the counters inconsistent enough to matter.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn availability(&self, name: &str, now: Instant) -> Availability {
        let entries = self.lock();
        match entries.get(name) {
            Some(Entry { disabled: Some(reason), .. }) => Availability::Disabled { reason: reason.clone() },
            Some(Entry { open_until: Some(until), .. }) if *until > now => Availability::CoolingDown { until: *until },
            _ => Availability::Ready,
        }
    }

    pub fn on_success(&self, name: &str) {
        if let Some(e) = self.lock().get_mut(name) {
            e.failures = 0;
            e.open_until = None;
            e.cooldown = Duration::ZERO;
        }
    }

    pub fn on_failure(&self, name: &str, err: &ProviderError, now: Instant) {
        let mut entries = self.lock();
        let e = entries.entry(name.to_owned()).or_default();
        e.last_error = Some(err.to_string());
        if err.is_auth() {
            if e.disabled.is_none() {
                let msg = format!("{err}. {name} is skipped until the configuration changes.");
                e.disabled = Some(msg.clone());
                self.notices.lock().unwrap_or_else(|e| e.into_inner()).push(msg);
            }
            return;
        }
        e.failures += 1;
        if e.failures >= self.policy.breaker_threshold {
            // Half-open after the cool-down: one more failure reopens it for twice as long.
            e.cooldown = if e.cooldown.is_zero() {
                self.policy.breaker_cooldown
            } else {
                (e.cooldown * 2).min(self.policy.breaker_max_cooldown)
            };
            e.open_until = Some(now + e.cooldown);
            tracing::warn!(provider = name, cooldown = ?e.cooldown, "provider keeps failing; set aside");
        }
    }

    /// Messages to show the user once (a refused key).
    pub fn take_notices(&self) -> Vec<String> {
        std::mem::take(&mut *self.notices.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn statuses(&self, now: Instant) -> Vec<ProviderStatus> {
        let names: Vec<String> = self.lock().keys().cloned().collect();
        let mut out: Vec<ProviderStatus> = names
            .into_iter()
            .map(|name| {
                let availability = self.availability(&name, now);
                let entries = self.lock();
                let e = entries.get(&name).cloned().unwrap_or_default();
                ProviderStatus { name, availability, consecutive_failures: e.failures, last_error: e.last_error }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The configuration changed: every provider gets a fresh start.
    pub fn reset(&self) {
        self.lock().clear();
    }
}

/// One failed or skipped try on the way to an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub provider: String,
    pub error: String,
}

/// Who served an answer, how fast, and what it cost. Total, usage and stop reason fill in as the
/// stream runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerRecord {
    pub provider: String,
    pub model: String,
    /// From `run` to the first event of the served stream (fallbacks included).
    pub first_byte: Duration,
    pub total: Option<Duration>,
    pub usage: Option<Usage>,
    pub stop_reason: Option<String>,
    pub attempts: Vec<Attempt>,
}

/// A shared view of an `AnswerRecord` the stream keeps up to date.
#[derive(Debug, Clone)]
pub struct RecordHandle(Arc<Mutex<AnswerRecord>>);

impl RecordHandle {
    pub fn snapshot(&self) -> AnswerRecord {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut AnswerRecord)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// A link of a chain: a provider, or the engine's own local answer.
#[derive(Clone)]
pub enum Link {
    Remote(Arc<dyn Provider>),
    Local,
}

pub enum Served {
    /// A stream that has produced its first event.
    Remote { stream: EventStream, record: RecordHandle },
    /// The chain reached `local`: the engine answers itself.
    Local { attempts: Vec<Attempt> },
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("no provider answered{}", summary(.attempts))]
pub struct RouteError {
    pub attempts: Vec<Attempt>,
    /// The last real error, for the user message.
    pub last: Option<ProviderError>,
}

fn summary(attempts: &[Attempt]) -> String {
    if attempts.is_empty() {
        return " (the route is empty)".into();
    }
    let parts: Vec<String> = attempts.iter().map(|a| a.error.clone()).collect();
    format!(": {}", parts.join("; "))
}

pub struct Router {
    pub table: RouteTable,
    pub policy: Policy,
    breakers: Arc<Breakers>,
    /// Redaction and prompt logging, applied to every request in [`Router::run`].
    privacy: crate::privacy::Settings,
}

impl Router {
    pub fn new(table: RouteTable, policy: Policy) -> Self {
        Router { table, policy, breakers: Arc::new(Breakers::new(policy)), privacy: Default::default() }
    }

    pub fn with_privacy(mut self, privacy: crate::privacy::Settings) -> Self {
        self.privacy = privacy;
        self
    }

    pub fn breakers(&self) -> &Breakers {
        &self.breakers
    }

    /// The chain for a task as links; unknown names become failed attempts so the user hears of them.
    pub fn links(&self, registry: &Registry, task: &Task, language: &str) -> (Vec<Link>, Vec<Attempt>) {
        let mut links = Vec::new();
        let mut unknown = Vec::new();
        for name in self.table.chain(task, language) {
            if registry.is_local(&name) {
                links.push(Link::Local);
            } else if let Some(p) = registry.get(&name) {
                links.push(Link::Remote(p));
            } else {
                unknown.push(Attempt {
                    provider: name.clone(),
                    error: format!("{name}: no such provider; add [providers.{name}] or fix [routes]"),
                });
            }
        }
        (links, unknown)
    }

    /// Routes a request by task and language through the registry.
    pub async fn run_route(&self, registry: &Registry, req: ModelRequest) -> Result<Served, RouteError> {
        let (links, unknown) = self.links(registry, &req.task, &req.language);
        let result = self.run(req, &links).await;
        match result {
            Err(mut e) => {
                e.attempts.splice(0..0, unknown);
                Err(e)
            }
            Ok(Served::Local { mut attempts }) => {
                attempts.splice(0..0, unknown);
                Ok(Served::Local { attempts })
            }
            ok => ok,
        }
    }

    /// Tries the chain in order and returns the first stream that produced an event.
    ///
    /// Every request passes `crate::privacy::outbound` here, before any provider sees it: this is
    /// the one place where secrets are redacted, and where the answer gets them back.
    pub async fn run(&self, req: ModelRequest, chain: &[Link]) -> Result<Served, RouteError> {
        let outbound = crate::privacy::outbound(req, &self.privacy);
        let req = outbound.request.clone();
        let started = Instant::now();
        let interactive = req.task.is_interactive();
        let mut attempts = Vec::new();
        let mut last = None;
        for link in chain {
            let provider = match link {
                Link::Local => return Ok(Served::Local { attempts }),
                Link::Remote(p) => p,
            };
            let name = provider.name().to_owned();
            // Half-open: a user-triggered action may always try once, even while the breaker is
            // open (the user asked; an upstream that recovered should not be refused for minutes).
            let probe = match self.breakers.availability(&name, Instant::now()) {
                Availability::Ready => false,
                Availability::CoolingDown { .. } if !interactive => true,
                Availability::CoolingDown { until } => {
                    let secs = until.saturating_duration_since(Instant::now()).as_secs();
                    attempts.push(Attempt {
                        provider: name.clone(),
                        error: format!("{name}: set aside for {secs} s after repeated failures"),
                    });
                    continue;
                }
                Availability::Disabled { reason } => {
                    attempts.push(Attempt { provider: name.clone(), error: reason });
                    continue;
                }
            };
            let mut tries = 0;
            loop {
                tries += 1;
                match start(provider.as_ref(), req.clone()).await.map_err(ProviderError::scrubbed) {
                    Ok(stream) => {
                        self.breakers.on_success(&name);
                        let record = AnswerRecord {
                            provider: name,
                            model: provider.model().to_owned(),
                            first_byte: started.elapsed(),
                            total: None,
                            usage: None,
                            stop_reason: None,
                            attempts,
                        };
                        let stream = crate::privacy::scrub_stream_errors(stream);
                        return Ok(match self.recorded(stream, record, started) {
                            Served::Remote { stream, record } => {
                                Served::Remote { stream: outbound.restore(stream, provider.name()), record }
                            }
                            local => local,
                        });
                    }
                    Err(err) => {
                        attempts.push(Attempt { provider: name.clone(), error: err.to_string() });
                        let decision = match self.policy.decide(interactive, tries, &err) {
                            Decision::Retry(_) if probe => Decision::Next,
                            d => d,
                        };
                        if let Decision::Retry(delay) = decision {
                            tokio::time::sleep(delay).await;
                            continue;
                        }
                        // One request is one failure, however many tries it took.
                        self.breakers.on_failure(&name, &err, Instant::now());
                        last = Some(err);
                        break;
                    }
                }
            }
        }
        Err(RouteError { attempts, last })
    }

    /// Wraps a served stream so its record and the provider's breaker follow what happens next.
    fn recorded(&self, stream: EventStream, record: AnswerRecord, started: Instant) -> Served {
        let handle = RecordHandle(Arc::new(Mutex::new(record)));
        let h = handle.clone();
        let breakers = self.breakers.clone();
        let stream = stream
            .inspect(move |item| match item {
                Ok(StreamEvent::Usage(u)) => h.update(|r| r.usage = Some(*u)),
                Ok(StreamEvent::Done { stop_reason }) => h.update(|r| {
                    r.total = Some(started.elapsed());
                    r.stop_reason = stop_reason.clone();
                }),
                Ok(StreamEvent::Text(_)) => {}
                Err(e) => {
                    h.update(|r| r.total = Some(started.elapsed()));
                    breakers.on_failure(e.provider(), e, Instant::now());
                }
            })
            .boxed();
        Served::Remote { stream, record: handle }
    }
}

/// Starts a provider and waits for its first event, so an early failure can still fall back.
async fn start(provider: &dyn Provider, req: ModelRequest) -> Result<EventStream, ProviderError> {
    let mut stream = provider.stream(req).await?;
    match stream.next().await {
        Some(Ok(first)) => Ok(futures_util::stream::once(async { Ok(first) }).chain(stream).boxed()),
        Some(Err(e)) => Err(e),
        None => Err(ProviderError::closed(provider.name(), "the first event")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{CheckReport, ProviderKind};
    use super::*;
    use futures_util::future::BoxFuture;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn server_error() -> ProviderError {
        ProviderError::Server { provider: "p".into(), status: 500, message: "x".into(), retry_after: None }
    }

    fn auth() -> ProviderError {
        ProviderError::Auth { provider: "p".into(), message: "bad key".into(), hint: "set P_KEY".into() }
    }

    #[test]
    fn chains_by_task_and_language() {
        let mut per = HashMap::new();
        per.insert("python".to_owned(), HashMap::from([("inline".to_owned(), vec!["ollama".to_owned()])]));
        let t = RouteTable::new(HashMap::from([("fix".to_owned(), vec!["gpt".to_owned(), "claude".to_owned()])]), per);
        assert_eq!(t.chain(&Task::Inline, "rust"), ["codex", "local"]);
        assert_eq!(t.chain(&Task::Inline, "python"), ["ollama"]);
        assert_eq!(t.chain(&Task::Explain, "python"), ["claude"]);
        assert_eq!(t.chain(&Task::Fix, "rust"), ["gpt", "claude"]);
        assert_eq!(t.chain(&Task::Custom("claude".into()), "rust"), ["claude"]);
    }

    #[test]
    fn policy_decisions() {
        let p = Policy::default();
        assert_eq!(p.decide(true, 1, &server_error()), Decision::Next);
        assert_eq!(p.decide(false, 1, &server_error()), Decision::Retry(Duration::from_millis(500)));
        assert_eq!(p.decide(false, 2, &server_error()), Decision::Retry(Duration::from_secs(1)));
        assert_eq!(p.decide(false, 3, &server_error()), Decision::Next);
        assert_eq!(p.decide(true, 1, &auth()), Decision::Disable);
        let rl = |after: u64, fatal| ProviderError::RateLimited {
            provider: "p".into(),
            message: "m".into(),
            retry_after: Some(Duration::from_secs(after)),
            fatal,
        };
        assert_eq!(p.decide(false, 1, &rl(2, false)), Decision::Retry(Duration::from_secs(2)));
        assert_eq!(p.decide(false, 1, &rl(0, false)), Decision::Retry(p.backoff(1)), "retry-after: 0 still backs off");
        assert_eq!(p.decide(false, 1, &rl(120, false)), Decision::Next);
        assert_eq!(p.decide(false, 1, &rl(2, true)), Decision::Next);
        assert_eq!(p.decide(true, 1, &rl(2, false)), Decision::Next);
        assert_eq!(p.backoff(10), Duration::from_secs(8));
    }

    #[test]
    fn breaker_opens_doubles_and_resets() {
        let b = Breakers::new(Policy::default());
        let t0 = Instant::now();
        for _ in 0..2 {
            b.on_failure("codex", &server_error(), t0);
        }
        assert_eq!(b.availability("codex", t0), Availability::Ready);
        b.on_failure("codex", &server_error(), t0);
        assert_eq!(b.availability("codex", t0), Availability::CoolingDown { until: t0 + Duration::from_secs(30) });
        let t1 = t0 + Duration::from_secs(31);
        assert_eq!(b.availability("codex", t1), Availability::Ready);
        b.on_failure("codex", &server_error(), t1);
        assert_eq!(b.availability("codex", t1), Availability::CoolingDown { until: t1 + Duration::from_secs(60) });
        b.on_success("codex");
        assert_eq!(b.availability("codex", t1), Availability::Ready);
        assert_eq!(b.statuses(t1)[0].consecutive_failures, 0);

        b.on_failure("claude", &auth(), t0);
        b.on_failure("claude", &auth(), t0);
        assert!(matches!(b.availability("claude", t1), Availability::Disabled { .. }));
        let notices = b.take_notices();
        assert_eq!(notices.len(), 1, "reported once");
        assert!(notices[0].contains("set P_KEY"));
        b.reset();
        assert_eq!(b.availability("claude", t1), Availability::Ready);
    }

    /// Fails with scripted errors, then streams "ok".
    struct Scripted {
        name: &'static str,
        errors: Mutex<Vec<ProviderError>>,
        calls: AtomicUsize,
    }

    impl Scripted {
        fn new(name: &'static str, errors: Vec<ProviderError>) -> Arc<Self> {
            Arc::new(Scripted { name, errors: Mutex::new(errors), calls: AtomicUsize::new(0) })
        }
    }

    impl Provider for Scripted {
        fn name(&self) -> &str {
            self.name
        }
        fn kind(&self) -> ProviderKind {
            ProviderKind::OpenaiResponses
        }
        fn model(&self) -> &str {
            "m"
        }
        fn stream(&self, _req: ModelRequest) -> BoxFuture<'static, Result<EventStream, ProviderError>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let next = self.errors.lock().unwrap().pop();
            Box::pin(async move {
                match next {
                    Some(e) => Err(e),
                    None => {
                        let events = vec![
                            Ok(StreamEvent::Text("ok".into())),
                            Ok(StreamEvent::Usage(Usage { input_tokens: 5, cached_input_tokens: 0, output_tokens: 1 })),
                            Ok(StreamEvent::Done { stop_reason: None }),
                        ];
                        Ok(futures_util::stream::iter(events).boxed())
                    }
                }
            })
        }
        fn check(&self) -> BoxFuture<'static, CheckReport> {
            unimplemented!()
        }
    }

    fn req(task: Task) -> ModelRequest {
        super::super::prompt::request(task)
    }

    #[tokio::test]
    async fn inline_falls_through_without_waiting() {
        let r = Router::new(RouteTable::default(), Policy::default());
        let rl = ProviderError::RateLimited {
            provider: "codex".into(),
            message: "m".into(),
            retry_after: Some(Duration::from_secs(30)),
            fatal: false,
        };
        let codex = Scripted::new("codex", vec![rl]);
        let backup = Scripted::new("backup", vec![]);
        let t = std::time::Instant::now();
        let served =
            r.run(req(Task::Inline), &[Link::Remote(codex.clone()), Link::Remote(backup), Link::Local]).await.unwrap();
        assert!(t.elapsed() < Duration::from_secs(1));
        let Served::Remote { stream, record } = served else { panic!("expected remote") };
        let events: Vec<_> = stream.collect().await;
        assert_eq!(events.len(), 3);
        let rec = record.snapshot();
        assert_eq!(rec.provider, "backup");
        assert_eq!(rec.attempts.len(), 1);
        assert_eq!(rec.usage.unwrap().input_tokens, 5);
        assert!(rec.total.is_some());
        assert_eq!(codex.calls.load(Ordering::SeqCst), 1);

        let down = Scripted::new("codex", vec![server_error()]);
        let served = r.run(req(Task::Inline), &[Link::Remote(down), Link::Local]).await.unwrap();
        assert!(matches!(served, Served::Local { ref attempts } if attempts.len() == 1));
    }

    #[tokio::test]
    async fn actions_retry_with_backoff_then_fall_back() {
        let r = Router::new(
            RouteTable::default(),
            Policy { breaker_threshold: 10, backoff_base: Duration::from_millis(5), ..Policy::default() },
        );
        let claude = Scripted::new("claude", vec![server_error(), server_error()]);
        let served = r.run(req(Task::Explain), &[Link::Remote(claude.clone())]).await.unwrap();
        assert!(matches!(served, Served::Remote { .. }));
        assert_eq!(claude.calls.load(Ordering::SeqCst), 3);

        let quota = ProviderError::RateLimited {
            provider: "claude".into(),
            message: "m".into(),
            retry_after: None,
            fatal: true,
        };
        let claude = Scripted::new("claude", vec![quota]);
        let err = r.run(req(Task::Explain), &[Link::Remote(claude.clone())]).await.err().unwrap();
        assert_eq!(claude.calls.load(Ordering::SeqCst), 1, "fatal quota is never retried");
        assert!(err.to_string().contains("no provider answered"));

        let claude = Scripted::new("claude", vec![auth()]);
        let _ = r.run(req(Task::Explain), &[Link::Remote(claude.clone())]).await;
        let _ = r.run(req(Task::Explain), &[Link::Remote(claude.clone())]).await;
        assert_eq!(claude.calls.load(Ordering::SeqCst), 1, "disabled after a refused key");
        assert_eq!(r.breakers().take_notices().len(), 1);
    }

    #[tokio::test]
    async fn open_breaker_skips_the_provider() {
        let r = Router::new(RouteTable::default(), Policy::default());
        let codex = Scripted::new("codex", vec![server_error(), server_error(), server_error()]);
        for _ in 0..3 {
            let _ = r.run(req(Task::Inline), &[Link::Remote(codex.clone()), Link::Local]).await;
        }
        let served = r.run(req(Task::Inline), &[Link::Remote(codex.clone()), Link::Local]).await.unwrap();
        assert!(matches!(served, Served::Local { .. }));
        assert_eq!(codex.calls.load(Ordering::SeqCst), 3);
        let status = &r.breakers().statuses(Instant::now())[0];
        assert!(matches!(status.availability, Availability::CoolingDown { .. }));
    }

    #[tokio::test]
    async fn retries_of_one_request_are_one_failure() {
        let policy = Policy { backoff_base: Duration::from_millis(1), ..Policy::default() };
        let r = Router::new(RouteTable::default(), policy);
        // One refactor meets a 500 three times: one failure, not three.
        let claude = Scripted::new("claude", vec![server_error(), server_error(), server_error()]);
        assert!(r.run(req(Task::Refactor), &[Link::Remote(claude.clone())]).await.is_err());
        assert_eq!(claude.calls.load(Ordering::SeqCst), 3);
        assert_eq!(r.breakers().statuses(Instant::now())[0].consecutive_failures, 1);
        // The upstream is healthy again: the next refactor is served at once.
        let served = r.run(req(Task::Refactor), &[Link::Remote(claude.clone())]).await.unwrap();
        assert!(matches!(served, Served::Remote { .. }));
        assert_eq!(r.breakers().statuses(Instant::now())[0].consecutive_failures, 0, "a success resets");
    }

    #[tokio::test]
    async fn an_open_breaker_still_lets_an_action_try_once() {
        let policy = Policy { backoff_base: Duration::from_millis(1), ..Policy::default() };
        let r = Router::new(RouteTable::default(), policy);
        let failing = (0..9).map(|_| server_error()).collect();
        let claude = Scripted::new("claude", failing);
        for _ in 0..3 {
            let _ = r.run(req(Task::Refactor), &[Link::Remote(claude.clone())]).await;
        }
        assert_eq!(claude.calls.load(Ordering::SeqCst), 9);
        let open = r.breakers().availability("claude", Instant::now());
        assert!(matches!(open, Availability::CoolingDown { .. }), "{open:?}");
        // Interactive requests skip it; a user-triggered action probes it, once, without retries.
        let inline = r.run(req(Task::Inline), &[Link::Remote(claude.clone()), Link::Local]).await.unwrap();
        assert!(matches!(inline, Served::Local { .. }));
        assert_eq!(claude.calls.load(Ordering::SeqCst), 9);
        let probe = Scripted::new("claude", vec![server_error()]);
        assert!(r.run(req(Task::Refactor), &[Link::Remote(probe.clone())]).await.is_err());
        assert_eq!(probe.calls.load(Ordering::SeqCst), 1, "a probe is one try");
        let Some(ProviderStatus { availability: Availability::CoolingDown { until }, .. }) =
            r.breakers().statuses(Instant::now()).into_iter().next()
        else {
            panic!("the failed probe reopens the breaker")
        };
        assert!(until > Instant::now() + Duration::from_secs(59), "for twice as long");
        // A probe that succeeds closes it.
        let served = r.run(req(Task::Refactor), &[Link::Remote(probe.clone())]).await.unwrap();
        assert!(matches!(served, Served::Remote { .. }));
        assert_eq!(r.breakers().availability("claude", Instant::now()), Availability::Ready);
    }
}
