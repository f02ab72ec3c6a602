//! Tree-sitter syntax: the language table from `grammars/`, incremental parsing of open documents,
//! and the queries (definitions, imports, scopes, identifiers) that context building and the local
//! provider read.
//!
//! Languages are data: `grammars/languages.toml` maps LSP language ids and file extensions to a
//! grammar and a folder of queries. A language without a grammar, or a query that fails to compile,
//! degrades to plain text for that feature only, with the reason kept for `doctor`.

mod grammars;
pub mod imports;
pub mod outline;
mod embedded {
    include!(concat!(env!("OUT_DIR"), "/queries.rs"));
}

use std::{
    cell::RefCell,
    collections::{HashMap, HashSet},
    ops::{ControlFlow, Range},
    sync::{
        LazyLock, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use ropey::Rope;
use serde::Deserialize;
use streaming_iterator::StreamingIterator;
use tree_sitter::{InputEdit, Node, Parser, Point, Query, QueryCursor, TextProvider, Tree};

use crate::documents::ByteEdit;

/// Files larger than this are kept as plain text: parsing them would stall the editor for seconds.
pub const MAX_PARSE_BYTES: usize = 16 * 1024 * 1024;
/// A parse that takes longer than this (a pathological file) is abandoned; the document stays text.
const PARSE_TIME_LIMIT: Duration = Duration::from_secs(2);

const LANGUAGE_TABLE: &str = include_str!("../../grammars/languages.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LanguageTable {
    language: Vec<LanguageEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LanguageEntry {
    id: String,
    #[serde(default)]
    aliases: Vec<String>,
    grammar: Option<String>,
    queries: Option<String>,
    #[serde(default)]
    extensions: Vec<String>,
    line_comment: Option<String>,
    #[serde(default)]
    standalone: Vec<String>,
    #[serde(default)]
    standalone_statements: Vec<String>,
    #[serde(default)]
    modules: ModuleRules,
}

/// How a language's import paths map to workspace files (`[language.modules]`), for prompt context.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleRules {
    /// Between the segments of a module path: "." (Python), "::" (Rust), "/" (JS/TS).
    #[serde(default)]
    pub separator: String,
    /// File names a module may live in; `{}` is its path with `/` between segments.
    #[serde(default)]
    pub files: Vec<String>,
    /// First segments meaning the package root, the current module and its parent.
    #[serde(default)]
    pub root: Vec<String>,
    #[serde(default)]
    pub current: Vec<String>,
    #[serde(default)]
    pub parent: Vec<String>,
    /// Files whose directory is the package root (Rust: lib.rs, main.rs).
    #[serde(default)]
    pub root_files: Vec<String>,
    /// Files that are their directory's module (mod.rs, __init__.py).
    #[serde(default)]
    pub index_files: Vec<String>,
    /// Leading dots are relative to the importing package (Python).
    #[serde(default)]
    pub leading_dots: bool,
    /// Specifiers are paths relative to the importing file when they start with `.` (JS/TS).
    #[serde(default)]
    pub path_like: bool,
    /// Extensions a specifier may spell that the file does not have (`./x.js` for `x.ts`).
    #[serde(default)]
    pub strip: Vec<String>,
}

/// The four query kinds, by file name under `grammars/queries/<lang>/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryKind {
    /// `@definition.<kind>` around a definition, `@name` on its name.
    Definitions,
    /// `@import` on each import statement.
    Imports,
    /// `@scope` on each function, class or other enclosing item.
    Scopes,
    /// `@identifier` on each identifier-like token.
    Identifiers,
}

impl QueryKind {
    pub const ALL: [QueryKind; 4] =
        [QueryKind::Definitions, QueryKind::Imports, QueryKind::Scopes, QueryKind::Identifiers];

    pub fn file_stem(self) -> &'static str {
        match self {
            QueryKind::Definitions => "definitions",
            QueryKind::Imports => "imports",
            QueryKind::Scopes => "scopes",
            QueryKind::Identifiers => "identifiers",
        }
    }
}

/// One language from the table, with its grammar and lazily compiled queries.
pub struct LanguageInfo {
    pub id: String,
    pub aliases: Vec<String>,
    pub extensions: Vec<String>,
    pub line_comment: Option<String>,
    /// Node kinds that parse on their own even when nested (a Rust `function_item` in an `impl`):
    /// the syntax gate may check a completion inside one without reparsing the whole file.
    pub standalone: Vec<String>,
    /// Node kinds inside a body that parse on their own too (a statement, a block): the syntax gate
    /// first checks a completion inside the innermost one, and judges again by `standalone` (or the
    /// whole file) only what that rejects — a suggestion that closes the block it started in, say.
    pub standalone_statements: Vec<String>,
    pub modules: ModuleRules,
    pub grammar_name: Option<String>,
    queries_dir: String,
    grammar: Option<tree_sitter::Language>,
    queries: OnceLock<CompiledQueries>,
    /// A background compile of `queries` has been started (see [`LanguageInfo::warm`]).
    warming: AtomicBool,
    keywords: OnceLock<HashSet<String>>,
}

