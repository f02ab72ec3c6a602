//! Prompt context for inline completions, under a token budget, from several sources, each with
//! a priority and a share of the budget:
//! - the file's path, language and imports;
//! - workspace definitions the code at the cursor refers to ([`resolve`], through [`imports`]);
//! - snippets of open files like the code before the cursor ([`neighbours`]);
//! - the last edit hunks across files ([`edits`]);
//! - the code around the cursor, with the enclosing function or class kept whole when it fits.
//!
//! Stable parts come first (path, imports, definitions by how rarely they change, snippets, edits
//! outside the code window) and volatile parts last (prefix, suffix), so providers' prompt caches
//! hit while the user types. [`format`] lays the parts out per model family. Pure: no I/O; the
//! caches in [`Gatherer`] only remember what was computed from text the caller passed in.

pub mod edits;
pub mod format;
pub use crate::syntax::imports;
pub mod neighbours;
pub mod report;
pub mod resolve;
pub mod workspace;

use std::{
    collections::HashMap,
    hash::{Hash, Hasher},
    ops::Range,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use ropey::Rope;

use crate::{
    index::FileSymbols,
    syntax::{LanguageInfo, SyntaxTree},
};
use imports::Binding;
use resolve::{Def, Target, Tier, Workspace};

/// Rough size of a token in bytes of code; good enough to budget a prompt.
pub const BYTES_PER_TOKEN: usize = 4;

/// The estimated token count of `text`.
pub fn tokens(text: &str) -> usize {
    text.len().div_ceil(BYTES_PER_TOKEN)
}

/// Shares of the byte budget each source may take at most; what a source leaves goes to the code.
const IMPORTS_SHARE: usize = 10;
const DEFINITIONS_SHARE: usize = 45;
const NEIGHBOURS_SHARE: usize = 10;
const EDITS_SHARE: usize = 10;
/// Snippets from other open files, at most.
const MAX_NEIGHBOURS: usize = 3;
/// Member lines shown under a type.
const MEMBER_LINES: usize = 16;

/// Where a part of the prompt came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PartKind {
    Header,
    Imports,
    Definition,
    Neighbour,
    RecentEdit,
    Prefix,
    Suffix,
}

impl PartKind {
    /// Parts that come from other files (or other places of this one), not the code window.
    pub fn is_cross_file(self) -> bool {
        matches!(self, PartKind::Definition | PartKind::Neighbour | PartKind::RecentEdit)
    }
}

/// One labelled part of a prompt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Part {
    pub kind: PartKind,
    /// Where it is: `src/cart.py:12`, `src/util.py:40-59`.
    pub source: String,
    /// The file it belongs to, as shown (relative to the workspace when inside it).
    pub path: String,
    pub text: String,
    /// Estimated tokens of `text`.
    pub tokens: usize,
}

/// Every part of an inline prompt, in the order they are sent, and what formats need around them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Parts {
    /// The workspace folder's name (repo-level FIM formats).
    pub repo: String,
    pub path: String,
    pub language: String,
    /// The language's line comment (`//` when it has none).
    pub comment: String,
    /// Header, imports and cross-file parts, stable ones first.
    pub items: Vec<Part>,
    pub prefix: String,
    pub suffix: String,
    /// Zero-based lines where the prefix starts and the suffix ends.
    pub lines: (usize, usize),
}

/// What the engine knows about the document being completed.
pub struct Source<'a> {
    pub uri: &'a str,
    /// The file as the workspace index names it (an absolute path in the server).
    pub file: &'a str,
    /// The path shown to the model (relative to the workspace root when inside it).
    pub path: &'a str,
    pub repo: &'a str,
    pub language: &'a str,
    pub lang: Option<&'static LanguageInfo>,
    pub rope: &'a Rope,
    pub syntax: Option<&'a SyntaxTree>,
    /// The file's entry in the symbol index (its imports and names; a moment old while typing).
    pub symbols: Option<&'a FileSymbols>,
    pub offset: usize,
}

