//! Extracts the code from an LLM answer for an edit action: the best fenced block (in the target
//! language, else the longest), prose dropped, re-indented and newline-terminated like the
//! original selection it replaces, with the line ending the caller asks for.

use super::eol::{LineEnding, Normalized};

/// A fenced code block of an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FencedBlock<'a> {
    /// First word of the info string (`rust` in ```` ```rust title="x" ````), may be empty.
    pub lang: &'a str,
    /// The block's content, without the fence lines, `\n`-separated, no trailing newline.
    pub code: String,
    /// Whether a closing fence was found.
    pub closed: bool,
}

/// What the code will replace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target<'a> {
    /// The original text of the range being replaced.
    pub original: &'a str,
    /// Language id of the document (`rust`, `python`, `typescriptreact` ...), if known.
    pub language: Option<&'a str>,
    /// The line ending of the result: the document's (see [`LineEnding::dominant`]).
    pub ending: LineEnding,
    /// The indentation of the line the target starts on, when it starts after it (a one-line
    /// target without its indentation): lines the answer adds get it.
    pub line_indent: &'a str,
}

impl<'a> Target<'a> {
    /// A target whose line endings are the original text's dominant one.
    pub fn new(original: &'a str, language: Option<&'a str>) -> Self {
        Self { original, language, ending: LineEnding::dominant(original), line_indent: "" }
    }
}

/// All fenced blocks (``` or ~~~, three or more) of `answer`, in order. An unclosed last fence runs
/// to the end of the answer.
pub fn fenced_blocks(answer: &str) -> Vec<FencedBlock<'_>> {
    let mut blocks = Vec::new();
    let mut lines = answer.lines();
    while let Some(line) = lines.next() {
        let Some((ch, len, info)) = fence(line) else { continue };
        let lang = info.split_whitespace().next().unwrap_or("");
        let lang = lang.trim_start_matches('{').trim_start_matches('.').trim_end_matches('}');
        let indent = line.len() - line.trim_start().len();
        let mut body: Vec<&str> = Vec::new();
        let mut closed = false;
        for l in lines.by_ref() {
            if let Some((c, n, i)) = fence(l)
                && c == ch
                && n >= len
                && i.is_empty()
            {
                closed = true;
                break;
            }
            // Content of an indented fence is indented like it (CommonMark): drop that much.
            let ws = l.len() - l.trim_start_matches(' ').len();
            body.push(&l[ws.min(indent)..]);
        }
        blocks.push(FencedBlock { lang, code: body.join("\n"), closed });
    }
    blocks
}

/// The code of the answer, shaped to replace `target.original`. `None` when the answer holds no
/// code (empty, or only empty fences).
pub fn extract_code(answer: &str, target: &Target<'_>) -> Option<String> {
    let answer = Normalized::new(answer).text;
    let blocks = fenced_blocks(&answer);
    let code = if blocks.is_empty() {
        strip_language_tag(answer.trim_matches('\n'), target.language).to_owned()
    } else {
        pick(&blocks, target.language)?.code.clone()
    };
    let code = trim_blank_lines(&code);
    if code.trim().is_empty() {
        return None;
    }
    let original = Normalized::new(target.original).text;
    let mut out = reindent(code, &original, target.line_indent);
    if original.ends_with('\n') {
        out.push('\n');
    }
    Some(target.ending.apply(&out))
}

/// Removes a first line that is only a language name (a fence whose backticks the model dropped).
pub fn strip_language_tag<'a>(code: &'a str, language: Option<&str>) -> &'a str {
    let Some((first, rest)) = code.split_once('\n') else { return code };
    let tag = first.trim().trim_end_matches(':');
    let known =
        language.is_some_and(|l| same_language(tag, l)) || KNOWN_TAGS.contains(&tag.to_ascii_lowercase().as_str());
    if known && !tag.is_empty() { rest } else { code }
}

const KNOWN_TAGS: [&str; 24] = [
    "rust",
    "rs",
    "python",
    "py",
    "javascript",
    "js",
    "typescript",
    "ts",
    "tsx",
    "jsx",
    "go",
    "golang",
    "java",
    "c",
    "cpp",
    "c++",
    "lua",
    "bash",
    "sh",
    "shell",
    "json",
    "toml",
    "yaml",
    "ruby",
];

fn pick<'b, 'a>(blocks: &'b [FencedBlock<'a>], language: Option<&str>) -> Option<&'b FencedBlock<'a>> {
    let nonempty = || blocks.iter().filter(|b| !b.code.trim().is_empty());
    if let Some(lang) = language
        && let Some(b) = nonempty().filter(|b| same_language(b.lang, lang)).max_by_key(|b| b.code.len())
    {
        return Some(b);
    }
    // Prefer untagged or code-tagged blocks over obvious non-code ones (diff, text, output).
    let is_aside = |b: &&FencedBlock<'_>| {
        matches!(b.lang.to_ascii_lowercase().as_str(), "diff" | "text" | "txt" | "output" | "console" | "plaintext")
    };
    nonempty().filter(|b| !is_aside(b)).max_by_key(|b| b.code.len()).or_else(|| nonempty().max_by_key(|b| b.code.len()))
}

