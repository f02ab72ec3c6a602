//! Checks one message body against what JSON-RPC 2.0 and tower-lsp-server accept, and rewrites
//! what tower-lsp-server cannot represent. Pure apart from the shared [`IdMap`].
//!
//! tower-lsp-server stops reading for good at the first message it cannot decode, and it knows
//! only `i64`, string and null ids. So every message is checked here first: a bad one becomes an
//! error answer (or a log line when nobody waits for an answer), and an id tower-lsp-server would
//! round or refuse (an integer past `i64`, `-0`) travels under a stand-in string that the output
//! side turns back into the client's exact text.

use std::{
    collections::HashMap,
    ops::Range,
    sync::{Arc, Mutex},
};

use serde_json::{Value, json};

use super::frames::Scan;

/// JSON-RPC error codes used here.
pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;

/// tower-lsp-server parses with serde_json's recursion limit (128): deeper messages must not reach it.
const MAX_DEPTH: usize = 100;
/// An id longer than this is not an id.
const MAX_ID_BYTES: usize = 128;
/// Requests with stand-in ids in flight at once.
const MAX_MAPPED_IDS: usize = 4096;
/// Stand-in ids start with a control character no editor puts in an id; client ids that start
/// with it are mapped too, so the two can never collide.
const STAND_IN_PREFIX: &str = "\u{1}switchboard-id-";

/// What to do with one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Checked {
    /// Pass these bytes to tower-lsp-server.
    Forward(Vec<u8>),
    /// Answer with this error; `id` is what tower-lsp-server should see (`Null` when unknown).
    Refuse { id: Value, code: i64, reason: String },
    /// Nothing can be answered (a bad notification or response): log it.
    Drop(String),
}

/// Client ids that tower-lsp-server cannot carry, by stand-in number, in both directions.
#[derive(Debug, Clone, Default)]
pub struct IdMap(Arc<Mutex<IdTable>>);

#[derive(Debug, Default)]
struct IdTable {
    next: u64,
    by_stand_in: HashMap<u64, String>,
    by_raw: HashMap<String, u64>,
}

impl IdMap {
    fn lock(&self) -> std::sync::MutexGuard<'_, IdTable> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A stand-in string for the raw id text, or `None` when too many are in flight.
    fn stand_in(&self, raw: &str) -> Option<String> {
        let mut t = self.lock();
        if t.by_stand_in.len() >= MAX_MAPPED_IDS {
            return None;
        }
        let n = t.next;
        t.next += 1;
        t.by_stand_in.insert(n, raw.to_owned());
        t.by_raw.insert(raw.to_owned(), n);
        Some(format!("{STAND_IN_PREFIX}{n}"))
    }

    /// The stand-in last given to this raw id (for `$/cancelRequest`).
    fn existing(&self, raw: &str) -> Option<String> {
        self.lock().by_raw.get(raw).map(|n| format!("{STAND_IN_PREFIX}{n}"))
    }

    pub fn is_empty(&self) -> bool {
        self.lock().by_stand_in.is_empty()
    }

