//! The inline completion engine: decides whether and what to ask, reuses what it can (typing-through
//! cache, in-flight streams), streams from the route with an early cut, cleans the answer and gates
//! it through the parser.
//!
//! Each upstream stream runs in a task of its own (a *flight*) so it outlives the LSP request that
//! started it: editors cancel the pending request on every keystroke (VS Code sends
//! `$/cancelRequest`, then the next request a few milliseconds later; tower-lsp-server answers the
//! cancelled one `-32800` by dropping its handler), and a newer request whose text extends what is
//! being produced joins the stream instead of paying for another. One state machine, [`Lifetime`],
//! decides how long a flight lives:
//!
//! ```text
//!   launched ──> Wanted (≥ 1 request waits) ──last one leaves──> Orphaned (until now + grace)
//!                  ^   │                                            │
//!                  │   └────── a request joins ◄────────────────────┘
//!                  │
//!   any state ──> Dropped, the stream closed at once, when: the grace passes with no joiner;
//!                 a newer request for the document cannot use it (the text diverged from what
//!                 it produces, or the cursor moved); a new flight replaces it; the document closes.
//!   Wanted ──> Finished: the result is published (and cached for typing-through).
//! ```
//!
//! A request "can use" a flight when the text before the flight's cursor is unchanged, the text
//! after the cursor is unchanged, and what was typed since is a prefix of what the flight streamed
//! (or extends it). The grace (`completion.cancel_grace_ms`) covers the gap between a cancel and
//! the next request; a prefetched flight (after an accept) starts orphaned with a longer hold.

use std::{
    collections::HashMap,
    ops::Range,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use ropey::Rope;
use tokio::sync::{Notify, watch};

use super::{
    cache::CompletionCache,
    debounce::{Debouncer, TriggerInfo},
    postprocess::{self, Cut, IndentStyle, Options, Shape, StreamCutter},
    stats::Stats,
};
use crate::{
    config::CompletionConfig,
    providers::{ModelRequest, Served, StreamEvent, Task, Usage},
    syntax::{LanguageInfo, SyntaxTree},
    upstream::Upstream,
};

/// Bytes of text before the cursor that must be unchanged for a stream or cache entry to apply.
const ANCHOR_BYTES: usize = 256;
/// Bytes before and after the cursor handed to the cache (its key takes the tail and head of these).
const CACHE_WINDOW: usize = 2048;
/// Top-level items up to this size (and much smaller than their file) are parsed alone by the syntax
/// gate; otherwise an incremental reparse of the document is cheaper.
const STANDALONE_ITEM_BYTES: usize = 16 * 1024;
/// Files up to this size may be reparsed (incrementally, on a copy) to judge a suggestion that no
/// item holds; past it such a suggestion is judged alone.
const WHOLE_FILE_GATE_BYTES: usize = 256 * 1024;
/// How long a speculative (prefetched) stream waits for a request to claim it.
const PREFETCH_HOLD: Duration = Duration::from_secs(3);
/// Default for `completion.cancel_grace_ms`: how long a flight whose requests were all cancelled
/// waits for the next request to join it (VS Code sends it 10–50 ms after the cancel).
pub const DEFAULT_CANCEL_GRACE_MS: u64 = 200;

/// One inline request, in engine terms.
#[derive(Debug, Clone)]
pub struct InlineRequest {
    pub uri: String,
    pub offset: usize,
    pub task: Task,
    /// An explicit gesture (Invoked): never debounced.
    pub invoked: bool,
    /// The popup item the editor has selected (LSP `selectedCompletionInfo`): the completion must
    /// extend it, and single-line is enough.
    pub selected: Option<(Range<usize>, String)>,
}

/// A suggestion: insert `text` over `range` (document bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct InlineAnswer {
    pub text: String,
    pub range: Range<usize>,
    pub provider: String,
    pub model: String,
    pub latency: Duration,
    pub from_cache: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum InlineOutcome {
    Answer(InlineAnswer),
    /// Nothing worth showing here (mid-word, empty answer, everything failed).
    Nothing {
        reason: String,
    },
    /// A newer request for the same document took over.
    Superseded,
}

/// What one document's snapshot offers the engine.
#[derive(Clone)]
pub struct DocView {
    pub uri: String,
    pub version: i32,
    pub rope: Rope,
    pub syntax: Option<SyntaxTree>,
    /// `syntax` was edited but not reparsed yet (a large document on the typing path): right
    /// everywhere but at the latest edits.
    pub syntax_behind: bool,
    pub lang: Option<&'static LanguageInfo>,
    pub language_id: String,
}

/// The state a flight publishes to its subscribers.
#[derive(Debug, Clone, Default)]
struct FlightState {
    /// Text streamed so far (raw, before post-processing).
    streamed: String,
    done: Option<FlightResult>,
}

#[derive(Debug, Clone)]
enum FlightResult {
    /// The cleaned completion, relative to the flight's cursor.
    Text {
        text: String,
        replace_after: usize,
        provider: String,
        model: String,
    },
    /// The route reached `local`: the engine answers from the buffers.
    Local,
    Empty(String),
}

/// A live upstream stream for one cursor position.
struct Flight {
    id: u64,
    /// Cursor offset the request was made at.
    offset: usize,
    /// Text just before the cursor, and just after it, when the flight started.
    anchor: String,
    suffix_head: String,
    tx: watch::Sender<FlightState>,
    life: Arc<Lifetime>,
}

/// How long a flight lives (the state machine of the module comment), shared by the engine's
/// map entry, the requests waiting on the flight ([`Seat`]s) and the flight's task, which stops
/// streaming as soon as [`Lifetime::ended`] resolves.
struct Lifetime {
    state: Mutex<Life>,
    /// Wakes the flight's task when the state changes (one waiter: a stored permit is never lost).
    wake: Notify,
    grace: Duration,
}

#[derive(Debug)]
struct Life {
    /// Requests waiting for the flight's result now (Wanted when > 0).
    waiting: usize,
    /// Orphaned: nobody waits, and the flight is dropped at this moment unless a request joins.
    orphaned_until: Option<Instant>,
    /// Dropped, and why (for the log).
    dropped: Option<&'static str>,
}

impl Lifetime {
    /// A flight orphaned from the start for `hold` (a prefetch), or wanted by its first request.
    fn new(grace: Duration, hold: Option<Duration>) -> Arc<Lifetime> {
        let orphaned_until = hold.map(|h| Instant::now() + h);
        Arc::new(Lifetime {
            state: Mutex::new(Life { waiting: 0, orphaned_until, dropped: None }),
            wake: Notify::new(),
            grace,
        })
    }

    /// A request starts waiting on the flight; `None` when it was dropped already.
    fn seat(self: &Arc<Self>) -> Option<Seat> {
        let mut life = lock(&self.state);
        if life.dropped.is_some() {
            return None;
        }
        life.waiting += 1;
        life.orphaned_until = None;
        Some(Seat(self.clone()))
    }

    fn drop_now(&self, reason: &'static str) {
        lock(&self.state).dropped.get_or_insert(reason);
        self.wake.notify_one();
    }

    /// Resolves, with the reason, once nobody can use the flight any more.
    async fn ended(&self) -> &'static str {
        loop {
            let deadline = {
                let mut life = lock(&self.state);
                if let Some(reason) = life.dropped {
                    return reason;
                }
                match life.orphaned_until {
                    Some(t) if t <= Instant::now() => {
                        return *life.dropped.insert("no request joined it within the grace period");
                    }
                    Some(t) => Some(t),
                    // Seats keep the rule total: nobody waiting always comes with a deadline.
                    None => None,
                }
            };
            match deadline {
                Some(t) => {
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep_until(t.into()) => {}
                    }
                }
                None => self.wake.notified().await,
            }
        }
    }
}

