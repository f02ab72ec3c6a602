//! Minimal edits between a range's original text and its replacement (line diff refined to
//! characters), unified diffs for the CLI, and re-anchoring a range after the document changed.
//!
//! Offsets are byte offsets into the original text and always fall on char boundaries.

use std::ops::Range;

use similar::{ChangeTag, DiffOp, TextDiff};

/// Hunks larger than this (old + new bytes) are not refined to characters: one edit per hunk.
const REFINE_LIMIT: usize = 4096;
/// Character edits separated by fewer unchanged bytes than this are merged into one.
const MERGE_GAP: usize = 4;

/// Replace `start..end` of the original text (byte offsets) with `text`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextEdit {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// Why a range could not be re-anchored in the current document.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReanchorError {
    #[error("range {start}..{end} is not a valid range of the original text ({len} bytes)")]
    InvalidRange { start: usize, end: usize, len: usize },
    #[error("the code this action was working on was edited since it started; run it again")]
    Changed,
    #[error("the code this action was working on moved and now occurs {count} times; run it again")]
    Ambiguous { count: usize },
    #[error(
        "something was typed right at the {side} of the code this action was working on, and the two changes \
         cannot be merged safely; run it again"
    )]
    Adjacent { side: &'static str },
}

/// A small list of edits turning `old` into `new`, sorted, non-overlapping, offsets relative to
/// the start of `old`. Unchanged lines are never touched; changed lines are narrowed to the
/// characters that differ (adjacent changes merged).
pub fn minimal_edits(old: &str, new: &str) -> Vec<TextEdit> {
    edits_with_gap(old, new, MERGE_GAP)
}

/// Applies sorted, non-overlapping edits (as returned by [`minimal_edits`]) to `old`.
/// Edits that are out of range or off char boundaries are skipped.
pub fn apply_edits(old: &str, edits: &[TextEdit]) -> String {
    let mut out = String::with_capacity(old.len());
    let mut pos = 0;
    for e in edits {
        if e.start < pos || e.end < e.start || old.get(e.start..e.end).is_none() {
            continue;
        }
        out.push_str(&old[pos..e.start]);
        out.push_str(&e.text);
        pos = e.end;
    }
    out.push_str(&old[pos..]);
    out
}

/// A unified diff with `--- a/path` / `+++ b/path` headers and 3 lines of context; empty when the
/// texts are equal. As in `diff -u`, only `\n` ends a line: a `\r` (of `\r\n`, or alone) stays in
/// the line, so the output applies with `patch` and `git apply` and never garbles a terminal line.
pub fn unified_diff(path: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    let path = path.trim_start_matches('/');
    let (old_lines, new_lines): (Vec<&str>, Vec<&str>) =
        (old.split_inclusive('\n').collect(), new.split_inclusive('\n').collect());
    let diff = TextDiff::configure().diff_slices(&old_lines, &new_lines);
    let mut out = format!("--- a/{path}\n+++ b/{path}\n");
    for group in diff.grouped_ops(3) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else { continue };
        let old_range = first.old_range().start..last.old_range().end;
        let new_range = first.new_range().start..last.new_range().end;
        out.push_str(&format!("@@ -{} +{} @@\n", hunk_range(old_range), hunk_range(new_range)));
        for op in &group {
            for change in diff.iter_changes(op) {
                out.push(match change.tag() {
                    ChangeTag::Equal => ' ',
                    ChangeTag::Delete => '-',
                    ChangeTag::Insert => '+',
                });
                let line: &str = change.value();
                out.push_str(line);
                if !line.ends_with('\n') {
                    out.push_str("\n\\ No newline at end of file\n");
                }
            }
        }
    }
    out
}

/// `start,len` of a hunk, 1-based; `start` alone for one line; the line before for none.
fn hunk_range(lines: Range<usize>) -> String {
    match lines.len() {
        0 => format!("{},0", lines.start),
        1 => format!("{}", lines.start + 1),
        n => format!("{},{n}", lines.start + 1),
    }
}

