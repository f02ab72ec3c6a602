//! The frame reader: splits the client's byte stream into message bodies. Pure (bytes in, events
//! out) and resumable at any byte boundary.
//!
//! A body normally ends where its `Content-Length` says. Clients get that header wrong (a length
//! counted in characters, not bytes; a stale length; a negative or non-numeric one), and one wrong
//! length must not lose every later message. So the reader also follows the body's JSON structure
//! with a small lexical scanner, and the message ends where its top-level value closes:
//! - a value that closes before the declared length is served at once (a length that is too long
//!   would otherwise swallow the next header and wait for bytes that never come);
//! - a body that is not JSON at its declared length is followed past it (a length that is too
//!   short) until its value closes;
//! - bytes that cannot belong to JSON (the next `Content-Length:` header, a raw control character
//!   inside a string) prove the body broken: reading restarts at the next header.
//!
//! This never breaks a valid frame: a JSON text cannot contain a header (outside strings,
//! `C`/`c` is not a JSON token; inside strings raw line breaks are not allowed), and a value that
//! is complete at its declared length closes exactly there.

/// A header line longer than this is garbage, not a header.
pub const MAX_HEADER_LINE: usize = 8 * 1024;
/// More header lines than this in one block is garbage.
const MAX_HEADER_LINES: usize = 32;
/// Bytes kept at the end of skipped garbage: a header may start there.
const KEEP_TAIL: usize = 16;
/// Header names are short; a longer run of letters is garbage.
const MAX_HEADER_NAME: usize = 64;
const HEADER_NAME: &[u8] = b"content-length";

/// What the reader found in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// One message body (a complete JSON value, lexically; not yet checked as JSON-RPC). `note`
    /// says how it was recovered when its header was wrong.
    Message { body: Vec<u8>, note: Option<String> },
    /// A frame whose body is not JSON. It is answered with a parse error.
    Broken { reason: String },
    /// Bytes that belong to no message (garbage between frames, an empty body). Logged.
    Skipped { bytes: usize, reason: String },
}

/// The resumable frame reader. Feed bytes with [`FrameReader::push`], mark the end of input with
/// [`FrameReader::finish`], and drain [`FrameReader::next_event`] after each.
#[derive(Debug)]
pub struct FrameReader {
    /// Unconsumed input.
    buf: Vec<u8>,
    /// The body being read, once its header block has been parsed.
    body: Option<Body>,
    eof: bool,
    /// The largest body ever buffered.
    limit: usize,
}

#[derive(Debug)]
struct Body {
    /// Where the body starts in `buf`.
    start: usize,
    declared: Result<usize, String>,
    scan: Scan,
}

