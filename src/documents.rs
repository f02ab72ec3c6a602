//! Open documents: ropes keyed by URI, their versions, and exact position conversion in UTF-8/16/32.
//!
//! This module knows nothing of LSP types: positions arrive as plain `(line, character)` numbers with
//! the negotiated [`Encoding`], and edits come back as byte offsets that `syntax` can feed to
//! tree-sitter. Out-of-range positions are clamped the way the LSP spec asks (a character past the
//! end of a line means the end of that line; a line past the end means the end of the document).

use ropey::Rope;

/// The position encoding negotiated with the client (LSP `positionEncoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    Utf8,
    #[default]
    Utf16,
    Utf32,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Utf16 => "utf-16",
            Encoding::Utf32 => "utf-32",
        }
    }

    /// Picks the cheapest encoding the client offers: utf-8 (our native offsets), then utf-32,
    /// else the spec's mandatory default utf-16.
    pub fn negotiate<'a>(offered: impl IntoIterator<Item = &'a str>) -> Encoding {
        let offered: Vec<&str> = offered.into_iter().collect();
        if offered.contains(&"utf-8") {
            Encoding::Utf8
        } else if offered.contains(&"utf-16") || offered.is_empty() {
            Encoding::Utf16
        } else if offered.contains(&"utf-32") {
            Encoding::Utf32
        } else {
            Encoding::Utf16
        }
    }
}

/// A position in editor terms: zero-based line and character in some [`Encoding`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub line: u32,
    pub character: u32,
}

impl Position {
    pub fn new(line: u32, character: u32) -> Self {
        Position { line, character }
    }
}

/// One change from the editor: a range replaced by text, or (`range: None`) the whole document.
#[derive(Debug, Clone)]
pub struct Change {
    pub range: Option<(Position, Position)>,
    pub text: String,
}

/// What an applied edit did, in bytes and rows, as tree-sitter's `InputEdit` wants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteEdit {
    pub start_byte: usize,
    pub old_end_byte: usize,
    pub new_end_byte: usize,
    pub start_point: (usize, usize),
    pub old_end_point: (usize, usize),
    pub new_end_point: (usize, usize),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DocumentError {
    #[error("version {got} of {uri} is not newer than the version the server has ({have}); change ignored")]
    StaleVersion { uri: String, have: i32, got: i32 },
    #[error(
        "change at index {index} (of {count}) for version {version} of {uri} was refused: {problem}; none of the \
         batch was applied and the server keeps version {have}"
    )]
    RefusedChange { uri: String, version: i32, have: i32, index: usize, count: usize, problem: ChangeProblem },
}

/// Why one change of a `didChange` batch cannot apply to the text the earlier changes left.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
pub enum ChangeProblem {
    #[error("range {start}-{end} starts after it ends")]
    Inverted { start: Position, end: Position },
    #[error("range {start}-{end} names line {line}, but the document has {lines} lines")]
    NoSuchLine { start: Position, end: Position, line: u32, lines: usize },
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.character)
    }
}

/// One open document.
#[derive(Debug, Clone)]
pub struct Document {
    pub uri: String,
    pub language_id: String,
    pub version: i32,
    pub rope: Rope,
}

impl Document {
    pub fn new(uri: impl Into<String>, language_id: impl Into<String>, version: i32, text: &str) -> Self {
        Document { uri: uri.into(), language_id: language_id.into(), version, rope: Rope::from_str(text) }
    }

    pub fn text(&self) -> String {
        self.rope.to_string()
    }

    pub fn len_bytes(&self) -> usize {
        self.rope.len_bytes()
    }

