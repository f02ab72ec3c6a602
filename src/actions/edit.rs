//! From a finished answer to an edit the user can trust: the code is extracted, diffed minimally
//! against the target, re-anchored when the document moved on (or refused when the target itself
//! changed), checked with tree-sitter for new ERROR nodes, and — for tests — placed where the
//! language keeps them. No I/O: callers pass the current text and whether a test file exists.

use std::{
    ops::Range,
    path::{Path, PathBuf},
};

use ropey::Rope;

use super::{
    ActionError,
    diff::{self, TextEdit},
    eol::{LineEnding, Normalized},
    extract::{Target, extract_code},
    run::Prepared,
};
use crate::syntax::{Languages, SyntaxTree};

/// Edits for one file, in byte offsets of `base`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEdit {
    pub uri: String,
    /// The document version the edits apply to; `None` for a file that is not open.
    pub version: Option<i32>,
    /// The file does not exist yet: create it first.
    pub create: bool,
    /// The text the edits are offsets into.
    pub base: String,
    pub edits: Vec<TextEdit>,
}

impl FileEdit {
    pub fn result(&self) -> String {
        diff::apply_edits(&self.base, &self.edits)
    }

    pub fn is_empty(&self) -> bool {
        self.edits.is_empty() && !self.create
    }
}

/// An edit and what the syntax check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub file: FileEdit,
    /// ERROR/MISSING nodes before and after, when the edit adds some.
    pub new_errors: Option<(usize, usize)>,
}

/// The open document as it is now.
#[derive(Debug, Clone, Copy)]
pub struct Current<'a> {
    pub text: &'a str,
    pub version: i32,
}

/// Where tests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestLocation {
    /// Appended to the file under test (Rust's `#[cfg(test)] mod tests`, and languages without a
    /// convention).
    SameFile,
    File(PathBuf),
}

/// The language's usual test location for `path`: Python `tests/test_<module>.py` (under the
/// workspace root), JS/TS `<name>.test.<ext>` and Go `<name>_test.go` beside it, else the file itself.
pub fn test_location(path: Option<&Path>, language: &str, root: Option<&Path>) -> TestLocation {
    let Some(path) = path else { return TestLocation::SameFile };
    let (Some(dir), Some(stem), Some(name)) = (path.parent(), path.file_stem(), path.file_name()) else {
        return TestLocation::SameFile;
    };
    let stem = stem.to_string_lossy();
    let name = name.to_string_lossy();
    let ext = path.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
    let already_a_test = name.starts_with("test_") || name.contains(".test.") || name.ends_with("_test.go");
    if already_a_test {
        return TestLocation::SameFile;
    }
    match language {
        "python" => {
            let base = root.filter(|r| path.starts_with(r)).unwrap_or(dir);
            TestLocation::File(base.join("tests").join(format!("test_{stem}.py")))
        }
        "javascript" | "javascriptreact" | "typescript" | "typescriptreact" => {
            TestLocation::File(dir.join(format!("{stem}.test.{ext}")))
        }
        "go" => TestLocation::File(dir.join(format!("{stem}_test.go"))),
        _ => TestLocation::SameFile,
    }
}

/// Turns the answer of a replacing action into minimal edits of the current document.
/// The target is diffed with `\n` line breaks and mapped back, so lines the answer keeps keep their
/// own ending and new ones take the document's dominant one.
pub fn plan_replacement(p: &Prepared, answer: &str, current: Current<'_>) -> Result<Planned, ActionError> {
    let range = anchor(p, current)?;
    let original = Normalized::new(p.target_text());
    let target = Target {
        original: &original.text,
        language: Some(&p.language),
        ending: LineEnding::Lf,
        line_indent: line_indent(current.text, range.start),
    };
    let replacement = extract_code(answer, &target).ok_or(ActionError::NoCode)?;
    let ending = LineEnding::dominant(current.text);
    let edits = diff::minimal_edits(&original.text, &replacement)
        .into_iter()
        .map(|e| TextEdit {
            start: range.start + original.to_original(e.start),
            end: range.start + original.to_original(e.end),
            text: ending.apply(&e.text),
        })
        .collect();
    let file = FileEdit {
        uri: p.uri.clone(),
        version: Some(current.version),
        create: false,
        base: current.text.to_owned(),
        edits,
    };
    Ok(Planned { new_errors: new_errors(&p.language, &p.uri, &file), file })
}