impl FrameReader {
    pub fn new(limit: usize) -> FrameReader {
        FrameReader { buf: Vec::new(), body: None, eof: false, limit }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub fn finish(&mut self) {
        self.eof = true;
    }

    /// Bytes held: bounded by the limit plus one read.
    #[cfg(test)]
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next event, or `None` when more input is needed (or, after `finish`, none is left).
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            if self.body.is_none() {
                // Line breaks and spaces between frames are harmless (some clients end bodies with one).
                let ws = self.buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
                self.consume(ws);
                if self.buf.is_empty() {
                    return None;
                }
                match parse_head(&self.buf, self.eof) {
                    Head::Need => return None,
                    Head::Garbage => return self.skip_garbage(),
                    Head::Block { end, declared } => {
                        self.body = Some(Body { start: end, declared, scan: Scan::default() });
                    }
                }
            }
            if let Some(event) = self.read_body() {
                return Some(event);
            }
            if self.body.is_none() {
                continue; // an empty body was dropped silently: read the next header
            }
            return None;
        }
    }

    fn consume(&mut self, n: usize) {
        self.buf.drain(..n.min(self.buf.len()));
    }

    /// Drops bytes up to the next `Content-Length` header (never the first byte's own).
    fn skip_garbage(&mut self) -> Option<Event> {
        let n = match find_header(&self.buf, 1) {
            Some(at) => at,
            None if self.eof => self.buf.len(),
            None if self.buf.len() > KEEP_TAIL => self.buf.len() - KEEP_TAIL,
            None => return None,
        };
        self.consume(n);
        Some(Event::Skipped { bytes: n, reason: "bytes outside any message (no Content-Length header)".into() })
    }

    fn read_body(&mut self) -> Option<Event> {
        let body = self.body.as_mut()?;
        let data = &self.buf[body.start..];
        let have = data.len();
        let declared = body.declared.clone();
        let state = body.scan.advance(data);
        let start = body.start;
        match state {
            Scanned::Closed(end) => {
                let value = &data[..end];
                let mut consumed = end;
                let mut note = None;
                match &declared {
                    Ok(len) if *len == end => {}
                    Ok(len) if *len > end => {
                        let rest = &data[end..(*len).min(have)];
                        let padding = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
                        consumed += padding;
                        if padding < rest.len() {
                            note = Some(format!(
                                "Content-Length {len} is longer than the message ({end} bytes); the next header started \
                                 inside it"
                            ));
                        }
                    }
                    Ok(len) => {
                        note = Some(format!(
                            "Content-Length {len} is shorter than the message ({end} bytes; counted in characters \
                             instead of UTF-8 bytes?)"
                        ));
                    }
                    Err(why) => note = Some(format!("{why}; the message was delimited by its JSON instead")),
                }
                let event = if serde_json::from_slice::<serde::de::IgnoredAny>(value).is_ok() {
                    Event::Message { body: value.to_vec(), note }
                } else {
                    Event::Broken { reason: format!("the message is not valid JSON ({})", json_error(value)) }
                };
                self.finish_body(start + consumed);
                Some(event)
            }
            Scanned::Broken(at) => {
                if let Ok(len) = declared
                    && len <= at
                    && let Some(event) = self.complete_at_declared(len)
                {
                    return event;
                }
                let body = self.body.as_ref()?;
                let data = &self.buf[body.start..];
                // The header that broke the body is on the line of the break (a raw line end in a
                // string) or starts at it; a header at 0 is a header without a body.
                let restart =
                    rfind_header(data, at.saturating_sub(MAX_HEADER_LINE), at).or_else(|| find_header(data, at));
                let consumed = match (declared, restart) {
                    (Ok(len), Some(r)) if len <= have && r >= len => len,
                    (_, Some(r)) => r,
                    (Ok(len), None) if len <= have => len,
                    (Ok(_), None) if !self.eof => return None,
                    _ if self.eof => have,
                    _ if have > KEEP_TAIL => have - KEEP_TAIL,
                    _ => return None,
                };
                let reason = match serde_json::from_slice::<serde::de::IgnoredAny>(&data[..at.min(have)]) {
                    Ok(_) => "the message is followed by bytes that are not JSON".to_owned(),
                    Err(_) => format!("the message is not valid JSON ({})", json_error(&data[..consumed])),
                };
                self.finish_body(start + consumed);
                if consumed == 0 {
                    // The next header follows at once: nothing was sent that could be answered.
                    return Some(Event::Skipped { bytes: start, reason: "a header block without a body".into() });
                }
                Some(Event::Broken { reason })
            }
            Scanned::Open => {
                if let Ok(len) = declared
                    && len <= have
                    && let Some(event) = self.complete_at_declared(len)
                {
                    return event;
                }
                // Otherwise the length may be too short: keep following the JSON past it.
                if self.eof {
                    self.finish_body(start + have);
                    return (have > 0).then(|| Event::Broken { reason: "input ended inside a message".into() });
                }
                if have > self.limit {
                    self.finish_body(start + have);
                    return Some(Event::Broken {
                        reason: format!("a message larger than {} bytes; skipped", self.limit),
                    });
                }
                None
            }
        }
    }

    /// When the declared length holds no object or array: an empty body (dropped) or a scalar
    /// (`123`, `"text"`: served; it has no closing bracket to find). `None`: keep scanning.
    fn complete_at_declared(&mut self, len: usize) -> Option<Option<Event>> {
        let body = self.body.as_ref()?;
        let value = &self.buf[body.start..body.start + len];
        let end = body.start + len;
        if value.iter().all(u8::is_ascii_whitespace) {
            self.finish_body(end);
            return Some((len > 0).then(|| Event::Skipped { bytes: len, reason: "an empty message".into() }));
        }
        // An object or array complete here would have closed already: only a scalar parses.
        if serde_json::from_slice::<serde::de::IgnoredAny>(value).is_ok() {
            let event = Event::Message { body: value.to_vec(), note: None };
            self.finish_body(end);
            return Some(Some(event));
        }
        None
    }

    fn finish_body(&mut self, end: usize) {
        self.body = None;
        self.consume(end);
    }
}

