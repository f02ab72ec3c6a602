//! A guard in front of the LSP transport: reads `Content-Length` frames from stdin and passes on
//! only well-formed JSON-RPC messages. tower-lsp-server's reader stops for good at the first frame
//! it cannot decode, which would turn one malformed message into a dead server; here a bad frame
//! becomes an `$/switchboard/invalidMessage` call that is answered with an error (when it carries an
//! id) or logged, and the next message is served as usual.

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// Method the server registers to answer malformed messages.
pub const INVALID_MESSAGE: &str = "$/switchboard/invalidMessage";

/// Larger frames are refused rather than buffered (a corrupt header must not exhaust memory).
const MAX_FRAME_BYTES: usize = 512 * 1024 * 1024;
/// A header line longer than this is garbage, not a header: it is skipped in pieces of this size.
const MAX_HEADER_LINE: u64 = 8 * 1024;

/// Starts the filter and returns the reader tower-lsp-server should use instead of stdin.
pub fn guarded<R>(input: R) -> impl AsyncRead + Unpin + Send + 'static
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let (reader, writer) = tokio::io::duplex(1 << 16);
    tokio::spawn(async move {
        if let Err(e) = pump(input, writer).await {
            tracing::debug!("stdin closed: {e}");
        }
    });
    reader
}

async fn pump<R, W>(input: R, mut out: W) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut input = BufReader::with_capacity(1 << 16, input);
    loop {
        let Some(len) = read_header(&mut input).await? else { return Ok(()) };
        if len > MAX_FRAME_BYTES {
            tracing::warn!("refusing a {len}-byte message (limit {MAX_FRAME_BYTES}); skipping it");
            let skipped = tokio::io::copy(&mut (&mut input).take(len as u64), &mut tokio::io::sink()).await?;
            if skipped < len as u64 {
                return Ok(());
            }
            continue;
        }
        let mut body = vec![0; len];
        if let Err(e) = input.read_exact(&mut body).await {
            tracing::warn!("input ended inside a {len}-byte message");
            return if e.kind() == std::io::ErrorKind::UnexpectedEof { Ok(()) } else { Err(e) };
        }
        let checked = match check(&body) {
            // Editors built on JavaScript strings can send lone UTF-16 surrogates, which strict JSON
            // parsers refuse: replace them with U+FFFD rather than lose the whole message.
            Err(_) if has_surrogate_escape(&body) => {
                let fixed = replace_lone_surrogates(&body);
                check(&fixed).map(|()| fixed)
            }
            other => other.map(|()| body),
        };
        let frame = match checked {
            Ok(body) => body,
            Err((id, reason)) => {
                tracing::warn!("malformed message: {reason}");
                let mut call = json!({"jsonrpc": "2.0", "method": INVALID_MESSAGE, "params": {"reason": reason}});
                if let Some(id) = id {
                    call["id"] = id;
                }
                call.to_string().into_bytes()
            }
        };
        out.write_all(format!("Content-Length: {}\r\n\r\n", frame.len()).as_bytes()).await?;
        out.write_all(&frame).await?;
        out.flush().await?;
    }
}

/// Reads header lines up to the blank line; `None` at end of input. Headers without a usable
/// `Content-Length` are skipped (we resynchronise on the next header block).
async fn read_header<R: AsyncBufReadExt + Unpin>(input: &mut R) -> std::io::Result<Option<usize>> {
    let mut len: Option<usize> = None;
    let mut saw_any = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        if (&mut *input).take(MAX_HEADER_LINE).read_until(b'\n', &mut line).await? == 0 {
            return Ok(None);
        }
        if !line.ends_with(b"\n") && line.len() as u64 == MAX_HEADER_LINE {
            // No line end within the limit: not a header. Skip it and resynchronise.
            saw_any = true;
            len = None;
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            match len {
                Some(n) => return Ok(Some(n)),
                None if saw_any => {
                    tracing::warn!("message header without a valid Content-Length; skipped");
                    saw_any = false;
                }
                None => {}
            }
            continue;
        }
        saw_any = true;
        if let Some((name, value)) = text.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            len = value.trim().parse().ok();
        }
    }
}