impl Source<'_> {
    fn import_texts(&self) -> Vec<String> {
        self.symbols.map(|s| s.imports.iter().map(|i| i.text.clone()).collect()).unwrap_or_default()
    }
}

/// The context sources for one request.
pub struct Sources<'a> {
    /// Workspace definitions (the index); `None` leaves resolution out.
    pub workspace: Option<&'a dyn Workspace>,
    /// The current file's import bindings (see [`Gatherer::imports`]).
    pub imports: &'a [Binding],
    /// Other open files for neighbour snippets, in a stable order.
    pub tabs: &'a [neighbours::Tab<'a>],
    /// Recent edit hunks, most recent first.
    pub edits: &'a [edits::EditHunk],
    /// Sources still gathering at this instant are cut short.
    pub deadline: Instant,
    /// How a file key or URI is shown (relative to the workspace root).
    pub show: &'a dyn Fn(&str) -> String,
}

/// The parts of an inline prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineContext {
    pub parts: Parts,
    /// The stable header in the instruct format (for chat providers).
    pub context: String,
    pub prefix: String,
    pub suffix: String,
    /// Where the prefix window starts and the suffix window ends, in document bytes.
    pub window: Range<usize>,
}

/// Builds the context for a completion at `src.offset` within `budget_tokens`.
pub fn inline(src: &Source<'_>, sources: &Sources<'_>, budget_tokens: usize) -> InlineContext {
    let budget = budget_tokens.max(64) * BYTES_PER_TOKEN;
    let len = src.rope.len_bytes();
    let offset = src.offset.min(len);
    let mut items = Vec::new();
    let mut used = 0;

    // Imports come from the symbol index (at most a moment old while typing): listed even when the
    // code window repeats them, because a header that changed as the window moved would make every
    // prompt a cache miss.
    let mut block = String::new();
    for text in &src.import_texts() {
        if block.len() + text.len() + 1 > budget * IMPORTS_SHARE / 100 {
            break;
        }
        block.push_str(text);
        block.push('\n');
    }
    if !block.is_empty() {
        used += block.len();
        items.push(part(PartKind::Imports, format!("imports of {}", src.path), src.path, block));
    }

    if let Some(ws) = sources.workspace {
        let defs = definitions(src, sources, ws, budget * DEFINITIONS_SHARE / 100);
        used += defs.iter().map(|p| p.text.len()).sum::<usize>();
        items.extend(defs);
    }

    if !sources.tabs.is_empty() && Instant::now() < sources.deadline {
        let q = neighbours::query(src.rope, offset);
        let mut room = budget * NEIGHBOURS_SHARE / 100;
        for s in neighbours::best(&q, sources.tabs, MAX_NEIGHBOURS, sources.deadline) {
            if s.text.len() > room {
                continue;
            }
            room -= s.text.len();
            used += s.text.len();
            let path = (sources.show)(&s.uri);
            let source = format!("{path}:{}-{}", s.lines.start + 1, s.lines.end);
            items.push(part(PartKind::Neighbour, source, &path, s.text));
        }
    }

    // The rest goes to the code, 70 % before the cursor and 30 % after, line-aligned; edits get
    // their share after, since those inside the window are left out.
    let edits_room = if sources.edits.is_empty() { 0 } else { budget * EDITS_SHARE / 100 };
    let code_budget = budget.saturating_sub(used + edits_room + 64).max(256);
    let window = code_window(src, offset, code_budget);
    let window_lines = src.rope.byte_to_line(window.start)..src.rope.byte_to_line(window.end) + 1;
    let mut room = edits_room;
    for h in sources.edits {
        let here = h.uri == src.uri;
        if here && h.lines.start < window_lines.end && window_lines.start < h.lines.end {
            continue; // in the code window already
        }
        if h.diff.len() > room {
            continue;
        }
        room -= h.diff.len();
        let path = (sources.show)(&h.uri);
        let source = format!("{path}:{}-{} (edited)", h.lines.start + 1, h.lines.end);
        items.push(part(PartKind::RecentEdit, source, &path, h.diff.clone()));
    }

    let comment = src.lang.and_then(|l| l.line_comment.clone()).unwrap_or_else(|| "//".into());
    let mut parts = Parts {
        repo: src.repo.to_owned(),
        path: src.path.to_owned(),
        language: src.language.to_owned(),
        comment,
        items: Vec::new(),
        prefix: crate::syntax::slice(src.rope, window.start..offset),
        suffix: crate::syntax::slice(src.rope, offset..window.end),
        lines: (src.rope.byte_to_line(window.start), src.rope.byte_to_line(window.end)),
    };
    let head = format!("path: {}\nlanguage: {}\n", src.path, src.language);
    parts.items.push(part(PartKind::Header, "file".into(), src.path, head));
    parts.items.extend(items);
    let context = format::by_name("instruct").map(|f| format::header(f, &parts)).unwrap_or_default();
    InlineContext { prefix: parts.prefix.clone(), suffix: parts.suffix.clone(), parts, context, window }
}

