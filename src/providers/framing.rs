//! Cutting a body into payloads: SSE events (the WHATWG rules) or NDJSON lines. Linear in the
//! bytes, whatever the chunking: each byte is looked at once, so a long line costs its length, not
//! its length squared (eventsource-stream reparses its whole buffer on every chunk). Sizes are
//! bounded before bytes get here (`body::Guard`).

/// SSE (`data:` lines joined by `\n`, events ended by a blank line; `\n`, `\r\n` and `\r` line ends;
/// comments, `event:`, `id:`, `retry:` and unknown fields ignored) or NDJSON (one payload a line).
#[derive(Debug, Default)]
pub struct Framer {
    ndjson: bool,
    /// The line being read (bytes: a chunk may end inside a character).
    line: Vec<u8>,
    /// SSE: the data of the event being read, each line followed by `\n`; `None` before any `data`.
    data: Option<String>,
    /// The last byte was a CR: a LF right after it ends nothing more.
    prev_cr: bool,
    started: bool,
}

impl Framer {
    pub fn sse() -> Framer {
        Framer::default()
    }

    pub fn ndjson() -> Framer {
        Framer { ndjson: true, ..Framer::default() }
    }

    /// Feeds one chunk; complete payloads go to `out`.
    pub fn push(&mut self, mut chunk: &[u8], out: &mut Vec<String>) {
        if !self.started && !chunk.is_empty() {
            self.started = true;
            // A byte-order mark may open an SSE stream.
            chunk = chunk.strip_prefix("\u{feff}".as_bytes()).unwrap_or(chunk);
        }
        while !chunk.is_empty() {
            if self.prev_cr && chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
            self.prev_cr = false;
            match chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
                None => {
                    self.line.extend_from_slice(chunk);
                    return;
                }
                Some(i) => {
                    self.line.extend_from_slice(&chunk[..i]);
                    self.prev_cr = chunk[i] == b'\r';
                    chunk = &chunk[i + 1..];
                    let line = std::mem::take(&mut self.line);
                    self.end_line(&line, out);
                    // Keep the buffer's capacity for the next line.
                    self.line = line;
                    self.line.clear();
                }
            }
        }
    }

    fn end_line(&mut self, line: &[u8], out: &mut Vec<String>) {
        let line = String::from_utf8_lossy(line);
        if self.ndjson {
            let text = line.trim();
            if !text.is_empty() {
                out.push(text.to_owned());
            }
            return;
        }
        if line.is_empty() {
            // Dispatch: the data without its last `\n` (an event without data dispatches nothing).
            if let Some(mut data) = self.data.take() {
                data.pop();
                out.push(data);
            }
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (&*line, ""),
        };
        if field == "data" {
            let data = self.data.get_or_insert_with(String::new);
            data.push_str(value);
            data.push('\n');
        }
    }

    /// The body ended: an NDJSON line without its line end still counts; an SSE event without
    /// its blank line does not (WHATWG).
    pub fn finish(&mut self, out: &mut Vec<String>) {
        if self.ndjson && !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.end_line(&line, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(mut framer: Framer, chunks: &[&[u8]]) -> Vec<String> {
        let mut out = Vec::new();
        for c in chunks {
            framer.push(c, &mut out);
        }
        framer.finish(&mut out);
        out
    }

    #[test]
    fn whatwg_fields() {
        let body = "\u{feff}: c\nevent: x\nid: 1\nretry: 5\ndata:a\ndata: b\nfoo: bar\n\ndata\n\ndata:  two\n\nevent: only\n\n";
        assert_eq!(frames(Framer::sse(), &[body.as_bytes()]), ["a\nb", "", " two"]);
        assert_eq!(frames(Framer::sse(), &[b"data: unterminated\n"]), Vec::<String>::new());
    }

    #[test]
    fn line_ends_and_cuts_anywhere() {
        for end in ["\n", "\r\n", "\r"] {
            let body = format!("data: é1{end}data: 2{end}{end}data: 3{end}{end}");
            let b = body.as_bytes();
            for cut in 0..=b.len() {
                assert_eq!(frames(Framer::sse(), &[&b[..cut], &b[cut..]]), ["é1\n2", "3"], "{end:?} cut {cut}");
            }
        }
        let lines = b"{\"a\":1}\r\n\n  \n{\"b\":2}\n{\"c\":3}";
        for cut in 0..=lines.len() {
            let got = frames(Framer::ndjson(), &[&lines[..cut], &lines[cut..]]);
            assert_eq!(got, ["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"], "cut {cut}");
        }
    }

    #[test]
    fn a_long_line_costs_its_length() {
        // 8 MiB in 1 KiB chunks: quadratic work would take minutes here.
        let mut f = Framer::sse();
        let mut out = Vec::new();
        f.push(b"data: ", &mut out);
        let chunk = [b'x'; 1024];
        for _ in 0..8192 {
            f.push(&chunk, &mut out);
        }
        f.push(b"\n\n", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].len(), 8 << 20);
    }
}
