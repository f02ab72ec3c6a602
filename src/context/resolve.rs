//! Resolution: which workspace definitions the code at the cursor refers to, most needed first —
//! the call or attribute being typed, then the names the enclosing function uses, then the file's
//! imports — found through the file's import statements where they say where a name comes from,
//! and by name lookup otherwise. Pure: the workspace is a trait the index implements.

use std::{
    collections::{HashMap, HashSet},
    ops::Range,
};

use ropey::Rope;

use super::imports::{self, Binding};
use crate::syntax::{LanguageInfo, SyntaxTree};

/// A definition somewhere in the workspace, as prompts show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Def {
    pub name: String,
    /// `function`, `method`, `type`, `impl`, `constant`, `module`, `member`, ...
    pub kind: String,
    /// The file, `/`-separated, in the same form as [`Target::file`] (absolute in the server).
    pub file: String,
    /// Zero-based line of the definition's start.
    pub line: usize,
    /// Everything before the body: the whole parameter list, return type, generics.
    pub signature: String,
    /// A type's fields, constructor and methods (their signatures).
    pub members: Vec<String>,
    /// The definition around this one (the class of a method, the impl of a fn).
    pub container: Option<String>,
}

/// What resolution reads from the workspace: the index, or anything shaped like it.
pub trait Workspace {
    /// Every definition named exactly `name`.
    fn lookup(&self, name: &str) -> Vec<Def>;
    /// Whether `file` (same form as [`Def::file`]) is a source file of the workspace.
    fn has_file(&self, file: &str) -> bool;
}

/// Why a definition is wanted, most needed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// The call or attribute being typed at the cursor.
    Callee,
    /// A name used in the enclosing function or class.
    Scope,
    /// A name the file imports.
    Import,
}

impl Tier {
    pub fn label(self) -> &'static str {
        match self {
            Tier::Callee => "called at the cursor",
            Tier::Scope => "used in the enclosing scope",
            Tier::Import => "imported",
        }
    }
}

/// A name the code at the cursor needs, with the qualifier it was written with (`Foo::new`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub name: String,
    pub qualifier: Option<String>,
    pub tier: Tier,
}

/// The file being completed, as resolution needs it.
pub struct Target<'a> {
    /// The file, `/`-separated, in the same form as [`Def::file`].
    pub file: &'a str,
    pub lang: Option<&'static LanguageInfo>,
    pub rope: &'a Rope,
    pub syntax: Option<&'a SyntaxTree>,
    pub offset: usize,
    pub imports: &'a [Binding],
    /// Names defined in this file (their definitions are in the code window or one scroll away).
    pub defined_here: &'a dyn Fn(&str) -> bool,
}

/// A resolved definition and why it is wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub def: Def,
    pub wanted: Wanted,
    /// How it was found: "import" (the file's import says where it lives) or "name".
    pub via: &'static str,
}

/// How far back the callee scan looks for an unclosed `(`: a call's arguments may span lines.
const CALL_SCAN_BYTES: usize = 800;
/// Names taken from the enclosing scope.
const MAX_SCOPE_NAMES: usize = 48;
/// The rings of the scope the name scan reads (bytes before and after the cursor), and its head.
/// Only the nearest ring is read precisely, so it is the lines at the cursor.
const SCOPE_BEFORE: [usize; 3] = [300, 4000, 16000];
const SCOPE_AFTER: [usize; 2] = [120, 2000];
const SCOPE_HEAD_BYTES: usize = 400;
/// Definitions kept per wanted name: the callee may be overloaded or defined twice; others, one.
const PER_CALLEE: usize = 2;