fn part(kind: PartKind, source: String, path: &str, text: String) -> Part {
    Part { kind, source, path: path.to_owned(), tokens: tokens(&text), text }
}

/// The code around the cursor: the enclosing function or class whole when it fits.
fn code_window(src: &Source<'_>, offset: usize, code_budget: usize) -> Range<usize> {
    let len = src.rope.len_bytes();
    let mut start = line_floor(src.rope, offset.saturating_sub(code_budget * 7 / 10));
    let mut end = line_ceil(src.rope, (offset + code_budget * 3 / 10).min(len));
    if let Some(tree) = src.syntax {
        for scope in tree.scopes_at(src.rope, offset) {
            if scope.end - scope.start > code_budget {
                break;
            }
            if scope.start < start || scope.end > end {
                let spare = code_budget - (scope.end - scope.start);
                start = line_floor(src.rope, scope.start.saturating_sub(spare * 7 / 10)).min(scope.start);
                end = line_ceil(src.rope, (scope.end + spare * 3 / 10).min(len)).max(scope.end);
            }
        }
    }
    start.min(offset)..end.max(offset)
}

/// Resolved definitions as parts, chosen most needed first under `room` bytes and laid out
/// most stable first: what the imports bring, then the scope's names, then the callee.
fn definitions(src: &Source<'_>, sources: &Sources<'_>, ws: &dyn Workspace, room: usize) -> Vec<Part> {
    let defined_here = |n: &str| src.symbols.and_then(|s| s.names.get(n)).is_some_and(|s| s.defined);
    let target = Target {
        file: src.file,
        lang: src.lang,
        rope: src.rope,
        syntax: src.syntax,
        offset: src.offset,
        imports: sources.imports,
        defined_here: &defined_here,
    };
    let wanted = resolve::wanted(&target);
    let resolved = resolve::resolve(&target, &wanted, ws);
    let mut chosen: Vec<(Tier, usize, Part)> = Vec::new();
    let mut left = room;
    // No deadline here: resolution is a few dozen hash lookups, and the part most worth having.
    for (rank, r) in resolved.into_iter().enumerate() {
        let text = def_text(&r.def, true);
        let text = if text.len() > left { def_text(&r.def, false) } else { text };
        if text.len() > left {
            continue;
        }
        left -= text.len();
        let path = (sources.show)(&r.def.file);
        let source = format!("{path}:{}", r.def.line + 1);
        chosen.push((r.wanted.tier, rank, part(PartKind::Definition, source, &path, text)));
    }
    chosen.sort_by_key(|(tier, rank, _)| (std::cmp::Reverse(*tier), *rank));
    chosen.into_iter().map(|(_, _, p)| p).collect()
}