#[derive(Default)]
struct CompiledQueries {
    by_kind: HashMap<QueryKind, Query>,
    errors: Vec<String>,
}

impl std::fmt::Debug for LanguageInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanguageInfo").field("id", &self.id).finish_non_exhaustive()
    }
}

impl LanguageInfo {
    pub fn has_grammar(&self) -> bool {
        self.grammar.is_some()
    }

    fn compiled(&self) -> &CompiledQueries {
        self.queries.get_or_init(|| {
            let mut compiled = CompiledQueries::default();
            let Some(grammar) = &self.grammar else { return compiled };
            for kind in QueryKind::ALL {
                let source = embedded::QUERY_FILES
                    .iter()
                    .find(|(dir, name, _)| *dir == self.queries_dir && *name == kind.file_stem())
                    .map(|(_, _, src)| *src);
                let Some(source) = source else { continue };
                match Query::new(grammar, source) {
                    Ok(q) => {
                        compiled.by_kind.insert(kind, q);
                    }
                    Err(e) => {
                        let msg = format!(
                            "grammars/queries/{}/{}.scm:{}:{}: {}",
                            self.queries_dir,
                            kind.file_stem(),
                            e.row + 1,
                            e.column + 1,
                            e.message
                        );
                        tracing::error!("{msg}");
                        compiled.errors.push(msg);
                    }
                }
            }
            compiled
        })
    }

    /// The grammar's keywords: its anonymous tokens that look like words (`fn`, `let`, `def`),
    /// read from the grammar itself, so a lexical scan can tell them from names.
    pub fn keywords(&self) -> &HashSet<String> {
        self.keywords.get_or_init(|| {
            let Some(grammar) = &self.grammar else { return HashSet::new() };
            (0..grammar.node_kind_count())
                .filter_map(|id| u16::try_from(id).ok())
                .filter(|&id| !grammar.node_kind_is_named(id))
                .filter_map(|id| grammar.node_kind_for_id(id))
                .filter(|k| k.chars().all(|c| c.is_alphanumeric() || c == '_') && !k.is_empty())
                .map(str::to_owned)
                .collect()
        })
    }

    /// Whether the queries are compiled. Compiling a language's queries takes tens of
    /// milliseconds (50 ms for Rust), once per process; whoever needs them first waits for it.
    pub fn queries_ready(&self) -> bool {
        self.grammar.is_none() || self.queries.get().is_some()
    }

    /// Starts compiling the queries on a background thread, unless they are compiled or being
    /// compiled, so that the first request in this language finds them ready.
    pub fn warm(&'static self) {
        if self.queries_ready() || self.warming.swap(true, Ordering::SeqCst) {
            return;
        }
        let spawned = crate::threads::spawn_background("switchboard-queries", move || {
            self.compiled();
        });
        if let Err(e) = spawned {
            // The first user of the queries compiles them instead.
            tracing::debug!("cannot start a thread to compile the {} queries: {e}", self.id);
        }
    }

    pub fn query(&self, kind: QueryKind) -> Option<&Query> {
        self.compiled().by_kind.get(&kind)
    }

    /// The `kind` query if the queries are compiled already; never waits.
    pub fn ready_query(&self, kind: QueryKind) -> Option<&Query> {
        self.queries.get()?.by_kind.get(&kind)
    }

    /// Query compile errors (file:line:col: message), empty when all is well.
    pub fn query_errors(&self) -> &[String] {
        &self.compiled().errors
    }
}

/// The language table.
pub struct Languages {
    list: Vec<LanguageInfo>,
    pub errors: Vec<String>,
}

static LANGUAGES: LazyLock<Languages> = LazyLock::new(|| Languages::from_toml(LANGUAGE_TABLE));

