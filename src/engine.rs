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
    completion::local::{self, Candidate, SymbolTable, WordAtCursor},
    config::Config,
    documents::{Change, Document, DocumentError, Encoding, Position},
    syntax::{LanguageInfo, Languages, SyntaxTree},
    upstream::Upstream,
};

/// Tables of documents up to this size are rebuilt on every request that finds them stale; larger
/// ones at most every [`TABLE_REFRESH_MS`] (the near-cursor scan covers fresh edits meanwhile).
const SMALL_DOC_BYTES: usize = 256 * 1024;
const TABLE_REFRESH_MS: u128 = 500;
/// Syntax trees kept alive: the most recently used documents. A tree costs ~30 bytes per byte of
/// source, so keeping all 200 files of a large workspace parsed would cost gigabytes; the others
/// keep their text and symbol table and are reparsed on demand.
const HOT_TREES: usize = 8;

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
        self.ensure_parsed();
        let due = self.doc.len_bytes() <= SMALL_DOC_BYTES || self.table_built.elapsed().as_millis() >= TABLE_REFRESH_MS;
        if force || due {
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
    docs: DashMap<String, DocState>,
    config: RwLock<Arc<Config>>,
    upstream: RwLock<Upstream>,
    /// Documents whose syntax trees are alive, most recent first (at most [`HOT_TREES`]).
    hot: Mutex<VecDeque<String>>,
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
        Engine {
            docs: DashMap::new(),
            config: RwLock::new(Arc::new(config)),
            upstream: RwLock::new(upstream),
            hot: Mutex::new(VecDeque::new()),
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
        let edits = state.doc.apply(version, changes, enc)?;
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
            entry.ensure_parsed();
            entry.refresh_table(false);
            entry.value().clone()
        };
        let lang_id = state.lang.map(|l| l.id.as_str());
        let mut others = Vec::new();
        for mut entry in self.docs.iter_mut() {
            if entry.key() == uri
                || entry.lang.map(|l| l.id.as_str()) != lang_id
                    && lang_id.is_some()
                    && !same_family(entry.lang, state.lang)
            {
                continue;
            }
            entry.refresh_table(false);
            others.push((Arc::<str>::from(entry.key().as_str()), entry.table.clone()));
        }
        let cur =
            local::CurrentDoc { rope: &state.doc.rope, syntax: state.syntax.as_ref(), table: &state.table, offset };
        let (word, candidates) = local::complete(&cur, &others, max);
        Ok(LocalCompletion { word, candidates })
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
