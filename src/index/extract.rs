//! What one file contributes to the index ([`FileSymbols`]), extracted from its syntax tree or, for
//! plain text, from a bounded word scan; and the incremental update that re-extracts only the
//! top-level items an edit touched and shifts the rest.

use std::{collections::HashMap, ops::Range};

use ropey::Rope;
use tree_sitter::Node;

use super::{Definition, Family, FileKey, PLAIN_SCAN_BYTES, SymbolInfo, SymbolKind, family};
use crate::{
    documents::ByteEdit,
    syntax::{LanguageInfo, SyntaxTree, slice},
};

/// A signature longer than this is cut (a definition without a body can be a whole data table).
pub const MAX_SIGNATURE_BYTES: usize = 2_000;
/// Import statements kept per file.
const MAX_IMPORTS: usize = 64;

/// An import statement and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    pub range: Range<usize>,
    pub text: String,
}

/// The symbols of one file at one version.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSymbols {
    pub key: FileKey,
    /// The document version for open documents, `None` for files read from disk.
    pub version: Option<i32>,
    pub language: Option<&'static str>,
    pub family: Option<Family>,
    /// Sorted by `range.start` (outer before inner).
    pub definitions: Vec<Definition>,
    /// Every identifier (open documents) or defined name (disk files), with counts and kinds.
    pub names: HashMap<String, SymbolInfo>,
    pub imports: Vec<Import>,
    /// No grammar, a very long line, binary or oversized: words only.
    pub plain: bool,
    /// Identifier occurrences (before definitions are merged in); kept for incremental updates.
    words: HashMap<String, u32>,
    /// Whether every identifier is counted (open documents) or only definitions (disk files).
    counts_words: bool,
    /// (lowercased name, name), sorted: a prefix lookup is a binary search.
    sorted: Vec<(String, String)>,
    /// Indices of `definitions`, sorted by name.
    by_name: Vec<u32>,
}

/// Whether an identifier is worth remembering: two characters or more, not just punctuation.
fn worth_counting(name: &str) -> bool {
    name.chars().nth(1).is_some() && name.chars().any(is_word_char)
}

impl FileSymbols {
    /// Everything about a file, from scratch. `with_words` counts every identifier (open
    /// documents, for completion); without it only definitions are kept (files on disk).
    pub fn build(
        key: FileKey,
        version: Option<i32>,
        lang: Option<&'static LanguageInfo>,
        rope: &Rope,
        tree: Option<&SyntaxTree>,
        with_words: bool,
    ) -> FileSymbols {
        let Some(tree) = tree else { return FileSymbols::plain(key, version, lang, rope, with_words) };
        let mut words = HashMap::new();
        if with_words {
            count_identifiers(tree, rope, None, &mut words, 1);
        }
        let definitions = extract_definitions(tree, rope, &key, None);
        let imports = extract_imports(tree, rope, None);
        FileSymbols::assemble(key, version, lang, false, with_words, definitions, words, imports)
    }

    /// A plain-text file: the words of its first [`PLAIN_SCAN_BYTES`].
    pub fn plain(
        key: FileKey,
        version: Option<i32>,
        lang: Option<&'static LanguageInfo>,
        rope: &Rope,
        with_words: bool,
    ) -> FileSymbols {
        let mut counts: HashMap<String, u32> = HashMap::new();
        if with_words {
            let end = rope.len_bytes().min(PLAIN_SCAN_BYTES);
            let text = slice(rope, 0..end);
            for (_, w) in words(&text) {
                if worth_counting(w) {
                    *counts.entry(w.to_owned()).or_default() += 1;
                }
            }
        }
        FileSymbols::assemble(key, version, lang, true, with_words, Vec::new(), counts, Vec::new())
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        key: FileKey,
        version: Option<i32>,
        lang: Option<&'static LanguageInfo>,
        plain: bool,
        counts_words: bool,
        definitions: Vec<Definition>,
        words: HashMap<String, u32>,
        imports: Vec<Import>,
    ) -> FileSymbols {
        let mut names: HashMap<String, SymbolInfo> = words
            .iter()
            .map(|(w, &count)| (w.clone(), SymbolInfo { count, kind: SymbolKind::Word, defined: false }))
            .collect();
        for d in &definitions {
            let info =
                names.entry(d.name.clone()).or_insert(SymbolInfo { count: 1, kind: SymbolKind::Word, defined: false });
            info.defined = true;
            info.kind = d.kind;
        }
        let mut sorted: Vec<(String, String)> = names.keys().map(|k| (k.to_lowercase(), k.clone())).collect();
        sorted.sort_unstable();
        let mut by_name: Vec<u32> = (0..definitions.len() as u32).collect();
        by_name.sort_by(|&a, &b| definitions[a as usize].name.cmp(&definitions[b as usize].name));
        let language = lang.map(|l| l.id.as_str());
        FileSymbols {
            key,
            version,
            language,
            family: language.map(family),
            definitions,
            names,
            imports,
            plain,
            words,
            counts_words,
            sorted,
            by_name,
        }
    }

