//! Recent edits: a bounded ring of the last edit hunks across files, fed from didChange, as Copilot
//! and Zeta send them. Consecutive keystrokes in one place grow one hunk; the hunk keeps the lines
//! as they were before the first of them and reads the lines as they are now from the document.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use ropey::Rope;

use crate::documents::ByteEdit;

/// Hunks kept (Copilot: 8; Zeta: 6).
const MAX_HUNKS: usize = 8;
/// Lines shown of each side of a hunk.
const MAX_LINES: usize = 10;
/// Bytes shown of one hunk.
const MAX_BYTES: usize = 2000;
/// An edit this many lines from a hunk still grows it.
const MERGE_LINES: usize = 2;
/// Edits over more lines than this (a whole-document replace, a paste of a file) are not hunks.
const MAX_EDIT_LINES: usize = 200;

#[derive(Debug, Clone)]
struct Hunk {
    uri: Arc<str>,
    /// The lines `start..start + old line count` as they were before this hunk's first edit.
    old: String,
    /// First line of the hunk, and one past its last, in the document as it is now.
    start: usize,
    end: usize,
    /// The document as it is now (cheap clone).
    rope: Rope,
}

/// One hunk, ready to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditHunk {
    pub uri: String,
    /// Lines of the hunk in the document as it is now (zero-based, end exclusive).
    pub lines: std::ops::Range<usize>,
    /// A unified-diff hunk: `@@ -a,b +c,d @@` then `-`/`+` lines.
    pub diff: String,
}

/// The ring of recent hunks; cheap to feed on every keystroke.
#[derive(Debug, Default)]
pub struct RecentEdits {
    hunks: Mutex<VecDeque<Hunk>>,
}

fn lines_text(rope: &Rope, start: usize, end: usize) -> String {
    let n = rope.len_lines();
    let (s, e) = (start.min(n), end.min(n));
    if s >= e {
        return String::new();
    }
    let from = rope.line_to_char(s);
    let to = if e >= n { rope.len_chars() } else { rope.line_to_char(e) };
    rope.slice(from..to).to_string()
}

impl RecentEdits {
    /// Records `edits`, which turned `before` into `after` in document `uri`.
    pub fn record(&self, uri: &str, before: &Rope, after: &Rope, edits: &[ByteEdit]) {
        let mut hunks = self.hunks.lock().unwrap_or_else(|p| p.into_inner());
        for e in edits {
            let (old_first, old_last, new_last) = (e.start_point.0, e.old_end_point.0, e.new_end_point.0);
            if old_last - old_first > MAX_EDIT_LINES || new_last.saturating_sub(old_first) > MAX_EDIT_LINES {
                hunks.retain(|h| &*h.uri != uri);
                continue;
            }
            let delta = new_last as isize - old_last as isize;
            let shift = |l: usize| (l as isize + delta).max(0) as usize;
            let near = hunks
                .iter()
                .position(|h| &*h.uri == uri && old_first <= h.end + MERGE_LINES && old_last + MERGE_LINES >= h.start);
            match near {
                Some(i) => {
                    let h = &mut hunks[i];
                    // Lines outside the hunk are unchanged since it began: their text now is their old text.
                    if old_first < h.start {
                        h.old.insert_str(0, &lines_text(before, old_first, h.start));
                        h.start = old_first;
                    }
                    if old_last + 1 > h.end {
                        h.old.push_str(&lines_text(before, h.end, old_last + 1));
                        h.end = old_last + 1;
                    }
                    h.end = shift(h.end);
                    let h = hunks.remove(i).unwrap_or_else(|| unreachable!());
                    hunks.push_front(h);
                }
                None => {
                    hunks.push_front(Hunk {
                        uri: Arc::from(uri),
                        old: lines_text(before, old_first, old_last + 1),
                        start: old_first,
                        end: new_last + 1,
                        rope: after.clone(),
                    });
                }
            }
            // Hunks further down the same document move with the edit.
            for h in hunks.iter_mut().skip(1).filter(|h| &*h.uri == uri && h.start > old_last) {
                h.start = shift(h.start);
                h.end = shift(h.end);
            }
            hunks.truncate(MAX_HUNKS);
        }
        for h in hunks.iter_mut().filter(|h| &*h.uri == uri) {
            h.rope = after.clone();
        }
    }

    /// Forgets a document's hunks (it was closed and its lines mean nothing any more).
    pub fn forget(&self, uri: &str) {
        self.hunks.lock().unwrap_or_else(|p| p.into_inner()).retain(|h| &*h.uri != uri);
    }

