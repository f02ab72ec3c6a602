//! The engine: open documents with their syntax trees and symbol tables, the active configuration,
//! and the operations the server and the CLI call. It speaks in plain data (byte offsets, strings,
//! versions), never in LSP types.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, RwLock},
    time::Instant,
};

use dashmap::DashMap;

use crate::{
    completion::inline::{self, DocView, InlineEngine, InlineOutcome, InlineRequest, Prepared},
    completion::local::{self, Candidate, SymbolTable, WordAtCursor},
    config::Config,
    context,
    documents::{Change, Document, DocumentError, Encoding, Position},
    providers::{ModelRequest, Task},
    syntax::{LanguageInfo, Languages, SyntaxTree},
    upstream::Upstream,
};

/// Tables of documents up to this size (about the 120 lines the near-cursor scan covers) are rebuilt
/// on every request that finds them stale; larger ones at most every [`TABLE_REFRESH_MS`], since a
/// rebuild runs the identifier, definition and import queries over the whole file (3 ms for a
/// 16 KB Rust file) and the near-cursor scan covers fresh edits meanwhile.
const SMALL_DOC_BYTES: usize = 4 * 1024;
const TABLE_REFRESH_MS: u128 = 500;
/// Syntax trees kept alive: the most recently used documents. A tree costs ~30 bytes per byte of
/// source, so keeping all 200 files of a large workspace parsed would cost gigabytes; the others
/// keep their text and symbol table and are reparsed on demand.
const HOT_TREES: usize = 8;
/// On the typing path (inline and popup completions), documents larger than this do not wait for
/// their reparse: tree-sitter's incremental reparse grows with the number of top-level items and
/// takes milliseconds on files of this size (15 ms on a 100,000-line one). They are served from
/// the edited tree — every node already moved to where the edits put its text, only the structure
/// at the edit itself is out of date — while a background thread reparses.
const DEFER_REPARSE_BYTES: usize = 512 * 1024;

/// One open document and what the engine derived from it.
#[derive(Debug, Clone)]
pub struct DocState {
    pub doc: Document,
    pub lang: Option<&'static LanguageInfo>,
    pub syntax: Option<SyntaxTree>,
    pub table: Arc<SymbolTable>,
    table_built: Instant,
    /// The tree was edited but not reparsed yet: parsing waits until something reads the tree, so
    /// a burst of keystrokes costs one reparse, not one each.
    syntax_stale: bool,
    /// The tree was dropped to save memory; the next reader parses from scratch.
    syntax_dropped: bool,
    /// A background reparse of this document is running (see [`DEFER_REPARSE_BYTES`]).
    reparse_pending: bool,
    /// Binary or oversized: kept verbatim, never parsed or mined for symbols.
    pub plain: bool,
}

impl DocState {
    fn new(doc: Document) -> DocState {
        let lang = Languages::global().resolve(&doc.language_id, &doc.uri);
        let plain = doc.looks_binary() || doc.len_bytes() > crate::syntax::MAX_PARSE_BYTES;
        let syntax = if plain { None } else { lang.and_then(|l| SyntaxTree::parse(l, &doc.rope)) };
        let table =
            if plain { SymbolTable::default() } else { SymbolTable::build(doc.version, &doc.rope, syntax.as_ref()) };
        DocState {
            doc,
            lang,
            syntax,
            table: Arc::new(table),
            table_built: Instant::now(),
            syntax_stale: false,
            syntax_dropped: false,
            reparse_pending: false,
            plain,
        }
    }

    /// Brings the syntax tree up to date with the text.
    fn ensure_parsed(&mut self) {
        if self.syntax_dropped {
            self.syntax_dropped = false;
            self.syntax_stale = false;
            self.syntax = self.lang.and_then(|l| SyntaxTree::parse(l, &self.doc.rope));
            return;
        }
        if !self.syntax_stale {
            return;
        }
        self.syntax_stale = false;
        if let Some(tree) = &mut self.syntax
            && !tree.reparse(&self.doc.rope)
        {
            self.syntax = None;
        }
    }

