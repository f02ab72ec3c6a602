//! The `local` provider: completions from the identifiers and symbols of the open buffers, ranked by
//! scope, proximity and frequency. No key, no network, well under a millisecond.
//!
//! Each document keeps a [`SymbolTable`] (identifier counts and definition kinds, from tree-sitter
//! when the language has a grammar, else a word scan). A request adds what is near the cursor —
//! a scan of the enclosing scope and the surrounding lines — so fresh edits rank first even when a
//! large file's table is a moment old.

use std::{collections::HashMap, ops::Range, sync::Arc};

use ropey::Rope;

use crate::syntax::SyntaxTree;

/// Lines scanned around the cursor for proximity.
const NEAR_LINES: usize = 60;

/// What an identifier is, as far as the definitions query says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    fn from_definition(kind: &str) -> SymbolKind {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymbolInfo {
    pub count: u32,
    pub kind: SymbolKind,
    pub defined: bool,
}

/// Identifier statistics of one document at one version.
#[derive(Debug, Clone, Default)]
pub struct SymbolTable {
    pub version: i32,
    pub symbols: HashMap<String, SymbolInfo>,
    /// (lowercased name, name), sorted: a prefix lookup is a binary search, not a scan.
    sorted: Vec<(String, String)>,
    /// The first line(s) of each function, method and type definition: what other files' prompts
    /// show of this one.
    pub signatures: HashMap<String, String>,
    /// The file's import statements, for prompt context. Kept here because running the imports
    /// query over the whole tree on every keystroke would cost more than the rest of a request.
    pub imports: Vec<String>,
}

impl SymbolTable {
    pub fn build(version: i32, rope: &Rope, syntax: Option<&SyntaxTree>) -> SymbolTable {
        let mut symbols: HashMap<String, SymbolInfo> = HashMap::new();
        let mut add = |name: String| {
            if name.chars().count() < 2 || !name.chars().any(is_word_char) {
                return;
            }
            symbols.entry(name).and_modify(|s| s.count += 1).or_insert(SymbolInfo {
                count: 1,
                kind: SymbolKind::Word,
                defined: false,
            });
        };
        match syntax {
            Some(tree) => tree.identifiers(rope, None, |name, _| add(name)),
            None => {
                for chunk_line in rope.lines().take(200_000) {
                    for w in words(&chunk_line.to_string()) {
                        add(w.1.to_owned());
                    }
                }
            }
        }
        let mut signatures = HashMap::new();
        if let Some(tree) = syntax {
            for def in tree.definitions(rope, None) {
                if matches!(def.kind.as_str(), "function" | "method" | "type" | "macro") {
                    signatures.entry(def.name.clone()).or_insert_with(|| signature(rope, def.range.clone()));
                }
                let info =
                    symbols.entry(def.name).or_insert(SymbolInfo { count: 1, kind: SymbolKind::Word, defined: false });
                info.defined = true;
                info.kind = SymbolKind::from_definition(&def.kind);
            }
        }
        let mut sorted: Vec<(String, String)> = symbols.keys().map(|k| (k.to_lowercase(), k.clone())).collect();
        sorted.sort_unstable();
        let imports = syntax
            .map(|t| t.imports(rope).into_iter().take(64).map(|r| crate::syntax::slice(rope, r)).collect())
            .unwrap_or_default();
        SymbolTable { version, symbols, sorted, signatures, imports }
    }

    /// Names that start with `prefix`, ignoring case.
    pub fn with_prefix<'a>(&'a self, prefix: &str) -> impl Iterator<Item = (&'a str, &'a SymbolInfo)> + 'a {
        let lower = prefix.to_lowercase();
        let start = self.sorted.partition_point(|(l, _)| l.as_str() < lower.as_str());
        self.sorted[start..]
            .iter()
            .take_while(move |(l, _)| l.starts_with(lower.as_str()))
            .filter_map(|(_, name)| self.symbols.get_key_value(name).map(|(k, v)| (k.as_str(), v)))
    }
}

/// A definition's head: up to the body's opening brace or colon, at most three lines.
fn signature(rope: &Rope, range: Range<usize>) -> String {
    let end = range.end.min(range.start + 400);
    let text = crate::syntax::slice(rope, range.start..end);
    let mut out = String::new();
    for (i, line) in text.lines().take(3).enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let cut = line.find(" {").or_else(|| line.trim_end().ends_with(':').then(|| line.trim_end().len()));
        match cut {
            Some(c) => {
                out.push_str(&line[..c]);
                return out;
            }
            None => out.push_str(line),
        }
    }
    out
}

pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// Words (start char offset within `line`, text) of a line.
fn words(line: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in line.char_indices() {
        match (is_word_char(c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, &line[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &line[s..]));
    }
    out.into_iter().filter(|(_, w)| !w.starts_with(|c: char| c.is_ascii_digit()))
}

/// The identifier being typed: the word characters before `offset`, and those right after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordAtCursor {
    /// Bytes of the typed part (start..cursor).
    pub typed: Range<usize>,
    pub prefix: String,
    /// Word characters right after the cursor (the cursor is mid-word when non-empty).
    pub rest: String,
}

pub fn word_at(rope: &Rope, offset: usize) -> WordAtCursor {
    let offset = offset.min(rope.len_bytes());
    let cursor_char = rope.byte_to_char(offset);
    let mut start = cursor_char;
    // Identifiers are short: never scan more than a line's worth backwards.
    while start > 0 && cursor_char - start < 256 && is_word_char(rope.char(start - 1)) {
        start -= 1;
    }
    let mut end = cursor_char;
    while end < rope.len_chars() && end - cursor_char < 256 && is_word_char(rope.char(end)) {
        end += 1;
    }
    WordAtCursor {
        typed: rope.char_to_byte(start)..offset,
        prefix: rope.slice(start..cursor_char).to_string(),
        rest: rope.slice(cursor_char..end).to_string(),
    }
}

/// A ranked suggestion.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub text: String,
    pub kind: SymbolKind,
    pub score: f32,
    /// Where it came from: `None` for the current document, else the other document's URI.
    pub source: Option<Arc<str>>,
}

/// Everything the ranking needs about the current document.
pub struct CurrentDoc<'a> {
    pub rope: &'a Rope,
    pub syntax: Option<&'a SyntaxTree>,
    pub table: &'a SymbolTable,
    pub offset: usize,
}

/// Ranks the identifiers that complete the word at the cursor.
pub fn complete(
    cur: &CurrentDoc<'_>,
    others: &[(Arc<str>, Arc<SymbolTable>)],
    max: usize,
) -> (WordAtCursor, Vec<Candidate>) {
    let word = word_at(cur.rope, cur.offset);
    if word.prefix.is_empty() {
        return (word, Vec::new());
    }
    let prefix = word.prefix.as_str();
    let whole_word = format!("{}{}", word.prefix, word.rest);
    let matches = |name: &str| name.len() > prefix.len() && name != whole_word;
    let case_bonus = |name: &str| if name.starts_with(prefix) { 1.0 } else { 0.0 };

    let cursor_line = cur.rope.byte_to_line(cur.offset.min(cur.rope.len_bytes()));
    let near = near_words(cur.rope, cursor_line, &word);
    // The innermost enclosing scope, as a line range: words seen inside it rank higher.
    let scope_lines = cur.syntax.and_then(|s| s.scopes_at(cur.rope, cur.offset).into_iter().next()).map(|r| {
        let len = cur.rope.len_bytes();
        cur.rope.byte_to_line(r.start.min(len))..=cur.rope.byte_to_line(r.end.min(len))
    });
    let proximity = |name: &str| -> f32 {
        match near.get(name) {
            Some(&(dist, line)) => {
                let in_scope = scope_lines.as_ref().is_some_and(|r| r.contains(&line));
                2.0 / (1.0 + dist as f32 / 10.0) + if in_scope { 2.0 } else { 0.0 }
            }
            None => 0.0,
        }
    };

    let mut found: HashMap<&str, Candidate> = HashMap::new();
    for (name, info) in cur.table.with_prefix(prefix) {
        if !matches(name) {
            continue;
        }
        let score = 3.0
            + (1.0 + info.count as f32).ln() * 0.5
            + if info.defined { 2.0 } else { 0.0 }
            + proximity(name)
            + case_bonus(name);
        found.insert(name, Candidate { text: name.to_owned(), kind: info.kind, score, source: None });
    }
    // Words typed since the table was built (it may lag a large file by a moment).
    for name in near.keys() {
        if starts_with_ignore_case(name, prefix) && matches(name) && !found.contains_key(name.as_str()) {
            let score = 3.0 + proximity(name) + case_bonus(name);
            found.insert(name, Candidate { text: name.clone(), kind: SymbolKind::Word, score, source: None });
        }
    }
    for (uri, table) in others {
        for (name, info) in table.with_prefix(prefix) {
            if !matches(name) {
                continue;
            }
            if let Some(c) = found.get_mut(name) {
                // Used here and elsewhere too: a small vote of confidence.
                c.score += 0.2;
                continue;
            }
            let score = (1.0 + info.count as f32).ln() * 0.3 + if info.defined { 1.5 } else { 0.0 } + case_bonus(name);
            found.insert(name, Candidate { text: name.to_owned(), kind: info.kind, score, source: Some(uri.clone()) });
        }
    }
    let mut out: Vec<Candidate> = found.into_values().collect();
    let by_rank = |a: &Candidate, b: &Candidate| {
        b.score.total_cmp(&a.score).then(a.text.len().cmp(&b.text.len())).then(a.text.cmp(&b.text))
    };
    if out.len() > max && max > 0 {
        out.select_nth_unstable_by(max - 1, by_rank);
        out.truncate(max);
    }
    out.sort_by(by_rank);
    out.truncate(max);
    (word, out)
}