/// A request's place on a flight. Leaving it (the request was answered, superseded, or its
/// handler dropped by `$/cancelRequest`) orphans the flight when it was the last one.
struct Seat(Arc<Lifetime>);

impl Drop for Seat {
    fn drop(&mut self) {
        let mut life = lock(&self.0.state);
        life.waiting = life.waiting.saturating_sub(1);
        if life.waiting == 0 {
            life.orphaned_until = Some(Instant::now() + self.0.grace);
        }
        drop(life);
        self.0.wake.notify_one();
    }
}

/// What `[completion]` sets for the inline engine.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Settings {
    cancel_grace: Duration,
    max_bytes: usize,
    max_lines: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            cancel_grace: Duration::from_millis(DEFAULT_CANCEL_GRACE_MS),
            max_bytes: postprocess::DEFAULT_MAX_BYTES,
            max_lines: postprocess::DEFAULT_MAX_LINES,
        }
    }
}

/// Shared engine state for inline completions.
pub struct InlineEngine {
    cache: Arc<Mutex<CompletionCache>>,
    flights: Arc<Mutex<HashMap<String, Flight>>>,
    /// Per document: the newest request's generation (older requests yield to it).
    generations: Mutex<HashMap<String, watch::Sender<u64>>>,
    debouncer: Mutex<Debouncer>,
    settings: Mutex<Settings>,
    next_id: std::sync::atomic::AtomicU64,
    pub stats: Arc<Stats>,
}