    fn refresh_table(&mut self, force: bool) {
        if self.plain || self.table.version == self.doc.version {
            return;
        }
        if self.syntax_dropped && !force {
            // A cold document: its slightly old table beats a full parse on someone else's keystroke.
            return;
        }
        let due = self.doc.len_bytes() <= SMALL_DOC_BYTES || self.table_built.elapsed().as_millis() >= TABLE_REFRESH_MS;
        if force || due {
            // A large document's edited tree, waiting for its background reparse, will do: its nodes
            // sit where the edits moved their text, which is all a symbol table reads.
            if !(self.syntax_stale && self.doc.len_bytes() > DEFER_REPARSE_BYTES) {
                self.ensure_parsed();
            }
            self.table = Arc::new(SymbolTable::build(self.doc.version, &self.doc.rope, self.syntax.as_ref()));
            self.table_built = Instant::now();
        }
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
    /// Shared with background reparses, which install their tree when the document has not moved on.
    docs: Arc<DashMap<String, DocState>>,
    config: RwLock<Arc<Config>>,
    upstream: RwLock<Upstream>,
    /// Documents whose syntax trees are alive, most recent first (at most [`HOT_TREES`]).
    hot: Mutex<VecDeque<String>>,
    pub inline: InlineEngine,
    /// `prompt_cache_key` for this workspace, so the provider's cache buckets its requests together.
    cache_key: RwLock<String>,
    /// Prompt context state: recent edits, neighbour windows, definitions of open files.
    pub gather: context::Gatherer,
    /// The workspace root, as a path (prompts show files relative to it).
    root: RwLock<Option<String>>,
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
        inline.set_debounce(config.completion.debounce_ms);
        inline.stats.set_prices(prices(&config));
        Engine {
            docs: Arc::new(DashMap::new()),
            config: RwLock::new(Arc::new(config)),
            upstream: RwLock::new(upstream),
            hot: Mutex::new(VecDeque::new()),
            inline,
            cache_key: RwLock::new("switchboard:default".into()),
            gather: context::Gatherer::default(),
            root: RwLock::new(None),
        }
    }