/// Where `range` of `original` (the document at the version an action started from) is in
/// `current`. Offsets are mapped through the edits between the two texts: the range moves with
/// edits before it and survives edits after it. An edit that touches the range — inside it,
/// overlapping it, or right against either end (`rate` → `rate.upper()`) — is a conflict: merging
/// it with the action's replacement would produce code neither side wrote. The one exception is
/// code that was moved: when the range's text is gone from where it was and occurs exactly once
/// elsewhere, between the same neighbouring characters, that is the range.
pub fn reanchor(original: &str, range: Range<usize>, current: &str) -> Result<Range<usize>, ReanchorError> {
    let invalid = || ReanchorError::InvalidRange { start: range.start, end: range.end, len: original.len() };
    let target = original.get(range.clone()).ok_or_else(invalid)?;
    if original == current {
        return Ok(range);
    }
    let edits = edits_with_gap(original, current, 0);
    let mut delta: isize = 0;
    let mut touching = Vec::new();
    for e in &edits {
        if e.end < range.start {
            delta += e.text.len() as isize - (e.end - e.start) as isize;
        } else if e.start > range.end {
            break;
        } else {
            touching.push(e);
        }
    }
    if touching.is_empty() {
        let start = range.start.checked_add_signed(delta);
        let end = range.end.checked_add_signed(delta);
        if let (Some(s), Some(e)) = (start, end)
            && current.get(s..e) == Some(target)
        {
            return Ok(s..e);
        }
        return Err(ReanchorError::Changed);
    }
    if covers(&touching, &range) {
        let context = neighbours(original, &range);
        let found = find_unique(target, current)?;
        if neighbours(current, &found) == context {
            return Ok(found);
        }
        return Err(ReanchorError::Changed);
    }
    let inside = |e: &&TextEdit| e.start < range.end && e.end > range.start;
    match (touching.iter().any(inside), touching.iter().any(|e| e.end <= range.start)) {
        (true, _) => Err(ReanchorError::Changed),
        (false, true) => Err(ReanchorError::Adjacent { side: "start" }),
        (false, false) => Err(ReanchorError::Adjacent { side: "end" }),
    }
}

/// Whether the (sorted) edits together replace all of `range`.
fn covers(edits: &[&TextEdit], range: &Range<usize>) -> bool {
    let mut reached = range.start;
    for e in edits {
        if e.start > reached {
            return false;
        }
        reached = reached.max(e.end);
    }
    !range.is_empty() && reached >= range.end
}

/// The characters just before and just after `range` (`None` at either end of the text).
fn neighbours(text: &str, range: &Range<usize>) -> (Option<char>, Option<char>) {
    let before = text.get(..range.start).and_then(|s| s.chars().next_back());
    let after = text.get(range.end..).and_then(|s| s.chars().next());
    (before, after)
}

/// The only occurrence of `target` in `current`.
fn find_unique(target: &str, current: &str) -> Result<Range<usize>, ReanchorError> {
    if target.is_empty() {
        return Err(ReanchorError::Changed);
    }
    let mut found = current.match_indices(target).map(|(i, _)| i);
    match (found.next(), found.next()) {
        (None, _) => Err(ReanchorError::Changed),
        (Some(i), None) => Ok(i..i + target.len()),
        (Some(_), Some(_)) => Err(ReanchorError::Ambiguous { count: 2 + found.count() }),
    }
}

fn edits_with_gap(old: &str, new: &str, gap: usize) -> Vec<TextEdit> {
    if old == new {
        return Vec::new();
    }
    let diff = TextDiff::from_lines(old, new);
    let old_offsets = offsets(diff.old_slices());
    let new_offsets = offsets(diff.new_slices());
    let mut edits = Vec::new();
    // Group consecutive non-equal ops into hunks.
    let mut hunk: Option<(Range<usize>, Range<usize>)> = None;
    let flush = |h: Option<(Range<usize>, Range<usize>)>, edits: &mut Vec<TextEdit>| {
        if let Some((o, n)) = h {
            let (ob, nb) = (old_offsets[o.start]..old_offsets[o.end], new_offsets[n.start]..new_offsets[n.end]);
            refine(old, new, ob, nb, gap, edits);
        }
    };
    for op in diff.ops() {
        if let DiffOp::Equal { .. } = op {
            flush(hunk.take(), &mut edits);
            continue;
        }
        let (o, n) = (op.old_range(), op.new_range());
        hunk = Some(match hunk {
            Some((ho, hn)) => (ho.start..o.end, hn.start..n.end),
            None => (o, n),
        });
    }
    flush(hunk.take(), &mut edits);
    edits
}

