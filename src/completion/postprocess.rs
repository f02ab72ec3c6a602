//! Post-processing of a model's raw inline completion against the document around the cursor
//! (fences, echoed prefix, overlap with the suffix, bracket balance, indentation, repetition), the
//! single-/multi-line shaping with a streaming cutter, and Copilot's mid-line gate.
//!
//! Everything here is pure: plain strings in, plain strings and byte counts out. Strings are only
//! ever sliced on char boundaries. CRLF documents are handled by working on `\n` internally and
//! re-encoding the result.

use std::borrow::Cow;

/// Bytes of the prefix (before the cursor) looked at for brackets, echoes and indentation.
const PREFIX_WINDOW: usize = 8192;
/// Bytes of the suffix (after the cursor) looked at for brackets and following lines.
const SUFFIX_WINDOW: usize = 8192;
/// Default cap on the lines of a multi-line completion (`completion.max_suggestion_lines`).
pub const DEFAULT_MAX_LINES: usize = 64;
/// Default cap on the bytes of a completion (`completion.max_suggestion_bytes`): a model that
/// streams a minified file or never stops is cut here, whatever the upstream does.
pub const DEFAULT_MAX_BYTES: usize = 16 * 1024;

/// Whether a completion may span lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    SingleLine,
    MultiLine,
}

/// How the document indents: used to re-render the indentation of completion lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndentStyle {
    pub use_tabs: bool,
    /// Columns per tab stop (and per indentation level when spaces are used).
    pub tab_width: usize,
}

impl Default for IndentStyle {
    fn default() -> Self {
        Self { use_tabs: false, tab_width: 4 }
    }
}

impl IndentStyle {
    /// Guess the style of a document from its lines' leading whitespace (defaults: 4 spaces).
    pub fn detect(text: &str) -> Self {
        let (mut tab_lines, mut space_lines) = (0usize, 0usize);
        let mut deltas = [0usize; 9];
        let mut prev = 0usize;
        for line in text.lines().take(2000) {
            if line.trim().is_empty() {
                continue;
            }
            if line.starts_with('\t') {
                tab_lines += 1;
            } else if line.starts_with("  ") {
                space_lines += 1;
            }
            let w = line.len() - line.trim_start_matches(' ').len();
            if !line.starts_with('\t') {
                if w > prev && w - prev <= 8 {
                    deltas[w - prev] += 1;
                }
                prev = w;
            }
        }
        let use_tabs = tab_lines > space_lines;
        let tab_width = if use_tabs {
            4
        } else {
            [2usize, 4, 8].into_iter().max_by_key(|&u| (deltas[u], u == 4)).filter(|&u| deltas[u] > 0).unwrap_or(4)
        };
        Self { use_tabs, tab_width }
    }

    /// Visual width of leading whitespace.
    pub fn width(&self, ws: &str) -> usize {
        let tab = self.tab_width.max(1);
        ws.chars().fold(0, |w, c| if c == '\t' { (w / tab + 1) * tab } else { w + 1 })
    }

    /// Leading whitespace of the given visual width in this style.
    pub fn render(&self, width: usize) -> String {
        let tab = self.tab_width.max(1);
        if self.use_tabs {
            let mut s = "\t".repeat(width / tab);
            s.push_str(&" ".repeat(width % tab));
            s
        } else {
            " ".repeat(width)
        }
    }
}

/// Per-request settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options<'a> {
    pub shape: Shape,
    pub indent: IndentStyle,
    /// Line-comment token of the language (`//`, `#`, `--`), so brackets in comments are ignored.
    pub line_comment: Option<&'a str>,
    /// Cap on the lines of a multi-line completion.
    pub max_lines: usize,
    /// Cap on the bytes of a completion: the stream is cut there.
    pub max_bytes: usize,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Self {
            shape: Shape::MultiLine,
            indent: IndentStyle::default(),
            line_comment: None,
            max_lines: DEFAULT_MAX_LINES,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// A cleaned completion: insert `text` at the cursor, replacing the next `replace_after` bytes of
/// the suffix (always within the current line; 0 = pure insertion).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    pub text: String,
    pub replace_after: usize,
}

/// The whole pipeline. `None` when nothing useful is left.
pub fn postprocess(raw: &str, prefix: &str, suffix: &str, opts: &Options<'_>) -> Option<Completion> {
    let ctx = Context::new(prefix, suffix, opts);
    let mut text = normalize_newlines(raw).into_owned();
    text = strip_model_noise(&text).to_owned();
    text = strip_fences(&text, &ctx.prefix);
    text = strip_echoed_prefix(&text, &ctx.prefix).to_owned();
    text = {
        let mut cutter = StreamCutter::with_context(opts.shape, ctx.clone(), opts.max_lines, opts.max_bytes);
        match cutter.push(&text) {
            Cut::Stop(s) => s,
            Cut::Continue => cutter.finish(),
        }
    };
    text = cut_repetition(&text).to_owned();
    text = fix_indentation(&text, ctx.line_before(), opts.indent);
    let (mut text, replace_after) = ctx.remove_overlap(&text);
    text = ctx.balance(&text, replace_after);
    text = ctx.trim_end(&text, replace_after);
    if text.trim().is_empty() || ctx.repeats_document(&text) {
        return None;
    }
    if ctx.crlf {
        text = text.replace('\n', "\r\n");
    }
    Some(Completion { text, replace_after })
}

/// Copilot's mid-line rule: a completion is allowed when the rest of the line matches
/// `^\s*[)>}\]"'`]*\s*[:{;,]?\s*$`, and never in the middle of a word.
pub fn completion_allowed_here(line_before_cursor: &str, line_after_cursor: &str) -> bool {
    let before = line_before_cursor.chars().next_back();
    let after = line_after_cursor.chars().next();
    if let (Some(b), Some(a)) = (before, after)
        && is_word(b)
        && is_word(a)
    {
        return false;
    }
    let rest = line_after_cursor.trim_start();
    let rest = rest.trim_start_matches([')', '>', '}', ']', '"', '\'', '`']).trim_start();
    let rest = rest.strip_prefix([':', '{', ';', ',']).unwrap_or(rest);
    rest.trim().is_empty()
}

/// The text of the cursor line before the cursor.
pub fn line_before_cursor(prefix: &str) -> &str {
    prefix.rfind('\n').map_or(prefix, |i| &prefix[i + 1..])
}

/// The text of the cursor line after the cursor (without the line ending).
pub fn line_after_cursor(suffix: &str) -> &str {
    let line = suffix.find('\n').map_or(suffix, |i| &suffix[..i]);
    line.strip_suffix('\r').unwrap_or(line)
}