/// The names the code at the cursor needs, most needed first, each once.
pub fn wanted(t: &Target<'_>) -> Vec<Wanted> {
    let mut out: Vec<Wanted> = Vec::new();
    let mut seen = HashSet::new();
    let mut push = |out: &mut Vec<Wanted>, name: &str, qualifier: Option<&str>, tier: Tier| {
        if !name.is_empty() && seen.insert(name.to_owned()) {
            out.push(Wanted { name: name.to_owned(), qualifier: qualifier.map(str::to_owned), tier });
        }
    };
    let start = t.offset.saturating_sub(CALL_SCAN_BYTES);
    let before = crate::syntax::slice(t.rope, start..t.offset);
    for chain in calls_at(&before) {
        let name = chain.last().map(String::as_str).unwrap_or("");
        let qualifier = chain.len().checked_sub(2).map(|i| chain[i].as_str());
        push(&mut out, name, qualifier, Tier::Callee);
        if let Some(q) = qualifier {
            push(&mut out, q, None, Tier::Callee);
        }
    }
    // Names of ≤ 2 characters are locals more often than not: taken from the scope only when an
    // import binds them (they still count as callees above).
    let bound = |n: &str| t.imports.iter().any(|b| t.lang.is_some_and(|l| b.local(&l.modules) == Some(n)));
    let keep = |n: &str| (n.chars().count() > 2 || bound(n)) && !(t.defined_here)(n);
    // Each distinct name once: its nearest distance and whether it is kept. A ring holds a few
    // hundred words but few distinct names, so the checks and the allocation are per name.
    let mut nearest: HashMap<String, (usize, bool)> = HashMap::new();
    let distinct = std::cell::Cell::new(0);
    let mut take = |name: &str, at: usize| {
        if at <= t.offset && t.offset <= at + name.len() {
            return; // the word being typed
        }
        let distance = at.abs_diff(t.offset);
        if let Some((d, _)) = nearest.get_mut(name) {
            *d = (*d).min(distance);
            return;
        }
        let kept = keep(name) && !out.iter().any(|w| w.name == name);
        distinct.set(distinct.get() + usize::from(kept));
        nearest.insert(name.to_owned(), (distance, kept));
    };
    match t.syntax {
        Some(tree) => {
            let scopes = tree.scopes_at(t.rope, t.offset);
            let scope = scopes.last().cloned().unwrap_or(t.offset.saturating_sub(2000)..t.offset + 2000);
            for ring in scope_rings(scope, t.offset) {
                if distinct.get() >= MAX_SCOPE_NAMES {
                    break;
                }
                if ring.precise {
                    tree.identifiers(t.rope, Some(ring.range), |name, at| take(&name, at));
                } else {
                    words(t.rope, t.lang, ring.range, &mut take);
                }
            }
        }
        None => words(t.rope, t.lang, t.offset.saturating_sub(1500)..t.offset + 500, &mut take),
    }
    let mut scope_names: Vec<(usize, String)> =
        nearest.into_iter().filter(|(_, (_, kept))| *kept).map(|(name, (d, _))| (d, name)).collect();
    scope_names.sort_unstable();
    for (_, name) in scope_names.into_iter().take(MAX_SCOPE_NAMES) {
        push(&mut out, &name, None, Tier::Scope);
    }
    if let Some(lang) = t.lang {
        for b in t.imports {
            if let Some(local) = b.local(&lang.modules)
                && !b.submodule
            {
                push(&mut out, local, None, Tier::Import);
            }
        }
    }
    out
}

/// A part of the enclosing scope the name scan reads.
#[derive(Debug, PartialEq, Eq)]
struct Ring {
    range: Range<usize>,
    /// Read with the identifiers query; otherwise lexically (see [`words`]).
    precise: bool,
}