/// A definition as the prompt shows it: the whole signature, then a type's members indented.
fn def_text(def: &Def, with_members: bool) -> String {
    let mut text = def.signature.clone();
    text.push('\n');
    if with_members {
        for m in def.members.iter().take(MEMBER_LINES) {
            text.push_str("    ");
            text.push_str(m);
            text.push('\n');
        }
    }
    text
}

fn line_floor(rope: &Rope, byte: usize) -> usize {
    let byte = byte.min(rope.len_bytes());
    rope.line_to_byte(rope.byte_to_line(byte))
}

fn line_ceil(rope: &Rope, byte: usize) -> usize {
    let byte = byte.min(rope.len_bytes());
    let line = rope.byte_to_line(byte);
    if line + 1 >= rope.len_lines() { rope.len_bytes() } else { rope.line_to_byte(line + 1) }
}

/// How long the context sources may take on the typing path before they are cut short.
pub const GATHER_DEADLINE: std::time::Duration = std::time::Duration::from_millis(6);

/// Another open document, as context gathering sees it (cheap clones of the engine's state).
pub struct OpenFile {
    pub uri: String,
    pub version: i32,
    pub rope: Rope,
}

/// The file key of a URI: its (percent-decoded) path for `file://` URIs, the URI itself otherwise.
pub fn file_of(uri: &str) -> String {
    match crate::actions::edit::uri_to_path(uri) {
        Some(p) => p.to_string_lossy().into_owned(),
        None => uri.to_owned(),
    }
}

/// How a file is shown to the model: relative to the workspace root when inside it.
pub fn shown(root: Option<&str>, file_or_uri: &str) -> String {
    let file = if file_or_uri.contains("://") { file_of(file_or_uri) } else { file_or_uri.to_owned() };
    match root.and_then(|r| file.strip_prefix(r.trim_end_matches('/'))).and_then(|rest| rest.strip_prefix('/')) {
        Some(rel) => rel.to_owned(),
        None => file,
    }
}

/// Imports cached for this many distinct import blocks before the cache starts over.
const MAX_CACHED_IMPORTS: usize = 128;

/// What context gathering remembers between requests: the recent-edit ring, neighbour windows
/// per file version, import bindings per import block. Definitions are the index's: nothing here
/// parses a whole file.
#[derive(Debug, Default)]
pub struct Gatherer {
    pub edits: edits::RecentEdits,
    pub windows: neighbours::WindowCache,
    imports: Mutex<HashMap<u64, Arc<Vec<Binding>>>>,
    /// In the server: a language whose queries are still compiling gives no import bindings
    /// (for a moment after the first document opens) rather than a request waiting for them.
    never_wait: AtomicBool,
}

impl Gatherer {
    /// Requests never wait for a language's queries to compile (see [`LanguageInfo::warm`]).
    pub fn never_wait(&self) {
        self.never_wait.store(true, Ordering::Relaxed);
    }

    /// The bindings of a file's import statements (the symbol index's), parsed once per distinct
    /// block: a tiny parse of the statements alone, not a query over the whole file.
    pub fn imports(&self, lang: Option<&'static LanguageInfo>, statements: &[String]) -> Arc<Vec<Binding>> {
        let Some(lang) = lang.filter(|l| l.has_grammar()) else { return Arc::default() };
        if !lang.queries_ready() && self.never_wait.load(Ordering::Relaxed) {
            lang.warm();
            return Arc::default(); // not cached: the next request has them
        }
        let text = statements.join("\n");
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (&lang.id, &text).hash(&mut h);
        let key = h.finish();
        let mut cache = self.imports.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = cache.get(&key) {
            return b.clone();
        }
        let rope = Rope::from_str(&text);
        let bindings =
            Arc::new(SyntaxTree::parse(lang, &rope).map(|t| imports::bindings(&t, &rope, 256)).unwrap_or_default());
        if cache.len() >= MAX_CACHED_IMPORTS {
            cache.clear();
        }
        cache.insert(key, bindings.clone());
        bindings
    }