    /// Applies the editor's changes in order and returns the byte edits for the syntax tree.
    ///
    /// All or nothing: each change is checked against the text the earlier ones leave, and if
    /// one cannot apply (a range that ends before it starts, or a line that does not exist), none
    /// is applied and the document keeps its text and version, so the next full-text sync (or any
    /// newer change) starts from a known state. An older or equal version is refused whole (the
    /// editor's view and ours would diverge).
    pub fn apply(&mut self, version: i32, changes: &[Change], enc: Encoding) -> Result<Vec<ByteEdit>, DocumentError> {
        if version <= self.version {
            return Err(DocumentError::StaleVersion { uri: self.uri.clone(), have: self.version, got: version });
        }
        // Ropes share their nodes: the copy costs O(log n) per edit, not the text.
        let mut rope = self.rope.clone();
        let mut edits = Vec::with_capacity(changes.len());
        for (index, change) in changes.iter().enumerate() {
            let edit = apply_one(&mut rope, change, enc).map_err(|problem| DocumentError::RefusedChange {
                uri: self.uri.clone(),
                version,
                have: self.version,
                index,
                count: changes.len(),
                problem,
            })?;
            edits.push(edit);
        }
        self.rope = rope;
        self.version = version;
        Ok(edits)
    }

    /// tree-sitter point (row, byte column) of a byte offset.
    pub fn point_of_byte(&self, byte: usize) -> (usize, usize) {
        let byte = byte.min(self.rope.len_bytes());
        let line = self.rope.byte_to_line(byte);
        (line, byte - self.rope.line_to_byte(line))
    }

    /// Number of lines as LSP counts them (a trailing newline starts an empty last line).
    pub fn line_count(&self) -> usize {
        self.rope.len_lines()
    }

    /// Char index of a position, clamped into the document.
    pub fn char_of(&self, pos: Position, enc: Encoding) -> usize {
        let line = pos.line as usize;
        if line >= self.rope.len_lines() {
            return self.rope.len_chars();
        }
        char_in_line(&self.rope, line, pos.character as usize, enc)
    }

    /// Byte offset of a position, clamped into the document.
    pub fn offset_of(&self, pos: Position, enc: Encoding) -> usize {
        self.rope.char_to_byte(self.char_of(pos, enc))
    }

    /// Position of a byte offset (clamped; rounded down to a char boundary).
    pub fn position_of(&self, byte: usize, enc: Encoding) -> Position {
        let byte = byte.min(self.rope.len_bytes());
        let char_idx = self.rope.byte_to_char(byte);
        let line = self.rope.char_to_line(char_idx);
        let line_start = self.rope.line_to_char(line);
        let slice = self.rope.slice(line_start..char_idx);
        let character = match enc {
            Encoding::Utf8 => slice.len_bytes(),
            Encoding::Utf16 => slice.len_utf16_cu(),
            Encoding::Utf32 => slice.len_chars(),
        };
        Position::new(line as u32, character as u32)
    }

    /// Whether the position names a place inside the document (line exists, character within
    /// the line's content). Used to tell the editor about bad positions rather than guessing.
    pub fn contains(&self, pos: Position, enc: Encoding) -> bool {
        let line = pos.line as usize;
        if line >= self.rope.len_lines() {
            return false;
        }
        let line_start = self.rope.line_to_char(line);
        let slice = self.rope.slice(line_start..line_start + line_content_chars(&self.rope, line));
        let len = match enc {
            Encoding::Utf8 => slice.len_bytes(),
            Encoding::Utf16 => slice.len_utf16_cu(),
            Encoding::Utf32 => slice.len_chars(),
        };
        pos.character as usize <= len
    }

    /// The text between two byte offsets (clamped, char-aligned).
    pub fn slice_bytes(&self, start: usize, end: usize) -> String {
        let len = self.rope.len_bytes();
        let s = self.rope.byte_to_char(start.min(len));
        let e = self.rope.byte_to_char(end.min(len)).max(s);
        self.rope.slice(s..e).to_string()
    }

    /// Whether the content looks binary (NUL bytes in the first 8 KiB): we keep it, but never parse
    /// it or mine it for symbols.
    pub fn looks_binary(&self) -> bool {
        self.rope.chunks().take(8).any(|c| c.as_bytes().contains(&0))
    }
}

