//! The engine: open documents with their syntax trees, the symbol index, the active configuration,
//! and the operations the server and the CLI call. It speaks in plain data (byte offsets, strings,
//! versions), never in LSP types.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use dashmap::DashMap;

use crate::{
    completion::inline::{self, DocView, InlineEngine, InlineOutcome, InlineRequest, Prepared},
    completion::local::{self, Candidate, WordAtCursor},
    config::Config,
    context,
    documents::{Change, Document, DocumentError, Encoding, Position},
    index::{self, FileKey, Index, Snapshot},
    privacy::{self, Verdict},
    providers::{ModelRequest, Task},
    syntax::{LanguageInfo, Languages, SyntaxTree},
    upstream::Upstream,
};

mod preview;
mod symbols;

pub use symbols::{DocumentOutline, SymbolMatch};

/// Syntax trees kept alive: the most recently used documents. A tree costs ~30 bytes per byte of
/// source, so keeping all 200 files of a large workspace parsed would cost gigabytes; the others
/// keep their text (their symbols live in the index) and are reparsed on demand.
const HOT_TREES: usize = 8;
/// Open documents considered for neighbour snippets: the most recently used, as Copilot does.
/// With thousands of documents open, a request looks at these and no others.
const NEIGHBOUR_TABS: usize = 20;
/// On the typing path (inline and popup completions), a document whose last reparse took longer
/// than this does not wait for the next one: tree-sitter's incremental reparse grows with the
/// number of top-level items (14 ms on a flat 20,000-line file, 15 ms on a 100,000-line one). It
/// is served from the edited tree — every node already moved to where the edits put its text, only
/// the structure at the edit itself is out of date — while a background thread reparses.
const SYNC_REPARSE_BUDGET: std::time::Duration = std::time::Duration::from_millis(1);
/// Before a document's reparse has been timed, the guess: larger than this is slow.
const DEFER_REPARSE_BYTES: usize = 64 * 1024;
/// How long a document's privacy verdict is trusted before the rules (and `.switchboardignore`
/// files on disk) are consulted again.
const PRIVACY_RECHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// One open document and what the engine derived from it.
#[derive(Debug, Clone)]
pub struct DocState {
    pub doc: Document,
    pub lang: Option<&'static LanguageInfo>,
    pub syntax: Option<SyntaxTree>,
    /// The tree was edited but not reparsed yet: parsing waits until something reads the tree, so
    /// a burst of keystrokes costs one reparse, not one each.
    syntax_stale: bool,
    /// No tree yet (the indexer parses a new document and hands its tree over) or it was dropped
    /// to save memory; the next reader parses from scratch.
    syntax_dropped: bool,
    /// A background reparse of this document is running (see [`SYNC_REPARSE_BUDGET`]).
    reparse_pending: bool,
    /// How long the last parse or reparse of this document took.
    parse_cost: Option<std::time::Duration>,
    /// Opened and not parsed yet: the indexer is parsing it and hands its tree over, so a large
    /// document does not start a second full parse of its own meanwhile.
    awaiting_index: bool,
    /// Binary, oversized or with a line over [`index::LONG_LINE_BYTES`] (minified code): kept
    /// verbatim, never parsed; the index keeps a bounded word scan of it.
    pub plain: bool,
    /// Whether the document's content may go upstream (exclusions, local-only paths).
    pub privacy: Verdict,
    privacy_at: Instant,
}

impl DocState {
    /// A document as opened: not parsed yet (parsing is the indexer's, off the handler).
    fn new(doc: Document) -> DocState {
        let lang = Languages::global().resolve(&doc.language_id, &doc.uri);
        let plain = doc.looks_binary() || doc.len_bytes() > crate::syntax::MAX_PARSE_BYTES || has_long_line(&doc.rope);
        DocState {
            doc,
            lang,
            syntax: None,
            syntax_stale: false,
            syntax_dropped: !plain && lang.is_some_and(|l| l.has_grammar()),
            reparse_pending: false,
            parse_cost: None,
            awaiting_index: !plain && lang.is_some_and(|l| l.has_grammar()),
            plain,
            privacy: Verdict::Allowed,
            privacy_at: Instant::now(),
        }
    }

    /// The document's key in the index.
    pub fn key(&self) -> FileKey {
        FileKey::from_uri(&self.doc.uri)
    }

    /// Whether bringing the tree up to date is cheap enough for the typing path to wait for it.
    fn reparse_is_cheap(&self) -> bool {
        match self.parse_cost {
            Some(cost) => cost <= SYNC_REPARSE_BUDGET,
            None => self.doc.len_bytes() <= DEFER_REPARSE_BYTES,
        }
    }