    pub fn config(&self) -> Arc<Config> {
        match self.config.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Installs a new configuration and rebuilds the providers; returns the providers' problems.
    pub fn set_config(&self, config: Config) -> Vec<crate::config::Problem> {
        let (upstream, problems) = Upstream::build(&config);
        self.inline.set_debounce(config.completion.debounce_ms);
        self.inline.stats.set_prices(prices(&config));
        *self.upstream.write().unwrap_or_else(|p| p.into_inner()) = upstream;
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
        problems
    }

    /// The registry and router in force (cheap clone).
    pub fn upstream(&self) -> Upstream {
        self.upstream.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn open(&self, uri: &str, language_id: &str, version: i32, text: &str) {
        let state = DocState::new(Document::new(uri, language_id, version, text));
        self.docs.insert(uri.to_owned(), state);
        self.touch(uri);
    }

    pub fn close(&self, uri: &str) {
        self.docs.remove(uri);
        self.inline.forget_document(uri);
        self.gather.forget(uri, &context::file_of(uri));
        self.hot.lock().unwrap_or_else(|p| p.into_inner()).retain(|u| u != uri);
    }

    /// Marks `uri` as recently used and drops the syntax tree of the least recently used document
    /// beyond [`HOT_TREES`]. Must not be called while holding a `docs` entry.
    fn touch(&self, uri: &str) {
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
        if state.plain != too_big && !state.doc.looks_binary() {
            // Crossed the size limit either way: start over from the whole text.
            *state = DocState::new(state.doc.clone());
            return Ok(());
        }
        if let Some(tree) = &mut state.syntax {
            tree.edit(&edits);
            state.syntax_stale = true;
        }
        Ok(())
    }

    /// A cheap copy of a document's state (ropes and trees are reference-counted), parsed up to date.
    pub fn snapshot(&self, uri: &str) -> Result<DocState, EngineError> {
        self.touch(uri);
        let mut entry = self.docs.get_mut(uri).ok_or_else(|| EngineError::UnknownDocument(uri.to_owned()))?;
        entry.ensure_parsed();
        Ok(entry.value().clone())
    }

    /// A snapshot for the typing path: like [`Engine::snapshot`], except that a large document with
    /// pending edits is returned with its edited, not yet reparsed tree while a background thread
    /// reparses it (see [`DEFER_REPARSE_BYTES`]). Without a tokio runtime it reparses in place.
    pub fn snapshot_for_typing(&self, uri: &str) -> Result<DocState, EngineError> {
        self.touch(uri);
        let mut entry = self.docs.get_mut(uri).ok_or_else(|| EngineError::UnknownDocument(uri.to_owned()))?;
        self.parse_for_typing(uri, entry.value_mut());
        Ok(entry.value().clone())
    }

    /// Reparses `state` now, or for a large document starts a background reparse (at most one at a
    /// time) and leaves the edited tree in place.
    fn parse_for_typing(&self, uri: &str, state: &mut DocState) {
        let defer = state.syntax_stale && !state.syntax_dropped && state.doc.len_bytes() > DEFER_REPARSE_BYTES;
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) if defer => {
                if !state.reparse_pending
                    && let Some(tree) = state.syntax.clone()
                {
                    state.reparse_pending = true;
                    let (docs, uri, rope, version) =
                        (self.docs.clone(), uri.to_owned(), state.doc.rope.clone(), state.doc.version);
                    runtime.spawn_blocking(move || reparse_in_background(&docs, &uri, tree, &rope, version));
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
            entry.refresh_table(false);
            entry.value().clone()
        };
        let others = self.other_tables(uri, state.lang);
        let cur =
            local::CurrentDoc { rope: &state.doc.rope, syntax: state.syntax.as_ref(), table: &state.table, offset };
        let (word, candidates) = local::complete(&cur, &others, max);
        Ok(LocalCompletion { word, candidates })
    }
}

/// Reparses `tree` (already edited to match `rope` at `version`) and installs it when the document
/// is still at that version; otherwise the next typing request schedules another round.
fn reparse_in_background(
    docs: &DashMap<String, DocState>,
    uri: &str,
    mut tree: SyntaxTree,
    rope: &ropey::Rope,
    version: i32,
) {
    let parsed = tree.reparse(rope);
    let Some(mut entry) = docs.get_mut(uri) else { return };
    let state = entry.value_mut();
    state.reparse_pending = false;
    if state.doc.version == version && state.syntax_stale && !state.syntax_dropped {
        state.syntax = parsed.then_some(tree);
        state.syntax_stale = false;
    }
}

/// Languages whose identifiers are worth sharing (JavaScript and TypeScript files import each other).
fn same_family(a: Option<&LanguageInfo>, b: Option<&LanguageInfo>) -> bool {
    const WEB: &[&str] = &["javascript", "typescript", "typescriptreact"];
    const C: &[&str] = &["c", "cpp"];
    match (a, b) {
        (Some(a), Some(b)) => [WEB, C].iter().any(|f| f.contains(&a.id.as_str()) && f.contains(&b.id.as_str())),
        _ => false,
    }
}

fn prices(config: &Config) -> std::collections::BTreeMap<String, (f64, f64)> {
    config.pricing.iter().map(|(m, p)| (m.clone(), (p.input, p.output))).collect()
}

const INLINE_SYSTEM: &str = "You are a code completion engine inside an editor. The user message holds a file \
with <CURSOR> marking the cursor. Reply with only the text to insert at <CURSOR>: no Markdown fences, no \
explanations, and do not repeat the code before or after the cursor.";

impl Engine {
    /// Sets the workspace the server serves; its hash becomes the provider `prompt_cache_key`.
    pub fn set_workspace(&self, root: &std::path::Path) {
        use std::hash::{Hash, Hasher};
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

    /// Symbol tables of the other open documents (for the local provider and prompt context).
    /// Only documents of the same language (or family: JS/TS, C/C++) are worth mining; stale small
    /// tables are refreshed on the way.
    pub fn other_tables(&self, uri: &str, lang: Option<&LanguageInfo>) -> Vec<(Arc<str>, Arc<SymbolTable>)> {
        let lang_id = lang.map(|l| l.id.as_str());
        let mut others = Vec::new();
        for mut entry in self.docs.iter_mut() {
            let related =
                lang_id.is_none() || entry.lang.map(|l| l.id.as_str()) == lang_id || same_family(entry.lang, lang);
            if entry.key() == uri || !related {
                continue;
            }
            entry.refresh_table(false);
            others.push((Arc::<str>::from(entry.key().as_str()), entry.table.clone()));
        }
        others
    }

    /// The prompt for a completion at `offset` of `view`.
    fn prepare(
        &self,
        view: &DocView,
        table: &SymbolTable,
        offset: usize,
        task: Task,
        shape: crate::completion::postprocess::Shape,
    ) -> Prepared {
        let config = self.config();
        let ctx = self.inline_context(view, table, offset, config.completion.max_prompt_tokens);
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
        table: &SymbolTable,
        offset: usize,
        budget_tokens: usize,
    ) -> context::InlineContext {
        let root = self.root.read().unwrap_or_else(|p| p.into_inner()).clone();
        let file = &context::file_of(&view.uri);
        let path = context::shown(root.as_deref(), &view.uri);
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
            table,
            offset,
        };
        let open = self.open_files(&view.uri, view.lang);
        self.gather.inline(&src, &open, None, root.as_deref(), budget_tokens)
    }

    /// The request an inline completion at `offset` of open document `uri` would send, built as
    /// on the typing path but not sent (`switchboard context`, the context benchmark).
    pub fn inline_request(&self, uri: &str, offset: usize) -> Result<ModelRequest, EngineError> {
        let state = self.snapshot_for_typing(uri)?;
        let table = {
            let mut entry = self.docs.get_mut(uri).ok_or_else(|| EngineError::UnknownDocument(uri.to_owned()))?;
            entry.refresh_table(false);
            entry.table.clone()
        };
        let view = Self::view(&state);
        let offset = offset.min(view.rope.len_bytes());
        let shape = inline::decide_shape(&view, offset, self.config().completion.multiline, false);
        Ok(self.prepare(&view, &table, offset, Task::Inline, shape).request)
    }

    /// The other open documents of the same language family, most recently used first (cheap
    /// clones), for prompt context.
    fn open_files(&self, uri: &str, lang: Option<&LanguageInfo>) -> Vec<context::OpenFile> {
        let hot = self.hot.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let lang_id = lang.map(|l| l.id.as_str());
        let mut out: Vec<context::OpenFile> = self
            .docs
            .iter()
            .filter(|e| e.key() != uri && !e.plain)
            .filter(|e| lang_id.is_none() || e.lang.map(|l| l.id.as_str()) == lang_id || same_family(e.lang, lang))
            .map(|e| context::OpenFile {
                uri: e.key().clone(),
                version: e.doc.version,
                rope: e.doc.rope.clone(),
                syntax: if e.syntax_stale { None } else { e.syntax.clone() },
                lang: e.lang,
            })
            .collect();
        out.sort_by_key(|o| (hot.iter().position(|h| *h == o.uri).unwrap_or(usize::MAX), o.uri.clone()));
        out
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
        let table = state.table.clone();
        let task = req.task.clone();
        let prepare = || self.prepare(&view, &table, offset, task, shape);
        let uri = req.uri.clone();
        let local = move || {
            let local = self.complete_local(&uri, offset, 1).ok()?;
            if local.word.prefix.is_empty() || !local.word.rest.is_empty() {
                return None;
            }
            let best = local.candidates.into_iter().next()?;
            Some((best.text, local.word.typed))
        };
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
        let mut view = Self::view(&state);
        let len = view.rope.len_bytes();
        let (start, end) = (a.start.min(len), a.end.min(len).max(a.start.min(len)));
        let cursor = start + a.text.len();
        if state.doc.version == a.version {
            // The editor has not sent the edit yet: apply it to a copy (a large document's tree is
            // only edited, as on the typing path).
            let reparse = !view.syntax_behind && len <= DEFER_REPARSE_BYTES;
            view.splice(start, end, &a.text, reparse);
        } else if cursor > len || crate::syntax::slice(&view.rope, start..cursor) != a.text {
            return; // The document moved on in another way: nothing sensible to prefetch.
        }
        let shape = inline::decide_shape(&view, cursor, config.completion.multiline, false);
        let prepared = self.prepare(&view, &state.table, cursor, Task::Inline, shape);
        self.inline.prefetch(&self.upstream(), view, cursor, prepared);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