/// The leading whitespace of the line `offset` is on.
fn line_indent(text: &str, offset: usize) -> &str {
    let before = text.get(..offset).unwrap_or("");
    let line = &before[before.rfind(['\n', '\r']).map_or(0, |i| i + 1)..];
    &line[..line.len() - line.trim_start_matches([' ', '\t']).len()]
}

/// Where the target is in the current text: unchanged, moved by edits around it, or an error
/// when the target itself was edited.
fn anchor(p: &Prepared, current: Current<'_>) -> Result<Range<usize>, ActionError> {
    if current.version == p.version && current.text == p.text {
        return Ok(p.target.clone());
    }
    diff::reanchor(&p.text, p.target.clone(), current.text).map_err(|e| ActionError::Stale(e.to_string()))
}

/// The test file the answer goes to, as it is now: `(uri, version if open, text if it exists)`.
#[derive(Debug, Clone)]
pub struct TestFile<'a> {
    pub uri: String,
    pub version: Option<i32>,
    pub text: Option<&'a str>,
}

/// Appends the tests of the answer to `dest` (creating it when it does not exist).
pub fn plan_tests(p: &Prepared, answer: &str, dest: TestFile<'_>) -> Result<Planned, ActionError> {
    let code = extract_code(answer, &Target::new("", Some(&p.language))).ok_or(ActionError::NoCode)?;
    let code = code.trim_matches('\n');
    let base = dest.text.unwrap_or("").to_owned();
    // One blank line between the file and the tests, whatever its line breaks.
    let trailing = &base[base.trim_end_matches(['\r', '\n']).len()..];
    let sep = match (base.is_empty(), Normalized::new(trailing).text.len()) {
        (true, _) | (false, 2..) => "",
        (false, 1) => "\n",
        (false, _) => "\n\n",
    };
    // The test file's own ending, or for a new (or one-line) file the file under test's.
    let has_breaks = base.contains(['\n', '\r']);
    let ending = LineEnding::dominant(if has_breaks { &base } else { &p.text });
    let text = ending.apply(&format!("{sep}{code}\n"));
    let end = base.len();
    let file = FileEdit {
        uri: dest.uri,
        version: dest.version,
        create: dest.text.is_none(),
        base,
        edits: vec![TextEdit { start: end, end, text }],
    };
    Ok(Planned { new_errors: new_errors(&p.language, &file.uri, &file), file })
}

/// `Some((before, after))` when applying the edit adds tree-sitter ERROR or MISSING nodes.
fn new_errors(language: &str, uri: &str, file: &FileEdit) -> Option<(usize, usize)> {
    let lang = Languages::global().resolve(language, uri).filter(|l| l.has_grammar())?;
    let count = |text: &str| SyntaxTree::parse(lang, &Rope::from_str(text)).map(|t| t.error_count());
    let before = count(&file.base)?;
    let after = count(&file.result())?;
    (after > before).then_some((before, after))
}

/// The file path of a `file://` URI (percent escapes decoded).
pub fn uri_to_path(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (bytes.get(i + 1).and_then(|b| hex(*b)), bytes.get(i + 2).and_then(|b| hex(*b)))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    Some(PathBuf::from(String::from_utf8_lossy(&out).into_owned()))
}