    /// The symbols after an edit: `span` of the old text (`old_rope`, `old_tree`) became `span` of
    /// the new (`rope`, `tree`); definitions, identifiers and imports elsewhere are kept (shifted).
    /// Equal to [`FileSymbols::build`] on the new text (the property test checks it).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn update(
        &self,
        version: Option<i32>,
        lang: Option<&'static LanguageInfo>,
        old_rope: &Rope,
        old_tree: &SyntaxTree,
        rope: &Rope,
        tree: &SyntaxTree,
        span: &Span,
    ) -> FileSymbols {
        let shift = |x: usize| (x as isize + span.delta()) as usize;
        let line_delta = rope.byte_to_line(span.new_end.min(rope.len_bytes())) as isize
            - old_rope.byte_to_line(span.old_end.min(old_rope.len_bytes())) as isize;
        let mut definitions: Vec<Definition> =
            self.definitions.iter().take_while(|d| d.range.start < span.start).cloned().collect();
        definitions.extend(extract_definitions(tree, rope, &self.key, Some(span.start..span.new_end)));
        definitions.extend(self.definitions.iter().filter(|d| d.range.start >= span.old_end).map(|d| {
            let mut d = d.clone();
            d.range = shift(d.range.start)..shift(d.range.end);
            d.line = (d.line as isize + line_delta) as usize;
            d
        }));
        let mut words = self.words.clone();
        if self.counts_words {
            count_identifiers(old_tree, old_rope, Some(span.start..span.old_end), &mut words, -1);
            count_identifiers(tree, rope, Some(span.start..span.new_end), &mut words, 1);
            words.retain(|_, c| *c > 0);
        }
        let mut imports: Vec<Import> = self.imports.iter().filter(|i| i.range.start < span.start).cloned().collect();
        imports.extend(extract_imports(tree, rope, Some(span.start..span.new_end)));
        imports.extend(
            self.imports
                .iter()
                .filter(|i| i.range.start >= span.old_end)
                .map(|i| Import { range: shift(i.range.start)..shift(i.range.end), text: i.text.clone() }),
        );
        imports.truncate(MAX_IMPORTS);
        FileSymbols::assemble(self.key.clone(), version, lang, false, self.counts_words, definitions, words, imports)
    }

    /// Names that start with `prefix`, ignoring case.
    pub fn with_prefix<'a>(&'a self, prefix: &str) -> impl Iterator<Item = (&'a str, &'a SymbolInfo)> + 'a {
        let lower = prefix.to_lowercase();
        let start = self.sorted.partition_point(|(l, _)| l.as_str() < lower.as_str());
        self.sorted[start..]
            .iter()
            .take_while(move |(l, _)| l.starts_with(lower.as_str()))
            .filter_map(|(_, name)| self.names.get_key_value(name).map(|(k, v)| (k.as_str(), v)))
    }

    /// The definitions named exactly `name`.
    pub fn defs_named<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a Definition> + use<'a> {
        let start = self.by_name.partition_point(|&i| self.definitions[i as usize].name.as_str() < name);
        let end = start + self.by_name[start..].partition_point(|&i| self.definitions[i as usize].name == name);
        self.by_name[start..end].iter().map(|&i| &self.definitions[i as usize])
    }

    /// Whether this file defines `name`.
    pub fn defines(&self, name: &str) -> bool {
        self.names.get(name).is_some_and(|s| s.defined)
    }

    /// Rough heap size, for the index's memory bound.
    pub fn approx_bytes(&self) -> usize {
        let defs: usize = self
            .definitions
            .iter()
            .map(|d| 160 + d.name.len() + d.signature.len() + d.members.iter().map(|m| m.len() + 24).sum::<usize>())
            .sum();
        let names: usize = self.names.keys().map(|k| 2 * k.len() + 96).sum();
        let imports: usize = self.imports.iter().map(|i| i.text.len() + 48).sum();
        defs + names + imports + self.words.len() * 48
    }
}