    /// Brings the syntax tree up to date with the text.
    fn ensure_parsed(&mut self) {
        if !self.syntax_dropped && !self.syntax_stale {
            return;
        }
        let started = Instant::now();
        if self.syntax_dropped {
            self.syntax_dropped = false;
            self.syntax_stale = false;
            self.syntax = self.lang.and_then(|l| SyntaxTree::parse(l, &self.doc.rope));
        } else {
            self.syntax_stale = false;
            if let Some(tree) = &mut self.syntax
                && !tree.reparse(&self.doc.rope)
            {
                self.syntax = None;
            }
        }
        self.parse_cost = Some(started.elapsed());
    }
}

/// Errors the engine reports to its callers (the server turns them into JSON-RPC errors).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0} is not open; send textDocument/didOpen first")]
    UnknownDocument(String),
    #[error(transparent)]
    Document(#[from] DocumentError),
}

/// The result of a local completion: the typed word and the ranked candidates.
#[derive(Debug, Clone)]
pub struct LocalCompletion {
    pub word: WordAtCursor,
    pub candidates: Vec<Candidate>,
}

pub struct Engine {
    /// Shared with background reparses and the indexer, which install their tree when the
    /// document has not moved on.
    docs: Arc<DashMap<String, DocState>>,
    /// Symbols of the open documents and the workspace, kept current off the request path.
    index: Index,
    config: RwLock<Arc<Config>>,
    upstream: RwLock<Upstream>,
    /// Documents whose syntax trees are alive, most recent first (at most [`HOT_TREES`]).
    hot: Arc<Mutex<VecDeque<String>>>,
    /// The most recently used documents, most recent first (at most [`NEIGHBOUR_TABS`]).
    recent: Mutex<VecDeque<String>>,
    pub inline: InlineEngine,
    /// `prompt_cache_key` for this workspace, so the provider's cache buckets its requests together.
    cache_key: RwLock<String>,
    /// Which files never go upstream, for this workspace and configuration.
    privacy: RwLock<Arc<privacy::Policy>>,
    /// Prompt context state: recent edits, neighbour windows, import bindings.
    pub gather: context::Gatherer,
    /// The workspace root, as a path (prompts show files relative to it).
    root: RwLock<Option<String>>,
    /// Set by the server: the typing path never waits for one-time work (see [`Engine::never_wait`]).
    never_wait: AtomicBool,
}

/// The editor's accept signal (the inline item's command), as the engine needs it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Accepted {
    pub uri: String,
    pub version: i32,
    /// Bytes the suggestion replaced, in the document as it was at `version`.
    pub start: usize,
    pub end: usize,
    pub text: String,
    pub provider: String,
    pub language: String,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(Config::default())
    }
}