    /// Puts the client's id back into an outgoing response (tower-lsp-server writes `"id"` last).
    /// Returns `None` when the frame carries no stand-in.
    pub fn restore(&self, body: &[u8]) -> Option<Vec<u8>> {
        let marker = br#","id":"\u0001switchboard-id-"#;
        if !(body.starts_with(br#"{"jsonrpc":"2.0","result""#) || body.starts_with(br#"{"jsonrpc":"2.0","error""#)) {
            return None;
        }
        let tail_from = body.len().saturating_sub(marker.len() + 24);
        let at = tail_from + body[tail_from..].windows(marker.len()).rposition(|w| w == marker)?;
        let digits = body[at + marker.len()..].strip_suffix(b"\"}")?;
        let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
        let raw = {
            let mut t = self.lock();
            let raw = t.by_stand_in.remove(&n)?;
            if t.by_raw.get(&raw) == Some(&n) {
                t.by_raw.remove(&raw);
            }
            raw
        };
        let mut out = Vec::with_capacity(body.len());
        out.extend_from_slice(&body[..at]);
        out.extend_from_slice(b",\"id\":");
        out.extend_from_slice(raw.as_bytes());
        out.push(b'}');
        Some(out)
    }
}

/// How an id can travel.
enum IdKind {
    Absent,
    /// tower-lsp-server carries it as it is.
    Plain(Value),
    /// It travels as a stand-in string; the raw text is kept for the answer.
    Mapped(String),
    Invalid(String),
}

/// Checks one body and says what to do with it (one answer per request of a batch).
pub fn check(body: &[u8], ids: &IdMap) -> Vec<Checked> {
    let text = match std::str::from_utf8(body) {
        Ok(_) => std::borrow::Cow::Borrowed(body),
        Err(_) => {
            tracing::warn!("a message is not valid UTF-8; invalid bytes were replaced with U+FFFD");
            std::borrow::Cow::Owned(String::from_utf8_lossy(body).into_owned().into_bytes())
        }
    };
    let mut body = text.into_owned();
    // Editors built on JavaScript strings can send lone UTF-16 surrogates (`\ud800`), which
    // tower-lsp-server's parser refuses (serde_json's validating pass does not look at them):
    // replace them with U+FFFD rather than lose the whole message.
    if has_surrogate_escape(&body) {
        body = replace_lone_surrogates(&body);
    }
    // Depth first: serde_json refuses a text past its recursion limit as if it were not JSON,
    // and the lexical scan still finds the id of a request nested too deep.
    let mut scan = Scan::default();
    scan.advance(&body);
    if scan.max_depth > MAX_DEPTH {
        return vec![too_deep(&body, ids)];
    }
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
        return vec![refuse(Value::Null, PARSE_ERROR, format!("not valid JSON ({e})"))];
    }
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => vec![check_object(body, ids)],
        Some(b'[') => refuse_batch(&body, ids),
        _ => vec![refuse(Value::Null, INVALID_REQUEST, "a JSON-RPC message must be an object".into())],
    }
}

/// A message nested past [`MAX_DEPTH`]: a request is refused under its own id (so the client is
/// not left waiting), a notification or response is logged. The text was not validated as JSON
/// (that would recurse), so the id is read lexically from the top-level members.
fn too_deep(body: &[u8], ids: &IdMap) -> Checked {
    let reason = format!("nested deeper than {MAX_DEPTH} levels");
    let object = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let Some(members) = object.then(|| top_level_members(body).ok()).flatten() else {
        return refuse(Value::Null, INVALID_REQUEST, reason);
    };
    let raw = |key: &str| members.iter().find(|(k, _)| k == key).map(|(_, r)| &body[r.clone()]);
    let has_method = raw("method").is_some();
    let id = raw("id").map(|r| classify_id(&String::from_utf8_lossy(r), ids));
    match id {
        Some(Ok(IdKind::Plain(id))) if has_method && !id.is_null() => refuse(id, INVALID_REQUEST, reason),
        Some(Ok(IdKind::Mapped(stand_in))) if has_method => refuse(Value::String(stand_in), INVALID_REQUEST, reason),
        None if has_method => Checked::Drop(format!("a notification {reason}")),
        _ if !has_method && (raw("result").is_some() || raw("error").is_some()) => {
            Checked::Drop(format!("a response {reason}"))
        }
        _ => refuse(Value::Null, INVALID_REQUEST, reason),
    }
}

fn refuse(id: Value, code: i64, reason: String) -> Checked {
    Checked::Refuse { id, code, reason }
}