/// A `file://` URI for a path, percent-encoding all but unreserved characters and `/`.
pub fn path_to_uri(path: &Path) -> String {
    let mut out = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        actions::{Action, ActionId, run},
        engine::Engine,
    };

    fn prepared(action: ActionId, uri: &str, lang: &str, fixture: &str) -> (Engine, Prepared) {
        let i = fixture.find("$0").unwrap();
        let text = fixture.replacen("$0", "", 1);
        let engine = Engine::default();
        engine.open(uri, lang, 1, &text);
        let state = engine.snapshot(uri).unwrap();
        let index = crate::index::Snapshot::default();
        let p = run::prepare(Action::builtin(action), &state, i..i, &[], &index, Some(Path::new("/ws"))).unwrap();
        (engine, p)
    }

    const SRC: &str =
        "use std::fmt;\n\nfn add(a: i32, b: i32) -> i32 {\n    let s = a + b;$0\n    s\n}\n\nfn other() {}\n";
    const ANSWER: &str = "Here is a simpler version:\n\n```rust\nfn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n```\n\nIt drops the temporary.";

    #[test]
    fn replacement_is_minimal_and_versioned() {
        let (_, p) = prepared(ActionId::Refactor, "file:///ws/src/lib.rs", "rust", SRC);
        assert_eq!(p.target_text(), "fn add(a: i32, b: i32) -> i32 {\n    let s = a + b;\n    s\n}");
        let planned = plan_replacement(&p, ANSWER, Current { text: &p.text, version: 1 }).unwrap();
        assert_eq!(planned.file.version, Some(1));
        assert!(planned.new_errors.is_none());
        assert_eq!(
            planned.file.result(),
            "use std::fmt;\n\nfn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n\nfn other() {}\n"
        );
        let changed: usize = planned.file.edits.iter().map(|e| e.end - e.start).sum();
        assert!(changed < 20, "{:?}", planned.file.edits);
    }

    #[test]
    fn reanchors_around_edits_and_refuses_edits_inside() {
        let (_, p) = prepared(ActionId::Refactor, "file:///ws/src/lib.rs", "rust", SRC);
        let moved = format!("// header\n{}", p.text);
        let planned = plan_replacement(&p, ANSWER, Current { text: &moved, version: 2 }).unwrap();
        assert_eq!(planned.file.version, Some(2));
        assert!(
            planned
                .file
                .result()
                .starts_with("// header\nuse std::fmt;\n\nfn add(a: i32, b: i32) -> i32 {\n    a + b\n}")
        );
        let touched = p.text.replace("let s = a + b;", "let s = a - b;");
        let err = plan_replacement(&p, ANSWER, Current { text: &touched, version: 2 }).unwrap_err();
        assert!(
            err.to_string().starts_with("the code changed while Claude was working; run the action again"),
            "{err}"
        );
    }

    #[test]
    fn syntax_errors_are_flagged() {
        let (_, p) = prepared(ActionId::Refactor, "file:///ws/src/lib.rs", "rust", SRC);
        let broken = "```rust\nfn add(a: i32, b: i32) -> i32 {\n    a + \n```";
        let planned = plan_replacement(&p, broken, Current { text: &p.text, version: 1 }).unwrap();
        assert!(matches!(planned.new_errors, Some((0, n)) if n > 0), "{:?}", planned.new_errors);
        assert_eq!(
            plan_replacement(&p, "I cannot help.\n```\n```", Current { text: &p.text, version: 1 }),
            Err(ActionError::NoCode)
        );
    }

    #[test]
    fn tests_go_where_the_language_keeps_them() {
        let root = Some(Path::new("/ws"));
        let loc = |p: &str, l: &str| test_location(Some(Path::new(p)), l, root);
        assert_eq!(loc("/ws/src/lib.rs", "rust"), TestLocation::SameFile);
        assert_eq!(loc("/ws/pkg/cart.py", "python"), TestLocation::File("/ws/tests/test_cart.py".into()));
        assert_eq!(loc("/ws/src/cart.ts", "typescript"), TestLocation::File("/ws/src/cart.test.ts".into()));
        assert_eq!(loc("/ws/cart.go", "go"), TestLocation::File("/ws/cart_test.go".into()));
        assert_eq!(loc("/ws/cart_test.go", "go"), TestLocation::SameFile);
        assert_eq!(loc("/ws/x.lua", "lua"), TestLocation::SameFile);

        let (_, p) = prepared(ActionId::Tests, "file:///ws/src/lib.rs", "rust", SRC);
        let answer = "```rust\n#[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn adds() { assert_eq!(add(1, 2), 3); }\n}\n```";
        let dest = TestFile { uri: p.uri.clone(), version: Some(1), text: Some(&p.text) };
        let planned = plan_tests(&p, answer, dest).unwrap();
        assert!(!planned.file.create);
        assert!(planned.file.result().ends_with("fn other() {}\n\n#[cfg(test)]\nmod tests {\n    use super::*;\n    #[test]\n    fn adds() { assert_eq!(add(1, 2), 3); }\n}\n"));
        assert!(planned.new_errors.is_none());

        let dest = TestFile { uri: "file:///ws/tests/test_cart.py".into(), version: None, text: None };
        let planned = plan_tests(&p, "```python\ndef test_x():\n    assert True\n```", dest).unwrap();
        assert!(planned.file.create);
        assert_eq!(planned.file.result(), "def test_x():\n    assert True\n");
    }

    #[test]
    fn uris_round_trip() {
        let p = Path::new("/tmp/a b/ünï.rs");
        assert_eq!(path_to_uri(p), "file:///tmp/a%20b/%C3%BCn%C3%AF.rs");
        assert_eq!(uri_to_path(&path_to_uri(p)).as_deref(), Some(p));
    }
}