impl Languages {
    pub fn global() -> &'static Languages {
        &LANGUAGES
    }

    fn from_toml(text: &str) -> Languages {
        let table: LanguageTable = match toml::from_str(text) {
            Ok(t) => t,
            Err(e) => {
                return Languages { list: Vec::new(), errors: vec![format!("grammars/languages.toml: {e}")] };
            }
        };
        let mut errors = Vec::new();
        let list = table
            .language
            .into_iter()
            .map(|entry| {
                let grammar = entry.grammar.as_deref().and_then(grammars::grammar);
                if let (Some(name), None) = (&entry.grammar, &grammar) {
                    errors.push(format!(
                        "grammars/languages.toml: language {} names grammar {name:?}, which is not in the grammar table",
                        entry.id
                    ));
                }
                LanguageInfo {
                    queries_dir: entry.queries.clone().or(entry.grammar.clone()).unwrap_or_else(|| entry.id.clone()),
                    id: entry.id,
                    aliases: entry.aliases,
                    extensions: entry.extensions,
                    line_comment: entry.line_comment,
                    standalone: entry.standalone,
                    standalone_statements: entry.standalone_statements,
                    modules: entry.modules,
                    grammar_name: entry.grammar,
                    grammar,
                    queries: OnceLock::new(),
                    warming: AtomicBool::new(false),
                    keywords: OnceLock::new(),
                }
            })
            .collect();
        Languages { list, errors }
    }

    pub fn iter(&self) -> impl Iterator<Item = &LanguageInfo> {
        self.list.iter()
    }

    pub fn by_id(&self, id: &str) -> Option<&LanguageInfo> {
        self.list.iter().find(|l| l.id == id || l.aliases.iter().any(|a| a == id))
    }

    pub fn by_path(&self, path: &str) -> Option<&LanguageInfo> {
        let ext = path.rsplit_once('.').map(|(_, e)| e)?;
        self.list.iter().find(|l| l.extensions.iter().any(|e| e.eq_ignore_ascii_case(ext)))
    }

    /// The editor's language id wins; the file extension is the fallback (e.g. for the CLI).
    pub fn resolve(&self, language_id: &str, path: &str) -> Option<&LanguageInfo> {
        self.by_id(language_id).or_else(|| self.by_path(path))
    }

    pub fn grammar_names() -> impl Iterator<Item = &'static str> {
        grammars::names()
    }
}

thread_local! {
    static PARSERS: RefCell<HashMap<String, Parser>> = RefCell::new(HashMap::new());
}

/// A document's syntax tree, kept in step with its text by incremental reparsing.
#[derive(Clone)]
pub struct SyntaxTree {
    pub lang: &'static LanguageInfo,
    tree: Tree,
    /// False on the server's typing path while the language's queries compile: query-based
    /// lookups then find nothing instead of waiting (see [`SyntaxTree::without_waiting`]).
    wait_for_queries: bool,
}

impl std::fmt::Debug for SyntaxTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyntaxTree").field("lang", &self.lang.id).finish_non_exhaustive()
    }
}

fn parse_rope(lang: &LanguageInfo, rope: &Rope, old: Option<&Tree>) -> Option<Tree> {
    let grammar = lang.grammar.as_ref()?;
    if rope.len_bytes() > MAX_PARSE_BYTES {
        return None;
    }
    PARSERS.with(|parsers| {
        let mut parsers = parsers.borrow_mut();
        let parser = match parsers.entry(lang.id.clone()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let mut p = Parser::new();
                p.set_language(grammar).ok()?;
                v.insert(p)
            }
        };
        let started = Instant::now();
        let mut progress = |_: &tree_sitter::ParseState| {
            if started.elapsed() > PARSE_TIME_LIMIT { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        };
        let options = tree_sitter::ParseOptions::new().progress_callback(&mut progress);
        let mut read = |byte: usize, _: Point| -> &[u8] {
            if byte >= rope.len_bytes() {
                return &[];
            }
            let (chunk, chunk_start, _, _) = rope.chunk_at_byte(byte);
            &chunk.as_bytes()[byte - chunk_start..]
        };
        let tree = parser.parse_with_options(&mut read, old, Some(options));
        if tree.is_none() {
            // An abandoned parse leaves the parser mid-way; reset it for the next document.
            parser.reset();
        }
        tree
    })
}

impl SyntaxTree {
    /// Parses a whole document; `None` for plain text, binary-looking, oversized or pathological input.
    pub fn parse(lang: &'static LanguageInfo, rope: &Rope) -> Option<SyntaxTree> {
        parse_rope(lang, rope, None).map(|tree| SyntaxTree { lang, tree, wait_for_queries: true })
    }

    /// Applies the edits to the old tree and reparses with it, reusing every unchanged subtree.
    /// Returns false when the document can no longer be parsed (it then degrades to plain text).
    pub fn update(&mut self, edits: &[ByteEdit], rope: &Rope) -> bool {
        self.edit(edits);
        self.reparse(rope)
    }

    /// Moves the old tree's nodes to where the edits put the text (cheap: no parsing).
    pub fn edit(&mut self, edits: &[ByteEdit]) {
        for e in edits {
            self.tree.edit(&input_edit(e));
        }
    }

    /// Reparses after [`SyntaxTree::edit`], reusing every unchanged subtree; false when the text
    /// can no longer be parsed.
    pub fn reparse(&mut self, rope: &Rope) -> bool {
        match parse_rope(self.lang, rope, Some(&self.tree)) {
            Some(tree) => {
                self.tree = tree;
                true
            }
            None => false,
        }
    }

    /// This tree, with query-based lookups (scopes, identifiers, definitions, imports) that find
    /// nothing until the language's queries are compiled, rather than wait for them. Structure
    /// (errors, nodes) is all there: the syntax gate still judges a suggestion.
    pub fn without_waiting(mut self) -> Self {
        self.wait_for_queries = false;
        self
    }

