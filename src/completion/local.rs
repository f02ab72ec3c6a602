//! The `local` provider: completions from the identifiers and symbols of the open buffers and the
//! workspace index, ranked by scope, proximity and frequency. No key, no network, well under a
//! millisecond.
//!
//! The names come from the index's latest snapshot (the current file's own entry and the merged
//! name index across files); a request adds what is near the cursor — a scan of the enclosing
//! scope and the surrounding lines — so fresh edits rank first even while the index is a moment
//! behind.

use std::{collections::HashMap, ops::Range, sync::Arc};

use ropey::Rope;

pub use crate::index::{SymbolInfo, SymbolKind, is_word_char};
use crate::{
    index::{Family, FileKey, FileSymbols, Snapshot, words},
    syntax::SyntaxTree,
};

/// Lines scanned around the cursor for proximity.
const NEAR_LINES: usize = 60;
/// Lines longer than this (minified or generated text) are skipped, except the cursor's own, of
/// which only [`NEAR_BYTES`] either side of the cursor are scanned.
const LONG_LINE: usize = 4096;
const NEAR_BYTES: usize = 8 * 1024;

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
    pub key: &'a FileKey,
    /// The document's language family: other files' names count only within it (all files
    /// when `None`, as for plain text).
    pub family: Option<Family>,
    pub offset: usize,
}

/// Ranks the identifiers that complete the word at the cursor, from the current document's
/// entry in `index` (which may lag it by a keystroke or two), the text near the cursor, and the
/// other files in the index.
pub fn complete(cur: &CurrentDoc<'_>, index: &Snapshot, max: usize) -> (WordAtCursor, Vec<Candidate>) {
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
    let own: Option<&FileSymbols> = index.file(cur.key);
    for (name, info) in own.into_iter().flat_map(|t| t.with_prefix(prefix)) {
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
    for hit in index.with_prefix(prefix, cur.family, Some(cur.key)) {
        let name = hit.name;
        if !matches(name) {
            continue;
        }
        if let Some(c) = found.get_mut(name) {
            // Used here and elsewhere too: a small vote of confidence.
            c.score += 0.2;
            continue;
        }
        let score = (1.0 + hit.count as f32).ln() * 0.3 + if hit.defined { 1.5 } else { 0.0 } + case_bonus(name);
        let source = Some(Arc::from(hit.file.as_str()));
        found.insert(name, Candidate { text: name.to_owned(), kind: hit.kind, score, source });
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
        let mut line_start = rope.line_to_byte(l);
        let mut slice = rope.line(l);
        if slice.len_bytes() > LONG_LINE {
            if l != cursor_line {
                continue;
            }
            let cursor = word.typed.start;
            let (s, e) = (
                rope.byte_to_char(cursor.saturating_sub(NEAR_BYTES).max(line_start)),
                rope.byte_to_char((cursor + NEAR_BYTES).min(line_start + slice.len_bytes())),
            );
            slice = rope.slice(s..e);
            line_start = rope.char_to_byte(s);
        }
        line.clear();
        for chunk in slice.chunks() {
            line.push_str(chunk);
        }
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
        let index = crate::index::Index::default();
        index.open("file:///current", info, 1, rope.clone(), false);
        for (i, t) in others.iter().enumerate() {
            index.open(&format!("file:///other{i}"), info, 1, Rope::from_str(t), false);
        }
        index.flush();
        let key = FileKey::from_uri("file:///current");
        let family = info.map(|l| crate::index::family(l.id.as_str()));
        let cur = CurrentDoc { rope: &rope, syntax: syntax.as_ref(), key: &key, family, offset };
        complete(&cur, &index.snapshot(), 20).1.into_iter().map(|c| c.text).collect()
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
    fn minified_lines_are_scanned_around_the_cursor() {
        let line = format!("{}var needle_word=1;{}", "a+".repeat(50_000), "b+".repeat(50_000));
        let fixture = format!("{line}need$0");
        let got = check("plaintext", &fixture, &[]);
        assert_eq!(got, ["needle_word"]);
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