/// What of the enclosing `scope` the name scan reads, nearest first: rings around the cursor
/// that widen until enough names are found, then the scope's head (a function's signature).
/// The nearest ring (the lines at the cursor) is read with the identifiers query, the rest
/// lexically, because tree-sitter walks ~15 bytes a microsecond and a long function read through
/// it would cost the keystroke most of a millisecond.
fn scope_rings(scope: Range<usize>, offset: usize) -> Vec<Ring> {
    let end = scope.end.min(offset + SCOPE_AFTER[SCOPE_AFTER.len() - 1]);
    let before = |n: usize| offset.saturating_sub(n).max(scope.start).min(offset);
    let after = |n: usize| (offset + n).min(end).max(offset);
    let mut rings = Vec::new();
    let (mut lo, mut hi) = (offset, offset);
    for (i, &back) in SCOPE_BEFORE.iter().enumerate() {
        let (new_lo, new_hi) = (before(back), SCOPE_AFTER.get(i).map_or(hi, |&n| after(n)));
        if i == 0 {
            rings.push(Ring { range: new_lo..new_hi, precise: true });
        } else {
            let wider = [new_lo..lo, hi..new_hi].into_iter().filter(|r| r.start < r.end);
            rings.extend(wider.map(|range| Ring { range, precise: false }));
        }
        (lo, hi) = (new_lo, new_hi);
    }
    let head = scope.start..(scope.start + SCOPE_HEAD_BYTES).min(lo);
    if head.start < head.end {
        rings.push(Ring { range: head, precise: false });
    }
    rings
}

/// Longest word a ring's end is stretched to read whole.
const MAX_WORD_CHARS: usize = 128;

/// The names in `range` of `rope`, read lexically: words that are not numbers, not the
/// language's keywords and not in a line comment. Calls `f(word, byte offset)`. A word belongs to
/// the ring its first character is in and is read whole: one cut by the range's end is read to
/// its end, one that started before the range is left to the ring before.
fn words(rope: &Rope, lang: Option<&LanguageInfo>, range: Range<usize>, f: &mut impl FnMut(&str, usize)) {
    use crate::completion::local::is_word_char;
    let keywords = lang.map(LanguageInfo::keywords);
    let comment = lang.and_then(|l| l.line_comment.as_deref()).filter(|c| !c.is_empty());
    let len = rope.len_bytes();
    let first = rope.byte_to_char(range.start.min(len));
    let mut last = rope.byte_to_char(range.end.min(len)).max(first);
    let mut stretched = 0;
    while last > first && last < rope.len_chars() && stretched < MAX_WORD_CHARS {
        if !(is_word_char(rope.char(last - 1)) && is_word_char(rope.char(last))) {
            break;
        }
        last += 1;
        stretched += 1;
    }
    let cut_at_start = first > 0 && is_word_char(rope.char(first - 1));
    let text = rope.slice(first..last).to_string();
    let start = rope.char_to_byte(first);
    let mut at = start;
    for line in text.split_inclusive('\n') {
        let code = comment.and_then(|c| line.find(c)).map_or(line, |i| &line[..i]);
        let mut word_start = None;
        for (i, c) in code.char_indices().chain([(code.len(), ' ')]) {
            match (word_start, is_word_char(c)) {
                (None, true) => word_start = Some(i),
                (Some(s), false) => {
                    let w = &code[s..i];
                    let starts_before = cut_at_start && at + s == start;
                    let keyword = keywords.is_some_and(|k| k.contains(w));
                    if !w.starts_with(|c: char| c.is_ascii_digit()) && !keyword && !starts_before {
                        f(w, at + s);
                    }
                    word_start = None;
                }
                _ => {}
            }
        }
        at += line.len();
    }
}

/// The calls whose argument list the cursor is in, innermost first, each as its name chain
/// (`self.signer.sign(` → `[self, signer, sign]`); also the chain being typed after a `.`/`::`.
fn calls_at(before: &str) -> Vec<Vec<String>> {
    let bytes = before.as_bytes();
    let mut out = Vec::new();
    // The attribute being typed: `obj.meth|` or `obj.|` — its receiver is what is needed.
    let head = before.trim_end_matches(crate::completion::local::is_word_char);
    if head.ends_with('.') || head.ends_with("::") {
        let chain = chain_before(head);
        if !chain.is_empty() {
            out.push(chain);
        }
    }
    let mut depth = 0usize;
    let mut i = bytes.len();
    while i > 0 && out.len() < 3 {
        i -= 1;
        match bytes[i] {
            b')' | b']' => depth += 1,
            b'(' | b'[' if depth > 0 => depth -= 1,
            b'(' => {
                let chain = chain_before(&before[..i]);
                if !chain.is_empty() {
                    out.push(chain);
                }
            }
            b'[' => {}
            b';' | b'{' | b'}' if depth == 0 => break,
            _ => {}
        }
    }
    out
}