    /// The language's `kind` query, unless it is still compiling and this tree does not wait.
    pub(crate) fn query(&self, kind: QueryKind) -> Option<&'static Query> {
        if self.wait_for_queries { self.lang.query(kind) } else { self.lang.ready_query(kind) }
    }

    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    pub fn root(&self) -> Node<'_> {
        self.tree.root_node()
    }

    /// Number of ERROR and MISSING nodes (the syntax gate compares this before and after an edit).
    pub fn error_count(&self) -> usize {
        count_errors(self.tree.root_node())
    }

    /// ERROR nodes that start inside `range` (bytes). Not counted: MISSING nodes, and ERROR nodes
    /// that start before the range and wrap it — both are what a half-written block looks like
    /// (its closer is still to come), not text that cannot parse.
    pub fn errors_in(&self, range: Range<usize>) -> usize {
        let end = range.end.max(range.start + 1);
        fn walk(node: Node<'_>, start: usize, end: usize) -> usize {
            if !node.has_error() || node.end_byte() < start || node.start_byte() >= end {
                return 0;
            }
            let own = usize::from(node.is_error() && node.start_byte() >= start);
            let mut cursor = node.walk();
            own + node.children(&mut cursor).map(|c| walk(c, start, end)).sum::<usize>()
        }
        walk(self.tree.root_node(), range.start, end)
    }

    /// Runs `kind`'s query over `range` (bytes) and calls `f(capture name, node)` per capture.
    pub fn for_each_capture(
        &self,
        rope: &Rope,
        kind: QueryKind,
        range: Option<Range<usize>>,
        mut f: impl FnMut(&str, Node<'_>),
    ) {
        let Some(query) = self.query(kind) else { return };
        let mut cursor = QueryCursor::new();
        if let Some(r) = range {
            cursor.set_byte_range(r);
        }
        let names = query.capture_names();
        let mut matches = cursor.matches(query, self.tree.root_node(), RopeText(rope));
        while let Some(m) = matches.next() {
            for c in m.captures() {
                if let Some(name) = names.get(c.index as usize)
                    && !name.starts_with('_')
                {
                    f(name, c.node);
                }
            }
        }
    }

    /// Definitions in the document (or in `range`).
    pub fn definitions(&self, rope: &Rope, range: Option<Range<usize>>) -> Vec<Definition> {
        let mut out = Vec::new();
        self.for_each_definition(rope, range, |kind, name, node| {
            out.push(Definition {
                name: slice(rope, name.byte_range()),
                kind: kind.to_owned(),
                range: node.byte_range(),
                name_range: name.byte_range(),
            });
        });
        out
    }

    /// Runs the definitions query over the document (or `range`) and calls
    /// `f(kind, name node, definition node)` per match (`kind` without its `definition.` prefix).
    pub fn for_each_definition(
        &self,
        rope: &Rope,
        range: Option<Range<usize>>,
        mut f: impl FnMut(&str, Node<'_>, Node<'_>),
    ) {
        let Some(query) = self.query(QueryKind::Definitions) else { return };
        let names = query.capture_names();
        let mut cursor = QueryCursor::new();
        if let Some(r) = range {
            cursor.set_byte_range(r);
        }
        let mut matches = cursor.matches(query, self.tree.root_node(), RopeText(rope));
        while let Some(m) = matches.next() {
            let mut name = None;
            let mut def = None;
            for c in m.captures() {
                match names.get(c.index as usize).copied() {
                    Some("name") => name = Some(c.node),
                    Some(n) if n.starts_with("definition.") => def = Some((n, c.node)),
                    _ => {}
                }
            }
            if let (Some(name), Some((kind, node))) = (name, def) {
                f(kind.trim_start_matches("definition."), name, node);
            }
        }
    }

    /// Byte ranges where this tree and `new` (a reparse of this edited tree) differ in structure.
    pub fn changed_ranges(&self, new: &SyntaxTree) -> Vec<Range<usize>> {
        self.tree.changed_ranges(&new.tree).map(|r| r.start_byte..r.end_byte).collect()
    }

    /// Byte ranges of import statements.
    pub fn imports(&self, rope: &Rope) -> Vec<Range<usize>> {
        self.imports_in(rope, None)
    }

    /// Byte ranges of import statements that overlap `range` (all without one).
    pub fn imports_in(&self, rope: &Rope, range: Option<Range<usize>>) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        self.for_each_capture(rope, QueryKind::Imports, range, |name, node| {
            if name == "import" {
                out.push(node.byte_range());
            }
        });
        out
    }

    /// Enclosing scopes (functions, classes, ...) of a byte offset, innermost first.
    pub fn scopes_at(&self, rope: &Rope, byte: usize) -> Vec<Range<usize>> {
        // Only the nodes on the way down to `byte` can hold it, and scope patterns match a node
        // on its own: the query runs at each of them without descending (a query cursor given
        // only a byte range would step through every statement of a long body before the cursor).
        let mut out = Vec::new();
        let Some(query) = self.query(QueryKind::Scopes) else { return out };
        let Some(wanted) = query.capture_index_for_name("scope") else { return out };
        let mut cursor = QueryCursor::new();
        cursor.set_max_start_depth(Some(0));
        // The nodes holding the character before `byte` (a scope may end at it) or the one after
        // it, found by descending from the root: `Node::parent` would search down from the root
        // again for every step up.
        let mut path: Vec<Node<'_>> = Vec::new();
        for (lo, hi) in [(byte.saturating_sub(1), byte), (byte, byte.saturating_add(1))] {
            let mut walk = self.tree.walk();
            loop {
                let n = walk.node();
                if !path.iter().any(|p| p.id() == n.id()) {
                    path.push(n);
                }
                if !goto_child_holding(&mut walk, lo, hi, false) {
                    break;
                }
            }
        }
        for n in path {
            let mut matches = cursor.matches(query, n, RopeText(rope));
            while let Some(m) = matches.next() {
                for c in m.captures().iter().filter(|c| c.index == wanted) {
                    let r = c.node.byte_range();
                    if r.start <= byte && byte <= r.end {
                        out.push(r);
                    }
                }
            }
        }
        out.sort_by_key(|r| (r.end - r.start, r.start));
        out.dedup();
        out
    }

    /// Identifier tokens (text and start byte) in `range`. The query runs over the few nodes that
    /// cover the range, not from the root: a query cursor given only a byte range still steps
    /// through every sibling before it (a long function body: ~0.3 µs a statement).
    pub fn identifiers(&self, rope: &Rope, range: Option<Range<usize>>, mut f: impl FnMut(String, usize)) {
        let Some(range) = range else {
            return self.for_each_capture(rope, QueryKind::Identifiers, None, |name, node| {
                if name == "identifier" {
                    f(slice(rope, node.byte_range()), node.start_byte());
                }
            });
        };
        if range.is_empty() {
            return; // (a query cursor would read an empty range at 0 as the whole file)
        }
        let Some(query) = self.query(QueryKind::Identifiers) else { return };
        let Some(wanted) = query.capture_index_for_name("identifier") else { return };
        let mut cursor = QueryCursor::new();
        cursor.set_byte_range(range.clone());
        for node in self.covering(range) {
            let mut matches = cursor.matches(query, node, RopeText(rope));
            while let Some(m) = matches.next() {
                for c in m.captures().iter().filter(|c| c.index == wanted) {
                    f(slice(rope, c.node.byte_range()), c.node.start_byte());
                }
            }
        }
    }

    /// The nodes whose subtrees hold all of `range` (not empty): the children of the deepest node
    /// holding the whole range that overlap it (that node itself when it has none). Only for queries whose
    /// patterns match within one such node (single tokens: identifiers).
    fn covering(&self, range: Range<usize>) -> Vec<Node<'_>> {
        let mut cursor = self.tree.walk();
        while goto_child_holding(&mut cursor, range.start, range.end, false) {}
        let deepest = cursor.node();
        let mut out = Vec::new();
        if cursor.goto_first_child_for_byte(range.start).is_some() {
            loop {
                let child = cursor.node();
                if child.start_byte() >= range.end {
                    break;
                }
                out.push(child);
                if !cursor.goto_next_sibling() {
                    break;
                }
            }
        }
        if out.is_empty() {
            out.push(deepest);
        }
        out
    }
}

