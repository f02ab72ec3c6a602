//! Line endings. Code from an answer takes the document's dominant ending, never the target's own
//! (a one-line target has none). Targets are diffed in a `\n`-only form whose offsets map back, so
//! unchanged lines of a mixed-ending file keep theirs. `\r\n`, `\n` and a lone `\r` are line breaks,
//! as in LSP.

/// One kind of line break.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LineEnding {
    #[default]
    Lf,
    CrLf,
    Cr,
}

impl LineEnding {
    pub fn as_str(self) -> &'static str {
        match self {
            LineEnding::Lf => "\n",
            LineEnding::CrLf => "\r\n",
            LineEnding::Cr => "\r",
        }
    }

    /// The most common line break of `text`; on a tie the one that comes first; `Lf` without any.
    pub fn dominant(text: &str) -> LineEnding {
        const KINDS: [LineEnding; 3] = [LineEnding::Lf, LineEnding::CrLf, LineEnding::Cr];
        // Per kind: how often, and where first.
        let mut seen = [(0usize, usize::MAX); 3];
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let (kind, len) = match bytes[i] {
                b'\n' => (LineEnding::Lf, 1),
                b'\r' if bytes.get(i + 1) == Some(&b'\n') => (LineEnding::CrLf, 2),
                b'\r' => (LineEnding::Cr, 1),
                _ => {
                    i += 1;
                    continue;
                }
            };
            let slot = &mut seen[kind as usize];
            *slot = (slot.0 + 1, slot.1.min(i));
            i += len;
        }
        KINDS
            .into_iter()
            .filter(|k| seen[*k as usize].0 > 0)
            .max_by_key(|k| (seen[*k as usize].0, std::cmp::Reverse(seen[*k as usize].1)))
            .unwrap_or_default()
    }

    /// `text` (with `\n` line breaks) with this ending.
    pub fn apply(self, text: &str) -> String {
        match self {
            LineEnding::Lf => text.to_owned(),
            other => text.replace('\n', other.as_str()),
        }
    }
}

/// A text with every line break turned into `\n`, and the way back to offsets of the original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    pub text: String,
    /// Offsets in `text` of the `\n`s that were `\r\n` (each one byte shorter than the original).
    crlf_at: Vec<usize>,
}

impl Normalized {
    pub fn new(original: &str) -> Normalized {
        let mut text = String::with_capacity(original.len());
        let mut crlf_at = Vec::new();
        let mut rest = original;
        while let Some(i) = rest.find('\r') {
            text.push_str(&rest[..i]);
            if rest[i + 1..].starts_with('\n') {
                crlf_at.push(text.len());
                rest = &rest[i + 2..];
            } else {
                rest = &rest[i + 1..];
            }
            text.push('\n');
        }
        text.push_str(rest);
        Normalized { text, crlf_at }
    }

    /// The offset in the original text of `offset` in the normalized one. An offset at a `\n` that
    /// was `\r\n` maps before the `\r`, one just after it after the `\n`: a pair is never split.
    pub fn to_original(&self, offset: usize) -> usize {
        offset + self.crlf_at.partition_point(|&at| at < offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dominant_ending() {
        assert_eq!(LineEnding::dominant("one line"), LineEnding::Lf);
        assert_eq!(LineEnding::dominant("a\r\nb\r\n"), LineEnding::CrLf);
        assert_eq!(LineEnding::dominant("a\r\nb\nc\r\n"), LineEnding::CrLf);
        assert_eq!(LineEnding::dominant("a\nb\r\nc\n"), LineEnding::Lf);
        assert_eq!(LineEnding::dominant("a\rb\rc"), LineEnding::Cr);
        assert_eq!(LineEnding::dominant("s = \"\r\"\nb\n"), LineEnding::Lf, "a lone CR inside a line");
        // A tie goes to the first one.
        assert_eq!(LineEnding::dominant("a\r\nb\n"), LineEnding::CrLf);
        assert_eq!(LineEnding::dominant("a\nb\r\n"), LineEnding::Lf);
        assert_eq!(LineEnding::dominant("a\rb\r\nc\r\nd\ne"), LineEnding::CrLf);
        assert_eq!(LineEnding::CrLf.apply("a\nb\n"), "a\r\nb\r\n");
        assert_eq!(LineEnding::Cr.apply("a\nb"), "a\rb");
    }

    #[test]
    fn normalized_offsets_map_back() {
        let original = "a\r\nbc\nd\re\r\n";
        let n = Normalized::new(original);
        assert_eq!(n.text, "a\nbc\nd\ne\n");
        let map: Vec<usize> = (0..=n.text.len()).map(|i| n.to_original(i)).collect();
        assert_eq!(map, [0, 1, 3, 4, 5, 6, 7, 8, 9, 11]);
        for (i, &o) in map.iter().enumerate() {
            assert!(!(original[..o].ends_with('\r') && original[o..].starts_with('\n')), "{i} splits a CRLF");
        }
        assert_eq!(Normalized::new("é\r\n").to_original(2), 2);
        assert_eq!(Normalized::new("é\r\n").to_original(3), 4);
    }
}
