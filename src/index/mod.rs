//! The symbol index: the definitions, identifier counts and imports of every open document and of
//! the workspace's source files on disk, in one immutable [`Snapshot`] that requests read without
//! waiting for anything.
//!
//! # How it stays current
//! A background thread (the indexer, [`Index`]) is fed by didOpen/didChange/didClose and by the
//! workspace walk. It keeps its own syntax trees of the documents being edited, reparses them, and
//! re-extracts only the top-level items an edit touched (tree-sitter's changed ranges widened to
//! whole items, see `extract`). Each batch of messages ends in one published snapshot: a
//! `RwLock<Arc<Snapshot>>` held for the time of an `Arc` clone. Requests read the latest snapshot
//! plus a scan near the cursor (the local provider's), so a keystroke never waits for the index.
//!
//! Files are one key space ([`FileKey`]): the absolute path for files on disk and for `file://`
//! URIs (so an open document overrides its on-disk version), the URI itself for anything else.
//! Documents with a line over [`LONG_LINE_BYTES`] (minified code), binary or oversized ones are
//! plain text: a bounded word scan, no parse.
//!
//! # API
//! ```text
//! Index::snapshot() -> Arc<Snapshot>
//! Snapshot::lookup(name) -> impl Iterator<Item = &Definition>     exact name, all files
//! Snapshot::definitions_in(&FileKey) -> &[Definition]              sorted by range.start
//! Snapshot::file(&FileKey) -> Option<&FileSymbols>                 names, imports, language
//! Snapshot::files() -> impl Iterator<Item = &FileKey>              for module-path resolution
//! Snapshot::search(query, limit) -> Vec<&Definition>               fuzzy, for workspace/symbol
//! Snapshot::with_prefix(prefix, family, exclude) -> Vec<NameHit>  identifiers across files
//! Definition { name, kind, file, range, line, signature, members, container }
//! FileKey::from_uri(uri) / FileKey::from_path(path) / FileKey::as_path()
//! family(language_id) -> Family                                   JS/TS and C/C++ share names
//! ```
//! Merging across files goes through one name index (`snapshot::Base`) rebuilt only now and then;
//! files changed since sit in a small overlay that lookups consult first.

mod extract;
mod indexer;
mod snapshot;
pub mod workspace;

use std::{fmt, ops::Range, path::Path, sync::Arc};

pub use crate::config::IndexConfig;
pub use extract::{FileSymbols, Import, MAX_SIGNATURE_BYTES, is_word_char, words};
pub use indexer::Index;
pub use snapshot::{IndexStats, NameHit, Snapshot};

/// A document with a line longer than this is treated as plain text (minified or generated code):
/// tree-sitter would take seconds on it and its symbols are noise.
pub const LONG_LINE_BYTES: usize = 10_000;
/// Plain-text documents contribute the words of at most this many bytes.
pub const PLAIN_SCAN_BYTES: usize = 2 * 1024 * 1024;

/// One file's identity in the index: an absolute path, or a non-file URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileKey(Arc<str>);

impl FileKey {
    /// `file://` URIs become their (percent-decoded) path, so an open document and its file on
    /// disk share one key; other schemes (`untitled:`) stay as they are.
    pub fn from_uri(uri: &str) -> FileKey {
        match crate::actions::edit::uri_to_path(uri) {
            Some(p) => FileKey::from_path(&p),
            None => FileKey(Arc::from(uri)),
        }
    }

    pub fn from_path(path: &Path) -> FileKey {
        FileKey(Arc::from(path.to_string_lossy().as_ref()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path, for keys of files (`None` for a non-file URI).
    pub fn as_path(&self) -> Option<&Path> {
        self.0.starts_with('/').then(|| Path::new(&*self.0))
    }

    /// The last path component, for labels.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

impl fmt::Display for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an identifier is, as far as the definitions query says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SymbolKind {
    Function,
    Method,
    Type,
    Constant,
    Module,
    Member,
    Macro,
    Word,
}

impl SymbolKind {
    /// From the `definition.<kind>` capture suffix of a definitions query.
    pub fn from_definition(kind: &str) -> SymbolKind {
        match kind {
            "function" => SymbolKind::Function,
            "method" => SymbolKind::Method,
            "type" | "class" | "interface" | "impl" => SymbolKind::Type,
            "constant" => SymbolKind::Constant,
            "module" => SymbolKind::Module,
            "member" | "field" => SymbolKind::Member,
            "macro" => SymbolKind::Macro,
            _ => SymbolKind::Word,
        }
    }
}

/// A name's statistics in one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymbolInfo {
    pub count: u32,
    pub kind: SymbolKind,
    pub defined: bool,
}

/// A definition found by a language's definitions query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub name: String,
    pub kind: SymbolKind,
    /// The query's `definition.<kind>` suffix as written (`impl`, `type`, `function`, ...).
    pub query_kind: String,
    pub file: FileKey,
    /// The whole definition, in bytes of its file.
    pub range: Range<usize>,
    /// Zero-based line of `range.start`.
    pub line: usize,
    /// Everything before the body: decorators, `export`, generics, the whole parameter list,
    /// the return type and `where` clauses; the whole text for items without a body (fields,
    /// constants, unit structs), at most [`MAX_SIGNATURE_BYTES`].
    pub signature: String,
    /// Signatures of the definitions directly inside this one: a struct's fields, a class's
    /// constructor and methods, an impl's functions, an enum's variants.
    pub members: Vec<String>,
    /// Name of the innermost definition around this one (the class of a method, the impl of a fn).
    pub container: Option<String>,
}

/// Languages that share identifiers: JavaScript and TypeScript import each other, C and C++
/// include each other; every other language is its own family.
pub type Family = &'static str;

pub fn family(language_id: &'static str) -> Family {
    match language_id {
        "javascript" | "typescript" | "typescriptreact" | "javascriptreact" => "web",
        "c" | "cpp" => "c",
        other => other,
    }
}