impl Default for InlineEngine {
    fn default() -> Self {
        InlineEngine {
            cache: Arc::new(Mutex::new(CompletionCache::default())),
            flights: Arc::new(Mutex::new(HashMap::new())),
            generations: Mutex::new(HashMap::new()),
            debouncer: Mutex::new(Debouncer::new(0)),
            settings: Mutex::new(Settings::default()),
            next_id: std::sync::atomic::AtomicU64::new(1),
            stats: Arc::new(Stats::default()),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Prompt inputs the engine prepares (context building lives in `crate::context`).
pub struct Prepared {
    pub request: ModelRequest,
    pub shape: Shape,
    pub indent: IndentStyle,
}

impl InlineEngine {
    pub fn set_debounce(&self, ms: u64) {
        lock(&self.debouncer).set_base_ms(ms);
    }

    /// Applies `[completion]`: debounce, cancel grace, suggestion caps.
    pub fn configure(&self, c: &CompletionConfig) {
        self.set_debounce(c.debounce_ms);
        *lock(&self.settings) = Settings {
            cancel_grace: Duration::from_millis(c.cancel_grace_ms),
            max_bytes: c.max_suggestion_bytes.max(1),
            max_lines: c.max_suggestion_lines.max(1),
        };
    }

    pub fn forget_document(&self, uri: &str) {
        lock(&self.cache).remove_document(uri);
        for task in [Task::Inline, Task::Complete] {
            let key = channel_key(uri, &task);
            if let Some(f) = lock(&self.flights).remove(&key) {
                f.life.drop_now("the document was closed");
            }
            lock(&self.generations).remove(&key);
        }
    }

    /// Speculative prefetch after an accept: starts the completion that will be asked for next
    /// (the accepted text applied), held for a moment so the next request joins it or hits the cache.
    pub fn prefetch(&self, upstream: &Upstream, view: DocView, offset: usize, prepared: Prepared) {
        let key = channel_key(&view.uri, &Task::Inline);
        let _ = self.launch(&key, upstream.clone(), view, offset, prepared, Some(PREFETCH_HOLD));
    }

    /// The newest request for `key` cannot use the flight in progress there: drop it now, so its
    /// stream stops costing tokens (a finished flight stays, for requests that can use it).
    fn drop_unusable(&self, key: &str) {
        let mut flights = lock(&self.flights);
        if flights.get(key).is_some_and(|f| f.tx.borrow().done.is_none())
            && let Some(f) = flights.remove(key)
        {
            f.life.drop_now("the document no longer extends what it was producing");
        }
    }

    /// Registers a new request for `uri` and returns its generation and a receiver that changes when
    /// a newer one arrives.
    fn begin(&self, uri: &str) -> (u64, watch::Receiver<u64>) {
        let mut gens = lock(&self.generations);
        let tx = gens.entry(uri.to_owned()).or_insert_with(|| watch::channel(0).0);
        let generation = *tx.borrow() + 1;
        tx.send_replace(generation);
        (generation, tx.subscribe())
    }

    /// Typing-through: the rest of a suggestion whose head the user has typed.
    pub fn cached(&self, view: &DocView, offset: usize) -> Option<String> {
        let (prefix, suffix) = cache_windows(&view.rope, offset);
        lock(&self.cache).get(&view.uri, &prefix, &suffix)
    }

    /// Runs one inline request to its outcome. `prepare` builds the prompt (only called when an
    /// upstream request is needed); `local` answers when the route reaches the local provider.
    pub async fn complete(
        &self,
        upstream: &Upstream,
        view: DocView,
        req: InlineRequest,
        prepare: impl FnOnce() -> Prepared,
        local: impl FnOnce() -> Option<(String, Range<usize>)>,
    ) -> InlineOutcome {
        let mut prepare = Some(prepare);
        let started = Instant::now();
        // Popup and ghost-text requests for one document live side by side.
        let key = channel_key(&req.uri, &req.task);
        let (generation, mut newer) = self.begin(&key);
        let language = view.language_id.clone();
        let offset = req.offset.min(view.rope.len_bytes());
        let line_before = line_before(&view.rope, offset);
        let line_after = line_after(&view.rope, offset);
        if !postprocess::completion_allowed_here(&line_before, &line_after) {
            return InlineOutcome::Nothing { reason: "the cursor is in the middle of a word".into() };
        }

        // 1. Typing-through: the user typed the head of what is shown; the rest comes from memory.
        if let Some(rest) = self.cached(&view, offset) {
            self.stats.cache_hit("cache", &language);
            let end = offset + replace_len(&line_after, &rest);
            return InlineOutcome::Answer(InlineAnswer {
                text: rest,
                range: offset..end,
                provider: "cache".into(),
                model: String::new(),
                latency: started.elapsed(),
                from_cache: true,
            });
        }

        // 2. Join a stream in flight whose text the user is typing into; 3. otherwise (after an
        // optional debounce) start a new one. A flight this request cannot use is dropped at once,
        // and so is a joined one whose output turns out to diverge from what was typed: the new
        // request starts then, not when the old stream ends.
        let mut joined = self.join(&key, &view, offset);
        if joined.is_none() {
            self.drop_unusable(&key);
        }
        let (result, typed) = loop {
            let was_joined = joined.is_some();
            let (mut rx, flight_offset, seat) = match joined.take() {
                Some(j) => j,
                None => {
                    let delay = {
                        let at_line_start = line_before.trim().is_empty();
                        lock(&self.debouncer)
                            .on_trigger(Instant::now(), TriggerInfo { invoked: req.invoked, at_line_start })
                    };
                    if let Some(delay) = delay.filter(|d| !d.is_zero()) {
                        tokio::select! {
                            _ = tokio::time::sleep(delay) => {}
                            _ = wait_newer(&mut newer, generation) => return InlineOutcome::Superseded,
                        }
                    }
                    let prepared = prepare.take().map(|f| f());
                    let Some(prepared) = prepared else {
                        return InlineOutcome::Nothing { reason: "no suggestion".into() };
                    };
                    let (rx, seat) = self.launch(&key, upstream.clone(), view.clone(), offset, prepared, None);
                    (rx, offset, seat)
                }
            };
            let typed = crate::syntax::slice(&view.rope, flight_offset..offset);
            let outcome = tokio::select! {
                biased;
                _ = wait_newer(&mut newer, generation) => {
                    self.stats.cancelled(&language);
                    return InlineOutcome::Superseded;
                }
                r = wait_done(&mut rx, &typed) => r,
            };
            drop(seat);
            match outcome {
                Waited::Diverged if was_joined => {
                    self.drop_unusable(&key);
                    continue;
                }
                Waited::Diverged => break (None, typed),
                Waited::Done(r) => break (r, typed),
            }
        };
        match result {
            Some(FlightResult::Text { text, replace_after, provider, model }) => {
                let Some(rest) = text.strip_prefix(typed.as_str()).filter(|r| !r.is_empty()) else {
                    return InlineOutcome::Nothing { reason: "the suggestion no longer matches what was typed".into() };
                };
                let rest = rest.to_owned();
                let latency = started.elapsed();
                self.stats.answered(&provider, &language, latency);
                // The suffix is unchanged since the flight started (checked when joining), so the
                // bytes it replaces after the cursor are the same.
                let end = (offset + replace_after).min(offset + line_after.len());
                InlineOutcome::Answer(InlineAnswer {
                    text: rest,
                    range: offset..end,
                    provider,
                    model,
                    latency,
                    from_cache: false,
                })
            }
            Some(FlightResult::Local) => self.answer_locally(local, &language, started, "no provider had a suggestion"),
            None => InlineOutcome::Nothing { reason: "the suggestion no longer matches what was typed".into() },
            Some(FlightResult::Empty(reason)) => self.answer_locally(local, &language, started, &reason),
        }
    }

    /// The local provider's answer, when the route reached it or the model had nothing.
    fn answer_locally(
        &self,
        local: impl FnOnce() -> Option<(String, Range<usize>)>,
        language: &str,
        started: Instant,
        otherwise: &str,
    ) -> InlineOutcome {
        match local() {
            Some((text, range)) => {
                self.stats.answered("local", language, started.elapsed());
                InlineOutcome::Answer(InlineAnswer {
                    text,
                    range,
                    provider: "local".into(),
                    model: String::new(),
                    latency: started.elapsed(),
                    from_cache: false,
                })
            }
            None => InlineOutcome::Nothing { reason: otherwise.to_owned() },
        }
    }

    /// A flight for this document whose anchor still matches and whose text extends what the user
    /// typed since it started, with a seat on it.
    fn join(
        &self,
        key: &str,
        view: &DocView,
        offset: usize,
    ) -> Option<(watch::Receiver<FlightState>, usize, Option<Seat>)> {
        let flights = lock(&self.flights);
        let f = flights.get(key)?;
        if f.offset > offset || offset - f.offset > 512 {
            return None;
        }
        let anchor_start = f.offset.saturating_sub(ANCHOR_BYTES);
        if f.offset > view.rope.len_bytes() || crate::syntax::slice(&view.rope, anchor_start..f.offset) != f.anchor {
            return None;
        }
        if suffix_head(&view.rope, offset) != f.suffix_head {
            return None;
        }
        let typed = crate::syntax::slice(&view.rope, f.offset..offset);
        let state = f.tx.borrow();
        let consistent = match &state.done {
            Some(FlightResult::Text { text, .. }) => text.starts_with(&typed) && text.len() > typed.len(),
            Some(_) => typed.is_empty(),
            None => state.streamed.starts_with(&typed) || typed.starts_with(&state.streamed),
        };
        let finished = state.done.is_some();
        drop(state);
        if !consistent {
            return None;
        }
        // A finished flight needs no seat; a running one must still be alive to be joined.
        let seat = if finished { None } else { Some(f.life.seat()?) };
        Some((f.tx.subscribe(), f.offset, seat))
    }

    /// Starts a flight: the upstream stream in a task of its own. Returns the launching request's
    /// seat on it; a prefetch (`hold`) starts orphaned instead.
    fn launch(
        &self,
        key: &str,
        upstream: Upstream,
        view: DocView,
        offset: usize,
        prepared: Prepared,
        hold: Option<Duration>,
    ) -> (watch::Receiver<FlightState>, Option<Seat>) {
        let id = self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let settings = *lock(&self.settings);
        let (tx, rx) = watch::channel(FlightState::default());
        let life = Lifetime::new(settings.cancel_grace, hold);
        let seat = if hold.is_none() { life.seat() } else { None };
        let anchor = crate::syntax::slice(&view.rope, offset.saturating_sub(ANCHOR_BYTES)..offset);
        let flight = Flight {
            id,
            offset,
            anchor,
            suffix_head: suffix_head(&view.rope, offset),
            tx: tx.clone(),
            life: life.clone(),
        };
        if let Some(old) = lock(&self.flights).insert(key.to_owned(), flight) {
            old.life.drop_now("a newer flight replaced it");
        }
        let flights = self.flights.clone();
        let (cache_prefix, cache_suffix) = cache_windows(&view.rope, offset);
        let cache = self.cache.clone();
        let stats = self.stats.clone();
        let uri = view.uri.clone();
        let key = key.to_owned();
        tokio::spawn(async move {
            let result = fly(&upstream, &view, offset, prepared, &tx, &life, settings, &stats).await;
            if let Some(FlightResult::Text { text, .. }) = &result {
                // Remember it for typing-through, keyed by the flight's cursor.
                lock(&cache).put(&uri, &cache_prefix, &cache_suffix, text);
            }
            let mut map = lock(&flights);
            if result.is_none() && map.get(&key).is_some_and(|f| f.id == id) {
                map.remove(&key);
            }
            drop(map);
            if let Some(r) = result {
                tx.send_modify(|s| s.done = Some(r));
            }
        });
        (rx, seat)
    }
}

/// The flight itself: route, stream, cut, clean, gate. `None` when it was dropped (see
/// [`Lifetime`]); the stream (and its HTTP connection) closes then.
#[allow(clippy::too_many_arguments)]
async fn fly(
    upstream: &Upstream,
    view: &DocView,
    offset: usize,
    prepared: Prepared,
    tx: &watch::Sender<FlightState>,
    life: &Lifetime,
    settings: Settings,
    stats: &Stats,
) -> Option<FlightResult> {
    let Prepared { request, shape, indent } = prepared;
    let language = request.language.clone();
    let prefix = request.prefix.clone();
    let suffix = request.suffix.clone();
    let dropped = |reason: &str| {
        tracing::debug!("inline: stream dropped: {reason}");
        None
    };
    let served = tokio::select! {
        r = upstream.router.run_route(&upstream.registry, request) => r,
        reason = life.ended() => return dropped(reason),
    };
    let (mut stream, record) = match served {
        Ok(Served::Remote { stream, record }) => (stream, record),
        Ok(Served::Local { .. }) => return Some(FlightResult::Local),
        Err(e) => {
            tracing::info!("inline: {e}");
            return Some(FlightResult::Local);
        }
    };
    let line_comment = view.lang.and_then(|l| l.line_comment.as_deref());
    let opts = Options { shape, indent, line_comment, max_lines: settings.max_lines, max_bytes: settings.max_bytes };
    let mut cutter = StreamCutter::new(shape, &prefix, &suffix, &opts);
    let mut usage: Option<Usage> = None;
    let raw = loop {
        tokio::select! {
            ev = stream.next() => match ev {
                Some(Ok(StreamEvent::Text(delta))) => match cutter.push(&delta) {
                    // Subscribers see the new bytes only: the work per delta is the delta's.
                    Cut::Continue => tx.send_modify(|s| s.streamed.push_str(&delta)),
                    Cut::Stop(text) => break text,
                },
                Some(Ok(StreamEvent::Usage(u))) => usage = Some(u),
                Some(Ok(StreamEvent::Done { .. })) | None => break cutter.finish(),
                Some(Err(e)) => {
                    tracing::info!("inline stream failed: {e}");
                    let partial = cutter.finish();
                    if partial.trim().is_empty() {
                        return Some(FlightResult::Empty(e.to_string()));
                    }
                    break partial;
                }
            },
            reason = life.ended() => return dropped(reason),
        }
    };
    // Close the connection now: tokens after the cut would be paid for and thrown away.
    drop(stream);
    let rec = record.snapshot();
    stats.usage(&rec.provider, &rec.model, &language, usage.or(rec.usage));
    let raw = strip_echoed_word(&raw, &prefix);
    let Some(done) = postprocess::postprocess(&raw, &prefix, &suffix, &opts) else {
        return Some(FlightResult::Empty("the model's answer was empty after clean-up".into()));
    };
    let text = match syntax_gate(view, offset, done.replace_after, &done.text) {
        Some(t) => t,
        None => return Some(FlightResult::Empty("the suggestion would break the syntax".into())),
    };
    Some(FlightResult::Text { text, replace_after: done.replace_after, provider: rec.provider, model: rec.model })
}

impl DocView {
    /// Replaces `start..end` with `text` in this copy of the document, editing the tree to match;
    /// the tree is reparsed now unless `reparse` is false (it is then marked as behind).
    pub fn splice(&mut self, start: usize, end: usize, text: &str, reparse: bool) {
        // Offsets may come back from the editor (an accepted item's command): clamp them into the
        // text and onto character boundaries before they reach the rope and the tree.
        let len = self.rope.len_bytes();
        let (sc, ec) = (self.rope.byte_to_char(start.min(len)), self.rope.byte_to_char(end.min(len)));
        let ec = ec.max(sc);
        let (start, end) = (self.rope.char_to_byte(sc), self.rope.char_to_byte(ec));
        let (start_point, old_end_point) = (point(&self.rope, start), point(&self.rope, end));
        self.rope.remove(sc..ec);
        self.rope.insert(sc, text);
        let new_end = start + text.len();
        let edit = crate::documents::ByteEdit {
            start_byte: start,
            old_end_byte: end,
            new_end_byte: new_end,
            start_point,
            old_end_point,
            new_end_point: point(&self.rope, new_end),
        };
        if let Some(tree) = &mut self.syntax {
            tree.edit(&[edit]);
            if reparse {
                if !tree.reparse(&self.rope) {
                    self.syntax = None;
                }
            } else {
                self.syntax_behind = true;
            }
        }
    }
}

fn point(rope: &Rope, byte: usize) -> (usize, usize) {
    let line = rope.byte_to_line(byte);
    (line, byte - rope.line_to_byte(line))
}

/// The closing brackets for what `text` leaves open, innermost first (quoted text is skipped).
fn closers(text: &str) -> String {
    let mut open = Vec::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in text.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '(' => open.push(')'),
            '[' => open.push(']'),
            '{' => open.push('}'),
            ')' | ']' | '}' if open.last() == Some(&c) => {
                open.pop();
            }
            _ => {}
        }
    }
    open.iter().rev().collect()
}

/// Chat models asked to fill `foo<CURSOR>` often answer with the whole word (`foobar`) instead of
/// its rest (`bar`). Drop the echoed fragment when it is long enough to be sure, or when it stands
/// alone as a word in the answer (`a` then ` + b`).
fn strip_echoed_word(raw: &str, prefix: &str) -> String {
    let word_start = prefix
        .char_indices()
        .rev()
        .take_while(|(_, c)| crate::completion::local::is_word_char(*c))
        .last()
        .map_or(prefix.len(), |(i, _)| i);
    let word = &prefix[word_start..];
    if word.is_empty() {
        return raw.to_owned();
    }
    match raw.strip_prefix(word) {
        Some(rest) if word.chars().count() >= 3 || !rest.starts_with(crate::completion::local::is_word_char) => {
            rest.to_owned()
        }
        _ => raw.to_owned(),
    }
}

/// Nothing the model writes reaches the buffer unless it parses. The completion is inserted into the
/// top-level item around the cursor (a function, a class, ...); a small item is parsed on its own (top-
/// level items parse alone by construction, and a reparse of a 100,000-line file costs milliseconds),
/// a large one by an incremental reparse of the document. Before that judge, the innermost statement
/// or block around the cursor that parses alone (`standalone_statements`) is tried: most suggestions
/// pass there for the cost of parsing a line or two. Keeps the longest run of whole lines that adds
/// no ERROR node around the edit; `None` when not even the first line passes.
pub fn syntax_gate(view: &DocView, offset: usize, replace_after: usize, text: &str) -> Option<String> {
    let Some(tree) = &view.syntax else { return Some(text.to_owned()) };
    let len = view.rope.len_bytes();
    let (start, end) = (offset.min(len), (offset + replace_after).min(len));
    let mut cursor = tree.root().walk();
    let top = crate::syntax::goto_child_holding(&mut cursor, start, end, false).then(|| cursor.node());
    let small = |r: &Range<usize>| r.end - r.start <= STANDALONE_ITEM_BYTES && (r.end - r.start) * 4 < len;
    let lang = tree.lang;
    let mut item = top.map_or_else(|| unfinished_before(view, tree, start).unwrap_or(start..start), |c| c.byte_range());
    // No node holds the cursor and no unfinished item before it could be cut out, yet the file has
    // errors (its root may itself be an ERROR whose children are loose tokens): where the suggestion
    // goes is not known to be top level, so it is judged in the whole file, when that is cheap.
    let whole_file = item.is_empty() && len <= WHOLE_FILE_GATE_BYTES && tree.root().has_error();
    if !small(&item)
        && let Some(nested) = top.and_then(|t| standalone_within(t, start, end, &lang.standalone))
        && small(&nested)
    {
        item = nested;
    }
    // ERROR nodes around the edit only: errors elsewhere are not ours, and MISSING closers are
    // expected while a block is being written. A suggestion may open a block or a list the user goes
    // on to fill (`if x {`, `ITEMS = [`): what it leaves open is closed before judging it.
    let before = tree.errors_in(start..end);
    let alone = |unit: Range<usize>| parses_alone(view, unit, start, end, before);
    let judge: Check<'_> = if small(&item) && !whole_file {
        // A small item in a large file parses alone faster than the file reparses.
        match alone(item.clone()) {
            Some(check) => check,
            None => return Some(text.to_owned()),
        }
    } else {
        // Otherwise: edit a copy of the document's tree and reparse it incrementally.
        Box::new(move |candidate: &str| {
            let closed = format!("{candidate}{}", closers(candidate));
            let mut copy = view.clone();
            copy.splice(start, end, &closed, true);
            copy.syntax.is_some_and(|t| t.errors_in(start..start + closed.len()) <= before)
        })
    };
    let statement = top
        .and_then(|t| standalone_within(t, start, end, &lang.standalone_statements))
        .filter(|r| small(r) && item.start <= r.start && r.end <= item.end && r.len() < item.len())
        .and_then(alone);
    // Where no node holds the cursor, what parses alone as new top-level code passes as well as
    // what continues the unfinished item before it (or fits the whole file).
    let fresh = (top.is_none() && (!item.is_empty() || whole_file)).then(|| alone(start..start)).flatten();
    let passes = |candidate: &str| {
        statement.as_ref().is_some_and(|quick| quick(candidate))
            || fresh.as_ref().is_some_and(|alone| alone(candidate))
            || judge(candidate)
    };
    if passes(text) {
        return Some(text.to_owned());
    }
    // Trim from the end, a line at a time.
    let mut cut = text.len();
    while let Some(nl) = text[..cut].rfind('\n') {
        cut = nl;
        let candidate = &text[..cut];
        if !candidate.trim().is_empty() && passes(candidate) {
            return Some(candidate.to_owned());
        }
    }
    None
}