/// A definition found by the definitions query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub name: String,
    /// The `definition.<kind>` suffix: function, type, method, constant, module, member, ...
    pub kind: String,
    pub range: Range<usize>,
    pub name_range: Range<usize>,
}

/// Moves `cursor` to the child of its node that holds `start..end` (the first, when two touch at
/// `start`); false, the cursor unmoved, when none does. The children before `start` are skipped by
/// their sizes, not visited one by one: a function body may hold thousands of statements.
pub fn goto_child_holding(cursor: &mut tree_sitter::TreeCursor<'_>, start: usize, end: usize, named: bool) -> bool {
    // The first child that ends at or after `start`: one ending exactly there still holds a cursor
    // at its end (`let x = 1;|`).
    if cursor.goto_first_child_for_byte(start.saturating_sub(1)).is_none() {
        return false;
    }
    loop {
        let child = cursor.node();
        if child.start_byte() > start {
            break;
        }
        if (child.is_named() || !named) && end <= child.end_byte() {
            return true;
        }
        if !cursor.goto_next_sibling() {
            break;
        }
    }
    cursor.goto_parent();
    false
}

fn count_errors(node: Node<'_>) -> usize {
    if !node.has_error() {
        return 0;
    }
    let mut n = usize::from(node.is_error() || node.is_missing());
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        n += count_errors(child);
    }
    n
}

