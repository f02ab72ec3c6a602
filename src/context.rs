//! Prompt context for inline completions, under a token budget: the file's path and language, its
//! imports, signatures of identifiers near the cursor that are defined in other open buffers, and
//! the code around the cursor with the enclosing function or class kept whole when it fits.
//!
//! Stable parts come first (path, language, imports, definitions) and volatile parts last (prefix,
//! suffix), so providers' prompt caches hit while the user types. Pure: no I/O.

use std::{collections::BTreeMap, ops::Range};

use ropey::Rope;

use crate::{
    index::{Definition, Family, FileKey, Snapshot, SymbolKind},
    syntax::SyntaxTree,
};

/// Rough size of a token in bytes of code; good enough to budget a prompt.
pub const BYTES_PER_TOKEN: usize = 4;
/// Lines around the cursor whose identifiers pull in definitions from other files.
const NEAR_LINES: usize = 20;

/// What the engine knows about the document being completed.
pub struct Source<'a> {
    pub path: &'a str,
    pub language: &'a str,
    pub rope: &'a Rope,
    pub syntax: Option<&'a SyntaxTree>,
    /// The document's key in the index, and its language family.
    pub key: &'a FileKey,
    pub family: Option<Family>,
    pub offset: usize,
}

/// The parts of an inline prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineContext {
    /// Stable header: path, language, imports, definitions from other files.
    pub context: String,
    pub prefix: String,
    pub suffix: String,
    /// Where the prefix window starts and the suffix window ends, in document bytes.
    pub window: Range<usize>,
}

/// Builds the context for a completion at `src.offset` within `budget_tokens`.
pub fn inline(src: &Source<'_>, index: &Snapshot, budget_tokens: usize) -> InlineContext {
    let budget = budget_tokens.max(64) * BYTES_PER_TOKEN;
    let len = src.rope.len_bytes();
    let offset = src.offset.min(len);

    let mut context = format!("path: {}\nlanguage: {}\n", src.path, src.language);
    let header_budget = budget / 3;
    // Imports come from the index (at most a moment old while typing): listed even when the code
    // window repeats them, because a header that changed as the window moved would make every
    // prompt a cache miss.
    let mut block = String::new();
    let own = index.file(src.key);
    for text in own.iter().flat_map(|f| f.imports.iter().map(|i| &i.text)) {
        if block.len() + text.len() + 1 > header_budget / 2 {
            break;
        }
        block.push_str(text);
        block.push('\n');
    }
    if !block.is_empty() {
        context.push_str("imports:\n");
        context.push_str(&block);
    }
    let defs = foreign_definitions(src, index, header_budget.saturating_sub(context.len()));
    if !defs.is_empty() {
        context.push_str("definitions from other open files:\n");
        context.push_str(&defs);
    }

    // The rest goes to the code: 70 % before the cursor, 30 % after, line-aligned.
    let code_budget = budget.saturating_sub(context.len()).max(256);
    let mut start = line_floor(src.rope, offset.saturating_sub(code_budget * 7 / 10));
    let mut end = line_ceil(src.rope, (offset + code_budget * 3 / 10).min(len));
    // Keep the enclosing function or class whole when it fits.
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
    let start = start.min(offset);
    let end = end.max(offset);
    InlineContext {
        context,
        prefix: crate::syntax::slice(src.rope, start..offset),
        suffix: crate::syntax::slice(src.rope, offset..end),
        window: start..end,
    }
}

/// Signatures, from other open files, of identifiers used near the cursor and not defined here.
fn foreign_definitions(src: &Source<'_>, index: &Snapshot, budget: usize) -> String {
    let own = index.file(src.key);
    let line = src.rope.byte_to_line(src.offset.min(src.rope.len_bytes()));
    let first = line.saturating_sub(NEAR_LINES);
    let last = (line + NEAR_LINES).min(src.rope.len_lines().saturating_sub(1));
    let mut wanted = BTreeMap::new();
    for l in first..=last {
        let text = src.rope.line(l).to_string();
        for w in text.split(|c: char| !crate::completion::local::is_word_char(c)) {
            let defined_here = own.is_some_and(|f| f.defines(w));
            if w.len() > 2 && !defined_here {
                wanted.entry(w.to_owned()).or_insert(l.abs_diff(line));
            }
        }
    }
    // Closest identifiers first; deterministic order keeps the prompt stable between keystrokes.
    let mut names: Vec<(usize, String)> = wanted.into_iter().map(|(w, d)| (d, w)).collect();
    names.sort();
    let mut out = String::new();
    let mut seen = std::collections::HashSet::new();
    for (_, name) in names {
        // One definition per name, the same one every time (the prompt stays byte-stable).
        let related = |d: &&Definition| {
            d.file != *src.key
                && matches!(d.kind, SymbolKind::Function | SymbolKind::Method | SymbolKind::Type | SymbolKind::Macro)
                && (src.family.is_none() || index.file(&d.file).is_some_and(|f| f.family == src.family))
        };
        let best =
            index.lookup(&name).filter(related).min_by(|a, b| (&a.file, a.range.start).cmp(&(&b.file, b.range.start)));
        let Some(def) = best else { continue };
        if !seen.insert(def.signature.clone()) {
            continue;
        }
        let entry = format!("// {}\n{}\n", def.file.file_name(), def.signature);
        if out.len() + entry.len() > budget {
            return out;
        }
        out.push_str(&entry);
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::Languages;

    fn build(lang: &str, fixture: &str, others: &[(&str, &str)], budget: usize) -> InlineContext {
        let offset = fixture.find("$0").expect("cursor");
        let text = fixture.replace("$0", "");
        let rope = Rope::from_str(&text);
        let info = Languages::global().by_id(lang).unwrap();
        let syntax = SyntaxTree::parse(info, &rope);
        let index = crate::index::Index::default();
        index.open("file:///w/src/main.rs", Some(info), 1, rope.clone(), false);
        for (uri, t) in others {
            index.open(uri, Some(info), 1, Rope::from_str(t), false);
        }
        index.flush();
        let key = FileKey::from_uri("file:///w/src/main.rs");
        let family = Some(crate::index::family(info.id.as_str()));
        let src = Source {
            path: "src/main.rs",
            language: lang,
            rope: &rope,
            syntax: syntax.as_ref(),
            key: &key,
            family,
            offset,
        };
        inline(&src, &index.snapshot(), budget)
    }

    #[test]
    fn stable_header_then_code_around_the_cursor() {
        let ctx = build(
            "rust",
            "use crate::cart::Cart;\n\nfn main() {\n    let c = Cart::new();\n    let t = total_price(&c$0);\n}\n",
            &[("file:///w/src/cart.rs", "pub fn total_price(cart: &Cart) -> u32 {\n    0\n}\npub struct Cart;\n")],
            1500,
        );
        assert_eq!(
            ctx.context,
            "path: src/main.rs\nlanguage: rust\nimports:\nuse crate::cart::Cart;\ndefinitions from other open files:\n// cart.rs\npub fn total_price(cart: &Cart) -> u32\n// cart.rs\npub struct Cart;\n"
        );
        assert!(ctx.prefix.ends_with("total_price(&c"));
        assert_eq!(ctx.suffix, ");\n}\n");
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