/// In the blank space after the last top-level item, when that item is unfinished (`"range": {`
/// and Enter with nothing below, as at the end of a file being written): no node holds the cursor,
/// yet a suggestion there continues that item rather than starting a new one, so it is judged
/// inside it. Tree-sitter's recovery may keep only the unfinished item's head in an ERROR node and
/// lift the statements of its body to the top level, so the item is the nearest top-level node
/// before the cursor with an error in it, within the size of an item parsed alone. Returns its
/// start up to `start`.
fn unfinished_before(view: &DocView, tree: &SyntaxTree, start: usize) -> Option<Range<usize>> {
    const MAX_BLANK: usize = 4096;
    // On a character boundary, so that the slice starts exactly there.
    let from = view.rope.char_to_byte(view.rope.byte_to_char(start.saturating_sub(MAX_BLANK)));
    let blank = crate::syntax::slice(&view.rope, from..start);
    // The last byte before the blank (none within reach: nothing to continue).
    let last = from + blank.trim_end().len().checked_sub(1)?;
    let mut cursor = tree.root().walk();
    if !crate::syntax::goto_child_holding(&mut cursor, last, last + 1, false) {
        return None;
    }
    loop {
        let node = cursor.node();
        if start.saturating_sub(node.start_byte()) > STANDALONE_ITEM_BYTES {
            return None;
        }
        if node.has_error() {
            return Some(node.start_byte()..start);
        }
        if !cursor.goto_previous_sibling() {
            return None;
        }
    }
}