/// For each word around the cursor: the distance in lines to its nearest occurrence, and that
/// line. The word being typed is skipped.
fn near_words(rope: &Rope, cursor_line: usize, word: &WordAtCursor) -> HashMap<String, (usize, usize)> {
    let mut out: HashMap<String, (usize, usize)> = HashMap::new();
    let first = cursor_line.saturating_sub(NEAR_LINES);
    let last = (cursor_line + NEAR_LINES).min(rope.len_lines().saturating_sub(1));
    let mut line = String::new();
    for l in first..=last {
        let slice = rope.line(l);
        if slice.len_bytes() > 4096 {
            continue; // minified or generated text: not worth scanning on every keystroke
        }
        line.clear();
        for chunk in slice.chunks() {
            line.push_str(chunk);
        }
        let line_start = rope.line_to_byte(l);
        let dist = l.abs_diff(cursor_line);
        for (s, w) in words(&line) {
            if line_start + s == word.typed.start {
                continue;
            }
            match out.get_mut(w) {
                Some(d) if d.0 <= dist => {}
                Some(d) => *d = (dist, l),
                None => {
                    out.insert(w.to_owned(), (dist, l));
                }
            }
        }
    }
    out
}

fn starts_with_ignore_case(name: &str, prefix: &str) -> bool {
    let mut n = name.chars();
    prefix.chars().all(|p| n.next().is_some_and(|c| c == p || c.to_lowercase().eq(p.to_lowercase())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::Languages;

    /// `$0` marks the cursor; returns the ranked candidate texts.
    fn check(lang: &str, fixture: &str, others: &[&str]) -> Vec<String> {
        let offset = fixture.find("$0").expect("cursor marker");
        let text = fixture.replace("$0", "");
        let rope = Rope::from_str(&text);
        let info = Languages::global().by_id(lang);
        let syntax = info.and_then(|l| SyntaxTree::parse(l, &rope));
        let table = SymbolTable::build(1, &rope, syntax.as_ref());
        let other_tables: Vec<(Arc<str>, Arc<SymbolTable>)> = others
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let r = Rope::from_str(t);
                let s = info.and_then(|l| SyntaxTree::parse(l, &r));
                (Arc::from(format!("file:///other{i}")), Arc::new(SymbolTable::build(1, &r, s.as_ref())))
            })
            .collect();
        let cur = CurrentDoc { rope: &rope, syntax: syntax.as_ref(), table: &table, offset };
        complete(&cur, &other_tables, 20).1.into_iter().map(|c| c.text).collect()
    }

    #[test]
    fn completes_the_word_being_typed_from_the_same_file() {
        let got = check(
            "rust",
            "fn compute_total(items: &[u32]) -> u32 { 0 }\nfn main() {\n    let result = comp$0\n}\n",
            &[],
        );
        assert_eq!(got, ["compute_total"]);
    }

    #[test]
    fn same_file_ranks_above_other_buffers_and_scope_above_file() {
        let got = check(
            "python",
            "def helper_far():\n    pass\n\ndef f():\n    helper_near = 1\n    return help$0\n",
            &["def helper_other():\n    pass\n"],
        );
        assert_eq!(got, ["helper_near", "helper_far", "helper_other"]);
    }

    #[test]
    fn plain_text_uses_words_and_mid_word_excludes_itself() {
        let got = check("plaintext", "alphabet alpha alpine\nalp$0ine", &[]);
        assert_eq!(got, ["alpha", "alphabet"]);
    }

    #[test]
    fn word_at_handles_multibyte_text() {
        let rope = Rope::from_str("let 名前 = x😀abc");
        let w = word_at(&rope, "let 名前".len());
        assert_eq!(w.prefix, "名前");
        let w = word_at(&rope, rope.len_bytes());
        assert_eq!(w.prefix, "abc");
        assert_eq!(word_at(&rope, 10_000).rest, "");
    }
}