    /// The context for a completion in `src`, from the workspace index (definitions of open and
    /// on-disk files, when there is one), the other open documents (neighbour snippets) and the
    /// recent edits of documents
    /// `may_send` allows, within [`GATHER_DEADLINE`]. `open` must hold only documents that may be
    /// sent.
    pub fn inline(
        &self,
        src: &Source<'_>,
        open: &[OpenFile],
        index: Option<&dyn Workspace>,
        may_send: &dyn Fn(&str) -> bool,
        root: Option<&str>,
        budget_tokens: usize,
    ) -> InlineContext {
        let imports = self.imports(src.lang, &src.import_texts());
        let show = |f: &str| shown(root, f);
        let tabs: Vec<neighbours::Tab<'_>> = open
            .iter()
            .map(|o| neighbours::Tab {
                uri: &o.uri,
                rope: &o.rope,
                windows: self.windows.windows(&o.uri, o.version, &o.rope),
            })
            .collect();
        let mut edits = self.edits.hunks();
        edits.retain(|h| may_send(&h.uri));
        // The optional sources (neighbour snippets) share what is left of the deadline.
        let deadline = Instant::now() + GATHER_DEADLINE;
        let sources =
            Sources { workspace: index, imports: &imports, tabs: &tabs, edits: &edits, deadline, show: &show };
        inline(src, &sources, budget_tokens)
    }

    /// Forgets what was cached of a closed document.
    pub fn forget(&self, uri: &str) {
        self.windows.forget(uri);
        self.edits.forget(uri);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::syntax::Languages;

    struct Doc {
        rope: Rope,
        syntax: Option<SyntaxTree>,
        symbols: FileSymbols,
        lang: &'static LanguageInfo,
    }

    fn doc(lang: &str, text: &str) -> Doc {
        let lang = Languages::global().by_id(lang).unwrap();
        let rope = Rope::from_str(text);
        let syntax = SyntaxTree::parse(lang, &rope);
        let key = crate::index::FileKey::from_path(std::path::Path::new("/w/doc"));
        let symbols = FileSymbols::build(key, Some(1), Some(lang), &rope, syntax.as_ref(), true);
        Doc { rope, syntax, symbols, lang }
    }

    /// Context at `$0` of `fixture` (file `/w/src/main.<ext>`), with `others` as the workspace.
    fn build(lang: &str, fixture: &str, others: &[(&str, &str)], budget: usize) -> InlineContext {
        let offset = fixture.find("$0").expect("cursor");
        let d = doc(lang, &fixture.replace("$0", ""));
        let g = Gatherer::default();
        let ws = crate::index::Snapshot::of(others.iter().map(|(file, text)| {
            let rope = Rope::from_str(text);
            let syntax = SyntaxTree::parse(d.lang, &rope);
            let key = crate::index::FileKey::from_path(std::path::Path::new(file));
            FileSymbols::build(key, None, Some(d.lang), &rope, syntax.as_ref(), false)
        }));
        let imports = g.imports(Some(d.lang), &d.symbols.imports.iter().map(|i| i.text.clone()).collect::<Vec<_>>());
        let show = |f: &str| f.strip_prefix("/w/").unwrap_or(f).to_owned();
        let sources = Sources {
            workspace: Some(&ws),
            imports: &imports,
            tabs: &[],
            edits: &[],
            deadline: Instant::now() + Duration::from_secs(5),
            show: &show,
        };
        let ext = d.lang.extensions[0].clone();
        let file = format!("/w/src/main.{ext}");
        let src = Source {
            uri: "file:///w/src/main",
            file: &file,
            path: &file[3..],
            repo: "w",
            language: lang,
            lang: Some(d.lang),
            rope: &d.rope,
            syntax: d.syntax.as_ref(),
            symbols: Some(&d.symbols),
            offset,
        };
        inline(&src, &sources, budget)
    }

    #[test]
    fn stable_header_then_code_around_the_cursor() {
        let ctx = build(
            "rust",
            "use crate::cart::Cart;\n\nfn main() {\n    let c = Cart::new();\n    let t = total_price(&c$0);\n}\n",
            &[(
                "/w/src/cart.rs",
                "pub fn total_price(cart: &Cart) -> u32 {\n    0\n}\npub struct Cart {\n    items: u32,\n}\n",
            )],
            1500,
        );
        assert_eq!(
            ctx.context,
            "path: src/main.rs\nlanguage: rust\nimports:\nuse crate::cart::Cart;\n\
             definitions the code uses, from the workspace:\n\
             // src/cart.rs:4\npub struct Cart\n    items: u32\n\
             // src/cart.rs:1\npub fn total_price(cart: &Cart) -> u32\n"
        );
        assert!(ctx.prefix.ends_with("total_price(&c"));
        assert_eq!(ctx.suffix, ");\n}\n");
        let kinds: Vec<PartKind> = ctx.parts.items.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, [PartKind::Header, PartKind::Imports, PartKind::Definition, PartKind::Definition]);
        assert_eq!(ctx.parts.items[3].tokens, tokens(&ctx.parts.items[3].text));
    }