/// Whether a candidate suggestion parses where it would go.
type Check<'a> = Box<dyn Fn(&str) -> bool + 'a>;

/// A check of candidates for `start..end` (inside `unit`) that parses `unit` on its own with the
/// candidate in place; `None` when the unit cannot be cut out of the text.
fn parses_alone(view: &DocView, unit: Range<usize>, start: usize, end: usize, before: usize) -> Option<Check<'static>> {
    let lang = view.syntax.as_ref()?.lang;
    let base = crate::syntax::slice(&view.rope, unit.clone());
    let (lo, hi) = (start.checked_sub(unit.start)?, end.checked_sub(unit.start)?);
    let (head, tail) = (base.get(..lo)?.to_owned(), base.get(hi..)?.to_owned());
    let errors = move |source: &str, range: Range<usize>| {
        SyntaxTree::parse(lang, &Rope::from_str(source)).map(|t| t.errors_in(range))
    };
    // A tree still catching up with the last keystrokes may miscount errors right here: then
    // judge against the unit parsed alone, on the same footing as the candidates.
    let before = if view.syntax_behind { errors(&base, lo..hi).unwrap_or(before) } else { before };
    Some(Box::new(move |candidate: &str| {
        let closed = format!("{candidate}{}", closers(candidate));
        errors(&format!("{head}{closed}{tail}"), lo..lo + closed.len()).is_some_and(|after| after <= before)
    }))
}