/// LSP does not use JSON-RPC batches: each request in one gets its own error answer.
fn refuse_batch(body: &[u8], ids: &IdMap) -> Vec<Checked> {
    const WHY: &str = "JSON-RPC batches are not supported (LSP sends one message per frame)";
    let mut out: Vec<Checked> = array_elements(body)
        .into_iter()
        .filter(|r| body[r.start] == b'{')
        .filter_map(|r| {
            let item = &body[r];
            let members = top_level_members(item).ok()?;
            let (_, id) = members.into_iter().find(|(k, _)| k == "id")?;
            match classify_id(&String::from_utf8_lossy(&item[id]), ids) {
                Ok(IdKind::Plain(id)) if !id.is_null() => Some(refuse(id, INVALID_REQUEST, WHY.into())),
                Ok(IdKind::Mapped(stand_in)) => Some(refuse(Value::String(stand_in), INVALID_REQUEST, WHY.into())),
                _ => None,
            }
        })
        .collect();
    if out.is_empty() {
        out.push(refuse(Value::Null, INVALID_REQUEST, WHY.into()));
    }
    out
}

/// The raw ranges of a top-level array's elements (the text is known to be valid JSON).
fn array_elements(body: &[u8]) -> Vec<Range<usize>> {
    let skip_ws = |mut i: usize| {
        while body.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        i
    };
    let mut out = Vec::new();
    let mut i = skip_ws(0) + 1; // past `[`
    loop {
        i = skip_ws(i);
        match body.get(i) {
            Some(b']') | None => return out,
            Some(b',') => i = skip_ws(i + 1),
            _ => {}
        }
        let end = value_end(body, i);
        if end <= i {
            return out;
        }
        out.push(i..end);
        i = end;
    }
}

fn check_object(body: Vec<u8>, ids: &IdMap) -> Checked {
    let members = match top_level_members(&body) {
        Ok(m) => m,
        Err(why) => return refuse(Value::Null, INVALID_REQUEST, why),
    };
    let raw = |key: &str| members.iter().find(|(k, _)| k == key).map(|(_, r)| &body[r.clone()]);
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let id_range = members.iter().find(|(k, _)| k == "id").map(|(_, r)| r.clone());
    let id = match raw("id") {
        None => IdKind::Absent,
        Some(r) => match classify_id(&text(r), ids) {
            Ok(kind) => kind,
            Err(why) => IdKind::Invalid(why),
        },
    };
    // The id an error answer carries.
    let answer_id = match &id {
        IdKind::Plain(v) => v.clone(),
        IdKind::Mapped(stand_in) => Value::String(stand_in.clone()),
        IdKind::Absent | IdKind::Invalid(_) => Value::Null,
    };
    let string = |key: &str| raw(key).and_then(|r| serde_json::from_slice::<String>(r).ok());
    if let IdKind::Invalid(why) = &id {
        return refuse(Value::Null, INVALID_REQUEST, why.clone());
    }
    if string("jsonrpc").as_deref() != Some("2.0") {
        return refuse_or_drop(&id, answer_id, "missing \"jsonrpc\": \"2.0\"".into());
    }
    let is_response = raw("result").is_some() || raw("error").is_some();
    let Some(method_raw) = raw("method") else {
        if !is_response {
            return refuse_or_drop(&id, answer_id, "neither a request, a notification nor a response".into());
        }
        return check_response(&body, &id, raw("result").is_some(), raw("error"));
    };
    let Ok(method) = serde_json::from_slice::<String>(method_raw) else {
        return refuse_or_drop(&id, answer_id, "\"method\" must be a string".into());
    };
    if is_response {
        return refuse_or_drop(&id, answer_id, "a message cannot be both a request and a response".into());
    }
    if let Some(params) = raw("params")
        && !matches!(params.first(), Some(b'{' | b'[' | b'n'))
    {
        return refuse_or_drop(&id, answer_id, "\"params\" must be an object or an array".into());
    }
    if method.starts_with("$/") {
        if !matches!(id, IdKind::Absent) {
            // tower-lsp-server answers nothing to unknown `$/` requests; the client would wait forever.
            return refuse(answer_id, METHOD_NOT_FOUND, format!("unknown method `{method}`"));
        }
        if method == super::INVALID_MESSAGE {
            return Checked::Drop(format!("`{method}` is reserved for the server"));
        }
        if method == "$/cancelRequest" {
            let params = members.iter().find(|(k, _)| k == "params").map(|(_, r)| r.clone());
            return Checked::Forward(map_cancelled_id(body, params, ids));
        }
    }
    match (id, id_range) {
        (IdKind::Mapped(stand_in), Some(range)) => Checked::Forward(splice(&body, range, &stand_in)),
        _ => Checked::Forward(body),
    }
}