/// Applies one change to `rope`, or says why it cannot apply there.
fn apply_one(rope: &mut Rope, change: &Change, enc: Encoding) -> Result<ByteEdit, ChangeProblem> {
    let (start_char, end_char) = match change.range {
        Some((start, end)) => {
            let char_of = |p: Position| {
                checked_char_of(rope, p, enc).ok_or(ChangeProblem::NoSuchLine {
                    start,
                    end,
                    line: p.line,
                    lines: rope.len_lines(),
                })
            };
            let (s, e) = (char_of(start)?, char_of(end)?);
            if s > e {
                return Err(ChangeProblem::Inverted { start, end });
            }
            (s, e)
        }
        None => (0, rope.len_chars()),
    };
    let point_of = |rope: &Rope, byte: usize| {
        let line = rope.byte_to_line(byte);
        (line, byte - rope.line_to_byte(line))
    };
    let start_byte = rope.char_to_byte(start_char);
    let old_end_byte = rope.char_to_byte(end_char);
    let start_point = point_of(rope, start_byte);
    let old_end_point = point_of(rope, old_end_byte);
    rope.remove(start_char..end_char);
    rope.insert(start_char, &change.text);
    let new_end_byte = start_byte + change.text.len();
    let new_end_point = point_of(rope, new_end_byte);
    Ok(ByteEdit { start_byte, old_end_byte, new_end_byte, start_point, old_end_point, new_end_point })
}

/// Char index of a position in an edit range. A character past the end of its line means the
/// line's end (LSP); a line that does not exist is an error, except the line just past the last
/// at character 0, which some editors use for "the end of the document".
fn checked_char_of(rope: &Rope, pos: Position, enc: Encoding) -> Option<usize> {
    let line = pos.line as usize;
    match line.cmp(&rope.len_lines()) {
        std::cmp::Ordering::Less => Some(char_in_line(rope, line, pos.character as usize, enc)),
        std::cmp::Ordering::Equal if pos.character == 0 => Some(rope.len_chars()),
        _ => None,
    }
}

/// Char index of a column on an existing line, clamped to the line's content.
fn char_in_line(rope: &Rope, line: usize, col: usize, enc: Encoding) -> usize {
    let line_start = rope.line_to_char(line);
    let content = line_content_chars(rope, line);
    let slice = rope.slice(line_start..line_start + content);
    let chars = match enc {
        Encoding::Utf32 => col.min(content),
        // A column inside a multi-byte character rounds down to its start.
        Encoding::Utf8 => slice.byte_to_char(col.min(slice.len_bytes())),
        Encoding::Utf16 => slice.utf16_cu_to_char(col.min(slice.len_utf16_cu())),
    };
    line_start + chars
}