/// The innermost node inside `node` that holds `start..end` and parses on its own (its kind is one
/// of `kinds`), if any.
fn standalone_within(node: tree_sitter::Node<'_>, start: usize, end: usize, kinds: &[String]) -> Option<Range<usize>> {
    let mut found = None;
    let mut cursor = node.walk();
    while crate::syntax::goto_child_holding(&mut cursor, start, end, true) {
        let child = cursor.node();
        if kinds.iter().any(|k| k == child.kind()) {
            found = Some(child.byte_range());
        }
    }
    found
}

async fn wait_newer(newer: &mut watch::Receiver<u64>, generation: u64) {
    loop {
        if *newer.borrow_and_update() != generation {
            return;
        }
        if newer.changed().await.is_err() {
            // The document was closed: nothing newer will come, but nobody wants this either.
            return;
        }
    }
}

enum Waited {
    Done(Option<FlightResult>),
    /// What streamed so far is not what the user typed since the flight started.
    Diverged,
}

/// Waits for the flight's result, or until its text stops matching `typed`.
async fn wait_done(rx: &mut watch::Receiver<FlightState>, typed: &str) -> Waited {
    loop {
        {
            let state = rx.borrow_and_update();
            if let Some(done) = &state.done {
                return match done {
                    FlightResult::Text { text, .. } if !text.starts_with(typed) => Waited::Diverged,
                    other => Waited::Done(Some(other.clone())),
                };
            }
            if !(state.streamed.starts_with(typed) || typed.starts_with(state.streamed.as_str())) {
                return Waited::Diverged;
            }
        }
        if rx.changed().await.is_err() {
            return Waited::Done(rx.borrow().done.clone());
        }
    }
}

fn channel_key(uri: &str, task: &Task) -> String {
    match task {
        Task::Complete => format!("{uri}#complete"),
        _ => uri.to_owned(),
    }
}

/// Single-line or multi-line, from the syntax around the cursor: a multi-line suggestion only
/// where a block is expected (an empty body, a blank line after an opener), never mid-line.
pub fn decide_shape(view: &DocView, offset: usize, multiline: bool, selected: bool) -> Shape {
    let before = line_before(&view.rope, offset);
    let after = line_after(&view.rope, offset);
    if !multiline || selected || !after.trim().is_empty() {
        return Shape::SingleLine;
    }
    let opener = |s: &str| {
        let t = s.trim_end();
        t.ends_with('{') || t.ends_with(':') || t.ends_with('(') || t.ends_with('[') || t.ends_with("=>")
    };
    if !before.trim().is_empty() {
        return if opener(&before) { Shape::MultiLine } else { Shape::SingleLine };
    }
    // A blank line: multi-line when it opens a block, or sits in an empty one.
    let line = view.rope.byte_to_line(offset);
    let prev = (0..line).rev().map(|l| view.rope.line(l).to_string()).find(|l| !l.trim().is_empty());
    if prev.as_deref().is_some_and(opener) {
        return Shape::MultiLine;
    }
    if let Some(tree) = &view.syntax
        && let Some(node) = tree.root().descendant_for_byte_range(offset, offset)
    {
        let mut cursor = node.walk();
        let block_like = ["block", "body", "_list"].iter().any(|k| node.kind().contains(k));
        if block_like && !node.named_children(&mut cursor).any(|c| !c.kind().contains("comment")) {
            return Shape::MultiLine;
        }
    }
    // End of a file or of a definition: the next thing to write is a whole item.
    if after.is_empty() && view.rope.byte_to_line(view.rope.len_bytes()) <= line + 1 {
        return Shape::MultiLine;
    }
    Shape::SingleLine
}

/// The text of the cursor's line before it.
pub fn line_before(rope: &Rope, offset: usize) -> String {
    let line = rope.byte_to_line(offset);
    crate::syntax::slice(rope, rope.line_to_byte(line)..offset)
}

/// The text of the cursor's line after it (without the line break).
pub fn line_after(rope: &Rope, offset: usize) -> String {
    let line = rope.byte_to_line(offset);
    let end = if line + 1 < rope.len_lines() { rope.line_to_byte(line + 1) } else { rope.len_bytes() };
    let s = crate::syntax::slice(rope, offset..end);
    s.trim_end_matches(['\n', '\r']).to_owned()
}