fn json_error(bytes: &[u8]) -> String {
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).err().map(|e| e.to_string()).unwrap_or_default()
}

enum Head {
    Need,
    Garbage,
    Block { end: usize, declared: Result<usize, String> },
}

/// Parses the header block at the start of `data` (which starts with a non-blank byte). Lines end
/// in CRLF or a bare LF; names are case-insensitive; `Content-Type` and unknown headers are
/// accepted and ignored (LSP bodies are always UTF-8).
fn parse_head(data: &[u8], eof: bool) -> Head {
    let mut declared: Option<Result<usize, String>> = None;
    let mut at = 0;
    for _ in 0..MAX_HEADER_LINES {
        let window = &data[at..data.len().min(at + MAX_HEADER_LINE)];
        if at > 0
            && matches!(window.first(), Some(b'{' | b'['))
            && let Some(declared) = declared
        {
            // The blank line is missing: the body starts here.
            return Head::Block { end: at, declared };
        }
        let Some(nl) = window.iter().position(|&b| b == b'\n') else {
            return if eof || window.len() == MAX_HEADER_LINE || !could_be_header(window) {
                Head::Garbage
            } else {
                Head::Need
            };
        };
        let line = window[..nl].strip_suffix(b"\r").unwrap_or(&window[..nl]);
        if line.is_empty() {
            if at == 0 {
                return Head::Garbage;
            }
            let declared = declared.unwrap_or_else(|| Err("a header block without Content-Length".into()));
            return Head::Block { end: at + nl + 1, declared };
        }
        let Some((name, value)) = split_header(line) else { return Head::Garbage };
        if name.eq_ignore_ascii_case(HEADER_NAME) {
            let text = String::from_utf8_lossy(value);
            let parsed = text
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("Content-Length `{}` is not a byte count", text.trim()));
            declared = Some(match (declared, parsed) {
                (Some(Ok(a)), Ok(b)) if a != b => Err(format!("two different Content-Length headers ({a}, {b})")),
                (Some(Err(e)), _) => Err(e),
                (_, p) => p,
            });
        }
        at += nl + 1;
    }
    Head::Garbage
}

/// `Name: value` with a token name.
fn split_header(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = &line[..colon];
    let token = !name.is_empty() && name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-');
    token.then(|| (name, &line[colon + 1..]))
}

/// Whether an unfinished line may still become a header line.
fn could_be_header(partial: &[u8]) -> bool {
    let partial = partial.strip_suffix(b"\r").unwrap_or(partial);
    let name_end = partial.iter().position(|&b| b == b':').unwrap_or(partial.len());
    name_end <= MAX_HEADER_NAME && partial[..name_end].iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
}

/// Whether a `Content-Length:` header starts at `at`.
fn header_at(data: &[u8], at: usize) -> bool {
    let Some(name) = data.get(at..at + HEADER_NAME.len()) else { return false };
    name.eq_ignore_ascii_case(HEADER_NAME)
        && data[at + HEADER_NAME.len()..].iter().find(|b| **b != b' ' && **b != b'\t') == Some(&b':')
}

/// The first header at or after `from`.
fn find_header(data: &[u8], from: usize) -> Option<usize> {
    (from..data.len()).find(|&i| (data[i] | 0x20) == b'c' && header_at(data, i))
}

/// The last header starting in `lo..=hi`.
fn rfind_header(data: &[u8], lo: usize, hi: usize) -> Option<usize> {
    (lo..=hi.min(data.len())).rev().find(|&i| data.get(i).is_some_and(|b| (b | 0x20) == b'c') && header_at(data, i))
}