/// Removes markdown fences and the prose around them: the first fenced block's content (to the end
/// when unclosed); a lone closing fence at the end is dropped. Left alone when the prefix itself
/// contains fences (a markdown document).
pub fn strip_fences(text: &str, prefix: &str) -> String {
    if prefix.lines().any(|l| crate::actions::extract::fence(l).is_some()) {
        return text.to_owned();
    }
    let lines: Vec<&str> = text.split('\n').collect();
    let fences: Vec<(usize, (char, usize, &str))> =
        lines.iter().enumerate().filter_map(|(i, l)| crate::actions::extract::fence(l).map(|f| (i, f))).collect();
    let Some(&(open, (ch, len, info))) = fences.first() else {
        return text.to_owned();
    };
    let last_nonblank = lines.iter().rposition(|l| !l.trim().is_empty());
    if fences.len() == 1 && info.is_empty() && open > 0 && Some(open) == last_nonblank {
        // A stray closing fence after the code.
        let mut out = lines[..open].join("\n");
        trim_trailing_newline(&mut out);
        return out;
    }
    let close = fences.iter().skip(1).find(|(_, (c, l, inf))| *c == ch && *l >= len && inf.is_empty()).map(|(i, _)| *i);
    let body = &lines[open + 1..close.unwrap_or(lines.len())];
    body.join("\n")
}

/// Drops the part of the completion that repeats the end of the prefix (the current line, its tail
/// from a token start, or the last few lines). Needs at least 3 echoed non-blank characters or a
/// whole echoed line, so short legitimate repeats survive.
pub fn strip_echoed_prefix<'a>(text: &'a str, prefix: &str) -> &'a str {
    let line_start = prefix.rfind('\n').map_or(0, |i| i + 1);
    let line = &prefix[line_start..];
    let mut starts: Vec<usize> = Vec::new();
    // Starts of up to 3 earlier lines (longest echo first).
    let mut pos = line_start;
    for _ in 0..3 {
        if pos == 0 {
            break;
        }
        let prev = prefix[..pos - 1].rfind('\n').map_or(0, |i| i + 1);
        starts.push(prev);
        pos = prev;
    }
    starts.reverse();
    // Token boundaries within the current line.
    let mut prev_char: Option<char> = None;
    for (i, c) in line.char_indices() {
        let boundary = match prev_char {
            None => true,
            Some(p) => (p.is_whitespace() && !c.is_whitespace()) || is_word(p) != is_word(c),
        };
        if boundary {
            starts.push(line_start + i);
        }
        prev_char = Some(c);
    }
    for start in starts {
        let tail = &prefix[start..];
        let non_ws = tail.chars().filter(|c| !c.is_whitespace()).count();
        let enough = non_ws >= 3 || (tail.contains('\n') && non_ws >= 1);
        if !enough {
            continue;
        }
        if let Some(rest) = text.strip_prefix(tail) {
            return rest;
        }
        let tail_trim = tail.trim_start();
        if tail_trim.len() != tail.len() || start == line_start {
            let t = text.trim_start_matches([' ', '\t']);
            if !tail_trim.is_empty()
                && let Some(rest) = t.strip_prefix(tail_trim)
            {
                return rest;
            }
        }
    }
    text
}

/// Cuts a run of the same line (or block of up to 4 lines) repeated 3 times or more, keeping the
/// first occurrence. Lines made only of closing brackets do not count.
pub fn cut_repetition(text: &str) -> &str {
    let mut lines: Vec<(String, usize)> = Vec::new();
    let mut start = 0;
    for line in text.split('\n') {
        let end = start + line.len();
        lines.push((line.trim().to_owned(), end));
        if let Some(cut) = repetition_cut(&lines) {
            return &text[..cut];
        }
        start = end + 1;
    }
    text
}

/// Re-indents a completion for the cursor line: drops indentation the model repeated on the first
/// line when the cursor already sits at the indentation, shifts later lines when the model indented
/// relative to column 0 instead of the cursor line, and renders indentation in the document's
/// style (tabs vs spaces).
pub fn fix_indentation(text: &str, line_before_cursor: &str, style: IndentStyle) -> String {
    let cursor_ws = leading_ws(line_before_cursor);
    let c = style.width(cursor_ws);
    let at_indent = line_before_cursor.trim().is_empty();
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or("");
    let rest: Vec<&str> = lines.collect();
    let mut out = String::with_capacity(text.len() + 16);
    if at_indent && c > 0 {
        let ws = leading_ws(first);
        let w = style.width(ws);
        if w > 0 {
            out.push_str(&style.render(w.saturating_sub(c)));
            out.push_str(&first[ws.len()..]);
        } else {
            out.push_str(first);
        }
    } else {
        out.push_str(first);
    }
    let next = rest.iter().find(|l| !l.trim().is_empty()).copied();
    let shift = match next {
        Some(n) if looks_relative(line_before_cursor, first, n, style) => c,
        _ => 0,
    };
    for line in rest {
        out.push('\n');
        let (body, cr) = match line.strip_suffix('\r') {
            Some(b) => (b, "\r"),
            None => (line, ""),
        };
        if body.trim().is_empty() {
            out.push_str(cr);
            continue;
        }
        let ws = leading_ws(body);
        out.push_str(&style.render(style.width(ws) + shift));
        out.push_str(&body[ws.len()..]);
        out.push_str(cr);
    }
    out
}

/// What the stream cutter says after each delta.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cut {
    /// Keep streaming.
    Continue,
    /// Close the stream: this is the completion.
    Stop(String),
}

/// Decides, delta by delta, when a streamed completion is complete, so the request can be closed.
///
/// Single-line: stops at the first newline (a leading newline gives an empty completion).
/// Multi-line: stops before a blank line following content, before a line dedented below the
/// cursor line's indentation (unless it starts with a closing bracket), before a top-level keyword
/// line, before a line equal to the next non-empty line of the suffix, after the line on which the
/// brackets close below the start, at a third repetition, or after `max_lines` lines.
/// Either shape stops at `max_bytes` (multi-line: before the unfinished line, when there is one).
///
/// The work per delta is proportional to the delta: only new bytes are searched for a line break,
/// and each line is looked at once, when it is complete (see [`StreamCutter::bytes_examined`]).
#[derive(Clone, Debug)]
pub struct StreamCutter {
    shape: Shape,
    ctx: Context,
    max_lines: usize,
    max_bytes: usize,
    text: String,
    /// Bytes of `text` already searched for a line break (from `line_start` on).
    searched: usize,
    /// Bytes looked at so far: searched for a line break, or handled as a complete line.
    examined: usize,
    line_start: usize,
    line_no: usize,
    first_line: String,
    relative: Option<bool>,
    seen_content: bool,
    scanner: Scanner,
    /// Prefix openers closed by the completion so far, and how many of them the suffix closes.
    consumed: usize,
    suffix_closes: usize,
    /// Indentation of the last line that closed a bracket opened before the cursor.
    closed_indent: Option<usize>,
    lines: Vec<(String, usize)>,
    done: Option<String>,
}