impl Engine {
    pub fn new(config: Config) -> Engine {
        let (upstream, problems) = Upstream::build(&config);
        for p in problems {
            tracing::warn!("{p}");
        }
        let inline = InlineEngine::default();
        inline.configure(&config.completion);
        inline.stats.set_prices(prices(&config));
        let policy = privacy::Policy::new(None, &config.privacy.exclude, &config.privacy.local_only);
        let docs: Arc<DashMap<String, DocState>> = Arc::new(DashMap::new());
        let hot: Arc<Mutex<VecDeque<String>>> = Arc::default();
        let (weak_docs, weak_hot) = (Arc::downgrade(&docs), Arc::downgrade(&hot));
        // The indexer parses every open document (incrementally after edits); a hot one whose tree
        // is missing or behind takes the indexer's tree for its version instead of parsing again.
        let index = Index::new(Box::new(move |uri, version, tree| {
            let (Some(docs), Some(hot)) = (weak_docs.upgrade(), weak_hot.upgrade()) else { return };
            let is_hot = hot.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|u| u == uri);
            let Some(mut entry) = docs.get_mut(uri) else { return };
            if !is_hot {
                // Cold: it parses on demand when it is used again.
                entry.awaiting_index = false;
                return;
            }
            if entry.doc.version == version && (entry.syntax_dropped || entry.syntax_stale) {
                entry.syntax = Some(tree);
                entry.syntax_dropped = false;
                entry.syntax_stale = false;
                entry.awaiting_index = false;
            }
        }));
        Engine {
            docs,
            index,
            config: RwLock::new(Arc::new(config)),
            upstream: RwLock::new(upstream),
            hot,
            recent: Mutex::default(),
            inline,
            cache_key: RwLock::new("switchboard:default".into()),
            privacy: RwLock::new(Arc::new(policy)),
            gather: context::Gatherer::default(),
            root: RwLock::new(None),
            never_wait: AtomicBool::new(false),
        }
    }

    /// For the server: completions never wait for a language's queries to compile (50 ms for
    /// Rust, once per process, started when its first document opens); until they are ready a
    /// request is answered as if the document were not parsed yet. The CLI, benchmarks and tests
    /// keep waiting, so that a one-shot answer is the full one.
    pub fn never_wait(&self) {
        self.never_wait.store(true, Ordering::Relaxed);
        self.gather.never_wait();
    }

    /// A typing-path copy whose tree does not wait for its language's queries while they compile:
    /// the syntax gate still has the tree, query-based context is left out of this one answer.
    fn unless_compiling(&self, mut state: DocState) -> DocState {
        if let Some(lang) = state.lang
            && !lang.queries_ready()
            && self.never_wait.load(Ordering::Relaxed)
        {
            lang.warm();
            state.syntax = state.syntax.map(SyntaxTree::without_waiting);
        }
        state
    }

    pub fn config(&self) -> Arc<Config> {
        match self.config.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Installs a new configuration and rebuilds the providers; returns the providers' problems.
    pub fn set_config(&self, config: Config) -> Vec<crate::config::Problem> {
        let (upstream, mut problems) = Upstream::build(&config);
        let root = self.privacy().root().map(std::path::Path::to_path_buf);
        problems.extend(self.set_privacy(root.as_deref(), &config));
        self.inline.configure(&config.completion);
        self.inline.stats.set_prices(prices(&config));
        *self.upstream.write().unwrap_or_else(|p| p.into_inner()) = upstream;
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
        problems
    }

    /// The registry and router in force (cheap clone).
    pub fn upstream(&self) -> Upstream {
        self.upstream.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Opens a document. Cheap: the text is stored and handed to the indexer, which parses it.
    pub fn open(&self, uri: &str, language_id: &str, version: i32, text: &str) {
        let mut state = DocState::new(Document::new(uri, language_id, version, text));
        state.privacy = privacy::verdict_for_uri(&self.privacy(), uri);
        // A withheld document is indexed as plain words: local completion still sees them, but it
        // has no definitions a prompt for another file could quote.
        let withheld = !state.privacy.allows_upstream();
        let (lang, rope, plain) = (state.lang, state.doc.rope.clone(), state.plain || withheld);
        self.docs.insert(uri.to_owned(), state);
        if let Some(lang) = lang.filter(|_| !plain) {
            lang.warm();
        }
        // Hot before the indexer sees it, so the indexer's tree is taken.
        self.touch(uri);
        self.index.open(uri, lang, version, rope, plain);
    }

    pub fn close(&self, uri: &str) {
        self.index.close(uri);
        self.docs.remove(uri);
        self.inline.forget_document(uri);
        self.gather.forget(uri);
        self.hot.lock().unwrap_or_else(|p| p.into_inner()).retain(|u| u != uri);
        self.recent.lock().unwrap_or_else(|p| p.into_inner()).retain(|u| u != uri);
    }

    /// Marks `uri` as recently used and drops the syntax tree of the least recently used document
    /// beyond [`HOT_TREES`]. Must not be called while holding a `docs` entry.
    fn touch(&self, uri: &str) {
        {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if recent.front().is_none_or(|u| u != uri) {
                recent.retain(|u| u != uri);
                recent.push_front(uri.to_owned());
                recent.truncate(NEIGHBOUR_TABS + 1);
            }
        }
        let evicted = {
            let mut hot = self.hot.lock().unwrap_or_else(|p| p.into_inner());
            if hot.front().is_some_and(|u| u == uri) {
                return;
            }
            hot.retain(|u| u != uri);
            hot.push_front(uri.to_owned());
            if hot.len() > HOT_TREES { hot.pop_back() } else { None }
        };
        if let Some(old) = evicted
            && let Some(mut entry) = self.docs.get_mut(&old)
            && entry.syntax.is_some()
        {
            entry.syntax = None;
            entry.syntax_dropped = true;
            entry.awaiting_index = false;
        }
    }

    pub fn is_open(&self, uri: &str) -> bool {
        self.docs.contains_key(uri)
    }

    pub fn open_count(&self) -> usize {
        self.docs.len()
    }

    /// Applies the editor's changes and reparses incrementally.
    pub fn change(&self, uri: &str, version: i32, changes: &[Change], enc: Encoding) -> Result<(), EngineError> {
        self.apply_change(uri, version, changes, enc)?;
        self.touch(uri);
        Ok(())
    }

    fn apply_change(&self, uri: &str, version: i32, changes: &[Change], enc: Encoding) -> Result<(), EngineError> {
        let mut entry = self.docs.get_mut(uri).ok_or_else(|| EngineError::UnknownDocument(uri.to_owned()))?;
        let state = entry.value_mut();
        let before = state.doc.rope.clone();
        let edits = state.doc.apply(version, changes, enc)?;
        self.gather.edits.record(uri, &before, &state.doc.rope, &edits);
        let too_big = state.doc.len_bytes() > crate::syntax::MAX_PARSE_BYTES;
        let long_line = changes.iter().any(|c| c.text.split('\n').any(|l| l.len() > index::LONG_LINE_BYTES));
        if (state.plain != too_big || (long_line && !state.plain)) && !state.doc.looks_binary() {
            // Crossed the size limit or pasted minified code: start over from the whole text.
            let privacy = state.privacy.clone();
            *state = DocState::new(state.doc.clone());
            state.privacy = privacy;
            let plain = state.plain || !state.privacy.allows_upstream();
            self.index.open(uri, state.lang, version, state.doc.rope.clone(), plain);
            return Ok(());
        }
        if let Some(tree) = &mut state.syntax {
            tree.edit(&edits);
            state.syntax_stale = true;
        }
        let plain = state.plain || !state.privacy.allows_upstream();
        self.index.change(uri, version, state.doc.rope.clone(), edits, plain);
        Ok(())
    }

    /// A cheap copy of a document's state (ropes and trees are reference-counted), parsed up to date.
    pub fn snapshot(&self, uri: &str) -> Result<DocState, EngineError> {
        self.touch(uri);
        let mut entry = self.docs.get_mut(uri).ok_or_else(|| EngineError::UnknownDocument(uri.to_owned()))?;
        self.recheck_privacy(uri, entry.value_mut());
        entry.ensure_parsed();
        Ok(entry.value().clone())
    }

    /// A snapshot for the typing path: like [`Engine::snapshot`], except that a document whose
    /// reparse is slow is returned with its edited, not yet reparsed tree while a background
    /// thread reparses it (see [`SYNC_REPARSE_BUDGET`]). Without a tokio runtime it reparses in place.
    pub fn snapshot_for_typing(&self, uri: &str) -> Result<DocState, EngineError> {
        self.touch(uri);
        let mut entry = self.docs.get_mut(uri).ok_or_else(|| EngineError::UnknownDocument(uri.to_owned()))?;
        self.recheck_privacy(uri, entry.value_mut());
        self.parse_for_typing(uri, entry.value_mut());
        let state = entry.value().clone();
        drop(entry);
        Ok(self.unless_compiling(state))
    }

    /// Reparses `state` now when that is cheap, or starts a background reparse (at most one at a
    /// time) and leaves the edited tree in place.
    fn parse_for_typing(&self, uri: &str, state: &mut DocState) {
        let large = !state.reparse_is_cheap();
        if large && state.awaiting_index {
            return; // the indexer's tree is on its way
        }
        let defer = large && (state.syntax_stale || state.syntax_dropped);
        // Pending edits of a document the indexer parses: its tree after the burst is on its way
        // (see `Engine::new`), so a second reparse here would only compete for the cores.
        let indexer_parses = !state.plain && state.privacy.allows_upstream();
        match tokio::runtime::Handle::try_current() {
            Ok(_) if defer && state.syntax_stale && !state.syntax_dropped && indexer_parses => {}
            Ok(runtime) if defer => {
                let tree = if state.syntax_dropped { None } else { state.syntax.clone() };
                if !state.reparse_pending && (tree.is_some() || state.syntax_dropped) {
                    state.reparse_pending = true;
                    let (docs, uri, rope, version, lang) =
                        (self.docs.clone(), uri.to_owned(), state.doc.rope.clone(), state.doc.version, state.lang);
                    runtime.spawn_blocking(move || reparse_in_background(&docs, &uri, lang, tree, &rope, version));
                }
            }
            _ => state.ensure_parsed(),
        }
    }

    pub fn text(&self, uri: &str) -> Result<(String, i32), EngineError> {
        let d = self.docs.get(uri).ok_or_else(|| EngineError::UnknownDocument(uri.to_owned()))?;
        Ok((d.doc.text(), d.doc.version))
    }

    /// Byte offset of an editor position, and whether the position was inside the document.
    pub fn offset(&self, uri: &str, pos: Position, enc: Encoding) -> Result<(usize, bool), EngineError> {
        let d = self.docs.get(uri).ok_or_else(|| EngineError::UnknownDocument(uri.to_owned()))?;
        Ok((d.doc.offset_of(pos, enc), d.doc.contains(pos, enc)))
    }

    /// Local completions for the word at `offset` in `uri`, from all open documents.
    pub fn complete_local(&self, uri: &str, offset: usize, max: usize) -> Result<LocalCompletion, EngineError> {
        self.touch(uri);
        let state = {
            let mut entry = self.docs.get_mut(uri).ok_or_else(|| EngineError::UnknownDocument(uri.to_owned()))?;
            self.parse_for_typing(uri, entry.value_mut());
            entry.value().clone()
        };
        let state = self.unless_compiling(state);
        let key = state.key();
        let cur = local::CurrentDoc {
            rope: &state.doc.rope,
            syntax: state.syntax.as_ref(),
            key: &key,
            family: state.lang.map(|l| index::family(l.id.as_str())),
            offset,
        };
        let (word, candidates) = local::complete(&cur, &self.index.snapshot(), max);
        Ok(LocalCompletion { word, candidates })
    }

    /// The index's latest snapshot: symbols of open documents and workspace files.
    pub fn index_snapshot(&self) -> Arc<Snapshot> {
        self.index.snapshot()
    }

    /// Starts indexing the workspace under `root` in the background, within `[index]`'s bounds.
    /// Files the privacy rules withhold (excluded or local-only) are never indexed, so no prompt
    /// can quote their definitions.
    pub fn index_workspace(&self, root: &std::path::Path) {
        let policy = self.privacy();
        let keep = Arc::new(move |p: &std::path::Path| policy.verdict(p).allows_upstream());
        self.index.index_workspace(root, &self.config().index, keep);
    }

    /// A file on disk was saved, created or changed: the index re-reads it (or drops it when the
    /// privacy rules withhold it).
    pub fn file_changed(&self, path: &std::path::Path) {
        if self.privacy().verdict(path).allows_upstream() {
            self.index.refresh(path, &self.config().index);
        } else {
            self.index.remove(path);
        }
    }

    /// A file on disk was deleted.
    pub fn file_deleted(&self, path: &std::path::Path) {
        self.index.remove(path);
    }

    /// Waits until the index has applied every update sent so far (tests, benchmarks, the CLI).
    pub fn wait_indexed(&self) {
        self.index.flush();
    }
}

/// The answer in a file whose content may not go upstream: the local provider's, or nothing.
fn local_only(
    local: impl FnOnce() -> Option<(String, std::ops::Range<usize>)>,
    reason: &str,
    language: &str,
    stats: &crate::completion::stats::Stats,
) -> InlineOutcome {
    let started = Instant::now();
    match local() {
        Some((text, range)) => {
            stats.answered("local", language, started.elapsed());
            InlineOutcome::Answer(inline::InlineAnswer {
                text,
                range,
                provider: "local".into(),
                model: String::new(),
                latency: started.elapsed(),
                from_cache: false,
            })
        }
        None => InlineOutcome::Nothing { reason: reason.to_owned() },
    }
}

/// Whether any line is longer than [`index::LONG_LINE_BYTES`] (minified or generated code).
fn has_long_line(rope: &ropey::Rope) -> bool {
    // The average line is a cheap first test; only a file with a long-enough total is walked.
    rope.len_bytes() > index::LONG_LINE_BYTES && rope.lines().any(|l| l.len_bytes() > index::LONG_LINE_BYTES)
}

/// Reparses `tree` (already edited to match `rope` at `version`), or parses `rope` from scratch
/// without one, and installs the result when the document is still at that version; otherwise
/// the next typing request schedules another round.
fn reparse_in_background(
    docs: &DashMap<String, DocState>,
    uri: &str,
    lang: Option<&'static LanguageInfo>,
    tree: Option<SyntaxTree>,
    rope: &ropey::Rope,
    version: i32,
) {
    let fresh = tree.is_none();
    let started = Instant::now();
    let parsed = match tree {
        Some(mut t) => t.reparse(rope).then_some(t),
        None => lang.and_then(|l| SyntaxTree::parse(l, rope)),
    };
    let cost = started.elapsed();
    let Some(mut entry) = docs.get_mut(uri) else { return };
    let state = entry.value_mut();
    state.reparse_pending = false;
    state.parse_cost = Some(cost);
    if state.doc.version != version {
        return;
    }
    if fresh && state.syntax_dropped {
        state.syntax = parsed;
        state.syntax_dropped = false;
    } else if !fresh && state.syntax_stale && !state.syntax_dropped {
        state.syntax = parsed;
        state.syntax_stale = false;
    }
}

fn prices(config: &Config) -> std::collections::BTreeMap<String, crate::config::Price> {
    config.pricing.clone()
}

const INLINE_SYSTEM: &str = "You are a code completion engine inside an editor. The user message holds a file \
with <CURSOR> marking the cursor. Reply with only the text to insert at <CURSOR>: no Markdown fences, no \
explanations, and do not repeat the code before or after the cursor.";

impl Engine {
    /// Sets the workspace the server serves; its hash becomes the provider `prompt_cache_key`.
    pub fn set_workspace(&self, root: &std::path::Path) {
        use std::hash::{Hash, Hasher};
        for p in self.set_privacy(Some(root), &self.config()) {
            tracing::warn!("{p}");
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        root.hash(&mut h);
        *self.cache_key.write().unwrap_or_else(|p| p.into_inner()) = format!("switchboard:{:016x}", h.finish());
        *self.root.write().unwrap_or_else(|p| p.into_inner()) = Some(root.to_string_lossy().into_owned());
    }

    fn view(state: &DocState) -> DocView {
        DocView {
            uri: state.doc.uri.clone(),
            version: state.doc.version,
            rope: state.doc.rope.clone(),
            syntax: state.syntax.clone(),
            syntax_behind: state.syntax_stale,
            lang: state.lang,
            language_id: state.lang.map(|l| l.id.clone()).unwrap_or_else(|| state.doc.language_id.clone()),
        }
    }

    /// The privacy rules in force (exclusions, local-only paths, `.switchboardignore`).
    pub fn privacy(&self) -> Arc<privacy::Policy> {
        self.privacy.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Rebuilds the privacy rules for `root` and `config` and re-judges every open document;
    /// returns the patterns that were refused.
    fn set_privacy(&self, root: Option<&std::path::Path>, config: &Config) -> Vec<crate::config::Problem> {
        let policy = Arc::new(privacy::Policy::new(root, &config.privacy.exclude, &config.privacy.local_only));
        let problems = policy
            .problems
            .iter()
            .map(|m| crate::config::Problem {
                origin: "configuration".into(),
                line: None,
                column: None,
                message: m.clone(),
                is_error: false,
            })
            .collect();
        *self.privacy.write().unwrap_or_else(|p| p.into_inner()) = policy.clone();
        for mut entry in self.docs.iter_mut() {
            let verdict = privacy::verdict_for_uri(&policy, entry.key());
            entry.privacy = verdict;
            entry.privacy_at = Instant::now();
        }
        problems
    }

    /// Judges a document again when its verdict is older than [`PRIVACY_RECHECK`] (a
    /// `.switchboardignore` may have changed on disk).
    fn recheck_privacy(&self, uri: &str, state: &mut DocState) {
        if state.privacy_at.elapsed() >= PRIVACY_RECHECK {
            state.privacy = privacy::verdict_for_uri(&self.privacy(), uri);
            state.privacy_at = Instant::now();
        }
    }

    /// The verdict for an open document (`None` when it is not open).
    pub fn privacy_verdict(&self, uri: &str) -> Option<Verdict> {
        let mut entry = self.docs.get_mut(uri)?;
        self.recheck_privacy(uri, entry.value_mut());
        Some(entry.privacy.clone())
    }

    /// Open documents whose content may not go upstream, with the reason (for the doctor).
    pub fn withheld_documents(&self) -> Vec<(String, Verdict)> {
        let mut out: Vec<(String, Verdict)> = self
            .docs
            .iter()
            .filter(|e| !e.privacy.allows_upstream())
            .map(|e| (e.key().clone(), e.privacy.clone()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The prompt for a completion at `offset` of `view`.
    fn prepare(
        &self,
        view: &DocView,
        offset: usize,
        task: Task,
        shape: crate::completion::postprocess::Shape,
    ) -> Prepared {
        let config = self.config();
        let index = self.index.snapshot();
        let ctx = self.inline_context(view, &index, offset, config.completion.max_prompt_tokens);
        let path = ctx.parts.path.clone();
        let single = shape == crate::completion::postprocess::Shape::SingleLine;
        let system = format!(
            "{INLINE_SYSTEM} {}",
            if single { "Complete the current line only." } else { "Complete the current block and stop at its end." }
        );
        let indent = crate::completion::postprocess::IndentStyle::detect(&ctx.prefix);
        let request = ModelRequest {
            task,
            system,
            context: ctx.context,
            prefix: ctx.prefix,
            suffix: ctx.suffix,
            user: String::new(),
            language: view.language_id.clone(),
            path,
            max_output_tokens: Some(if single {
                config.completion.max_output_tokens.min(64)
            } else {
                config.completion.max_output_tokens
            }),
            stop: Vec::new(),
            cache_key: Some(self.cache_key.read().unwrap_or_else(|p| p.into_inner()).clone()),
            workdir: None,
            parts: Some(Arc::new(ctx.parts)),
        };
        Prepared { request, shape, indent }
    }

    /// The prompt context for a completion at `offset` of `view`: what [`Engine::prepare`] sends.
    pub fn inline_context(
        &self,
        view: &DocView,
        index: &index::Snapshot,
        offset: usize,
        budget_tokens: usize,
    ) -> context::InlineContext {
        let root = self.root.read().unwrap_or_else(|p| p.into_inner()).clone();
        let file = &context::file_of(&view.uri);
        let path = context::shown(root.as_deref(), &view.uri);
        let key = FileKey::from_uri(&view.uri);
        let repo = root.as_deref().and_then(|r| r.rsplit('/').find(|s| !s.is_empty())).unwrap_or("");
        let src = context::Source {
            uri: &view.uri,
            file,
            path: &path,
            repo,
            language: &view.language_id,
            lang: view.lang,
            rope: &view.rope,
            syntax: view.syntax.as_ref(),
            symbols: index.file(&key),
            offset,
        };
        let open = self.open_files(&view.uri, view.lang);
        // Withheld documents give no snippets (`open_files` leaves them out) and no edits.
        let may_send = |uri: &str| self.docs.get(uri).is_some_and(|d| d.privacy.allows_upstream());
        let family = view.lang.map(|l| index::family(l.id.as_str()));
        let ws = context::workspace::SameFamily { index, family };
        self.gather.inline(&src, &open, Some(&ws), &may_send, root.as_deref(), budget_tokens)
    }

    /// The other open documents of the same language family that may be sent, most recently used
    /// first, at most [`NEIGHBOUR_TABS`] (cheap clones), for neighbour snippets.
    fn open_files(&self, uri: &str, lang: Option<&'static LanguageInfo>) -> Vec<context::OpenFile> {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let family = |l: &'static LanguageInfo| index::family(l.id.as_str());
        recent
            .iter()
            .filter(|u| *u != uri)
            .filter_map(|u| self.docs.get(u))
            .filter(|e| !e.plain && e.privacy.allows_upstream())
            .filter(|e| lang.is_none() || e.lang.map(family) == lang.map(family))
            .take(NEIGHBOUR_TABS)
            .map(|e| context::OpenFile { uri: e.key().clone(), version: e.doc.version, rope: e.doc.rope.clone() })
            .collect()
    }

    /// Ghost text (or the popup's model item, with `Task::Complete`) at `req.offset`.
    pub async fn inline_completion(&self, req: InlineRequest) -> Result<InlineOutcome, EngineError> {
        let state = self.snapshot_for_typing(&req.uri)?;
        let config = self.config();
        if state.plain || state.lang.is_some_and(|l| config.language.get(&l.id).and_then(|c| c.enabled) == Some(false))
        {
            return Ok(InlineOutcome::Nothing { reason: "Switchboard is off for this file".into() });
        }
        let view = Self::view(&state);
        let offset = req.offset.min(view.rope.len_bytes());
        let shape = inline::decide_shape(
            &view,
            offset,
            config.completion.multiline,
            req.selected.is_some() || req.task == Task::Complete,
        );
        let upstream = self.upstream();
        let task = req.task.clone();
        let prepare = || self.prepare(&view, offset, task, shape);
        let uri = req.uri.clone();
        let local = move || {
            let local = self.complete_local(&uri, offset, 1).ok()?;
            if local.word.prefix.is_empty() || !local.word.rest.is_empty() {
                return None;
            }
            let best = local.candidates.into_iter().next()?;
            Some((best.text, local.word.typed))
        };
        if let Some(reason) = state.privacy.reason() {
            // An excluded or local-only file: the route is filtered down to `local` before the router.
            return Ok(local_only(local, reason, &view.language_id, &self.inline.stats));
        }
        Ok(self.inline.complete(&upstream, view.clone(), req, prepare, local).await)
    }

    /// The user accepted a suggestion: count it, and fetch the next one with the text applied.
    pub fn accepted(&self, a: &Accepted) {
        self.inline.stats.accepted(&a.provider, &a.language);
        let config = self.config();
        if !config.completion.inline {
            return;
        }
        let Ok(state) = self.snapshot_for_typing(&a.uri) else { return };
        if !state.privacy.allows_upstream() {
            return;
        }
        let mut view = Self::view(&state);
        let len = view.rope.len_bytes();
        let (start, end) = (a.start.min(len), a.end.min(len).max(a.start.min(len)));
        let cursor = start + a.text.len();
        if state.doc.version == a.version {
            // The editor has not sent the edit yet: apply it to a copy (a large document's tree is
            // only edited, as on the typing path).
            let reparse = !view.syntax_behind && state.reparse_is_cheap();
            view.splice(start, end, &a.text, reparse);
        } else if cursor > len || crate::syntax::slice(&view.rope, start..cursor) != a.text {
            return; // The document moved on in another way: nothing sensible to prefetch.
        }
        let shape = inline::decide_shape(&view, cursor, config.completion.multiline, false);
        let prepared = self.prepare(&view, cursor, Task::Inline, shape);
        self.inline.prefetch(&self.upstream(), view, cursor, prepared);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    /// 20,000 small functions (~600 KB): large enough to defer, four lines each.
    fn big_rust() -> String {
        (0..20_000).map(|i| format!("fn f{i}(a: u32) -> u32 {{\n    a + {i}\n}}\n\n")).collect()
    }

    /// Inserts `text` at the start of function `i`'s body line, after `    a `.
    fn type_in_body(engine: &Engine, uri: &str, version: i32, i: u32, text: &str) {
        let at = Position::new(i * 4 + 1, 6);
        let change = Change { range: Some((at, at)), text: text.into() };
        engine.change(uri, version, &[change], Encoding::Utf16).unwrap();
    }

    fn full_parse(state: &DocState) -> String {
        SyntaxTree::parse(state.lang.unwrap(), &state.doc.rope).unwrap().root().to_sexp()
    }

    async fn wait_fresh(engine: &Engine, uri: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while engine.docs.get(uri).is_some_and(|s| s.syntax_stale) {
            assert!(Instant::now() < deadline, "the background reparse never landed");
            engine.snapshot_for_typing(uri).unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn large_documents_are_reparsed_off_the_typing_path() {
        let engine = Engine::default();
        let uri = "file:///big.rs";
        let text = big_rust();
        assert!(text.len() > DEFER_REPARSE_BYTES);
        engine.open(uri, "rust", 1, &text);
        engine.wait_indexed();
        assert!(engine.docs.get(uri).is_some_and(|s| s.syntax.is_some()), "the indexer handed its tree over");

        type_in_body(&engine, uri, 2, 100, "+ ");
        let typing = engine.snapshot_for_typing(uri).unwrap();
        assert!(typing.syntax_stale, "the typing path does not wait for the reparse");
        // The edited tree already has every node where its text now is.
        let f101 = typing.doc.text().find("fn f101(").unwrap();
        let node = typing.syntax.as_ref().unwrap().root().descendant_for_byte_range(f101, f101 + 2).unwrap();
        assert_eq!((node.kind(), node.start_byte()), ("fn", f101));

        // A keystroke while the reparse runs: that result is dropped, the next request starts another.
        type_in_body(&engine, uri, 3, 200, "* ");
        wait_fresh(&engine, uri).await;
        let state = engine.snapshot(uri).unwrap();
        assert!(!state.syntax_stale && !state.reparse_pending);
        assert_eq!(state.syntax.as_ref().unwrap().root().to_sexp(), full_parse(&state));
        assert!(state.syntax.as_ref().unwrap().error_count() > 0, "both broken bodies are in the new tree");
    }

    #[test]
    fn without_a_runtime_or_for_small_documents_the_typing_path_reparses_in_place() {
        let engine = Engine::default();
        engine.open("file:///big.rs", "rust", 1, &big_rust());
        engine.wait_indexed();
        type_in_body(&engine, "file:///big.rs", 2, 7, "+ ");
        let state = engine.snapshot_for_typing("file:///big.rs").unwrap();
        assert!(!state.syntax_stale);
        assert_eq!(state.syntax.as_ref().unwrap().root().to_sexp(), full_parse(&state));

        let small: String = big_rust().lines().take(400).map(|l| format!("{l}\n")).collect();
        engine.open("file:///small.rs", "rust", 1, &small);
        type_in_body(&engine, "file:///small.rs", 2, 7, "+ ");
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let _inside = runtime.enter();
        assert!(!engine.snapshot_for_typing("file:///small.rs").unwrap().syntax_stale);
    }
}