/// A stretch of the file an update re-extracts: old bytes `start..old_end` became new bytes
/// `start..new_end`; it begins and ends on top-level item boundaries of both trees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: usize,
    pub old_end: usize,
    pub new_end: usize,
}

impl Span {
    fn delta(&self) -> isize {
        self.new_end as isize - self.old_end as isize
    }

    /// The span covering `edits` (applied in order; each in the coordinates the previous left)
    /// and tree-sitter's `changed` ranges (new coordinates), widened to whole top-level items of
    /// the old tree (before the edits) and the new one.
    pub fn covering(edits: &[ByteEdit], changed: &[Range<usize>], old: &SyntaxTree, new: &SyntaxTree) -> Span {
        let mut dirty: Option<(usize, usize)> = None;
        let mut delta: isize = 0;
        for e in edits {
            let moved = |x: usize| {
                if x >= e.old_end_byte {
                    (x as isize + e.new_end_byte as isize - e.old_end_byte as isize) as usize
                } else if x > e.start_byte {
                    e.new_end_byte
                } else {
                    x
                }
            };
            dirty = Some(match dirty {
                None => (e.start_byte, e.new_end_byte),
                Some((a, b)) => (moved(a).min(e.start_byte), moved(b).max(e.new_end_byte)),
            });
            delta += e.new_end_byte as isize - e.old_end_byte as isize;
        }
        for r in changed {
            dirty = Some(match dirty {
                None => (r.start, r.end),
                Some((a, b)) => (a.min(r.start), b.max(r.end)),
            });
        }
        let (mut start, mut new_end) = dirty.unwrap_or((0, 0));
        // Widen until both trees agree on where the items around the span begin and end.
        loop {
            let old_end = (new_end as isize - delta).max(start as isize) as usize;
            let (s1, _) = touching(old, start);
            let (s2, _) = touching(new, start);
            let (_, e1) = touching(old, old_end);
            let (_, e2) = touching(new, new_end);
            let s = start.min(s1).min(s2);
            let e = new_end.max((e1 as isize + delta).max(0) as usize).max(e2);
            if s == start && e == new_end {
                break;
            }
            (start, new_end) = (s, e);
        }
        let old_end = (new_end as isize - delta).max(start as isize) as usize;
        Span { start, old_end, new_end }
    }
}

/// The start of the first and the end of the last top-level item that contains or touches byte
/// `x` (`x` itself when none does).
fn touching(tree: &SyntaxTree, x: usize) -> (usize, usize) {
    let root = tree.root();
    let (mut lo, mut hi) = (x, x);
    let mut widen = |n: Node<'_>| {
        if n.start_byte() <= x && x <= n.end_byte() {
            lo = lo.min(n.start_byte());
            hi = hi.max(n.end_byte());
        }
    };
    match root.first_child_for_byte(x) {
        Some(c) => {
            widen(c);
            if let Some(p) = c.prev_sibling() {
                widen(p);
            }
        }
        None => {
            if let Some(last) = root.child(root.child_count().saturating_sub(1)) {
                widen(last);
            }
        }
    }
    (lo, hi)
}

/// Adds `sign` per identifier that starts inside `range` (all of them without one).
fn count_identifiers(
    tree: &SyntaxTree,
    rope: &Rope,
    range: Option<Range<usize>>,
    words: &mut HashMap<String, u32>,
    sign: i32,
) {
    let keep = |at: usize| range.as_ref().is_none_or(|r| r.contains(&at));
    tree.identifiers(rope, range.clone(), |name, at| {
        if keep(at) && worth_counting(&name) {
            let c = words.entry(name).or_default();
            *c = c.saturating_add_signed(sign);
        }
    });
}

fn extract_imports(tree: &SyntaxTree, rope: &Rope, range: Option<Range<usize>>) -> Vec<Import> {
    let mut out: Vec<Import> = tree
        .imports_in(rope, range.clone())
        .into_iter()
        .filter(|r| range.as_ref().is_none_or(|s| s.contains(&r.start)))
        .map(|r| Import { text: slice(rope, r.clone()), range: r })
        .collect();
    out.sort_by_key(|i| i.range.start);
    out.dedup_by_key(|i| i.range.clone());
    if range.is_none() {
        out.truncate(MAX_IMPORTS);
    }
    out
}