/// Byte offset of each token start, plus the total length at the end.
fn offsets(slices: &[&str]) -> Vec<usize> {
    let mut v = Vec::with_capacity(slices.len() + 1);
    let mut pos = 0;
    v.push(0);
    for s in slices {
        pos += s.len();
        v.push(pos);
    }
    v
}

/// Edits for one changed hunk `old[ob] -> new[nb]`, narrowed to characters.
fn refine(old: &str, new: &str, ob: Range<usize>, nb: Range<usize>, gap: usize, out: &mut Vec<TextEdit>) {
    let (o, n) = (&old[ob.clone()], &new[nb.clone()]);
    if o.len() + n.len() > REFINE_LIMIT {
        // Too big to refine: only trim the common prefix and suffix.
        let p = common_prefix(o, n);
        let s = common_suffix(&o[p..], &n[p..]);
        out.push(TextEdit { start: ob.start + p, end: ob.end - s, text: n[p..n.len() - s].to_owned() });
        return;
    }
    let diff = TextDiff::from_chars(o, n);
    let mut pending: Option<TextEdit> = None;
    let mut oi = 0usize;
    for change in diff.iter_all_changes() {
        let v = change.value();
        match change.tag() {
            ChangeTag::Equal => {
                oi += v.len();
            }
            tag => {
                let at = ob.start + oi;
                let can_merge = pending.as_ref().is_some_and(|p| at == p.end || at - p.end < gap);
                if !can_merge && let Some(p) = pending.take() {
                    out.push(p);
                }
                let e = pending.get_or_insert_with(|| TextEdit { start: at, end: at, text: String::new() });
                // Unchanged text between merged edits becomes part of the edit.
                if e.end < at {
                    e.text.push_str(&old[e.end..at]);
                    e.end = at;
                }
                if tag == ChangeTag::Delete {
                    oi += v.len();
                    e.end = ob.start + oi;
                } else {
                    e.text.push_str(v);
                }
            }
        }
    }
    out.extend(pending);
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.char_indices()
        .zip(b.chars())
        .take_while(|((_, x), y)| x == y)
        .map(|((i, x), _)| i + x.len_utf8())
        .last()
        .unwrap_or(0)
}

