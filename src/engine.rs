//! The engine: open documents with their syntax trees and symbol tables, the active configuration,
//! and the operations the server and the CLI call. It speaks in plain data (byte offsets, strings,
//! versions), never in LSP types.

use std::{
    sync::{Arc, RwLock},
    time::Instant,
};

use dashmap::DashMap;

use crate::{
    completion::local::{self, Candidate, SymbolTable, WordAtCursor},
    config::Config,
    documents::{Change, Document, DocumentError, Encoding, Position},
    syntax::{LanguageInfo, Languages, SyntaxTree},
};

/// Tables of documents up to this size are rebuilt on every request that finds them stale; larger
/// ones at most every [`TABLE_REFRESH_MS`] (the near-cursor scan covers fresh edits meanwhile).
const SMALL_DOC_BYTES: usize = 256 * 1024;
const TABLE_REFRESH_MS: u128 = 500;

/// One open document and what the engine derived from it.
#[derive(Debug, Clone)]
pub struct DocState {
    pub doc: Document,
    pub lang: Option<&'static LanguageInfo>,
    pub syntax: Option<SyntaxTree>,
    pub table: Arc<SymbolTable>,
    table_built: Instant,
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
        DocState { doc, lang, syntax, table: Arc::new(table), table_built: Instant::now(), plain }
    }

    fn refresh_table(&mut self, force: bool) {
        if self.plain || self.table.version == self.doc.version {
            return;
        }
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
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(Config::default())
    }
}

impl Engine {
    pub fn new(config: Config) -> Engine {
        Engine { docs: DashMap::new(), config: RwLock::new(Arc::new(config)) }
    }

    pub fn config(&self) -> Arc<Config> {
        match self.config.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn set_config(&self, config: Config) {
        match self.config.write() {
            Ok(mut c) => *c = Arc::new(config),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(config),
        }
    }

    pub fn open(&self, uri: &str, language_id: &str, version: i32, text: &str) {
        let state = DocState::new(Document::new(uri, language_id, version, text));
        self.docs.insert(uri.to_owned(), state);
    }

    pub fn close(&self, uri: &str) {
        self.docs.remove(uri);
    }

    pub fn is_open(&self, uri: &str) -> bool {
        self.docs.contains_key(uri)
    }

    pub fn open_count(&self) -> usize {
        self.docs.len()
    }

    /// Applies the editor's changes and reparses incrementally.
    pub fn change(&self, uri: &str, version: i32, changes: &[Change], enc: Encoding) -> Result<(), EngineError> {
        let mut entry = self.docs.get_mut(uri).ok_or_else(|| EngineError::UnknownDocument(uri.to_owned()))?;
        let state = entry.value_mut();
        let edits = state.doc.apply(version, changes, enc)?;
        let too_big = state.doc.len_bytes() > crate::syntax::MAX_PARSE_BYTES;
        if state.plain != too_big && !state.doc.looks_binary() {
            // Crossed the size limit either way: start over from the whole text.
            *state = DocState::new(state.doc.clone());
            return Ok(());
        }
        if let Some(tree) = &mut state.syntax
            && !tree.update(&edits, &state.doc.rope)
        {
            state.syntax = None;
        }
        Ok(())
    }

    /// A cheap copy of a document's state (ropes and trees are reference-counted).
    pub fn snapshot(&self, uri: &str) -> Result<DocState, EngineError> {
        self.docs.get(uri).map(|d| d.value().clone()).ok_or_else(|| EngineError::UnknownDocument(uri.to_owned()))
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
        let state = {
            let mut entry = self.docs.get_mut(uri).ok_or_else(|| EngineError::UnknownDocument(uri.to_owned()))?;
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