    #[test]
    fn imports_choose_between_namesakes_in_other_files() {
        let ctx = build(
            "python",
            "from .signing import sign\n\ndef run(value):\n    return sign($0",
            &[
                ("/w/src/signing.py", "def sign(value, key, *, salt=b'x', sep=b'.'):\n    pass\n"),
                ("/w/src/other/sign.py", "def sign(data):\n    pass\n"),
            ],
            1500,
        );
        assert!(ctx.context.contains("def sign(value, key, *, salt=b'x', sep=b'.'):"), "{}", ctx.context);
        let first = ctx.context.find("signing.py").unwrap();
        assert!(ctx.context.find("other/sign.py").is_none_or(|o| o > first), "{}", ctx.context);
    }

    #[test]
    fn consecutive_keystrokes_share_the_whole_header() {
        let others = [("/w/src/cart.rs", "pub fn total_price(cart: &Cart, rate: u32) -> u32 {\n    0\n}\n")];
        let a = build("rust", "fn main() {\n    let t = total_price(&c, ra$0);\n}\n", &others, 1500);
        let b = build("rust", "fn main() {\n    let t = total_price(&c, rat$0);\n}\n", &others, 1500);
        assert!(a.context.contains("total_price(cart: &Cart, rate: u32)"));
        assert_eq!(a.context, b.context);
        assert_eq!(a.parts.items, b.parts.items);
    }

    #[test]
    fn the_enclosing_function_is_kept_whole_within_budget() {
        let mut text = String::new();
        for i in 0..200 {
            text.push_str(&format!("def filler_{i}():\n    return {i}\n\n"));
        }
        text.push_str("def target(a, b):\n    x = a + b\n    $0\n    return x * 2\n\n");
        for i in 0..200 {
            text.push_str(&format!("def after_{i}():\n    return {i}\n\n"));
        }
        let ctx = build("python", &text, &[], 200);
        assert!(ctx.prefix.contains("def target(a, b):"), "{}", ctx.prefix);
        assert!(ctx.suffix.contains("return x * 2"));
        assert!(ctx.prefix.len() + ctx.suffix.len() + ctx.context.len() <= 200 * BYTES_PER_TOKEN + 64);
    }

    #[test]
    fn multibyte_text_before_the_cursor_does_not_shift_the_split() {
        let ctx = build("python", "s = '😀中文'\nvalue = compu$0te()\n", &[], 500);
        assert!(ctx.prefix.ends_with("value = compu"));
        assert!(ctx.suffix.starts_with("te()"));
    }
}