fn suffix_head(rope: &Rope, offset: usize) -> String {
    let line = line_after(rope, offset);
    let next = rope.byte_to_line(offset) + 1;
    let rest = if next < rope.len_lines() { rope.line(next).to_string() } else { String::new() };
    format!("{line}\n{rest}")
}

fn cache_windows(rope: &Rope, offset: usize) -> (String, String) {
    let len = rope.len_bytes();
    let prefix = crate::syntax::slice(rope, offset.saturating_sub(CACHE_WINDOW)..offset);
    let suffix = crate::syntax::slice(rope, offset..(offset + CACHE_WINDOW).min(len));
    (prefix, suffix)
}

/// How much of the rest of the line a cached completion replaces (closing brackets it repeats).
fn replace_len(line_after: &str, text: &str) -> usize {
    let first = text.lines().next().unwrap_or("");
    let trimmed = line_after.trim_end();
    if !trimmed.is_empty() && first.ends_with(trimmed) { trimmed.len() } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(lang: &str, fixture: &str, completion: &str) -> Option<String> {
        let offset = fixture.find("$0").expect("cursor");
        let text = fixture.replace("$0", "");
        let rope = Rope::from_str(&text);
        let info = crate::syntax::Languages::global().by_id(lang);
        let view = DocView {
            uri: "file:///t".into(),
            version: 1,
            syntax: info.and_then(|l| SyntaxTree::parse(l, &rope)),
            syntax_behind: false,
            rope,
            lang: info,
            language_id: lang.into(),
        };
        syntax_gate(&view, offset, 0, completion)
    }

    /// Pieces of code random documents and suggestions are made of: brackets and quotes left
    /// open or closed, blank lines, multibyte text.
    const PIECES: &[&str] = &[
        "fn f() {",
        "}",
        "(",
        ")",
        "[",
        "]",
        "{",
        "\"",
        "'",
        "\n",
        "\n\n    ",
        "    ",
        "let x = 1;",
        "x: 1,",
        "def g(:",
        "return {",
        "\"k\": [1, 2],",
        "é",
        "😀",
        "// c\n",
        "# c\n",
        "class A:\n    ",
        "`",
        "=>",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 200, ..Default::default() })]

        /// Whatever the document, cursor and suggestion, the gate answers (never panics) with the
        /// suggestion or a prefix of it cut at a line end.
        #[test]
        fn the_gate_survives_any_document_cursor_and_suggestion(
            doc in proptest::collection::vec(0usize..PIECES.len(), 0..40),
            cursor in 0usize..400,
            suggestion in proptest::collection::vec(0usize..PIECES.len(), 1..8),
            lang in 0usize..3,
        ) {
            let text: String = doc.iter().map(|&i| PIECES[i]).collect();
            let mut at = cursor.min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let fixture = format!("{}$0{}", &text[..at], &text[at..]);
            let candidate: String = suggestion.iter().map(|&i| PIECES[i]).collect();
            if let Some(kept) = gate(["rust", "python", "typescript"][lang], &fixture, &candidate) {
                proptest::prop_assert!(candidate.starts_with(&kept), "{kept:?} is not a prefix of {candidate:?}");
            }
        }
    }

    #[test]
    fn a_suggestion_after_an_unfinished_last_item_is_judged_inside_it() {
        // `"range": {` and Enter at the end of a file being written: no node holds the cursor, and
        // the suggestion continues the open dict (it was judged as top-level code and refused).
        let py = "import os\n\nclass Edit:\n    def to_lsp(self) -> dict:\n        return {\n            \"range\": {\n                $0";
        let entry = "\"start\": {\"line\": self.start[0], \"character\": self.start[1]},";
        assert_eq!(gate("python", py, entry).as_deref(), Some(entry));
        let ts = "const a = 1;\nexport function lsp() {\n  return {\n    range: {\n      $0";
        assert_eq!(gate("typescript", ts, "start: { line: 1 },").as_deref(), Some("start: { line: 1 },"));
        let rs = "fn a() {}\nfn main() {\n    let p = Point {\n        $0";
        assert_eq!(gate("rust", rs, "x: 1,").as_deref(), Some("x: 1,"));
        // The closer of a function whose body tree-sitter lifted to the top level.
        let body =
            "fn a() {}\nfn edit(n: usize) -> Result<Edit, Error> {\n    let end = n + 1;\n    Ok(Edit { n, end })\n$0";
        assert_eq!(gate("rust", body, "}").as_deref(), Some("}"));
        // Blank space reached from past the 4 KiB window, through multibyte text.
        let wide = format!(
            "// {}\nfn edit() {{\n    let s = \"{}\";\n{}$0",
            "é".repeat(3000),
            "ü".repeat(2100),
            " ".repeat(4095)
        );
        assert!(gate("rust", &wide, "}").is_some_and(|k| "}".starts_with(&k)));
        // After an unrelated broken item, new top-level code still passes.
        let broken = "import os\n\ndef broken(:\n    pass\n\n$0";
        assert_eq!(
            gate("python", broken, "def total(xs):\n    return sum(xs)").as_deref(),
            Some("def total(xs):\n    return sum(xs)")
        );
        // After a finished item the cursor starts a new one, judged alone as before.
        assert_eq!(gate("python", "import os\n\n$0", "PIECES = [").as_deref(), Some("PIECES = ["));
        assert_eq!(gate("python", "import os\n\n$0", "\"start\": 1,"), None);
    }

    #[test]
    fn the_syntax_gate_keeps_what_parses() {
        let body = "fn a() {}\nfn add(a: i32, b: i32) -> i32 {\n    $0\n}\nfn z() {}\n";
        assert_eq!(gate("rust", body, "a + b").as_deref(), Some("a + b"));
        assert_eq!(gate("rust", body, "let x = ((((;"), None);
        // A half-written block is fine: its closer is MISSING, not an ERROR.
        assert_eq!(gate("rust", body, "loop {").as_deref(), Some("loop {"));
        assert_eq!(gate("python", "import os\n$0\n", "PIECES = [").as_deref(), Some("PIECES = ["));
        assert_eq!(
            gate("typescript", "let a = 1;\n$0\n", "function inlineEnabled(): boolean {").as_deref(),
            Some("function inlineEnabled(): boolean {")
        );
        // A broken last line is trimmed off.
        assert_eq!(gate("rust", body, "let s = a + b;\n    s ++ ]] (").as_deref(), Some("let s = a + b;"));
        // Between top-level items, and in a language without a grammar.
        assert_eq!(gate("python", "import os\n$0\n", "def f():\n    pass").as_deref(), Some("def f():\n    pass"));
        assert_eq!(gate("plaintext", "x $0", "((").as_deref(), Some("(("));
        // A top-level item too large to parse alone goes through the incremental path.
        let big = format!("fn big(a: i32) -> i32 {{\n{}    $0\n}}\n", "    let _x = a + 1;\n".repeat(2000));
        assert!(big.len() > STANDALONE_ITEM_BYTES);
        assert_eq!(gate("rust", &big, "a + 1").as_deref(), Some("a + 1"));
        assert_eq!(gate("rust", &big, "loop {").as_deref(), Some("loop {"));
        assert_eq!(gate("rust", &big, "let x = ((((;"), None);
    }

    #[test]
    fn a_method_of_a_large_impl_is_checked_on_its_own() {
        let methods = (0..300)
            .map(|i| format!("    pub fn m{i}(&self) -> u32 {{\n        self.x + {i}\n    }}\n"))
            .collect::<String>();
        let src = format!(
            "struct S {{ x: u32 }}\nimpl S {{\n{methods}    pub fn add(&self, b: u32) -> u32 {{\n        $0\n    }}\n}}\n"
        );
        let cursor = src.find("$0").unwrap();
        let tree = SyntaxTree::parse(
            crate::syntax::Languages::global().by_id("rust").unwrap(),
            &Rope::from_str(&src.replace("$0", "")),
        )
        .unwrap();
        let imp = tree.root().named_child(1).unwrap();
        assert!((imp.end_byte() - imp.start_byte()) * 4 >= src.len(), "the impl is too large to parse alone");
        let method = standalone_within(imp, cursor, cursor, &tree.lang.standalone).expect("the method");
        assert!(src[method.clone()].starts_with("pub fn add(&self, b: u32)"), "{:?}", &src[method]);

        assert_eq!(gate("rust", &src, "self.x + b").as_deref(), Some("self.x + b"));
        assert_eq!(gate("rust", &src, "if b > 0 {").as_deref(), Some("if b > 0 {"));
        assert_eq!(gate("rust", &src, "let v = ((((;"), None);
        assert_eq!(gate("rust", &src, "let v = b;\n        v ++ ]] (").as_deref(), Some("let v = b;"));
        // Python methods do not parse alone (indentation): no standalone kinds, whole-file path.
        assert!(crate::syntax::Languages::global().by_id("python").unwrap().standalone.is_empty());
    }

    #[test]
    fn a_statement_in_a_long_function_is_checked_on_its_own_first() {
        let body = "    let _x = a + 1;\n".repeat(2000);
        let src = format!("fn big(a: i32) -> i32 {{\n    if a > 0 {{\n        let y = a;$0\n    }}\n{body}    a\n}}\n");
        let cursor = src.find("$0").unwrap();
        let rust = crate::syntax::Languages::global().by_id("rust").unwrap();
        let tree = SyntaxTree::parse(rust, &Rope::from_str(&src.replace("$0", ""))).unwrap();
        let top = tree.root().named_child(0).unwrap();
        let unit = standalone_within(top, cursor, cursor, &rust.standalone_statements).expect("the statement");
        assert_eq!(&src[unit], "let y = a;");

        assert_eq!(gate("rust", &src, " // checked").as_deref(), Some(" // checked"));
        assert_eq!(gate("rust", &src, "\n        let z = y + 1;").as_deref(), Some("\n        let z = y + 1;"));
        // Closing the block it started in fails in the statement alone; the file judges it then.
        let closes = "\n    } else {\n        let y = 0;";
        assert_eq!(gate("rust", &src, closes).as_deref(), Some(closes));
        assert_eq!(gate("rust", &src, "let v = ((((;"), None);
        assert_eq!(
            gate("rust", &src, "\n        let z = y;\n        z ++ ]] (").as_deref(),
            Some("\n        let z = y;")
        );

        // A method of a class too large to parse alone: its body's statements are.
        let methods =
            (0..400).map(|i| format!("  m{i}(): number {{\n    return this.x + {i};\n  }}\n")).collect::<String>();
        let ts = format!("class S {{\n  x = 1;\n{methods}  add(b: number): number {{\n    const v = b;$0\n  }}\n}}\n");
        assert_eq!(gate("typescript", &ts, "\n    return v + this.x;").as_deref(), Some("\n    return v + this.x;"));
        assert_eq!(gate("typescript", &ts, "\n    return ((((;"), None);
    }

    #[test]
    fn splicing_a_view_keeps_its_tree_in_step() {
        let lang = crate::syntax::Languages::global().by_id("rust");
        let rope = Rope::from_str("fn a() {\n    \n}\nfn b() {}\n");
        let mut view = DocView {
            uri: "file:///t".into(),
            version: 1,
            syntax: lang.and_then(|l| SyntaxTree::parse(l, &rope)),
            syntax_behind: false,
            rope,
            lang,
            language_id: "rust".into(),
        };
        let mut behind = view.clone();
        view.splice(13, 13, "let x = 1;", true);
        assert_eq!(view.rope.to_string(), "fn a() {\n    let x = 1;\n}\nfn b() {}\n");
        let fresh = SyntaxTree::parse(lang.unwrap(), &view.rope).unwrap();
        assert_eq!(view.syntax.as_ref().unwrap().root().to_sexp(), fresh.root().to_sexp());
        assert!(!view.syntax_behind);
        behind.splice(13, 13, "let x = 1;", false);
        assert!(behind.syntax_behind);
        // Offsets past the end or inside a character are clamped, never a panic.
        let mut odd = view.clone();
        odd.rope = Rope::from_str("é");
        odd.splice(1, 99, "x", true);
        assert_eq!(odd.rope.to_string(), "x");
        let b = behind.syntax.as_ref().unwrap().root().named_child(1).unwrap();
        assert_eq!(b.start_byte(), view.rope.to_string().find("fn b").unwrap(), "nodes moved with the edit");
    }

    #[test]
    fn echoed_words_are_stripped() {
        assert_eq!(strip_echoed_word("a + b", "    a"), " + b");
        assert_eq!(strip_echoed_word("compute_total()", "x = comp"), "ute_total()");
        assert_eq!(strip_echoed_word("a_b", "    a"), "a_b");
        assert_eq!(strip_echoed_word("foo", "x = "), "foo");
        assert_eq!(strip_echoed_word("名前はです", "x = 名前は"), "です");
    }
}