impl StreamCutter {
    pub fn new(shape: Shape, prefix: &str, suffix: &str, opts: &Options<'_>) -> Self {
        Self::with_context(shape, Context::new(prefix, suffix, opts), opts.max_lines, opts.max_bytes)
    }

    fn with_context(shape: Shape, ctx: Context, max_lines: usize, max_bytes: usize) -> Self {
        let scanner = ctx.completion_scanner();
        let suffix_closes = ctx.suffix_closes(&ctx.suffix);
        Self {
            shape,
            ctx,
            max_lines: max_lines.max(1),
            max_bytes: max_bytes.max(1),
            text: String::new(),
            searched: 0,
            examined: 0,
            line_start: 0,
            line_no: 0,
            first_line: String::new(),
            relative: None,
            seen_content: false,
            scanner,
            consumed: 0,
            suffix_closes,
            closed_indent: None,
            lines: Vec::new(),
            done: None,
        }
    }

    /// The text received so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Bytes looked at so far (searched for a line break, or handled as a complete line): a
    /// small multiple of the bytes received, however they were split into deltas.
    pub fn bytes_examined(&self) -> usize {
        self.examined
    }

    /// Feed a delta. Once it has said `Stop`, it keeps saying the same.
    pub fn push(&mut self, delta: &str) -> Cut {
        if let Some(done) = &self.done {
            return Cut::Stop(done.clone());
        }
        self.text.push_str(delta);
        while let Some(nl) = self.text[self.searched..].find('\n') {
            let end = self.searched + nl;
            self.examined += end + 1 - self.searched;
            self.searched = end + 1;
            if end > self.max_bytes {
                break;
            }
            if let Some(stop) = self.on_line(self.line_start, end, false) {
                self.done = Some(stop.clone());
                return Cut::Stop(stop);
            }
            self.line_start = end + 1;
        }
        self.examined += self.text.len() - self.searched;
        self.searched = self.text.len();
        if self.text.len() > self.max_bytes {
            let stop = self.capped();
            self.done = Some(stop.clone());
            return Cut::Stop(stop);
        }
        Cut::Continue
    }

    /// The completion when the stream passed `max_bytes`: the complete lines before the cap (a
    /// multi-line completion), or the text up to the cap.
    fn capped(&self) -> String {
        if self.shape == Shape::MultiLine && self.line_start > 0 {
            return self.cut_before(self.line_start);
        }
        let mut end = self.max_bytes.min(self.text.len());
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let s = &self.text[..end];
        let s = if self.shape == Shape::SingleLine { s.split('\n').next().unwrap_or(s) } else { s };
        s.trim_end_matches(['\r', '\n']).to_owned()
    }

    /// The stream ended: the final completion.
    pub fn finish(&mut self) -> String {
        if let Some(done) = &self.done {
            return done.clone();
        }
        let end = self.text.len();
        let result = if self.line_start < end {
            self.on_line(self.line_start, end, true).unwrap_or_else(|| self.text.clone())
        } else {
            self.text.clone()
        };
        self.done = Some(result.clone());
        result
    }

    fn cut_before(&self, line_start: usize) -> String {
        let s = &self.text[..line_start];
        let s = s.strip_suffix('\n').unwrap_or(s);
        s.strip_suffix('\r').unwrap_or(s).to_owned()
    }

    fn through(&self, end: usize) -> String {
        let s = &self.text[..end];
        s.strip_suffix('\r').unwrap_or(s).to_owned()
    }