/// Definitions starting inside `range` (the whole file without one), with full signatures,
/// members and containers. `range` must begin and end on top-level item boundaries.
fn extract_definitions(tree: &SyntaxTree, rope: &Rope, file: &FileKey, range: Option<Range<usize>>) -> Vec<Definition> {
    let mut defs: Vec<Definition> = Vec::new();
    tree.for_each_definition(rope, range.clone(), |kind, name, node| {
        if range.as_ref().is_some_and(|r| !r.contains(&node.start_byte())) {
            return;
        }
        defs.push(Definition {
            name: slice(rope, name.byte_range()),
            kind: SymbolKind::from_definition(kind),
            query_kind: kind.to_owned(),
            file: file.clone(),
            range: node.byte_range(),
            line: node.start_position().row,
            signature: signature(node, rope),
            members: Vec::new(),
            container: None,
        });
    });
    // Outer before inner; one entry per node and name (two patterns may match one node).
    defs.sort_by(|a, b| a.range.start.cmp(&b.range.start).then(b.range.end.cmp(&a.range.end)));
    defs.dedup_by(|b, a| a.range == b.range && a.name == b.name);
    let mut stack: Vec<usize> = Vec::new();
    for i in 0..defs.len() {
        while stack.last().is_some_and(|&top| defs[top].range.end <= defs[i].range.start) {
            stack.pop();
        }
        if let Some(&top) = stack.last()
            && defs[i].range.end <= defs[top].range.end
        {
            defs[i].container = Some(defs[top].name.clone());
            if matches!(defs[top].kind, SymbolKind::Type | SymbolKind::Module) {
                let sig = defs[i].signature.clone();
                defs[top].members.push(sig);
            }
        }
        stack.push(i);
    }
    defs
}

/// A definition's head: from its decorators or `export`/`const` wrapper to the start of its body
/// (the whole parameter list, return type, generics and `where` clause included), or the whole
/// item when it has no body. This is the one place signatures are made: the index, prompts,
/// actions, MCP and the context benchmark all read them from here.
fn signature(node: Node<'_>, rope: &Rope) -> String {
    let mut outer = node;
    while let Some(p) = outer.parent() {
        match p.kind() {
            "decorated_definition" | "export_statement" | "lexical_declaration" | "variable_declaration" => outer = p,
            _ => break,
        }
    }
    let body = node
        .child_by_field_name("body")
        .or_else(|| node.child_by_field_name("value").and_then(|v| v.child_by_field_name("body")));
    let start = outer.start_byte();
    let end = body.map_or(outer.end_byte(), |b| b.start_byte()).max(start);
    let end = end.min(start + MAX_SIGNATURE_BYTES);
    // An arrow function keeps its `=>`: without it `const f = (a): T` reads as a typed constant.
    slice(rope, start..end).trim_end().to_owned()
}

pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// Words (start byte within `text`, word) of a text; words starting with a digit are skipped.
pub fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut start: Option<usize> = None;
    let mut chars = text.char_indices().chain(std::iter::once((text.len(), ' ')));
    std::iter::from_fn(move || {
        for (i, c) in chars.by_ref() {
            match (is_word_char(c) && i < text.len(), start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    start = None;
                    return Some((s, &text[s..i]));
                }
                _ => {}
            }
        }
        None
    })
    .filter(|(_, w)| !w.starts_with(|c: char| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{
        documents::{Change, Document, Encoding, Position},
        syntax::Languages,
    };

    fn build(lang: &str, text: &str) -> FileSymbols {
        let info = Languages::global().by_id(lang).unwrap();
        let rope = Rope::from_str(text);
        let tree = SyntaxTree::parse(info, &rope);
        FileSymbols::build(FileKey::from_uri("file:///w/a"), Some(1), Some(info), &rope, tree.as_ref(), true)
    }

    fn def<'a>(s: &'a FileSymbols, name: &str) -> &'a Definition {
        s.defs_named(name).next().unwrap_or_else(|| panic!("no {name} in {:?}", s.definitions))
    }

    #[test]
    fn signatures_are_whole_heads() {
        let s = build(
            "rust",
            "pub fn total<T: Into<u32>>(\n    items: &[T],\n    scale: u32,\n) -> u32\nwhere\n    T: Copy,\n{\n    0\n}\npub struct Cart;\n",
        );
        assert_eq!(
            def(&s, "total").signature,
            "pub fn total<T: Into<u32>>(\n    items: &[T],\n    scale: u32,\n) -> u32\nwhere\n    T: Copy,"
        );
        assert_eq!(def(&s, "Cart").signature, "pub struct Cart;");
        assert_eq!(def(&s, "total").line, 0);
        assert_eq!(def(&s, "Cart").line, 9);

        // A ` {` inside a default value does not end the signature.
        let s = build("python", "@cached\ndef f(a, b={'k': 1}, *, c: int = 2) -> dict:\n    return b\n");
        assert_eq!(def(&s, "f").signature, "@cached\ndef f(a, b={'k': 1}, *, c: int = 2) -> dict:");

        let s = build("typescript", "export const add = (a: number, b = { x: 1 }): number => {\n  return a;\n};\n");
        assert_eq!(def(&s, "add").signature, "export const add = (a: number, b = { x: 1 }): number =>");
    }

    #[test]
    fn classes_and_structs_list_their_members() {
        let s = build(
            "python",
            "class Cart(Base):\n    def __init__(self, items):\n        self.items = items\n\n    def total(self) -> int:\n        return 0\n",
        );
        let cart = def(&s, "Cart");
        assert_eq!(cart.signature, "class Cart(Base):");
        assert_eq!(cart.members, ["def __init__(self, items):", "def total(self) -> int:"]);
        assert_eq!(def(&s, "total").container.as_deref(), Some("Cart"));

        let s = build("rust", "pub struct Cart {\n    pub items: Vec<u32>,\n    owner: String,\n}\n");
        assert_eq!(def(&s, "Cart").members, ["pub items: Vec<u32>", "owner: String"]);
    }

    #[test]
    fn words_split_on_non_word_characters() {
        let got: Vec<_> = words("a.bc 9x _d$ 名前!").collect();
        assert_eq!(got, [(0, "a"), (2, "bc"), (8, "_d$"), (12, "名前")]);
    }

    /// The indexer's update path: edit the old tree, reparse, find the span, update.
    fn incremental(old: &FileSymbols, doc: &mut Document, tree: &mut SyntaxTree, change: Change) -> FileSymbols {
        let old_rope = doc.rope.clone();
        let pre = tree.clone();
        let version = doc.version + 1;
        let edits = doc.apply(version, &[change], Encoding::Utf8).unwrap();
        tree.edit(&edits);
        let edited = tree.clone();
        assert!(tree.reparse(&doc.rope));
        let changed = edited.changed_ranges(tree);
        let span = Span::covering(&edits, &changed, &pre, tree);
        old.update(Some(version), Some(tree.lang), &old_rope, &pre, &doc.rope, tree, &span)
    }

    const RUST: &str = "use std::fmt;\n\nstruct Cart {\n    items: Vec<u32>,\n}\n\nimpl Cart {\n    fn total(&self) -> u32 {\n        self.items.iter().sum()\n    }\n}\n\nfn helper(a: u32) -> u32 {\n    a + 1\n}\n\nmod inner {\n    pub fn deep() {}\n}\n";
    const PIECES: &[&str] =
        &["fn x() {}\n", "}", "{", "\n", "struct S;", "use a::b;\n", "let v = 1;", "(", "// c\n", "zz", ""];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
        #[test]
        fn incremental_update_equals_a_full_rebuild(
            edits in proptest::collection::vec((0usize..400, 0usize..12, 0usize..PIECES.len()), 1..8)
        ) {
            let info = Languages::global().by_id("rust").unwrap();
            let mut doc = Document::new("file:///w/a.rs", "rust", 1, RUST);
            let mut tree = SyntaxTree::parse(info, &doc.rope).unwrap();
            let key = FileKey::from_uri(&doc.uri);
            let mut syms = FileSymbols::build(key.clone(), Some(1), Some(info), &doc.rope, Some(&tree), true);
            for (at, len, piece) in edits {
                let text = doc.text();
                let start = at.min(text.len());
                let end = (start + len).min(text.len());
                let pos = |b: usize| { let (l, c) = doc.point_of_byte(b); Position::new(l as u32, c as u32) };
                let change = Change { range: Some((pos(start), pos(end))), text: PIECES[piece].into() };
                syms = incremental(&syms, &mut doc, &mut tree, change);
                // Against the same tree: tree-sitter's own incremental parse is not what is tested.
                let full = FileSymbols::build(key.clone(), Some(doc.version), Some(info), &doc.rope, Some(&tree), true);
                prop_assert_eq!(&syms.definitions, &full.definitions);
                prop_assert_eq!(&syms.names, &full.names);
                prop_assert_eq!(&syms.imports, &full.imports);
            }
        }
    }
}