    /// The hunks, most recent first, leaving out those that changed nothing in the end.
    pub fn hunks(&self) -> Vec<EditHunk> {
        let hunks = self.hunks.lock().unwrap_or_else(|p| p.into_inner()).clone();
        hunks.iter().filter_map(render).collect()
    }
}

fn render(h: &Hunk) -> Option<EditHunk> {
    let new = lines_text(&h.rope, h.start, h.end);
    if new == h.old {
        return None;
    }
    let old_lines: Vec<&str> = h.old.lines().collect();
    let new_lines: Vec<&str> = new.lines().collect();
    // Common leading and trailing lines are context, not change.
    let lead = old_lines.iter().zip(&new_lines).take_while(|(a, b)| a == b).count();
    let trail = old_lines[lead..].iter().rev().zip(new_lines[lead..].iter().rev()).take_while(|(a, b)| a == b).count();
    let removed = &old_lines[lead..old_lines.len() - trail];
    let added = &new_lines[lead..new_lines.len() - trail];
    let first = h.start + lead;
    let mut diff = format!("@@ -{},{} +{},{} @@\n", first + 1, removed.len(), first + 1, added.len());
    for (sign, lines) in [('-', removed), ('+', added)] {
        for l in lines.iter().take(MAX_LINES) {
            if diff.len() + l.len() + 2 > MAX_BYTES {
                break;
            }
            diff.push(sign);
            diff.push_str(l);
            diff.push('\n');
        }
    }
    Some(EditHunk { uri: h.uri.to_string(), lines: first..first + added.len().max(1), diff })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::{Change, Document, Encoding, Position};

    fn edit(ring: &RecentEdits, doc: &mut Document, line: u32, col: u32, text: &str) {
        let before = doc.rope.clone();
        let at = Position::new(line, col);
        let edits = doc.apply(doc.version + 1, &[Change { range: Some((at, at)), text: text.into() }], Encoding::Utf16);
        ring.record(&doc.uri, &before, &doc.rope, &edits.unwrap());
    }

    #[test]
    fn keystrokes_in_one_place_make_one_hunk_and_far_edits_another() {
        let text: String = (0..50).map(|i| format!("line {i}\n")).collect();
        let mut doc = Document::new("file:///a.py", "python", 1, &text);
        let ring = RecentEdits::default();
        for (i, ch) in "abc".chars().enumerate() {
            edit(&ring, &mut doc, 10, 7 + i as u32, &ch.to_string());
        }
        edit(&ring, &mut doc, 11, 0, "new line\n");
        let hunks = ring.hunks();
        assert_eq!(hunks.len(), 1, "{hunks:?}");
        assert_eq!(hunks[0].diff, "@@ -11,1 +11,2 @@\n-line 10\n+line 10abc\n+new line\n");

        edit(&ring, &mut doc, 40, 0, "# far\n");
        let hunks = ring.hunks();
        assert_eq!(hunks.len(), 2);
        assert_eq!(hunks[0].diff, "@@ -41,0 +41,1 @@\n+# far\n");
        // An edit above moves the older hunk down with its text.
        edit(&ring, &mut doc, 0, 0, "top\n");
        let hunks = ring.hunks();
        assert!(hunks.iter().any(|h| h.diff.starts_with("@@ -12,1 +12,2 @@")), "{hunks:?}");
    }

    #[test]
    fn the_ring_is_bounded_and_undone_edits_vanish() {
        let text: String = (0..400).map(|i| format!("l{i}\n")).collect();
        let mut doc = Document::new("file:///a.rs", "rust", 1, &text);
        let ring = RecentEdits::default();
        for i in 0..20 {
            edit(&ring, &mut doc, i * 20, 0, "x");
        }
        assert_eq!(ring.hunks().len(), MAX_HUNKS);
        let before = doc.rope.clone();
        let (s, e) = (Position::new(380, 0), Position::new(380, 1));
        let edits = doc.apply(doc.version + 1, &[Change { range: Some((s, e)), text: String::new() }], Encoding::Utf16);
        ring.record(&doc.uri, &before, &doc.rope, &edits.unwrap());
        assert_eq!(ring.hunks().len(), MAX_HUNKS - 1);
        let whole = doc.apply(doc.version + 1, &[Change { range: None, text: "new".into() }], Encoding::Utf16);
        ring.record(&doc.uri, &before, &doc.rope, &whole.unwrap());
        assert!(ring.hunks().is_empty());
    }
}