    fn on_line(&mut self, start: usize, end: usize, last: bool) -> Option<String> {
        self.examined += end - start;
        let raw = &self.text[start..end];
        let line = raw.strip_suffix('\r').unwrap_or(raw).to_owned();
        let k = self.line_no;
        self.line_no += 1;
        if self.shape == Shape::SingleLine {
            return if last { None } else { Some(self.through(end)) };
        }
        let blank = line.trim().is_empty();
        let style = self.ctx.indent;
        if k == 0 {
            self.first_line = line.clone();
        } else {
            if blank {
                return if self.seen_content { Some(self.cut_before(start)) } else { None };
            }
            let ws = leading_ws(&line);
            let w = style.width(ws);
            let t = line.trim();
            let c = style.width(leading_ws(self.ctx.line_before()));
            let relative = *self
                .relative
                .get_or_insert_with(|| looks_relative(self.ctx.line_before(), &self.first_line, &line, style));
            let (shift, mut eff_start) = if relative { (c, 0) } else { (0, c) };
            if let Some(ci) = self.closed_indent {
                eff_start = eff_start.min(ci);
            }
            if let Some((nt, nw)) = &self.ctx.next_line
                && t == nt
                && w + shift == *nw
            {
                return Some(self.cut_before(start));
            }
            if w < eff_start && !starts_with_closer(t) {
                return Some(self.cut_before(start));
            }
            if !relative && w == 0 && self.seen_content && is_top_level_keyword(t) {
                return Some(self.cut_before(start));
            }
        }
        // Brackets: closing one the suffix also closes (or a mismatched one) ends the completion
        // with this line; closing one nothing closes finishes the user's block and goes on at the
        // closing line's indentation.
        let mut underflow = false;
        let mut closed = false;
        let mut scan_text = line.clone();
        scan_text.push('\n');
        let open = &self.ctx.at_cursor.stack;
        let (consumed, suffix_closes) = (&mut self.consumed, self.suffix_closes);
        self.scanner.scan(&scan_text, self.ctx.line_comment.as_deref(), |j, c, depth| {
            if depth == 0 && reopens(&line, j, c) {
                return true;
            }
            if depth > 0 {
                underflow = true;
                return false;
            }
            let expected = open.len().checked_sub(*consumed + 1).and_then(|j| open.get(j));
            if expected == Some(&opener_of(c)) && *consumed >= suffix_closes {
                *consumed += 1;
                closed = true;
                true
            } else {
                underflow = true;
                false
            }
        });
        if closed {
            self.closed_indent = Some(style.width(leading_ws(&line)));
        }
        if !blank {
            self.seen_content = true;
        }
        self.lines.push((line.trim().to_owned(), end));
        if let Some(cut) = repetition_cut(&self.lines) {
            return Some(self.through(cut));
        }
        if underflow || self.lines.len() >= self.max_lines {
            return Some(self.through(end));
        }
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Context: the document around the cursor, normalized to `\n`, bounded windows.

#[derive(Clone, Debug)]
struct Context {
    prefix: String,
    suffix: String,
    crlf: bool,
    indent: IndentStyle,
    line_comment: Option<String>,
    /// First non-blank line of the suffix after the cursor line: (trimmed text, indent width).
    next_line: Option<(String, usize)>,
    /// Bracket state at the cursor (unclosed openers of the prefix window, string/comment state).
    at_cursor: Scanner,
}

impl Context {
    fn new(prefix: &str, suffix: &str, opts: &Options<'_>) -> Self {
        let p = tail_window(prefix, PREFIX_WINDOW);
        let s = head_window(suffix, SUFFIX_WINDOW);
        let crlf = p.contains("\r\n") || s.contains("\r\n");
        let prefix = normalize_newlines(p).into_owned();
        let suffix = normalize_newlines(s).into_owned();
        let line_comment = opts.line_comment.filter(|c| !c.is_empty()).map(str::to_owned);
        let mut at_cursor = Scanner::default();
        at_cursor.scan(&prefix, line_comment.as_deref(), |_, _, _| true);
        let next_line = suffix
            .split('\n')
            .skip(1)
            .find(|l| !l.trim().is_empty())
            .map(|l| (l.trim().to_owned(), opts.indent.width(leading_ws(l))));
        Self { prefix, suffix, crlf, indent: opts.indent, line_comment, next_line, at_cursor }
    }

    fn line_before(&self) -> &str {
        line_before_cursor(&self.prefix)
    }

    fn line_after(&self) -> &str {
        line_after_cursor(&self.suffix)
    }

    /// A scanner for completion text: string/comment state of the cursor, empty stack.
    fn completion_scanner(&self) -> Scanner {
        Scanner { stack: Vec::new(), ..self.at_cursor.clone() }
    }

    /// How many of the prefix's unclosed openers (innermost first) `suffix` closes.
    fn suffix_closes(&self, suffix: &str) -> usize {
        let open = &self.at_cursor.stack;
        let mut closes = 0;
        let mut sc = self.completion_scanner();
        sc.scan(suffix, self.line_comment.as_deref(), |_, c, depth| {
            if depth > 0 {
                return true;
            }
            match open.len().checked_sub(closes + 1).and_then(|i| open.get(i)) {
                Some(&o) if o == opener_of(c) => {
                    closes += 1;
                    true
                }
                _ => false,
            }
        });
        closes
    }

    /// Underflowing closers of `text` (those that close brackets opened before the cursor or
    /// nothing at all), in order.
    fn underflows(&self, text: &str) -> Vec<(usize, char)> {
        let mut out = Vec::new();
        let mut sc = self.completion_scanner();
        sc.scan(text, self.line_comment.as_deref(), |i, c, depth| {
            if depth == 0 {
                out.push((i, c));
            }
            true
        });
        out
    }

    /// Removes what the text after the cursor already provides: the rest of the line (or its head)
    /// at the end of the completion, and trailing lines equal to the following lines. When the
    /// completion's last line covers the rest of the line (e.g. `a);` over `)`), it replaces it.
    fn remove_overlap(&self, text: &str) -> (String, usize) {
        let r = self.line_after();
        let rt = r.trim_end();
        let mut text = text.to_owned();
        let mut replace_after = 0;
        if !rt.is_empty() {
            let body = text.trim_end_matches([' ', '\t']);
            if body.ends_with(rt) && (rt.chars().any(is_word) || self.is_duplicate_closing(body, rt)) {
                text.truncate(body.len() - rt.len());
            } else if let Some(n) = self.partial_overlap(body, rt) {
                text.truncate(body.len() - n);
            } else if self.covers(body, rt) {
                replace_after = r.len();
            }
        }
        // Trailing lines equal to the lines after the cursor line.
        if replace_after == 0 || r.len() == replace_after {
            let next: Vec<&str> = self.suffix.split('\n').skip(1).filter(|l| !l.trim().is_empty()).take(32).collect();
            let lines: Vec<&str> = text.split('\n').collect();
            let n = lines.len();
            for k in (1..n).rev() {
                let tail = &lines[n - k..];
                let tail_nonblank: Vec<&str> = tail.iter().copied().filter(|l| !l.trim().is_empty()).collect();
                if tail_nonblank.is_empty() || tail_nonblank.len() > next.len() {
                    continue;
                }
                if tail_nonblank.iter().zip(&next).all(|(a, b)| a.trim_end() == b.trim_end()) {
                    let keep = lines[..n - k].join("\n");
                    text = keep;
                    break;
                }
            }
        }
        (text, replace_after)
    }

    /// `overlap` (punctuation at the end of the completion, also at the start of the suffix) is a
    /// duplicate: its closers close brackets opened before the completion and its quotes close a
    /// string the completion did not open.
    fn is_duplicate_closing(&self, text: &str, overlap: &str) -> bool {
        if !overlap.chars().all(|c| is_closing_punct(c) || c.is_whitespace()) {
            return false;
        }
        let under = self.underflows(text);
        for kind in [')', ']', '}'] {
            let need = overlap.chars().filter(|&c| c == kind).count();
            if need > under.iter().filter(|(_, c)| *c == kind).count() {
                return false;
            }
        }
        for q in ['"', '\'', '`'] {
            if overlap.contains(q) && count_unescaped(text, q).is_multiple_of(2) {
                return false;
            }
        }
        true
    }

    fn partial_overlap(&self, text: &str, rt: &str) -> Option<usize> {
        let mut best = None;
        for (i, _) in rt.char_indices().skip(1).chain(std::iter::once((rt.len(), ' '))) {
            let head = &rt[..i];
            if head.chars().all(is_closing_punct) && text.ends_with(head) && self.is_duplicate_closing(text, head) {
                best = Some(head.len());
            }
        }
        best
    }

    /// The completion's last line contains the rest of the line's punctuation in order, and closes
    /// what that punctuation closes: replace the rest of the line.
    fn covers(&self, text: &str, rt: &str) -> bool {
        if !completion_allowed_here("", rt) {
            return false;
        }
        let last = text.rsplit('\n').next().unwrap_or(text);
        let mut chars = last.chars();
        for want in rt.chars().filter(|c| !c.is_whitespace()) {
            if !chars.any(|c| c == want) {
                return false;
            }
        }
        let under = self.underflows(text);
        [')', ']', '}']
            .iter()
            .all(|&k| rt.chars().filter(|&c| c == k).count() <= under.iter().filter(|(_, c)| *c == k).count())
    }

    /// Cuts the completion at a closer the suffix already has, or at a closer that matches nothing.
    fn balance(&self, text: &str, replace_after: usize) -> String {
        let rest = self.suffix.get(replace_after..).unwrap_or("");
        let closes = self.suffix_closes(rest);
        let open = &self.at_cursor.stack;
        let mut cut = None;
        for (consumed, (i, c)) in self.underflows(text).into_iter().enumerate() {
            if reopens(text, i, c) {
                continue;
            }
            let expected = open.len().checked_sub(consumed + 1).and_then(|j| open.get(j));
            if expected != Some(&opener_of(c)) || consumed < closes {
                cut = Some(i);
                break;
            }
        }
        match cut {
            Some(i) => text[..i].to_owned(),
            None => text.to_owned(),
        }
    }

    /// Trailing whitespace that would only add blanks before what follows the cursor.
    fn trim_end(&self, text: &str, replace_after: usize) -> String {
        let rest = self.suffix.get(replace_after..).unwrap_or("");
        let at_line_end = line_after_cursor(rest).trim().is_empty();
        if !at_line_end {
            return text.to_owned();
        }
        let mut t = text.trim_end_matches([' ', '\t']);
        while let Some(s) = t.strip_suffix('\n') {
            t = s.trim_end_matches([' ', '\t']);
        }
        t.to_owned()
    }

    /// The completion only repeats the lines that follow (or the line above).
    fn repeats_document(&self, text: &str) -> bool {
        let mut lines = text.split('\n');
        let first = lines.next().unwrap_or("");
        let mut virtual_lines: Vec<String> = Vec::new();
        if !first.trim().is_empty() {
            virtual_lines.push(format!("{}{}", self.line_before(), first).trim().to_owned());
        }
        virtual_lines.extend(lines.map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()));
        if virtual_lines.is_empty() {
            return false;
        }
        let next: Vec<&str> = self
            .suffix
            .split('\n')
            .skip(1)
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .take(virtual_lines.len())
            .collect();
        if next.len() == virtual_lines.len() && virtual_lines.iter().zip(&next).all(|(a, b)| a == b) {
            return true;
        }
        if virtual_lines.len() == 1 && !text.contains('\n') {
            let line = &virtual_lines[0];
            let above = self.prefix.split('\n').rev().skip(1).map(str::trim).find(|l| !l.is_empty());
            if above == Some(line.as_str()) && line.chars().filter(|c| !is_closing_punct(*c)).count() >= 4 {
                return true;
            }
        }
        false
    }
}

// ---------------------------------------------------------------------------------------------
// Bracket scanner: brackets outside strings, char literals and line comments.

#[derive(Clone, Debug, Default)]
struct Scanner {
    stack: Vec<char>,
    quote: Option<char>,
    escape: bool,
    comment: bool,
}

impl Scanner {
    /// Scans `text`; for each closer that does not match the innermost open bracket calls
    /// `f(byte_index, closer, depth)` (depth 0: it closes something opened before this scanner
    /// started). `f` returns whether to go on; when it does, a matching opener deeper in the stack
    /// is popped (error recovery).
    fn scan(&mut self, text: &str, comment: Option<&str>, mut f: impl FnMut(usize, char, usize) -> bool) {
        // The comment token is compared only where its first character is: a string compare at
        // every character of the 8 KiB windows was most of this scan.
        let comment = comment.and_then(|tok| Some((tok.chars().next()?, tok)));
        let mut iter = text.char_indices().peekable();
        while let Some((i, c)) = iter.next() {
            if self.comment {
                if c == '\n' {
                    self.comment = false;
                }
                continue;
            }
            if let Some(q) = self.quote {
                if self.escape {
                    self.escape = false;
                } else if c == '\\' {
                    self.escape = true;
                } else if c == q || (c == '\n' && q != '`') {
                    self.quote = None;
                }
                continue;
            }
            if let Some((first, tok)) = comment
                && c == first
                && text[i..].starts_with(tok)
            {
                self.comment = true;
                continue;
            }
            match c {
                '"' | '`' => self.quote = Some(c),
                '\'' => {
                    if let Some(len) = char_literal_len(&text[i..]) {
                        while iter.peek().is_some_and(|&(j, _)| j < i + len) {
                            iter.next();
                        }
                    }
                }
                '(' | '[' | '{' => self.stack.push(c),
                ')' | ']' | '}' => {
                    let o = opener_of(c);
                    if self.stack.last() == Some(&o) {
                        self.stack.pop();
                    } else {
                        if !f(i, c, self.stack.len()) {
                            return;
                        }
                        if let Some(p) = self.stack.iter().rposition(|&s| s == o) {
                            self.stack.truncate(p);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// Byte length of a char literal starting at `s` (`'x'`, `'\n'`, `'\u{1F600}'`), if it is one.
fn char_literal_len(s: &str) -> Option<usize> {
    let mut it = s.char_indices().skip(1);
    let (_, c) = it.next()?;
    if c == '\\' {
        for (j, d) in it.take(10) {
            if d == '\'' && j > 2 {
                return Some(j + 1);
            }
        }
        return None;
    }
    if c == '\'' || c == '\n' {
        return None;
    }
    match it.next() {
        Some((j, '\'')) => Some(j + 1),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_closing_punct(c: char) -> bool {
    matches!(c, ')' | ']' | '}' | '>' | '"' | '\'' | '`' | ';' | ',' | ':')
}

fn opener_of(c: char) -> char {
    match c {
        ')' => '(',
        ']' => '[',
        _ => '{',
    }
}

fn starts_with_closer(t: &str) -> bool {
    t.starts_with([')', ']', '}'])
}

/// The closer at byte `i` of `text` is followed on its line by an opener of the same kind at the
/// line end (`} else {`, `}, {`): the block goes on rather than ends.
fn reopens(text: &str, i: usize, closer: char) -> bool {
    let rest = text.get(i + closer.len_utf8()..).unwrap_or("");
    let line = rest.split('\n').next().unwrap_or("");
    line.trim_end().ends_with(opener_of(closer))
}

fn leading_ws(s: &str) -> &str {
    &s[..s.len() - s.trim_start_matches([' ', '\t']).len()]
}

fn count_unescaped(text: &str, q: char) -> usize {
    let mut n = 0;
    let mut escape = false;
    for c in text.chars() {
        if escape {
            escape = false;
        } else if c == '\\' {
            escape = true;
        } else if c == q {
            n += 1;
        }
    }
    n
}

fn normalize_newlines(s: &str) -> Cow<'_, str> {
    if s.contains('\r') { Cow::Owned(s.replace("\r\n", "\n")) } else { Cow::Borrowed(s) }
}

fn tail_window(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    let w = &s[start..];
    // Start at a line start so strings and comments are scanned from their beginning.
    match w.find('\n') {
        Some(i) => &w[i + 1..],
        None => w,
    }
}

fn head_window(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn trim_trailing_newline(s: &mut String) {
    while s.ends_with('\n') || s.ends_with('\r') {
        s.pop();
    }
}

/// Cuts model artefacts: a leading `<think>` block and anything after an end-of-text token.
fn strip_model_noise(text: &str) -> &str {
    let mut t = text;
    if let Some(rest) = t.trim_start().strip_prefix("<think>") {
        t = rest.find("</think>").map_or("", |i| &rest[i + "</think>".len()..]);
        t = t.strip_prefix('\n').unwrap_or(t);
    }
    const END_TOKENS: [&str; 7] =
        ["<|endoftext|>", "<|file_separator|>", "<|fim_pad|>", "<EOT>", "<|im_end|>", "<|eot_id|>", "<|end|>"];
    let cut = END_TOKENS.iter().filter_map(|tok| t.find(tok)).min();
    match cut {
        Some(i) => &t[..i],
        None => t,
    }
}

fn is_top_level_keyword(t: &str) -> bool {
    const KEYWORDS: [&str; 19] = [
        "fn ",
        "pub ",
        "impl ",
        "impl<",
        "struct ",
        "enum ",
        "trait ",
        "mod ",
        "class ",
        "def ",
        "async ",
        "function ",
        "export ",
        "interface ",
        "type ",
        "func ",
        "package ",
        "#[",
        "@",
    ];
    KEYWORDS.iter().any(|k| t.starts_with(k))
}

fn is_continuation(t: &str) -> bool {
    const WORDS: [&str; 8] = ["else", "elif", "except", "finally", "catch", "case", "default", "end"];
    WORDS.iter().any(|w| t.strip_prefix(w).is_some_and(|r| r.chars().next().is_none_or(|c| !is_word(c))))
}

/// Did the model indent relative to column 0 instead of the cursor line? Judged on the first
/// non-blank line after the first: at column 0 while the cursor line is indented (and not a closer,
/// continuation or new item), or not deeper than the cursor line right after an opening line.
fn looks_relative(line_before: &str, first_line: &str, next: &str, style: IndentStyle) -> bool {
    let c = style.width(leading_ws(line_before));
    if c == 0 {
        return false;
    }
    let w = style.width(leading_ws(next));
    let t = next.trim();
    if starts_with_closer(t) || is_continuation(t) || is_top_level_keyword(t) {
        return false;
    }
    if w == 0 {
        return true;
    }
    let opener_line = if first_line.trim().is_empty() { line_before } else { first_line };
    let ends_with_opener = opener_line.trim_end().ends_with(['{', '(', '[', ':']);
    ends_with_opener && w <= c
}

/// If the newest line completes a block of 1..=4 lines repeated 3 times in a row, the byte offset
/// where the first occurrence ends.
fn repetition_cut(lines: &[(String, usize)]) -> Option<usize> {
    let n = lines.len();
    for p in 1..=4 {
        if n < 3 * p {
            break;
        }
        let a = &lines[n - 3 * p..n - 2 * p];
        let b = &lines[n - 2 * p..n - p];
        let c = &lines[n - p..];
        let meaningful = a.iter().any(|(l, _)| !l.is_empty() && !l.chars().all(|ch| is_closing_punct(ch) || ch == '{'));
        if meaningful && a.iter().zip(b).all(|(x, y)| x.0 == y.0) && b.iter().zip(c).all(|(x, y)| x.0 == y.0) {
            return Some(a[p - 1].1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(doc: &str) -> (&str, &str) {
        doc.split_once("$0").unwrap_or((doc, ""))
    }

    fn run(doc: &str, raw: &str, opts: &Options<'_>) -> Option<Completion> {
        let (p, s) = split(doc);
        postprocess(raw, p, s, opts)
    }

    /// Multi-line shape, 4 spaces: `expected` is the inserted text (None = dropped), no replacement.
    #[track_caller]
    fn check(doc: &str, raw: &str, expected: Option<&str>) {
        check_with(doc, raw, expected, &Options::default());
    }

    #[track_caller]
    fn check_single(doc: &str, raw: &str, expected: Option<&str>) {
        check_with(doc, raw, expected, &Options { shape: Shape::SingleLine, ..Options::default() });
    }

    #[track_caller]
    fn check_with(doc: &str, raw: &str, expected: Option<&str>, opts: &Options<'_>) {
        let got = run(doc, raw, opts);
        let got_text = got.as_ref().map(|c| c.text.as_str());
        assert_eq!(got_text, expected, "doc {doc:?} raw {raw:?}");
        if let Some(c) = got {
            assert_eq!(c.replace_after, 0, "doc {doc:?} raw {raw:?}");
        }
    }

    /// The completion replaces `replace` bytes after the cursor; `expected_doc` is the result.
    #[track_caller]
    fn check_doc(doc: &str, raw: &str, shape: Shape, expected_doc: &str) {
        let (p, s) = split(doc);
        let c = postprocess(raw, p, s, &Options { shape, ..Options::default() });
        let c = c.unwrap_or_else(|| panic!("dropped: doc {doc:?} raw {raw:?}"));
        let got = format!("{p}{}$0{}", c.text, &s[c.replace_after..]);
        assert_eq!(got, expected_doc, "raw {raw:?}");
    }

    #[test]
    fn fences_and_prose() {
        check("let x = $0", "```rust\n42;\n```", Some("42;"));
        check("let x = $0", "Here is the code:\n```rust\n42;\n```\nThis sets x.", Some("42;"));
        check("let x = $0", "~~~\n42;\n~~~", Some("42;"));
        check("let x = $0", "```\n42;", Some("42;"));
        check("let x = $0", "42;\n```", Some("42;"));
        check("def f():\n    $0", "```python\n    return 1\n```", Some("return 1"));
        // In a markdown document, fences are content.
        check("# T\n```sh\nls\n```\n$0", "```rust\nlet x = 1;\n```", Some("```rust\nlet x = 1;\n```"));
        check("x = $0", "```\n```", None);
        check("x = $0", "<think>hmm</think>\n1", Some("1"));
        check("x = $0", "1<|endoftext|>garbage", Some("1"));
    }

    #[test]
    fn echoed_prefix() {
        check_single("fn f() {\n    let x = $0\n}", "let x = foo();", Some("foo();"));
        check_single("fn f() {\n    let x = $0\n}", "    let x = foo();", Some("foo();"));
        check_single("let total = compute($0", "compute(a, b)", Some("a, b)"));
        check("def f():\n    $0", "def f():\n    return 1", Some("return 1"));
        // Too short to call an echo.
        check_single("x = a$0", "a + 1", Some("a + 1"));
        check_single("foo.$0", "bar()", Some("bar()"));
    }

    #[test]
    fn overlap_with_suffix() {
        check_single("foo($0)", "a, b)", Some("a, b"));
        check_single("foo($0);", "a, b);", Some("a, b"));
        check_single("foo($0);", "a, b)", Some("a, b"));
        check_single("let v = [$0];", "1, 2, 3]", Some("1, 2, 3"));
        check_single("let s = \"$0\";", "hello\"", Some("hello"));
        check_single("let s = \"$0\";", "hello\";", Some("hello"));
        check_single("f(\"$0\")", "a\")", Some("a"));
        check_single("let s = '$0'", "it is'", Some("it is"));
        // The completion's own brackets stay.
        check_single("foo($0)", "f(x)", Some("f(x)"));
        check_single("foo($0)", "f(x))", Some("f(x)"));
        // Replacing the rest of the line when the completion covers it.
        check_doc("foo($0)", "a, b);", Shape::SingleLine, "foo(a, b);$0");
        check_doc("if (x$0) {", " > 0) {", Shape::SingleLine, "if (x > 0) {$0");
        // Rest of the line with words, repeated at the end.
        check_single("x = $0 + y;", "a + y;", Some("a"));
    }

    #[test]
    fn brackets_against_suffix() {
        // Suffix closes the body: the completion's closer is trimmed.
        check("fn f() {\n    $0\n}", "let x = 1;\n    x\n}", Some("let x = 1;\n    x"));
        // Nothing closes it below: kept.
        check("fn f() {\n    $0", "let x = 1;\n    x\n}", Some("let x = 1;\n    x\n}"));
        // A closer that reopens the block on its line is not a duplicate.
        check(
            "    if x {\n        $0\n    }",
            "a();\n    } else {\n        b();\n    }",
            Some("a();\n    } else {\n        b();"),
        );
        // Unmatched closer.
        check_single("let x = $0;", "1)", Some("1"));
        check_single("let x = ($0", "1]", Some("1"));
        // Brackets in strings and char literals don't count.
        check_single("foo($0)", "\")\", ')')", Some("\")\", ')'"));
        check_with(
            "foo($0)",
            "a) // )",
            Some("a"),
            &Options { shape: Shape::SingleLine, line_comment: Some("//"), ..Options::default() },
        );
    }

    #[test]
    fn indentation() {
        // Relative to column 0: shifted under the cursor line.
        check("fn f() {\n    $0\n}", "let a = 1;\nlet b = 2;", Some("let a = 1;\n    let b = 2;"));
        check("fn f() {\n    $0\n}", "if x {\n    y();\n}", Some("if x {\n        y();\n    }"));
        // Absolute: kept.
        check("fn f() {\n    $0\n}", "if x {\n        y();\n    }", Some("if x {\n        y();\n    }"));
        // Indentation repeated on the first line.
        check("fn f() {\n    $0\n}", "    let a = 1;\n    let b = 2;", Some("let a = 1;\n    let b = 2;"));
        // Tabs document, model uses spaces.
        let tabs = Options { indent: IndentStyle { use_tabs: true, tab_width: 4 }, ..Options::default() };
        check_with("fn f() {\n\t$0\n}", "if x {\n        y();\n    }", Some("if x {\n\t\ty();\n\t}"), &tabs);
        check_with("fn f() {\n\t$0\n}", "if x {\n    y();\n}", Some("if x {\n\t\ty();\n\t}"), &tabs);
        // Spaces document, model uses tabs.
        check("fn f() {\n    $0\n}", "if x {\n\t\ty();\n\t}", Some("if x {\n        y();\n    }"));
        // Python: relative block.
        check("def f():\n    $0", "for i in x:\n    print(i)", Some("for i in x:\n        print(i)"));
    }

    #[test]
    fn multi_line_stops() {
        // Blank line after content.
        check("fn f() {\n    $0\n}", "a();\n    b();\n\n    c();", Some("a();\n    b();"));
        // Dedent below the start ends the block (Python).
        check("def f():\n    if x:\n        $0\n    return 1", "a = 1\n    b = 2", Some("a = 1"));
        // Top-level keyword.
        check("$0", "use a;\nfn main() {}\nfn other() {}", Some("use a;"));
        // A line equal to the next line of the document.
        check("fn f() {\n    $0\n    done();\n}", "a();\n    done();\n}", Some("a();"));
        // Single-line: first newline; a leading newline gives nothing.
        check_single("x = $0", "1\ny = 2", Some("1"));
        check_single("x = $0", "\ny = 2", None);
        check("fn f() {$0\n}", "\n    x();\n}", Some("\n    x();"));
    }

    #[test]
    fn drops_and_repetition() {
        check("fn f() {\n    $0\n    done();\n}", "done();", None);
        check("fn f() {\n    $0\n    a();\n    b();\n}", "a();\n    b();", None);
        check("x = 1\n$0", "x = 1", None);
        check("x = $0", "   \n  ", None);
        check("x = $0", "", None);
        check("$0", "a();\na();\na();\na();", Some("a();"));
        check("$0", "a();\nb();\na();\nb();\na();\nb();", Some("a();\nb();"));
        // Closing lines may repeat.
        check("mod a {\nmod b {\nmod c {\n$0", "}\n}\n}", Some("}\n}\n}"));
    }

    #[test]
    fn unicode_and_crlf() {
        check_single("let s = \"😀$0\";", "漢字\";", Some("漢字"));
        check_single("// 漢字 😀 $0", "😀😀😀 ok", Some("😀😀😀 ok"));
        check_single("let 漢 = $0", "let 漢 = 1;", Some("1;"));
        check("fn f() {\r\n    $0\r\n}\r\n", "let a = 1;\r\nlet b = 2;", Some("let a = 1;\r\n    let b = 2;"));
        check("fn f() {\r\n    $0\r\n}\r\n", "a();\nb();\n}", Some("a();\r\n    b();"));
    }

    #[test]
    fn allowed_here() {
        let cases = [
            ("foo(", ")", true),
            ("foo(", ");", true),
            ("let x = ", "", true),
            ("x = \"", "\"", true),
            ("if x ", "{", true),
            ("fo", "o", false),
            ("foo", "bar)", false),
            ("x", " + y", false),
            ("x(", ") )", false),
            ("漢", "字", false),
            ("", "  ]  ,  ", true),
        ];
        for (before, after, want) in cases {
            assert_eq!(completion_allowed_here(before, after), want, "{before:?} | {after:?}");
        }
    }

    #[test]
    fn stream_cutter_deltas() {
        let opts = Options::default();
        let mut c = StreamCutter::new(Shape::SingleLine, "x = ", "", &opts);
        assert_eq!(c.push("fo"), Cut::Continue);
        assert_eq!(c.push("o()\nbar"), Cut::Stop("foo()".into()));
        assert_eq!(c.push("more"), Cut::Stop("foo()".into()));
        assert_eq!(c.finish(), "foo()");

        let mut c = StreamCutter::new(Shape::MultiLine, "fn f() {\n    ", "\n}", &opts);
        for d in ["let a", " = 1;\n", "    a\n", "}\nfn g() {}\n"] {
            if let Cut::Stop(s) = c.push(d) {
                // Stops before the line equal to the next line of the document.
                assert_eq!(s, "let a = 1;\n    a");
                return;
            }
        }
        panic!("no stop");
    }

    #[test]
    fn stream_cutter_block_end() {
        // The user's function is not closed below: the closer is kept, the next item is not.
        let opts = Options::default();
        let mut c = StreamCutter::new(Shape::MultiLine, "fn f() {\n    ", "", &opts);
        assert_eq!(c.push("a();\n}\nfn g() {}\n"), Cut::Stop("a();\n}".into()));
        // Python: a dedent below the cursor line ends the block.
        let mut c = StreamCutter::new(Shape::MultiLine, "def f():\n    if x:\n        ", "", &opts);
        assert_eq!(c.push("a()\n        b()\n    return 1\n"), Cut::Stop("a()\n        b()".into()));
        // `} else {` at the cursor line's indentation continues.
        let mut c = StreamCutter::new(Shape::MultiLine, "    if x {\n        ", "\n    }", &opts);
        assert_eq!(
            c.push("a();\n    } else {\n        b();\n    }\n"),
            Cut::Stop("a();\n    } else {\n        b();".into())
        );
        // Repetition.
        let mut c = StreamCutter::new(Shape::MultiLine, "", "", &opts);
        assert_eq!(c.push("x += 1;\nx += 1;\nx += 1;\n"), Cut::Stop("x += 1;".into()));
        // Line cap.
        let mut c = StreamCutter::new(Shape::MultiLine, "", "", &Options { max_lines: 2, ..opts });
        assert_eq!(c.push("a\nb\nc\n"), Cut::Stop("a\nb".into()));
    }

    /// A 5 MB one-line answer in 16-byte deltas: every byte is looked at a bounded number of
    /// times (the cutter used to search the whole line again on every delta).
    #[test]
    fn stream_cutter_work_is_linear_in_the_answer() {
        let answer = "let v = [1, 2, 3].iter().map(|x| x * 2).sum::<i32>(); ".repeat(5 << 20 >> 6);
        assert!(answer.len() >= 4 << 20 && !answer.contains('\n'));
        for shape in [Shape::SingleLine, Shape::MultiLine] {
            let opts = Options { shape, max_bytes: usize::MAX, ..Options::default() };
            let mut c = StreamCutter::new(shape, "fn f() {\n    ", "\n}\n", &opts);
            for delta in answer.as_bytes().chunks(16) {
                assert_eq!(c.push(std::str::from_utf8(delta).expect("ascii")), Cut::Continue);
            }
            assert_eq!(c.finish().len(), answer.len());
            assert!(c.bytes_examined() <= 2 * answer.len(), "{shape:?}: {} bytes examined", c.bytes_examined());
        }
        // Many short lines: the same bound.
        let lines = "    total += item.price * item.count;\n".repeat(1 << 14);
        let opts = Options { max_bytes: usize::MAX, max_lines: usize::MAX, ..Options::default() };
        let mut c = StreamCutter::new(Shape::MultiLine, "", "", &opts);
        for delta in lines.as_bytes().chunks(7) {
            if let Cut::Stop(_) = c.push(std::str::from_utf8(delta).expect("ascii")) {
                break;
            }
        }
        assert!(c.bytes_examined() <= 2 * c.text().len());
    }

    #[test]
    fn stream_cutter_stops_at_the_byte_cap() {
        let opts = Options { max_bytes: 100, ..Options::default() };
        // One endless line: cut at the cap, on a character boundary.
        let mut c = StreamCutter::new(Shape::SingleLine, "x = ", "", &Options { shape: Shape::SingleLine, ..opts });
        let mut stop = None;
        for _ in 0..1000 {
            if let Cut::Stop(s) = c.push("é+") {
                stop = Some(s);
                break;
            }
        }
        let stop = stop.expect("the cap stops the stream");
        assert!(stop.len() <= 100 && stop.len() >= 96, "{}", stop.len());
        assert!(c.text().len() <= 103, "nothing is read past the cap");
        // Multi-line: the complete lines before the cap.
        let mut c = StreamCutter::new(Shape::MultiLine, "", "", &opts);
        let mut out = None;
        for i in 0..100 {
            if let Cut::Stop(s) = c.push(&format!("call_number_{i:04}();\n")) {
                out = Some(s);
                break;
            }
        }
        let out = out.expect("the cap stops the stream");
        assert_eq!(
            out,
            "call_number_0000();\ncall_number_0001();\ncall_number_0002();\ncall_number_0003();\ncall_number_0004();"
        );
        // The whole pipeline honours it too.
        let long = "a".repeat(500);
        let done = postprocess(&long, "x = ", "", &Options { shape: Shape::SingleLine, ..opts }).expect("text");
        assert_eq!(done.text.len(), 100);
    }

    #[test]
    fn stream_cutter_finish_without_newline() {
        let mut c = StreamCutter::new(Shape::MultiLine, "x = ", "", &Options::default());
        assert_eq!(c.push("1 +"), Cut::Continue);
        assert_eq!(c.push(" 2"), Cut::Continue);
        assert_eq!(c.text(), "1 + 2");
        assert_eq!(c.finish(), "1 + 2");
    }

    #[test]
    fn indent_style_detect() {
        assert_eq!(IndentStyle::detect("a\n\tb\n\t\tc\n"), IndentStyle { use_tabs: true, tab_width: 4 });
        assert_eq!(IndentStyle::detect("a\n  b\n    c\n  d\n"), IndentStyle { use_tabs: false, tab_width: 2 });
        assert_eq!(IndentStyle::detect(""), IndentStyle::default());
        assert_eq!(IndentStyle::default().width("\t  "), 6);
        assert_eq!(IndentStyle { use_tabs: true, tab_width: 4 }.render(10), "\t\t  ");
    }

    #[test]
    fn no_panic_on_arbitrary_unicode() {
        use proptest::prelude::*;
        let mut runner = proptest::test_runner::TestRunner::default();
        let piece = prop::sample::select(vec![
            "(", ")", "{", "}", "[", "]", "\"", "'", "`", "\n", "\r\n", "    ", "\t", "```", "😀", "漢", "é", "x",
            "//", ";", "\\", "fn ", "a", " ",
        ]);
        let text =
            prop::collection::vec(prop_oneof![piece.prop_map(str::to_owned), ".{0,3}"], 0..24).prop_map(|v| v.concat());
        runner
            .run(&(text.clone(), text.clone(), text, any::<bool>()), |(p, s, raw, single)| {
                let shape = if single { Shape::SingleLine } else { Shape::MultiLine };
                let opts = Options { shape, line_comment: Some("//"), ..Options::default() };
                if let Some(c) = postprocess(&raw, &p, &s, &opts) {
                    prop_assert!(c.replace_after <= s.len() && s.is_char_boundary(c.replace_after));
                }
                let mut cutter = StreamCutter::new(shape, &p, &s, &opts);
                for (i, ch) in raw.char_indices() {
                    let _ = cutter.push(&raw[i..i + ch.len_utf8()]);
                }
                let _ = cutter.finish();
                let _ = completion_allowed_here(line_before_cursor(&p), line_after_cursor(&s));
                let _ = fix_indentation(&raw, &p, IndentStyle { use_tabs: true, tab_width: 0 });
                let _ = strip_echoed_prefix(&raw, &p);
                let _ = IndentStyle::detect(&raw);
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
    }
}