fn input_edit(e: &ByteEdit) -> InputEdit {
    InputEdit {
        start_byte: e.start_byte,
        old_end_byte: e.old_end_byte,
        new_end_byte: e.new_end_byte,
        start_position: Point::new(e.start_point.0, e.start_point.1),
        old_end_position: Point::new(e.old_end_point.0, e.old_end_point.1),
        new_end_position: Point::new(e.new_end_point.0, e.new_end_point.1),
    }
}

/// Text of a byte range of the rope (clamped, char-aligned).
pub fn slice(rope: &Rope, r: Range<usize>) -> String {
    let len = rope.len_bytes();
    // Most ranges (a name, a line) lie in one chunk: copy them from it by bytes, without the two
    // byte-to-char conversions, which count characters through the chunk.
    let (start, end) = (r.start.min(len), r.end.min(len));
    if start <= end {
        let (chunk, at, _, _) = rope.chunk_at_byte(start);
        if let Some(text) = chunk.get(start - at..end - at) {
            return text.to_owned();
        }
    }
    let s = rope.byte_to_char(r.start.min(len));
    let e = rope.byte_to_char(r.end.min(len)).max(s);
    rope.slice(s..e).to_string()
}

/// Feeds query predicates (`#eq?`) with rope chunks instead of a contiguous copy of the file.
struct RopeText<'a>(&'a Rope);