/// A lexical JSON scanner: finds where the top-level value closes, how deep it nests, and bytes
/// that cannot be JSON. Resumable; it does not check the grammar (serde_json does, once).
#[derive(Debug, Default, Clone)]
pub struct Scan {
    pos: usize,
    depth: usize,
    pub max_depth: usize,
    in_string: bool,
    escape: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scanned {
    /// The value is not finished in the bytes seen so far.
    Open,
    /// The top-level value ends at this offset.
    Closed(usize),
    /// The byte at this offset cannot be part of a JSON text.
    Broken(usize),
}

impl Scan {
    /// Scans `data` (the same body, possibly longer than last time) from where it stopped.
    pub fn advance(&mut self, data: &[u8]) -> Scanned {
        while let Some(&b) = data.get(self.pos) {
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                } else if b == b'"' {
                    self.in_string = false;
                    if self.depth == 0 {
                        self.pos += 1;
                        return Scanned::Closed(self.pos);
                    }
                } else if b < 0x20 {
                    return Scanned::Broken(self.pos);
                }
            } else {
                match b {
                    b'{' | b'[' => {
                        self.depth += 1;
                        self.max_depth = self.max_depth.max(self.depth);
                    }
                    b'}' | b']' if self.depth == 0 => return Scanned::Broken(self.pos),
                    b'}' | b']' => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            self.pos += 1;
                            return Scanned::Closed(self.pos);
                        }
                    }
                    b'"' => self.in_string = true,
                    b' ' | b'\t' | b'\r' | b'\n' | b',' | b':' | b'0'..=b'9' | b'-' | b'+' | b'.' => {}
                    // Letters of `true`, `false`, `null` and exponents.
                    b'a' | b'e' | b'E' | b'f' | b'l' | b'n' | b'r' | b's' | b't' | b'u' => {}
                    _ => return Scanned::Broken(self.pos),
                }
            }
            self.pos += 1;
        }
        Scanned::Open
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &str) -> Vec<u8> {
        format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
    }

    /// Feeds `input` whole, then byte by byte: both must give the same events.
    fn events(input: &[u8]) -> Vec<Event> {
        let whole = run(&[input]);
        let pieces: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(bodies(&run(&pieces)), bodies(&whole), "byte-by-byte feeding changed the messages");
        whole
    }

    fn run(pieces: &[&[u8]]) -> Vec<Event> {
        let mut r = FrameReader::new(1 << 20);
        let mut out = Vec::new();
        for p in pieces {
            r.push(p);
            while let Some(e) = r.next_event() {
                out.push(e);
            }
        }
        r.finish();
        while let Some(e) = r.next_event() {
            out.push(e);
        }
        // Adjacent skips are one skip however the input was split.
        let mut merged: Vec<Event> = Vec::new();
        for e in out {
            if let (Some(Event::Skipped { bytes: a, .. }), Event::Skipped { bytes: b, .. }) = (merged.last_mut(), &e) {
                *a += b;
                continue;
            }
            merged.push(e);
        }
        merged
    }

    fn bodies(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Message { body, .. } => Some(String::from_utf8_lossy(body).into_owned()),
                _ => None,
            })
            .collect()
    }

    const A: &str = r#"{"jsonrpc":"2.0","id":1,"method":"a"}"#;
    const B: &str = r#"{"jsonrpc":"2.0","id":2,"method":"b","params":{"text":"Content-Length: 5\r\n\r\n{"}}"#;

    fn broken(events: &[Event]) -> usize {
        events.iter().filter(|e| matches!(e, Event::Broken { .. })).count()
    }

    #[test]
    fn well_formed_frames_pass_unchanged() {
        let mut input = frame(A);
        input.extend(b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n");
        input.extend(frame(B));
        input.extend(format!("content-length:{}\n\n{A}", A.len()).as_bytes()); // LF-only, lower case
        let ev = events(&input);
        assert_eq!(bodies(&ev), [A, B, A]);
        assert!(ev.iter().all(|e| matches!(e, Event::Message { note: None, .. })), "{ev:?}");
    }

    #[test]
    fn a_length_too_short_is_recovered() {
        let text = r#"{"jsonrpc":"2.0","id":1,"method":"a","params":{"t":"héllo wörld"}}"#;
        // Counted in characters instead of bytes.
        let input = [format!("Content-Length: {}\r\n\r\n{text}", text.chars().count()).as_bytes(), &frame(B)].concat();
        let ev = events(&input);
        assert_eq!(bodies(&ev), [text, B]);
        assert!(matches!(&ev[0], Event::Message { note: Some(n), .. } if n.contains("shorter")));
    }

    #[test]
    fn a_length_too_long_does_not_swallow_the_next_message() {
        let input = [format!("Content-Length: {}\r\n\r\n{A}", A.len() + 40).as_bytes(), &frame(B)].concat();
        let ev = events(&input);
        assert_eq!(bodies(&ev), [A, B]);
        // Nothing after it: served at once, not after bytes that will never come.
        let mut r = FrameReader::new(1 << 20);
        r.push(format!("Content-Length: 999\r\n\r\n{A}").as_bytes());
        assert!(matches!(r.next_event(), Some(Event::Message { .. })));
    }

    #[test]
    fn bad_lengths_are_delimited_by_the_json() {
        for header in ["Content-Length: -5", "Content-Length: abc", "Content-Length: ", "X-Other: 1"] {
            let input = [format!("{header}\r\n\r\n{A}").as_bytes(), &frame(B)].concat();
            let ev = events(&input);
            assert_eq!(bodies(&ev), [A, B], "{header}");
        }
    }

    #[test]
    fn a_truncated_body_is_broken_and_the_next_frame_served() {
        let cut = r#"{"jsonrpc":"2.0","id":99,"method":"#;
        for input in [
            [frame(cut), frame(A)].concat(),
            [format!("Content-Length: {}\r\n\r\n{cut}", cut.len() + 100).as_bytes(), &frame(A)].concat(),
            [frame(r#"{"a":"unterminated"#), frame(A)].concat(),
            [frame("{not json"), frame(A)].concat(),
        ] {
            let ev = events(&input);
            assert_eq!(bodies(&ev), [A], "{:?}", String::from_utf8_lossy(&input));
            assert_eq!(broken(&ev), 1, "{ev:?}");
        }
    }

    #[test]
    fn garbage_between_frames_is_skipped() {
        let input =
            [b"Garbage: yes\r\n\r\n" as &[u8], b"\xff\xfe random", &frame(A), &vec![b'x'; 100_000], b"\r\n", &frame(B)]
                .concat();
        let ev = events(&input);
        assert_eq!(bodies(&ev), [A, B]);
    }

    #[test]
    fn scalars_and_empty_bodies() {
        let input = [frame(r#""just a string""#), frame("123"), frame(""), frame("  "), frame(A)].concat();
        let ev = events(&input);
        assert_eq!(bodies(&ev), [r#""just a string""#, "123", A]);
    }

    #[test]
    fn missing_blank_line_and_header_without_body_at_eof() {
        let input = format!("Content-Length: {}\r\n{A}Content-Length: 10\r\n\r\n", A.len());
        let ev = events(input.as_bytes());
        assert_eq!(bodies(&ev), [A]);
        let ev = events(b"Content-Length: 10\r\n\r\n");
        assert!(bodies(&ev).is_empty());
    }

    #[test]
    fn huge_bodies_are_refused_without_buffering_them() {
        let mut r = FrameReader::new(1000);
        r.push(b"Content-Length: 5000\r\n\r\n[");
        for _ in 0..50 {
            r.push(&[b'1', b','].repeat(50));
            while r.next_event().is_some() {}
            assert!(r.buffered() < 1200);
        }
    }

    #[test]
    fn scanner_tracks_depth_and_strings() {
        let mut s = Scan::default();
        let text = br#"{"a":[[{"b":"]}\""}]],"c":1}"#;
        assert_eq!(s.advance(text), Scanned::Closed(text.len()));
        assert_eq!(s.max_depth, 4);
        assert_eq!(Scan::default().advance(b"{\"a\":\"x\ny\"}"), Scanned::Broken(7));
        assert_eq!(Scan::default().advance(b"{\"a\":1,Content-Length"), Scanned::Broken(7));
    }
}