/// Number of chars on a line, not counting its line break (`\n`, `\r\n` or `\r`).
fn line_content_chars(rope: &Rope, line: usize) -> usize {
    let slice = rope.line(line);
    let mut n = slice.len_chars();
    if n > 0 && slice.char(n - 1) == '\n' {
        n -= 1;
    }
    if n > 0 && slice.char(n - 1) == '\r' {
        n -= 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pos(l: u32, c: u32) -> Position {
        Position::new(l, c)
    }

    fn edit(doc: &mut Document, v: i32, s: Position, e: Position, text: &str, enc: Encoding) {
        doc.apply(v, &[Change { range: Some((s, e)), text: text.into() }], enc).unwrap();
    }

    #[test]
    fn negotiates_encodings() {
        assert_eq!(Encoding::negotiate(["utf-16", "utf-8"]), Encoding::Utf8);
        assert_eq!(Encoding::negotiate(["utf-32"]), Encoding::Utf32);
        assert_eq!(Encoding::negotiate([]), Encoding::Utf16);
        assert_eq!(Encoding::negotiate(["utf-16", "utf-32"]), Encoding::Utf16);
    }

    #[test]
    fn emoji_columns_per_encoding() {
        // "a😀b": 😀 is 4 bytes, 2 UTF-16 units, 1 char.
        let doc = Document::new("u", "rust", 1, "a😀b\n");
        assert_eq!(doc.offset_of(pos(0, 5), Encoding::Utf8), 5);
        assert_eq!(doc.offset_of(pos(0, 3), Encoding::Utf16), 5);
        assert_eq!(doc.offset_of(pos(0, 2), Encoding::Utf32), 5);
        assert_eq!(doc.position_of(5, Encoding::Utf16), pos(0, 3));
        // Past the end of the line clamps to the line end, not into the next line.
        assert_eq!(doc.offset_of(pos(0, 99), Encoding::Utf16), 6);
        // Past the last line clamps to the end of the document.
        assert_eq!(doc.offset_of(pos(9, 0), Encoding::Utf16), 7);
    }

    #[test]
    fn crlf_and_cjk_edits() {
        let mut doc = Document::new("u", "rust", 1, "中文\r\nx\r\n");
        edit(&mut doc, 2, pos(0, 2), pos(1, 0), "!", Encoding::Utf16);
        assert_eq!(doc.text(), "中文!x\r\n");
        edit(&mut doc, 3, pos(1, 0), pos(1, 0), "end", Encoding::Utf8);
        assert_eq!(doc.text(), "中文!x\r\nend");
        // A column past the line's content stops before the CRLF.
        edit(&mut doc, 4, pos(0, 50), pos(0, 50), "?", Encoding::Utf32);
        assert_eq!(doc.text(), "中文!x?\r\nend");
    }

    #[test]
    fn combining_marks_and_empty_documents() {
        let mut doc = Document::new("u", "plaintext", 1, "");
        edit(&mut doc, 2, pos(0, 0), pos(0, 0), "e\u{301}", Encoding::Utf16);
        edit(&mut doc, 3, pos(0, 2), pos(0, 2), "x", Encoding::Utf16);
        assert_eq!(doc.text(), "e\u{301}x");
        edit(&mut doc, 4, pos(0, 0), pos(0, 3), "", Encoding::Utf8);
        assert_eq!(doc.text(), "x");
    }

    #[test]
    fn stale_versions_are_refused() {
        let mut doc = Document::new("u", "rust", 5, "abc");
        let err = doc.apply(5, &[Change { range: None, text: "z".into() }], Encoding::Utf8);
        assert!(matches!(err, Err(DocumentError::StaleVersion { .. })));
        assert_eq!(doc.text(), "abc");
    }

    #[test]
    fn byte_edits_describe_the_change() {
        let mut doc = Document::new("u", "rust", 1, "ab\ncd\n");
        let edits = doc
            .apply(2, &[Change { range: Some((pos(1, 0), pos(1, 1))), text: "XY\nZ".into() }], Encoding::Utf8)
            .unwrap();
        assert_eq!(
            edits[0],
            ByteEdit {
                start_byte: 3,
                old_end_byte: 4,
                new_end_byte: 7,
                start_point: (1, 0),
                old_end_point: (1, 1),
                new_end_point: (2, 1),
            }
        );
    }

    /// The naive model: a Vec<char> document with positions computed by walking characters.
    struct Naive(Vec<char>);

    impl Naive {
        fn index_of(&self, p: Position, enc: Encoding) -> usize {
            let mut line = 0u32;
            let mut i = 0;
            while line < p.line {
                match self.0[i..].iter().position(|&c| c == '\n' || c == '\r') {
                    None => return self.0.len(),
                    Some(k) => {
                        i += k;
                        if self.0[i] == '\r' && self.0.get(i + 1) == Some(&'\n') {
                            i += 1;
                        }
                        i += 1;
                        line += 1;
                    }
                }
            }
            let mut col = 0usize;
            while i < self.0.len() && self.0[i] != '\n' && self.0[i] != '\r' {
                let w = match enc {
                    Encoding::Utf8 => self.0[i].len_utf8(),
                    Encoding::Utf16 => self.0[i].len_utf16(),
                    Encoding::Utf32 => 1,
                };
                if col + w > p.character as usize {
                    break;
                }
                col += w;
                i += 1;
            }
            i
        }
    }

    fn alphabet() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("a"),
                Just("b"),
                Just("\n"),
                Just("\r\n"),
                Just("\r"),
                Just("😀"),
                Just("中"),
                Just("e\u{301}"),
                Just(" "),
                Just("é"),
                Just("𝄞x"),
            ],
            0..6,
        )
        .prop_map(|v| v.concat())
    }

    fn run_random_edits(enc: Encoding, edits: Vec<(u32, u32, u32, u32, String)>) {
        let mut doc = Document::new("u", "plaintext", 0, "");
        let mut naive = Naive(Vec::new());
        for (v, (l1, c1, l2, c2, text)) in edits.into_iter().enumerate() {
            let (mut a, mut b) = (pos(l1, c1), pos(l2, c2));
            if b < a {
                std::mem::swap(&mut a, &mut b);
            }
            let (s, e) = (naive.index_of(a, enc), naive.index_of(b, enc));
            let (s, e) = (s.min(e), s.max(e));
            let res = doc.apply(v as i32 + 1, &[Change { range: Some((a, b)), text: text.clone() }], enc);
            if s <= e && res.is_ok() {
                naive.0.splice(s..e, text.chars());
            }
            assert_eq!(doc.text(), naive.0.iter().collect::<String>());
        }
    }

    fn edits_strategy() -> impl Strategy<Value = Vec<(u32, u32, u32, u32, String)>> {
        proptest::collection::vec((0u32..6, 0u32..8, 0u32..6, 0u32..8, alphabet()), 40..=60)
    }

    impl Naive {
        fn line_count(&self) -> usize {
            let mut n = 1;
            let mut i = 0;
            while i < self.0.len() {
                if self.0[i] == '\r' && self.0.get(i + 1) == Some(&'\n') {
                    i += 1;
                }
                if self.0[i] == '\n' || self.0[i] == '\r' {
                    n += 1;
                }
                i += 1;
            }
            n
        }

        /// The model's rule: a position names an existing line (its character clamped), or the
        /// line just past the last at character 0.
        fn checked_index(&self, p: Position, enc: Encoding) -> Option<usize> {
            let lines = self.line_count() as u32;
            (p.line < lines || (p.line == lines && p.character == 0)).then(|| self.index_of(p, enc))
        }

        /// Applies a whole batch or none of it.
        fn apply_batch(&mut self, batch: &[Change], enc: Encoding) -> bool {
            let mut next = Naive(self.0.clone());
            for c in batch {
                let (s, e) = match c.range {
                    None => (0, next.0.len()),
                    Some((a, b)) => match (next.checked_index(a, enc), next.checked_index(b, enc)) {
                        (Some(s), Some(e)) if s <= e => (s, e),
                        _ => return false,
                    },
                };
                next.0.splice(s..e, c.text.chars());
            }
            *self = next;
            true
        }
    }

    fn change_strategy() -> impl Strategy<Value = Change> {
        prop_oneof![
            8 => (0u32..5, 0u32..8, 0u32..3, 0u32..8, alphabet()).prop_map(|(l, c, dl, c2, text)| {
                // Mostly well-ordered ranges; some inverted ones on the same line.
                Change { range: Some((pos(l, c), pos(l + dl, c2))), text }
            }),
            1 => (0u32..12, 0u32..4, alphabet())
                .prop_map(|(l, c, text)| Change { range: Some((pos(l, c), pos(l, c))), text }),
            1 => alphabet().prop_map(|text| Change { range: None, text }),
        ]
    }

    fn run_random_batches(enc: Encoding, batches: Vec<(bool, Vec<Change>)>) {
        let mut doc = Document::new("u", "plaintext", 0, "ab\r\n😀中\ncd");
        let mut naive = Naive(doc.text().chars().collect());
        for (stale, batch) in batches {
            let before = (doc.text(), doc.version);
            let version = if stale { doc.version } else { doc.version + 1 };
            let res = doc.apply(version, &batch, enc);
            let accepted = !stale && naive.apply_batch(&batch, enc);
            assert_eq!(res.is_ok(), accepted, "batch {batch:?} on {:?}: {res:?}", before.0);
            if accepted {
                assert_eq!(doc.version, version);
                assert_eq!(res.map(|e| e.len()).unwrap_or(0), batch.len());
            } else {
                assert_eq!((doc.text(), doc.version), before, "a refused batch changed the document");
            }
            assert_eq!(doc.text(), naive.0.iter().collect::<String>());
            assert_eq!(doc.line_count(), naive.line_count());
        }
    }

    fn batches_strategy() -> impl Strategy<Value = Vec<(bool, Vec<Change>)>> {
        proptest::collection::vec(
            (proptest::bool::weighted(0.05), proptest::collection::vec(change_strategy(), 1..5)),
            30..=40,
        )
    }

    #[test]
    fn a_refused_batch_changes_nothing_and_says_which_change() {
        let mut doc = Document::new("u", "rust", 1, "ab\ncd");
        let batch = [
            Change { range: Some((pos(0, 0), pos(0, 1))), text: "X".into() },
            Change { range: Some((pos(1, 2), pos(1, 0))), text: "reversed".into() },
        ];
        let err = doc.apply(2, &batch, Encoding::Utf16).unwrap_err();
        assert!(matches!(err, DocumentError::RefusedChange { index: 1, count: 2, have: 1, .. }), "{err}");
        assert!(err.to_string().contains("1:2-1:0"), "{err}");
        assert_eq!((doc.text().as_str(), doc.version), ("ab\ncd", 1));
        // A later change made by the first one's text counts: line 2 exists only after it.
        let grows = [
            Change { range: Some((pos(1, 2), pos(1, 2))), text: "\nef".into() },
            Change { range: Some((pos(2, 0), pos(2, 2))), text: "EF".into() },
        ];
        doc.apply(2, &grows, Encoding::Utf16).unwrap();
        assert_eq!((doc.text().as_str(), doc.version), ("ab\ncd\nEF", 2));
        let past = [Change { range: Some((pos(9, 0), pos(12, 3))), text: "zz".into() }];
        assert!(matches!(doc.apply(3, &past, Encoding::Utf8), Err(DocumentError::RefusedChange { .. })));
        // The end-of-document position (the line after the last, character 0) is accepted.
        let end = [Change { range: Some((pos(3, 0), pos(3, 0))), text: "!".into() }];
        doc.apply(3, &end, Encoding::Utf8).unwrap();
        assert_eq!(doc.text(), "ab\ncd\nEF!");
    }

    // Random batches mixing valid, inverted and out-of-range changes (and stale versions):
    // 128 cases x 30-40 batches of 1-4 changes per encoding.
    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]
        #[test]
        fn random_batches_utf8(b in batches_strategy()) { run_random_batches(Encoding::Utf8, b) }
        #[test]
        fn random_batches_utf16(b in batches_strategy()) { run_random_batches(Encoding::Utf16, b) }
        #[test]
        fn random_batches_utf32(b in batches_strategy()) { run_random_batches(Encoding::Utf32, b) }
    }

    // 250 cases x 40-60 edits: at least 10,000 random edits per encoding.
    proptest! {
        #![proptest_config(ProptestConfig { cases: 250, .. ProptestConfig::default() })]
        #[test]
        fn random_edits_utf8(edits in edits_strategy()) { run_random_edits(Encoding::Utf8, edits) }
        #[test]
        fn random_edits_utf16(edits in edits_strategy()) { run_random_edits(Encoding::Utf16, edits) }
        #[test]
        fn random_edits_utf32(edits in edits_strategy()) { run_random_edits(Encoding::Utf32, edits) }
    }
}