/// The identifier chain ending right before `text`'s end: `a.b::c` → `[a, b, c]`.
fn chain_before(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text.trim_end_matches([' ', '\t']);
    // `.` and `::` after the last segment mean the next segment is being typed.
    rest = rest.strip_suffix("::").or_else(|| rest.strip_suffix('.')).unwrap_or(rest);
    loop {
        let word_start = rest.trim_end_matches(|c: char| crate::completion::local::is_word_char(c)).len();
        let word = &rest[word_start..];
        if word.is_empty() || word.starts_with(|c: char| c.is_ascii_digit()) {
            break;
        }
        out.push(word.to_owned());
        rest = &rest[..word_start];
        if let Some(r) = rest.strip_suffix("::").or_else(|| rest.strip_suffix("?.")).or_else(|| rest.strip_suffix('.'))
        {
            rest = r;
        } else {
            break;
        }
    }
    out.reverse();
    out
}

/// Resolves `wanted` against the workspace: per name, the definitions the file's imports point
/// at, else those whose container is the qualifier, else the nearest by path.
pub fn resolve(t: &Target<'_>, wanted: &[Wanted], ws: &dyn Workspace) -> Vec<Resolved> {
    let rules = t.lang.map(|l| &l.modules);
    let exists = |f: &str| ws.has_file(f);
    let files_of = |module: &str| -> Vec<String> {
        rules.map(|r| imports::module_files(r, t.file, module, &exists)).unwrap_or_default()
    };
    let globs: Vec<String> = t.imports.iter().filter(|b| b.glob).flat_map(|b| files_of(&b.module)).collect();
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for w in wanted {
        let mut defs: Vec<Def> = ws.lookup(&w.name).into_iter().filter(|d| d.file != t.file).collect();
        if defs.is_empty() {
            continue;
        }
        // Where the imports say the name (or its qualifier) lives.
        let mut from_imports: Vec<String> = Vec::new();
        if let Some(rules) = rules {
            for b in t.imports {
                let local = b.local(rules);
                if local == Some(w.name.as_str()) {
                    from_imports.extend(files_of(&b.module));
                    from_imports.extend(files_of(&b.module_of_local(rules)));
                }
                if w.qualifier.is_some() && local == w.qualifier.as_deref() {
                    from_imports.extend(files_of(&b.module_of_local(rules)));
                    from_imports.extend(files_of(&b.module));
                }
            }
        }
        let score = |d: &Def| -> (u8, usize) {
            let place = if from_imports.contains(&d.file) {
                0
            } else if w.qualifier.is_some() && d.container == w.qualifier {
                1
            } else if globs.contains(&d.file) {
                2
            } else {
                3
            };
            (place, usize::MAX - common_prefix(&d.file, t.file))
        };
        defs.sort_by_key(|d| (score(d), d.file.clone(), d.line));
        let via = if score(&defs[0]).0 == 0 { "import" } else { "name" };
        let keep = if w.tier == Tier::Callee { PER_CALLEE } else { 1 };
        for def in defs.into_iter().take(keep) {
            if seen.insert((def.file.clone(), def.line, def.name.clone())) {
                out.push(Resolved { def, wanted: w.clone(), via });
            }
        }
    }
    out
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.split('/').zip(b.split('/')).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::Languages;

    #[test]
    fn the_scope_scan_widens_from_the_cursor_and_ends_with_the_head() {
        let ring = |range: Range<usize>, precise| Ring { range, precise };
        // A small scope: the first ring is all of it.
        assert_eq!(scope_rings(100..500, 400), vec![ring(100..500, true)]);
        // A long function: rings 300/120, 4,000/2,000, 16,000/– bytes around the cursor, then
        // the first 400 bytes (its signature).
        assert_eq!(
            scope_rings(1_000..90_000, 50_000),
            vec![
                ring(49_700..50_120, true),
                ring(46_000..49_700, false),
                ring(50_120..52_000, false),
                ring(34_000..46_000, false),
                ring(1_000..1_400, false)
            ]
        );
        // The cursor near the end of the scope: nothing past it; the head is not read twice.
        let rings = scope_rings(0..50_010, 50_000);
        assert_eq!(
            rings.iter().map(|r| r.range.clone()).collect::<Vec<_>>(),
            [49_700..50_010, 46_000..49_700, 34_000..46_000, 0..400]
        );
        assert_eq!(scope_rings(0..3_000, 2_000).len(), 3);
    }

    #[test]
    fn the_lexical_scan_skips_keywords_numbers_and_comments() {
        let lang = Languages::global().by_id("rust");
        let text = "let café = Config::load(2); // see Other\n    pub fn 9lives(x: Größe) {}";
        let rope = Rope::from_str(text);
        let mut got = Vec::new();
        words(&rope, lang, 0..text.len(), &mut |w, at| got.push((w.to_owned(), at)));
        let at = |w: &str| text.find(w).unwrap();
        assert_eq!(
            got,
            vec![
                ("café".to_string(), at("café")),
                ("Config".into(), at("Config")),
                ("load".into(), at("load")),
                ("x".into(), at("x:")),
                ("Größe".into(), at("Größe")),
            ]
        );
        // Without a language nothing is a keyword.
        let mut plain = Vec::new();
        words(&rope, None, 0..3, &mut |w, _| plain.push(w.to_owned()));
        assert_eq!(plain, ["let"]);
    }

    #[test]
    fn a_word_belongs_to_the_ring_it_starts_in_and_is_read_whole() {
        let text = "let café = Config::load(2);";
        let rope = Rope::from_str(text);
        let at = |w: &str| text.find(w).unwrap();
        let scan = |range: Range<usize>| {
            let mut got = Vec::new();
            words(&rope, None, range, &mut |w, at| got.push((w.to_owned(), at)));
            got
        };
        // Starts inside `Config` (left to the ring before), ends inside `load` (read to its end).
        assert_eq!(scan(at("Config") + 2..at("load") + 2), vec![("load".to_string(), at("load"))]);
        // Starts inside the two bytes of `é`: offsets stay exact, `café` is not split.
        assert_eq!(scan(at("é") + 1..at("=")), Vec::<(String, usize)>::new());
        assert_eq!(scan(at("café")..at("café") + 1), vec![("café".to_string(), at("café"))]);
        // Two rings that meet inside a word read it once, whole.
        let mid = at("Config") + 3;
        let mut both = scan(0..mid);
        both.extend(scan(mid..text.len()));
        assert_eq!(
            both.iter().filter(|(w, _)| w.contains("onf")).collect::<Vec<_>>(),
            [&("Config".to_string(), at("Config"))]
        );
        // Past the end of the text: clamped.
        assert_eq!(scan(text.len()..text.len() + 50), Vec::<(String, usize)>::new());
    }

    #[test]
    fn calls_innermost_first_with_their_qualifiers() {
        assert_eq!(calls_at("let t = total_price(&c"), vec![vec!["total_price".to_string()]]);
        assert_eq!(
            calls_at("x = self.signer.sign(value, key(a"),
            vec![vec!["key".to_string()], vec!["self".into(), "signer".into(), "sign".into()]]
        );
        assert_eq!(calls_at("Version::parse(\"1.0\"), f(x)"), Vec::<Vec<String>>::new());
        assert_eq!(calls_at("let v = Version::new("), vec![vec!["Version".to_string(), "new".into()]]);
        assert_eq!(calls_at("    cart.ite"), vec![vec!["cart".to_string()]]);
        assert_eq!(calls_at("    cart."), vec![vec!["cart".to_string()]]);
    }

    struct Mem {
        defs: HashMap<String, Vec<Def>>,
    }

    impl Workspace for Mem {
        fn lookup(&self, name: &str) -> Vec<Def> {
            self.defs.get(name).cloned().unwrap_or_default()
        }
        fn has_file(&self, file: &str) -> bool {
            self.defs.values().flatten().any(|d| d.file == file)
        }
    }

    fn def(name: &str, file: &str, container: Option<&str>) -> Def {
        Def {
            name: name.into(),
            kind: "function".into(),
            file: file.into(),
            line: 0,
            signature: format!("fn {name}()"),
            members: vec![],
            container: container.map(Into::into),
        }
    }

    #[test]
    fn imports_pick_the_definition_among_namesakes() {
        let mut defs: HashMap<String, Vec<Def>> = HashMap::new();
        for d in [
            def("dumps", "w/pkg/a/json.py", None),
            def("dumps", "w/pkg/serializer.py", None),
            def("new", "w/src/version.rs", Some("Version")),
            def("new", "w/src/req.rs", Some("VersionReq")),
        ] {
            defs.entry(d.name.clone()).or_default().push(d);
        }
        let ws = Mem { defs };
        let lang = Languages::global().by_id("python").unwrap();
        let text = "from .a.json import dumps\n\ndef f(x):\n    return dumps(";
        let rope = Rope::from_str(text);
        let tree = SyntaxTree::parse(lang, &rope).unwrap();
        let imports = imports::bindings(&tree, &rope, 64);
        let t = Target {
            file: "w/pkg/b.py",
            lang: Some(lang),
            rope: &rope,
            syntax: Some(&tree),
            offset: text.len(),
            imports: &imports,
            defined_here: &|n| n == "f",
        };
        let w = wanted(&t);
        assert_eq!(w[0], Wanted { name: "dumps".into(), qualifier: None, tier: Tier::Callee });
        let r = resolve(&t, &w, &ws);
        assert_eq!(r[0].def.file, "w/pkg/a/json.py");
        assert_eq!(r[0].via, "import");

        let lang = Languages::global().by_id("rust").unwrap();
        let text = "fn main() {\n    let v = VersionReq::new(";
        let rope = Rope::from_str(text);
        let tree = SyntaxTree::parse(lang, &rope).unwrap();
        let t = Target {
            file: "w/src/main.rs",
            lang: Some(lang),
            rope: &rope,
            syntax: Some(&tree),
            offset: text.len(),
            imports: &[],
            defined_here: &|_| false,
        };
        let r = resolve(&t, &wanted(&t), &ws);
        assert_eq!(r[0].def.container.as_deref(), Some("VersionReq"));
    }

    #[test]
    fn short_names_are_kept_when_called_or_imported() {
        let lang = Languages::global().by_id("python").unwrap();
        let text = "from .m import ok\n\ndef f(x):\n    y = ok\n    return fn(";
        let rope = Rope::from_str(text);
        let tree = SyntaxTree::parse(lang, &rope).unwrap();
        let imports = imports::bindings(&tree, &rope, 64);
        let t = Target {
            file: "w/b.py",
            lang: Some(lang),
            rope: &rope,
            syntax: Some(&tree),
            offset: text.len(),
            imports: &imports,
            defined_here: &|_| false,
        };
        let names: Vec<String> = wanted(&t).into_iter().map(|w| w.name).collect();
        assert_eq!(names[0], "fn");
        assert!(names.contains(&"ok".to_string()));
        assert!(!names.contains(&"y".to_string()) && !names.contains(&"x".to_string()));
    }
}