/// A bad request is answered; a bad notification is only logged.
fn refuse_or_drop(id: &IdKind, answer_id: Value, reason: String) -> Checked {
    match id {
        IdKind::Absent => Checked::Drop(reason),
        _ => refuse(answer_id, INVALID_REQUEST, reason),
    }
}

fn check_response(body: &[u8], id: &IdKind, has_result: bool, error: Option<&[u8]>) -> Checked {
    if has_result && error.is_some() {
        return Checked::Drop("a response with both \"result\" and \"error\"".into());
    }
    if !matches!(id, IdKind::Plain(_)) {
        return Checked::Drop("a response without an id the server could have sent".into());
    }
    if let Some(e) = error
        && serde_json::from_slice::<tower_lsp_server::jsonrpc::Error>(e).is_err()
    {
        return Checked::Drop("a response whose \"error\" is not {code, message, data?}".into());
    }
    Checked::Forward(body.to_vec())
}

/// `$/cancelRequest` names the id of the request to cancel: use its stand-in when it has one.
fn map_cancelled_id(body: Vec<u8>, params: Option<Range<usize>>, ids: &IdMap) -> Vec<u8> {
    let Some(params) = params.filter(|r| body.get(r.start) == Some(&b'{')) else { return body };
    let Ok(members) = top_level_members(&body[params.clone()]) else { return body };
    let Some((_, id)) = members.into_iter().find(|(k, _)| k == "id") else { return body };
    let id = params.start + id.start..params.start + id.end;
    match ids.existing(&String::from_utf8_lossy(&body[id.clone()])) {
        Some(stand_in) => splice(&body, id, &stand_in),
        None => body,
    }
}

fn splice(body: &[u8], range: Range<usize>, stand_in: &str) -> Vec<u8> {
    let quoted = json!(stand_in).to_string();
    [&body[..range.start], quoted.as_bytes(), &body[range.end..]].concat()
}

/// Integers within `i64` and strings travel as they are; other integers under a stand-in;
/// anything else is not an id.
fn classify_id(raw: &str, ids: &IdMap) -> Result<IdKind, String> {
    if raw.len() > MAX_ID_BYTES {
        return Err(format!("the id is longer than {MAX_ID_BYTES} bytes"));
    }
    let mapped = |ids: &IdMap| {
        ids.stand_in(raw).map(IdKind::Mapped).ok_or_else(|| "too many requests with unusual ids in flight".to_owned())
    };
    if raw.starts_with('"') {
        let s: String = serde_json::from_str(raw).map_err(|e| format!("the id is not a valid string ({e})"))?;
        return if s.starts_with(STAND_IN_PREFIX) { mapped(ids) } else { Ok(IdKind::Plain(Value::String(s))) };
    }
    if raw == "null" {
        return Ok(IdKind::Plain(Value::Null));
    }
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("the id `{raw}` is neither an integer nor a string"));
    }
    match raw.parse::<i64>() {
        Ok(n) if n.to_string() == raw => Ok(IdKind::Plain(json!(n))),
        _ => mapped(ids),
    }
}