fn common_suffix(a: &str, b: &str) -> usize {
    a.chars().rev().zip(b.chars().rev()).take_while(|(x, y)| x == y).map(|(x, _)| x.len_utf8()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `expected` lists the edits as (old text replaced, new text), in order.
    #[track_caller]
    fn check(old: &str, new: &str, expected: &[(&str, &str)]) {
        let edits = minimal_edits(old, new);
        assert_eq!(apply_edits(old, &edits), new, "edits {edits:?}");
        let got: Vec<(&str, &str)> = edits.iter().map(|e| (&old[e.start..e.end], e.text.as_str())).collect();
        assert_eq!(got, expected, "old {old:?} new {new:?}");
    }

    #[test]
    fn minimal() {
        check("a\nb\nc\n", "a\nb\nc\n", &[]);
        check("a\nb\nc\n", "a\nB\nc\n", &[("b", "B")]);
        check("let x = foo(a);\n", "let x = foo(a, b);\n", &[("", ", b")]);
        check("fn f() {\n    x\n}\n", "/// Doc.\nfn f() {\n    x\n}\n", &[("", "/// Doc.\n")]);
        check("a\nb\nc\nd\n", "a\nc\nd\n", &[("b\n", "")]);
        // Two changed lines far apart: two edits.
        check("one\n2\n3\n4\n5\nsix\n", "ONE\n2\n3\n4\n5\nSIX\n", &[("one", "ONE"), ("six", "SIX")]);
        // Nearby character changes merged.
        check("let ab = 1;\n", "let xy = 1;\n", &[("ab", "xy")]);
        check("", "new\n", &[("", "new\n")]);
        check("old\n", "", &[("old\n", "")]);
        // Multi-byte.
        check("s = \"漢字\"\n", "s = \"漢😀字\"\n", &[("", "😀")]);
        check("😀a😀\n", "😀b😀\n", &[("a", "b")]);
        // CRLF kept as it is.
        check("a\r\nb\r\n", "a\r\nc\r\n", &[("b", "c")]);
        // No trailing newline.
        check("a\nb", "a\nb\nc", &[("", "\nc")]);
    }

    #[test]
    fn big_hunk_is_trimmed_not_refined() {
        let old = format!("{}\n", "x".repeat(5000));
        let new = format!("{}y\n", "x".repeat(5000));
        let edits = minimal_edits(&old, &new);
        assert_eq!(apply_edits(&old, &edits), new);
        assert_eq!(edits, vec![TextEdit { start: 5000, end: 5000, text: "y".into() }]);
    }

    #[test]
    fn unified() {
        let d = unified_diff("src/a.rs", "a\nb\nc\n", "a\nB\nc\n");
        assert!(d.starts_with("--- a/src/a.rs\n+++ b/src/a.rs\n@@ -1,3 +1,3 @@\n"), "{d}");
        assert!(d.contains("-b\n+B\n"), "{d}");
        assert_eq!(unified_diff("a.rs", "same", "same"), "");
        assert!(unified_diff("/abs/p.rs", "a", "b").starts_with("--- a/abs/p.rs\n"));
        assert_eq!(
            unified_diff("p", "a", "b"),
            "--- a/p\n+++ b/p\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+b\n\\ No newline at end of file\n"
        );
        assert_eq!(unified_diff("p", "", "x\n"), "--- a/p\n+++ b/p\n@@ -0,0 +1 @@\n+x\n");
        // CRLF lines keep their CR; a lone CR is part of its line, never a line of its own.
        let d = unified_diff("p", "a\r\nb\r\nc\r\n", "a\r\nB\r\nb2\r\nc\r\n");
        assert_eq!(d, "--- a/p\n+++ b/p\n@@ -1,3 +1,4 @@\n a\r\n-b\r\n+B\r\n+b2\r\n c\r\n");
        let d = unified_diff("p", "s = \"\r\"\nx\n", "s = \"\r\"\ny\n");
        assert_eq!(d, "--- a/p\n+++ b/p\n@@ -1,2 +1,2 @@\n s = \"\r\"\n-x\n+y\n");
    }

    /// `original` marks the range with `[` `]`; `current` is the document now.
    #[track_caller]
    fn check_reanchor(original: &str, current: &str, expected: Result<&str, ReanchorError>) {
        let start = original.find('[').unwrap_or(0);
        let end = original.find(']').unwrap_or(0) - 1;
        let doc = original.replace(['[', ']'], "");
        let got = reanchor(&doc, start..end, current);
        match (got, expected) {
            (Ok(r), Ok(text)) => {
                assert_eq!(&current[r.clone()], &doc[start..end]);
                let marked = format!("{}[{}]{}", &current[..r.start], &current[r.clone()], &current[r.end..]);
                assert_eq!(marked, text);
            }
            (got, want) => assert_eq!(got.map(|_| ()), want.map(|_| ()), "{original:?} -> {current:?}"),
        }
    }

    #[test]
    fn reanchoring() {
        let orig = "a\n[fn f() {}]\nb\n";
        check_reanchor(orig, "a\nfn f() {}\nb\n", Ok("a\n[fn f() {}]\nb\n"));
        // Typed before: shifted.
        check_reanchor(orig, "xx\na\nfn f() {}\nb\n", Ok("xx\na\n[fn f() {}]\nb\n"));
        check_reanchor(orig, "a😀\nfn f() {}\nb\n", Ok("a😀\n[fn f() {}]\nb\n"));
        // Typed after: unchanged.
        check_reanchor(orig, "a\nfn f() {}\nbbb\n", Ok("a\n[fn f() {}]\nbbb\n"));
        // Typed on the same line, away from the range.
        check_reanchor("x = [foo(1)];\n", "let x = foo(1);\n", Ok("let x = [foo(1)];\n"));
        check_reanchor("x = [foo(1)];\n", "x = foo(1); // ok\n", Ok("x = [foo(1)]; // ok\n"));
        // Typed right against either end: a conflict, never a merge.
        let end = || Err(ReanchorError::Adjacent { side: "end" });
        let start = || Err(ReanchorError::Adjacent { side: "start" });
        check_reanchor("x = [foo(1)];\n", "x = foo(1).unwrap();\n", end());
        check_reanchor("x = [foo(1)];\n", "x = foo(1) + 2;\n", end());
        check_reanchor("x = [foo(1)];\n", "x = !foo(1);\n", start());
        let py = "[def total(amount, rate):\n    return amount * rate]\n";
        check_reanchor(py, "def total(amount, rate):\n    return amount * rate.upper()\n", end());
        check_reanchor(py, "@cache\ndef total(amount, rate):\n    return amount * rate\n", start());
        check_reanchor(orig, "a\nfn f() {}\n\nb\n", Ok("a\n[fn f() {}]\n\nb\n"));
        // Overlapping the range: refused.
        check_reanchor(orig, "z f() {}\nb\n", Err(ReanchorError::Changed));
        check_reanchor(orig, "a\nfn f() {}x;\nb\n", end());
        // Edited inside: refused.
        check_reanchor(orig, "a\nfn f() { x }\nb\n", Err(ReanchorError::Changed));
        check_reanchor(orig, "a\nb\n", Err(ReanchorError::Changed));
        // Moved: found once elsewhere, between the same neighbours.
        check_reanchor(orig, "b\nfn f() {}\na\n", Ok("b\n[fn f() {}]\na\n"));
        let far = "a\n[fn f() {}]\nb\nc\nd\n";
        check_reanchor(far, "a\nb\nc\nd\nfn f() {}\n", Ok("a\nb\nc\nd\n[fn f() {}]\n"));
        check_reanchor(far, "a\nb\nc\nd\nfn f() {}.x\n", Err(ReanchorError::Changed));
        // Removed where it was, present twice elsewhere: ambiguous.
        assert_eq!(find_unique("x()", "z\nx()\nx()x()\n"), Err(ReanchorError::Ambiguous { count: 3 }));
        assert_eq!(find_unique("x()", "z\nx()\n"), Ok(2..5));
        assert_eq!(find_unique("", "z"), Err(ReanchorError::Changed));
        // Empty range (an insertion point) shifts with edits before it.
        check_reanchor("a\n[]b\n", "za\nb\n", Ok("za\n[]b\n"));
        check_reanchor("a\n[]b\n", "a\nxb\n", start());
        assert_eq!(reanchor("abc", 2..9, "abc"), Err(ReanchorError::InvalidRange { start: 2, end: 9, len: 3 }));
        assert!(matches!(reanchor("é", 0..1, "é"), Err(ReanchorError::InvalidRange { .. })));
        assert!(ReanchorError::Changed.to_string().contains("edited"));
    }

    #[test]
    fn no_panic_on_arbitrary_unicode() {
        use proptest::prelude::*;
        let piece = prop::sample::select(vec!["\n", "\r\n", "a", "b", "😀", "漢", "é", " ", "fn", "{", "}"]);
        let text =
            prop::collection::vec(prop_oneof![piece.prop_map(str::to_owned), ".{0,3}"], 0..30).prop_map(|v| v.concat());
        let mut runner = proptest::test_runner::TestRunner::default();
        runner
            .run(&(text.clone(), text, 0usize..64, 0usize..64), |(old, new, a, b)| {
                let edits = minimal_edits(&old, &new);
                prop_assert_eq!(apply_edits(&old, &edits), new.clone());
                for w in edits.windows(2) {
                    prop_assert!(w[0].end <= w[1].start);
                }
                let _ = unified_diff("p", &old, &new);
                let (s, e) = (a.min(b), a.max(b));
                if let Ok(r) = reanchor(&old, s..e, &new) {
                    prop_assert_eq!(new.get(r), old.get(s..e));
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
    }
}