impl<'a> TextProvider<&'a [u8]> for RopeText<'a> {
    type I = std::vec::IntoIter<&'a [u8]>;

    fn text(&mut self, node: Node) -> Self::I {
        let len = self.0.len_bytes();
        let (start, end) = (node.start_byte().min(len), node.end_byte().min(len));
        if start >= end {
            return Vec::new().into_iter();
        }
        let slice = self.0.byte_slice(start..end);
        slice.chunks().map(str::as_bytes).collect::<Vec<_>>().into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::{Change, Document, Encoding, Position};

    #[test]
    fn slice_is_the_char_aligned_text_of_the_range_across_chunks() {
        let text = "let héllo = wörld(日本, 1);\n".repeat(800);
        let rope = Rope::from_str(&text);
        assert!(rope.chunks().count() > 10);
        let by_chars = |r: Range<usize>| {
            let len = rope.len_bytes();
            let s = rope.byte_to_char(r.start.min(len));
            let e = rope.byte_to_char(r.end.min(len)).max(s);
            rope.slice(s..e).to_string()
        };
        for start in (0..text.len() + 40).step_by(7) {
            for len in [0, 1, 3, 9, 40, 700, 5000] {
                let r = start..start + len;
                assert_eq!(slice(&rope, r.clone()), by_chars(r.clone()), "{r:?}");
            }
        }
        let (a, b) = (9, 4);
        assert_eq!(slice(&rope, a..b), "", "a reversed range is empty");
        assert_eq!(slice(&Rope::new(), 0..5), "", "an empty rope has nothing to copy");
    }

    #[test]
    fn warm_compiles_the_queries_in_the_background() {
        // A table of its own (leaked for the `'static` the thread needs): nothing compiled yet.
        let langs: &'static Languages = Box::leak(Box::new(Languages::from_toml(LANGUAGE_TABLE)));
        let rust = langs.by_id("rust").unwrap();
        assert!(!rust.queries_ready());
        rust.warm();
        rust.warm(); // a second call starts nothing more
        let deadline = Instant::now() + Duration::from_secs(30);
        while !rust.queries_ready() {
            assert!(Instant::now() < deadline, "the queries never compiled");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(rust.query(QueryKind::Definitions).is_some());
        assert!(langs.by_id("python").is_some_and(|p| !p.queries_ready()), "only the language asked for");
    }

    #[test]
    fn a_tree_that_does_not_wait_skips_queries_but_keeps_its_structure() {
        let langs: &'static Languages = Box::leak(Box::new(Languages::from_toml(LANGUAGE_TABLE)));
        let rust = langs.by_id("rust").unwrap();
        let rope = Rope::from_str("fn f() {\n    let x = ((;\n}\n");
        let tree = SyntaxTree::parse(rust, &rope).unwrap().without_waiting();
        assert!(tree.definitions(&rope, None).is_empty(), "queries are not compiled yet");
        assert!(!rust.queries_ready(), "asking did not compile them");
        assert!(tree.errors_in(0..rope.len_bytes()) > 0, "the syntax gate still sees the error");
        let waiting = SyntaxTree::parse(rust, &rope).unwrap();
        assert_eq!(waiting.definitions(&rope, None)[0].name, "f");
        assert_eq!(tree.definitions(&rope, None)[0].name, "f", "compiled now: found");
    }

    #[test]
    fn every_language_has_a_grammar_and_its_queries_compile() {
        let langs = Languages::global();
        assert!(langs.errors.is_empty(), "{:?}", langs.errors);
        assert!(langs.iter().count() >= 12);
        for lang in langs.iter() {
            assert!(lang.has_grammar(), "{} has no grammar", lang.id);
            assert!(lang.query_errors().is_empty(), "{}: {:?}", lang.id, lang.query_errors());
            for kind in [QueryKind::Definitions, QueryKind::Identifiers] {
                assert!(lang.query(kind).is_some(), "{} lacks {:?}", lang.id, kind);
            }
            let grammar = lang.grammar.as_ref().unwrap();
            for kind in lang.standalone.iter().chain(&lang.standalone_statements) {
                assert_ne!(grammar.id_for_node_kind(kind, true), 0, "{}: no node kind {kind:?}", lang.id);
            }
        }
    }

    #[test]
    fn every_query_file_belongs_to_a_language() {
        let langs = Languages::global();
        for (dir, name, _) in embedded::QUERY_FILES {
            assert!(langs.iter().any(|l| l.queries_dir == *dir), "grammars/queries/{dir} is unused");
            assert!(QueryKind::ALL.iter().any(|k| k.file_stem() == *name), "unknown query file {dir}/{name}.scm");
        }
    }

    #[test]
    fn resolves_by_id_alias_and_extension() {
        let langs = Languages::global();
        assert_eq!(langs.resolve("rust", "x").map(|l| l.id.as_str()), Some("rust"));
        assert_eq!(langs.resolve("sh", "x").map(|l| l.id.as_str()), Some("shellscript"));
        assert_eq!(langs.resolve("", "/a/b.tsx").map(|l| l.id.as_str()), Some("typescriptreact"));
        assert!(langs.resolve("cobol", "a.cob").is_none());
    }

    /// One small sample per language: the definitions query must find the named symbol.
    #[test]
    fn definitions_per_language() {
        let samples = [
            ("rust", "use std::fmt;\nfn compute_total() {}\nstruct Cart;", "compute_total"),
            ("python", "import os\ndef compute_total():\n    pass\n", "compute_total"),
            ("javascript", "import x from 'y';\nfunction computeTotal() {}\n", "computeTotal"),
            ("typescript", "interface Cart { n: number }\nfunction computeTotal(): void {}\n", "computeTotal"),
            ("typescriptreact", "const View = () => <div/>;\nfunction computeTotal() {}\n", "computeTotal"),
            ("go", "package main\nimport \"fmt\"\nfunc ComputeTotal() {}\n", "ComputeTotal"),
            ("c", "#include <stdio.h>\nint compute_total(void) { return 0; }\n", "compute_total"),
            ("cpp", "#include <vector>\nclass Cart {};\nint compute_total() { return 0; }\n", "compute_total"),
            ("java", "import java.util.List;\nclass Cart { int computeTotal() { return 0; } }\n", "computeTotal"),
            ("lua", "local m = require('m')\nfunction compute_total() end\n", "compute_total"),
            ("json", "{\"compute_total\": 1}", "compute_total"),
            ("shellscript", "source ./lib.sh\ncompute_total() { echo; }\n", "compute_total"),
        ];
        for (id, text, name) in samples {
            let lang = Languages::global().by_id(id).unwrap();
            let rope = Rope::from_str(text);
            let tree = SyntaxTree::parse(lang, &rope).unwrap();
            let defs = tree.definitions(&rope, None);
            assert!(defs.iter().any(|d| d.name == name), "{id}: {defs:?}");
        }
    }

    /// Every `standalone` and `standalone_statements` kind is checked against a sample under
    /// `grammars/samples/`: each node of that kind in the sample parses alone without an error.
    #[test]
    fn standalone_kinds_parse_alone() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/grammars/samples");
        for lang in Languages::global().iter() {
            let kinds: Vec<&String> = lang.standalone.iter().chain(&lang.standalone_statements).collect();
            if kinds.is_empty() {
                continue;
            }
            let ext = lang.extensions.first().expect("a language with standalone kinds has an extension");
            let path = format!("{dir}/{}.{ext}", lang.id);
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: add {path}: {e}", lang.id));
            let rope = Rope::from_str(&text);
            let tree = SyntaxTree::parse(lang, &rope).unwrap();
            assert_eq!(tree.error_count(), 0, "{path} does not parse cleanly");
            for kind in kinds {
                let mut seen = 0;
                let mut stack = vec![tree.root()];
                while let Some(node) = stack.pop() {
                    if node.kind() == kind {
                        seen += 1;
                        let alone = SyntaxTree::parse(lang, &Rope::from_str(&text[node.byte_range()])).unwrap();
                        assert_eq!(
                            alone.error_count(),
                            0,
                            "{}: a {kind} does not parse alone: {}",
                            lang.id,
                            node.start_position()
                        );
                    }
                    let mut cursor = node.walk();
                    stack.extend(node.children(&mut cursor));
                }
                assert!(seen > 0, "{path} has no {kind}: add one");
            }
        }
    }

    #[test]
    fn incremental_reparse_matches_a_fresh_parse() {
        let lang = Languages::global().by_id("rust").unwrap();
        let mut doc = Document::new("u", "rust", 1, "fn a() {\n    let x = 1;\n}\n");
        let mut tree = SyntaxTree::parse(lang, &doc.rope).unwrap();
        let change = Change { range: Some((Position::new(1, 14), Position::new(1, 14))), text: " + foo(😀)".into() };
        let edits = doc.apply(2, &[change], Encoding::Utf16).unwrap();
        assert!(tree.update(&edits, &doc.rope));
        let fresh = SyntaxTree::parse(lang, &doc.rope).unwrap();
        assert_eq!(tree.root().to_sexp(), fresh.root().to_sexp());
        assert_eq!(tree.error_count(), fresh.error_count());
    }

    #[test]
    fn scopes_imports_and_identifiers() {
        let lang = Languages::global().by_id("python").unwrap();
        let text = "import os\nclass A:\n    def f(self):\n        return total\n";
        let rope = Rope::from_str(text);
        let tree = SyntaxTree::parse(lang, &rope).unwrap();
        assert_eq!(tree.imports(&rope), vec![0..9]);
        let at = text.find("total").unwrap();
        let scopes = tree.scopes_at(&rope, at);
        assert_eq!(scopes.len(), 2);
        assert!(slice(&rope, scopes[0].clone()).starts_with("def f"));
        let mut ids = Vec::new();
        tree.identifiers(&rope, None, |s, _| ids.push(s));
        assert!(ids.contains(&"total".to_string()));
    }

    #[test]
    fn scopes_at_a_byte_are_those_the_whole_file_query_finds_around_it() {
        // The ancestor walk must find exactly the scopes a query over the whole file finds
        // holding the byte, at every byte of every sample (scopes that end or start there too).
        let mut checked = 0;
        for entry in std::fs::read_dir("grammars/samples").unwrap() {
            let path = entry.unwrap().path();
            let Some(lang) = Languages::global().by_path(&path.to_string_lossy()) else { continue };
            let text = std::fs::read_to_string(&path).unwrap();
            let rope = Rope::from_str(&text);
            let Some(tree) = SyntaxTree::parse(lang, &rope) else { continue };
            let mut all = Vec::new();
            tree.for_each_capture(&rope, QueryKind::Scopes, None, |name, node| {
                if name == "scope" {
                    all.push(node.byte_range());
                }
            });
            assert!(!all.is_empty(), "{}: no scope in the sample", path.display());
            checked += 1;
            for byte in (0..=text.len() + 1).step_by(3) {
                let mut want: Vec<Range<usize>> =
                    all.iter().filter(|r| r.start <= byte && byte <= r.end).cloned().collect();
                want.sort_by_key(|r| (r.end - r.start, r.start));
                want.dedup();
                assert_eq!(tree.scopes_at(&rope, byte), want, "{}: byte {byte}", path.display());
            }
        }
        assert!(checked >= 8, "{checked} samples checked");
    }

    #[test]
    fn identifiers_in_a_range_are_those_of_the_whole_file_that_overlap_it() {
        // The ranged scan starts from the nodes covering the range, not the root: it must find
        // exactly what the whole-file scan finds there, wherever the range starts and ends.
        for (id, path) in [("rust", "grammars/samples/rust.rs"), ("javascript", "grammars/samples/javascript.js")] {
            let lang = Languages::global().by_id(id).unwrap();
            let text = std::fs::read_to_string(path).unwrap();
            let rope = Rope::from_str(&text);
            let tree = SyntaxTree::parse(lang, &rope).unwrap();
            let mut all = Vec::new();
            tree.identifiers(&rope, None, |s, at| all.push((s, at)));
            assert!(all.len() > 10, "{id}: {} identifiers", all.len());
            let bounds: Vec<usize> = (0..text.len()).step_by(7).chain([text.len()]).collect();
            for (i, &start) in bounds.iter().enumerate() {
                for &end in bounds[i..].iter().step_by(5) {
                    let mut got = Vec::new();
                    tree.identifiers(&rope, Some(start..end), |s, at| got.push((s, at)));
                    if start == end {
                        assert_eq!(got, [], "{id}: empty range at {start}");
                        continue;
                    }
                    // The query from the root, as before: the same matches, in the same order.
                    let mut want = Vec::new();
                    tree.for_each_capture(&rope, QueryKind::Identifiers, Some(start..end), |name, node| {
                        if name == "identifier" {
                            want.push((slice(&rope, node.byte_range()), node.start_byte()));
                        }
                    });
                    assert_eq!(got, want, "{id}: range {start}..{end}");
                    let overlaps = |(s, at): &&(String, usize)| *at < end && at + s.len() > start;
                    assert_eq!(got, all.iter().filter(overlaps).cloned().collect::<Vec<_>>());
                }
            }
        }
    }
}