/// The top-level members of an object: key and raw value range. The text is valid JSON, or (for
/// a message nested too deep) at least lexically whole; anything else is an error, never a panic.
/// Refuses duplicate keys, which would make the message ambiguous.
fn top_level_members(body: &[u8]) -> Result<Vec<(String, Range<usize>)>, String> {
    let mut members: Vec<(String, Range<usize>)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let skip_ws = |mut i: usize| {
        while body.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        i
    };
    let mut i = skip_ws(0) + 1; // past `{`
    loop {
        i = skip_ws(i);
        match body.get(i) {
            Some(b'}') | None => return Ok(members),
            Some(b',') => i = skip_ws(i + 1),
            _ => {}
        }
        let key_end = value_end(body, i);
        let key: String = serde_json::from_slice(&body[i..key_end]).map_err(|e| e.to_string())?;
        i = skip_ws(key_end);
        if body.get(i) != Some(&b':') {
            return Err("expected `:` after a key".into());
        }
        i += 1;
        let start = skip_ws(i);
        let end = value_end(body, start);
        if !seen.insert(key.clone()) {
            return Err(format!("the key \"{key}\" appears twice"));
        }
        members.push((key, start..end));
        i = end;
    }
}

/// End of the JSON value starting at `start` (the text is known to be valid).
fn value_end(body: &[u8], start: usize) -> usize {
    if start >= body.len() {
        return body.len();
    }
    match body.get(start) {
        Some(b'"' | b'{' | b'[') => {
            let mut scan = Scan::default();
            match scan.advance(&body[start..]) {
                super::frames::Scanned::Closed(n) => start + n,
                _ => body.len(),
            }
        }
        _ => {
            let len = body[start..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace())
                .unwrap_or(body.len() - start);
            start + len
        }
    }
}

fn has_surrogate_escape(body: &[u8]) -> bool {
    body.windows(3).any(|w| w[0] == b'\\' && (w[1] == b'u' || w[1] == b'U') && (w[2] | 0x20) == b'd')
}