fn canonical(lang: &str) -> String {
    let l = lang.trim().to_ascii_lowercase();
    let c = match l.as_str() {
        "rs" => "rust",
        "py" | "python3" => "python",
        "js" | "javascriptreact" | "jsx" | "mjs" | "cjs" => "javascript",
        "ts" | "typescriptreact" | "tsx" => "typescript",
        "golang" => "go",
        "c++" | "cc" | "cxx" | "hpp" => "cpp",
        "sh" | "shell" | "zsh" | "shellscript" => "bash",
        "yml" => "yaml",
        "rb" => "ruby",
        other => other,
    };
    c.to_owned()
}

fn same_language(a: &str, b: &str) -> bool {
    !a.trim().is_empty() && canonical(a) == canonical(b)
}

/// A Markdown fence line (at most three spaces of indentation): (fence char, length, info string).
pub fn fence(line: &str) -> Option<(char, usize, &str)> {
    let t = line.trim_start();
    if line.len() - t.len() > 3 {
        return None;
    }
    let ch = t.chars().next().filter(|&c| c == '`' || c == '~')?;
    let len = t.len() - t.trim_start_matches(ch).len();
    if len < 3 {
        return None;
    }
    let info = t[len..].trim();
    if ch == '`' && info.contains('`') {
        return None;
    }
    Some((ch, len, info))
}

fn trim_blank_lines(code: &str) -> &str {
    let mut s = code;
    // Leading blank lines (keep the first code line's indentation).
    while let Some(i) = s.find('\n') {
        if s[..i].trim().is_empty() {
            s = &s[i + 1..];
        } else {
            break;
        }
    }
    s.trim_end()
}

fn leading_ws(s: &str) -> &str {
    &s[..s.len() - s.trim_start_matches([' ', '\t']).len()]
}

/// Longest common leading whitespace of the non-blank lines.
fn common_indent<'a>(lines: impl Iterator<Item = &'a str>) -> &'a str {
    let mut common: Option<&str> = None;
    for l in lines.filter(|l| !l.trim().is_empty()) {
        let ws = leading_ws(l);
        common = Some(match common {
            None => ws,
            Some(c) => {
                let n = c.bytes().zip(ws.bytes()).take_while(|(a, b)| a == b).count();
                &c[..n]
            }
        });
    }
    common.unwrap_or("")
}