/// Whether the body is a JSON-RPC message tower-lsp-server can decode. On failure: the id to
/// answer (if one can be recovered) and the reason.
fn check(body: &[u8]) -> Result<(), (Option<Value>, String)> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Err((None, format!("not valid JSON ({e})"))),
    };
    let Some(obj) = value.as_object() else {
        return Err((None, "a JSON-RPC message must be an object".into()));
    };
    let id = obj.get("id").filter(|v| v.is_number() || v.is_string()).cloned();
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err((id, "missing \"jsonrpc\": \"2.0\"".into()));
    }
    match obj.get("method") {
        Some(Value::String(_)) => {
            // tower-lsp-server wants params, when present, to be structured.
            match obj.get("params") {
                None | Some(Value::Object(_) | Value::Array(_) | Value::Null) => Ok(()),
                Some(_) => Err((id, "\"params\" must be an object or an array".into())),
            }
        }
        Some(_) => Err((id, "\"method\" must be a string".into())),
        None if id.is_some() && (obj.contains_key("result") || obj.contains_key("error")) => Ok(()),
        None => Err((id, "neither a request, a notification nor a response".into())),
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

    async fn run(input: &[u8]) -> Vec<Value> {
        let mut out = Vec::new();
        pump(input, &mut out).await.unwrap();
        let mut msgs = Vec::new();
        let mut rest = &out[..];
        while let Some(i) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
            let len: usize = std::str::from_utf8(&rest[16..i]).unwrap().parse().unwrap();
            msgs.push(serde_json::from_slice(&rest[i + 4..i + 4 + len]).unwrap());
            rest = &rest[i + 4 + len..];
        }
        msgs
    }

    fn frame(body: &str) -> Vec<u8> {
        format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
    }

    #[tokio::test]
    async fn passes_good_messages_and_replaces_bad_ones() {
        let mut input = frame(r#"{"jsonrpc":"2.0","id":1,"method":"shutdown"}"#);
        input.extend(frame("{not json"));
        input.extend(frame(r#"{"jsonrpc":"2.0","id":7,"method":3}"#));
        input.extend(b"Garbage: yes\r\n\r\n");
        input.extend(frame(r#"[1,2,3]"#));
        input.extend(frame(r#"{"jsonrpc":"2.0","method":"exit"}"#));
        let msgs = run(&input).await;
        assert_eq!(msgs.len(), 5);
        assert_eq!(msgs[0]["method"], "shutdown");
        assert_eq!(msgs[1]["method"], INVALID_MESSAGE);
        assert!(msgs[1].get("id").is_none());
        assert_eq!(msgs[2]["id"], 7);
        assert_eq!(msgs[2]["method"], INVALID_MESSAGE);
        assert_eq!(msgs[4]["method"], "exit");
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let fixed = replace_lone_surrogates(br#"{"a":"x\ud800y\\ud800\ud83d\ude00"}"#);
        let v: Value = serde_json::from_slice(&fixed).unwrap();
        assert_eq!(v["a"], "x\u{fffd}y\\ud800😀");
    }

    #[tokio::test]
    async fn an_endless_header_line_is_skipped_not_buffered() {
        let mut input = vec![b'x'; 100_000];
        input.extend(b"\r\n\r\n");
        input.extend(frame(r#"{"jsonrpc":"2.0","method":"exit"}"#));
        let msgs = run(&input).await;
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0]["method"], "exit");
    }

    #[tokio::test]
    async fn truncated_input_ends_cleanly() {
        let mut input = frame(r#"{"jsonrpc":"2.0","method":"exit"}"#);
        input.extend(b"Content-Length: 100\r\n\r\n{\"jsonrpc\"");
        let msgs = run(&input).await;
        assert_eq!(msgs.len(), 1);
    }
}