/// Rewrites `\uD800`-`\uDFFF` escapes that do not form a valid pair as `\uFFFD`.
fn replace_lone_surrogates(body: &[u8]) -> Vec<u8> {
    let hex4 = |at: usize| -> Option<u32> {
        let digits = body.get(at..at + 4)?;
        u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    };
    let escape_at = |i: usize| body.get(i) == Some(&b'\\') && body.get(i + 1) == Some(&b'u');
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    let mut in_string = false;
    while i < body.len() {
        let b = body[i];
        if !in_string {
            in_string = b == b'"';
            out.push(b);
            i += 1;
            continue;
        }
        match b {
            b'"' => {
                in_string = false;
                out.push(b);
                i += 1;
            }
            b'\\' if escape_at(i) => {
                let Some(unit) = hex4(i + 2) else {
                    out.push(b);
                    i += 1;
                    continue;
                };
                let paired = (0xD800..0xDC00).contains(&unit)
                    && escape_at(i + 6)
                    && hex4(i + 8).is_some_and(|lo| (0xDC00..0xE000).contains(&lo));
                if paired {
                    out.extend_from_slice(&body[i..i + 12]);
                    i += 12;
                } else if (0xD800..0xE000).contains(&unit) {
                    out.extend_from_slice(b"\\ufffd");
                    i += 6;
                } else {
                    out.extend_from_slice(&body[i..i + 6]);
                    i += 6;
                }
            }
            b'\\' => {
                // Any other escape: copy it and the escaped byte, so `\\` is never misread.
                out.extend_from_slice(&body[i..(i + 2).min(body.len())]);
                i += 2;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(body: &str, ids: &IdMap) -> Checked {
        let mut v = check(body.as_bytes(), ids);
        assert_eq!(v.len(), 1, "{v:?}");
        v.remove(0)
    }

    fn code_and_id(c: &Checked) -> (i64, Value) {
        match c {
            Checked::Refuse { id, code, .. } => (*code, id.clone()),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn ids_tower_cannot_carry_are_refused_with_a_null_id() {
        let ids = IdMap::default();
        for id in ["1.5", "true", "{}", "[1]", "1e3", "-1.0"] {
            let c = one(&format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"x"}}"#), &ids);
            assert_eq!(code_and_id(&c), (INVALID_REQUEST, Value::Null), "{id}");
        }
        let dup = one(r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"x"}"#, &ids);
        assert_eq!(code_and_id(&dup), (INVALID_REQUEST, Value::Null));
    }

    #[test]
    fn big_integer_ids_travel_under_a_stand_in_and_come_back_exact() {
        let ids = IdMap::default();
        for raw in ["18446744073709551615", "123456789012345678901234567890", "-0", "9223372036854775808"] {
            let c = one(&format!(r#"{{"jsonrpc":"2.0","id":{raw},"method":"shutdown"}}"#), &ids);
            let Checked::Forward(bytes) = c else { panic!("{c:?}") };
            let v: Value = serde_json::from_slice(&bytes).unwrap();
            let stand_in = v["id"].as_str().unwrap_or_else(|| panic!("{raw} -> {v}")).to_owned();
            // What tower-lsp-server writes back.
            let answer = format!(r#"{{"jsonrpc":"2.0","result":null,"id":{}}}"#, json!(stand_in));
            let restored = ids.restore(answer.as_bytes()).unwrap();
            assert_eq!(
                String::from_utf8(restored).unwrap(),
                format!(r#"{{"jsonrpc":"2.0","result":null,"id":{raw}}}"#)
            );
        }
        assert!(ids.is_empty());
        // Plain ids pass byte for byte.
        let body = r#"{"jsonrpc":"2.0","id":"x\u0041","method":"a","params":{}}"#;
        assert_eq!(one(body, &ids), Checked::Forward(body.as_bytes().to_vec()));
        let body = r#"{"jsonrpc":"2.0","id":-9223372036854775808,"method":"a"}"#;
        assert_eq!(one(body, &ids), Checked::Forward(body.as_bytes().to_vec()));
    }

    #[test]
    fn dollar_requests_get_method_not_found_and_notifications_pass() {
        let ids = IdMap::default();
        let c = one(r#"{"jsonrpc":"2.0","id":"q","method":"$/unknown"}"#, &ids);
        assert_eq!(code_and_id(&c), (METHOD_NOT_FOUND, json!("q")));
        let body = r#"{"jsonrpc":"2.0","method":"$/setTrace","params":{"value":"off"}}"#;
        assert_eq!(one(body, &ids), Checked::Forward(body.as_bytes().to_vec()));
        let own = format!(r#"{{"jsonrpc":"2.0","method":"{}"}}"#, super::super::INVALID_MESSAGE);
        assert!(matches!(one(&own, &ids), Checked::Drop(_)));
    }

    #[test]
    fn shape_errors_are_answered_when_an_id_is_known() {
        let ids = IdMap::default();
        let cases = [
            (r#"{"id":3,"method":"x"}"#, Some(3)),
            (r#"{"jsonrpc":"1.0","id":3,"method":"x"}"#, Some(3)),
            (r#"{"jsonrpc":"2.0","id":3,"method":7}"#, Some(3)),
            (r#"{"jsonrpc":"2.0","id":3,"method":"x","params":5}"#, Some(3)),
            (r#"{"jsonrpc":"2.0","id":3}"#, Some(3)),
            (r#"{"jsonrpc":"2.0","method":"x","params":"s"}"#, None),
            (r#"{"jsonrpc":"2.0","id":3,"error":"bad"}"#, None),
        ];
        for (body, id) in cases {
            match (one(body, &ids), id) {
                (Checked::Refuse { id: got, code: INVALID_REQUEST, .. }, Some(want)) => assert_eq!(got, json!(want)),
                (Checked::Drop(_), None) => {}
                (other, _) => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn batches_scalars_depth_and_bad_json() {
        let ids = IdMap::default();
        let batch = br#"[{"jsonrpc":"2.0","id":1,"method":"a"}, 7, {"jsonrpc":"2.0","method":"n"},{"id":"z"},
            {"id":123456789012345678901234567890}]"#;
        let got: Vec<_> = check(batch, &ids).iter().map(code_and_id).collect();
        assert_eq!(got[..2], [(INVALID_REQUEST, json!(1)), (INVALID_REQUEST, json!("z"))]);
        let answer = format!(r#"{{"jsonrpc":"2.0","error":{{}},"id":{}}}"#, got[2].1);
        assert!(ids.restore(answer.as_bytes()).unwrap().ends_with(b"123456789012345678901234567890}"));
        assert_eq!(code_and_id(&one("[]", &ids)), (INVALID_REQUEST, Value::Null));
        assert_eq!(code_and_id(&one("42", &ids)), (INVALID_REQUEST, Value::Null));
        let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        // A request nested too deep is refused under its own id, wherever the id sits.
        for (depth, id_first) in [(5000, false), (120, true), (200_000, true)] {
            let deep = if id_first {
                format!(r#"{{"jsonrpc":"2.0","id":1,"method":"a","params":{}}}"#, nest(depth))
            } else {
                format!(r#"{{"jsonrpc":"2.0","method":"a","params":{},"id":1}}"#, nest(depth))
            };
            assert_eq!(code_and_id(&one(&deep, &ids)), (INVALID_REQUEST, json!(1)), "{depth}");
        }
        let deep =
            format!(r#"{{"jsonrpc":"2.0","method":"a","params":{},"id":123456789012345678901234567890}}"#, nest(300));
        let (_, stand_in) = code_and_id(&one(&deep, &ids));
        let answer = format!(r#"{{"jsonrpc":"2.0","error":{{}},"id":{stand_in}}}"#);
        assert!(ids.restore(answer.as_bytes()).unwrap().ends_with(b"123456789012345678901234567890}"));
        // A deep notification or response is only logged; a deep text with no readable id gets null.
        let note = format!(r#"{{"jsonrpc":"2.0","method":"a","params":{}}}"#, nest(500));
        assert!(matches!(one(&note, &ids), Checked::Drop(_)));
        let response = format!(r#"{{"jsonrpc":"2.0","id":4,"result":{}}}"#, nest(500));
        assert!(matches!(one(&response, &ids), Checked::Drop(_)));
        for garbage in [format!("{{{}:1}}", nest(300)), format!(r#"{{"id" 1,"x":{}}}"#, nest(300)), nest(300)] {
            assert_eq!(code_and_id(&one(&garbage, &ids)), (INVALID_REQUEST, Value::Null), "{garbage:.40}");
        }
        assert_eq!(code_and_id(&one("{nope", &ids)), (PARSE_ERROR, Value::Null));
    }

    #[test]
    fn cancel_of_a_mapped_id_names_its_stand_in() {
        let ids = IdMap::default();
        let Checked::Forward(_) = one(r#"{"jsonrpc":"2.0","id":99999999999999999999,"method":"slow"}"#, &ids) else {
            panic!()
        };
        let c = one(r#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":99999999999999999999}}"#, &ids);
        let Checked::Forward(bytes) = c else { panic!("{c:?}") };
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(v["params"]["id"].as_str().unwrap().starts_with(STAND_IN_PREFIX));
    }

    #[test]
    fn a_lone_surrogate_in_a_message_is_replaced_before_tower_sees_it() {
        let ids = IdMap::default();
        let c = one(r#"{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"text":"a\ud800b"}}"#, &ids);
        let Checked::Forward(bytes) = c else { panic!("{c:?}") };
        let v: tower_lsp_server::jsonrpc::Request = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v.params().unwrap()["text"], "a\u{fffd}b");
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let fixed = replace_lone_surrogates(br#"{"a":"x\ud800y\\ud800\ud83d\ude00"}"#);
        let v: Value = serde_json::from_slice(&fixed).unwrap();
        assert_eq!(v["a"], "x\u{fffd}y\\ud800😀");
    }
}