/// Re-indents `code` to sit where `original` was. When the original's first line is not indented
/// but later lines are, the range started after the indentation (a tree-sitter node, a selection
/// from the first word): the first line gets none, later lines the original's base indentation.
/// A one-line original has no later lines to learn from: `line_indent` (the indentation of its
/// line) stands in for them.
fn reindent(code: &str, original: &str, line_indent: &str) -> String {
    let orig_lines: Vec<&str> = original.lines().collect();
    let code_lines: Vec<&str> = code.lines().collect();
    let orig_first_indented = orig_lines.first().is_some_and(|l| !leading_ws(l).is_empty());
    let later_lines = orig_lines.iter().skip(1).any(|l| !l.trim().is_empty());
    let mid_line = !orig_first_indented && (later_lines || !line_indent.is_empty());
    let code_base = common_indent(code_lines.iter().copied());
    let strip = |l: &str| -> String { l.strip_prefix(code_base).unwrap_or(l.trim_start()).to_owned() };
    let mut out: Vec<String> = Vec::with_capacity(code_lines.len());
    if mid_line {
        let orig_rest = if later_lines { common_indent(orig_lines.iter().skip(1).copied()) } else { line_indent };
        let code_rest = common_indent(code_lines.iter().skip(1).copied());
        let already = code_base.is_empty() && !orig_rest.is_empty() && code_rest.starts_with(orig_rest);
        for (i, l) in code_lines.iter().enumerate() {
            let body = strip(l);
            if i == 0 || body.trim().is_empty() {
                out.push(if body.trim().is_empty() { String::new() } else { body.trim_start().to_owned() });
            } else if already {
                out.push(body);
            } else {
                out.push(format!("{orig_rest}{body}"));
            }
        }
    } else {
        let base = common_indent(orig_lines.iter().copied());
        for l in &code_lines {
            let body = strip(l);
            out.push(if body.trim().is_empty() { String::new() } else { format!("{base}{body}") });
        }
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(original: &str, answer: &str, expected: Option<&str>) {
        check_lang(original, None, answer, expected);
    }

    #[track_caller]
    fn check_lang(original: &str, lang: Option<&str>, answer: &str, expected: Option<&str>) {
        let got = extract_code(answer, &Target::new(original, lang));
        assert_eq!(got.as_deref(), expected, "original {original:?} answer {answer:?}");
    }

    #[test]
    fn fences_and_prose() {
        check("x", "Here you go:\n```rust\nfn a() {}\n```\nThis is better.", Some("fn a() {}"));
        check("x", "~~~python\nprint(1)\n~~~", Some("print(1)"));
        check("x", "````\na\n```\nb\n````", Some("a\n```\nb"));
        check("x", "```\nunclosed()", Some("unclosed()"));
        check("x", "```rust title=\"a.rs\"\nlet a = 1;\n```", Some("let a = 1;"));
        // No fence: the whole answer trimmed, a bare language tag dropped.
        check("x", "\n\nlet a = 1;\n\n", Some("let a = 1;"));
        check("x", "rust\nlet a = 1;", Some("let a = 1;"));
        check_lang("x", Some("python"), "python\nprint(1)", Some("print(1)"));
        check("x", "", None);
        check("x", "```\n\n```", None);
    }

    #[test]
    fn best_block() {
        let answer = "Before:\n```rust\nold()\n```\nAfter:\n```rust\nnew_longer()\n```\n";
        check("x", answer, Some("new_longer()"));
        let answer = "```text\na very long explanation block here\n```\n```py\nprint(1)\n```";
        check_lang("x", Some("python"), answer, Some("print(1)"));
        check("x", answer, Some("print(1)"));
        let answer = "```diff\n-a\n+b\n```\n```\nb\n```";
        check("x", answer, Some("b"));
    }

    #[test]
    fn indentation_and_newlines() {
        // Whole lines, indented: the code gets the selection's indentation.
        check("    a();\n    b();\n", "```\nc();\nd();\n```", Some("    c();\n    d();\n"));
        check("\t\tx\n", "```\nif y {\n    z\n}\n```", Some("\t\tif y {\n\t\t    z\n\t\t}\n"));
        // Already indented answer: not doubled.
        check("    a();\n", "```\n    c();\n```", Some("    c();\n"));
        // No trailing newline in the original: none in the result.
        check("    a()", "```\nc()\n```", Some("    c()"));
        // Range starting after the indentation (tree-sitter node).
        check("fn f() {\n        x\n    }", "```rust\nfn f() {\n    y\n}\n```", Some("fn f() {\n        y\n    }"));
        check(
            "fn f() {\n        x\n    }",
            "```rust\nfn f() {\n        y\n    }\n```",
            Some("fn f() {\n        y\n    }"),
        );
        // CRLF.
        check("    a();\r\n    b();\r\n", "```\nc();\nd();\n```", Some("    c();\r\n    d();\r\n"));
        let t = Target { original: "x", language: None, ending: LineEnding::CrLf, line_indent: "" };
        assert_eq!(extract_code("```\na\nb\n```", &t).as_deref(), Some("a\r\nb"));
        // A lone CR is a line break too; the answer's own endings never leak through.
        check("    a();\r    b();\r", "```\r\nc();\r\nd();\r\n```", Some("    c();\r    d();\r"));
        // A one-line target after its line's indentation: added lines get that indentation.
        let t = Target { original: "let s = a + b;", language: None, ending: LineEnding::Lf, line_indent: "    " };
        assert_eq!(
            extract_code("```\nlet t = a;\nlet s = t + b;\n```", &t).as_deref(),
            Some("let t = a;\n    let s = t + b;")
        );
        // Blank lines inside the code stay blank (no trailing spaces).
        check("  a\n", "```\nb\n\nc\n```", Some("  b\n\n  c\n"));
    }

    #[test]
    fn multibyte() {
        check("    s = \"漢字\"\n", "```python\ns = \"😀 漢字\"\n```", Some("    s = \"😀 漢字\"\n"));
        check("😀", "答え:\n```\n😀😀\n```", Some("😀😀"));
    }

    #[test]
    fn no_panic_on_arbitrary_unicode() {
        use proptest::prelude::*;
        let piece = prop::sample::select(vec![
            "```", "~~~", "````", "\n", "\r\n", "  ", "\t", "rust", "😀", "漢", "é", "x", " ", "{", "}",
        ]);
        let text =
            prop::collection::vec(prop_oneof![piece.prop_map(str::to_owned), ".{0,3}"], 0..24).prop_map(|v| v.concat());
        let mut runner = proptest::test_runner::TestRunner::default();
        runner
            .run(&(text.clone(), text), |(answer, original)| {
                let _ = fenced_blocks(&answer);
                if let Some(out) = extract_code(&answer, &Target::new(&original, Some("rust"))) {
                    prop_assert!(!out.trim().is_empty());
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
    }
}
