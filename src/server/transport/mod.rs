//! A guard around the LSP transport. tower-lsp-server stops reading for good at the first frame it
//! cannot decode and knows only `i64` and string ids; this module makes sure it never sees such a
//! frame, so one bad message costs one error answer, not the server.
//!
//! - [`frames`] splits stdin into bodies and resynchronises after a wrong `Content-Length`;
//! - [`message`] checks each body as JSON-RPC and turns a bad one into an
//!   `$/switchboard/invalidMessage` call (answered with the error, see `server`) or a log line;
//! - the output side puts back the exact ids that travelled under stand-ins.
//!
//! Everything reaching tower-lsp-server is re-framed with one canonical `Content-Length` header.

mod frames;
#[cfg(test)]
mod fuzz;
mod message;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use self::{
    frames::{Event, FrameReader},
    message::{Checked, IdMap},
};

/// Method the server registers to answer malformed messages.
pub const INVALID_MESSAGE: &str = "$/switchboard/invalidMessage";

/// Larger bodies are refused rather than buffered (a corrupt header must not exhaust memory).
const MAX_FRAME_BYTES: usize = 512 * 1024 * 1024;

/// Wraps the server's input and output. Returns the reader and writer tower-lsp-server should use
/// and a task that ends once everything tower-lsp-server wrote has reached `output`.
pub fn wire<R, W>(
    input: R,
    output: W,
) -> (impl AsyncRead + Unpin + Send + 'static, impl AsyncWrite + Unpin + Send + 'static, tokio::task::JoinHandle<()>)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let ids = IdMap::default();
    let (to_server, from_client) = tokio::io::duplex(1 << 16);
    let (to_client, from_server) = tokio::io::duplex(1 << 16);
    let input_ids = ids.clone();
    tokio::spawn(async move {
        if let Err(e) = pump_input(input, to_server, &input_ids).await {
            tracing::debug!("stdin closed: {e}");
        }
    });
    let flushed = tokio::spawn(async move {
        if let Err(e) = pump_output(from_server, output, &ids).await {
            tracing::debug!("stdout closed: {e}");
        }
    });
    (from_client, to_client, flushed)
}

async fn pump_input<R, W>(mut input: R, mut out: W, ids: &IdMap) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut reader = FrameReader::new(MAX_FRAME_BYTES);
    let mut chunk = vec![0; 1 << 16];
    loop {
        let n = input.read(&mut chunk).await?;
        if n == 0 {
            reader.finish();
        } else {
            reader.push(&chunk[..n]);
        }
        while let Some(event) = reader.next_event() {
            for frame in frames_for(event, ids) {
                out.write_all(format!("Content-Length: {}\r\n\r\n", frame.len()).as_bytes()).await?;
                out.write_all(&frame).await?;
            }
        }
        out.flush().await?;
        if n == 0 {
            return Ok(());
        }
    }
}

/// What one event from the frame reader becomes for tower-lsp-server.
fn frames_for(event: Event, ids: &IdMap) -> Vec<Vec<u8>> {
    match event {
        Event::Message { body, note } => {
            if let Some(note) = note {
                tracing::warn!("recovered a message after a bad header: {note}");
            }
            message::check(&body, ids)
                .into_iter()
                .filter_map(|checked| match checked {
                    Checked::Forward(bytes) => Some(bytes),
                    Checked::Refuse { id, code, reason } => {
                        tracing::warn!("refused a message (id {id}): {reason}");
                        Some(invalid_message(id, code, &reason))
                    }
                    Checked::Drop(reason) => {
                        tracing::warn!("ignored a message: {reason}");
                        None
                    }
                })
                .collect()
        }
        Event::Broken { reason } => {
            tracing::warn!("malformed message: {reason}");
            vec![invalid_message(Value::Null, message::PARSE_ERROR, &reason)]
        }
        Event::Skipped { bytes, reason } => {
            tracing::warn!("skipped {bytes} bytes of input: {reason}");
            Vec::new()
        }
    }
}

/// A call of the server's own method that answers `id` with the error.
fn invalid_message(id: Value, code: i64, reason: &str) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": id, "method": INVALID_MESSAGE, "params": {"code": code, "reason": reason}})
        .to_string()
        .into_bytes()
}

/// Copies tower-lsp-server's frames to the client, restoring ids that travelled under stand-ins.
/// The frames are its own (one `Content-Length` header each), so they are read strictly.
async fn pump_output<R, W>(from_server: R, mut out: W, ids: &IdMap) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut from_server = BufReader::with_capacity(1 << 16, from_server);
    let mut line = String::new();
    let mut len = None;
    loop {
        line.clear();
        if from_server.read_line(&mut line).await? == 0 {
            return out.flush().await;
        }
        if let Some(v) = line.strip_prefix("Content-Length:") {
            len = v.trim().parse::<usize>().ok();
            continue;
        }
        if line != "\r\n" {
            continue;
        }
        let Some(n) = len.take() else { continue };
        let mut body = vec![0; n];
        from_server.read_exact(&mut body).await?;
        if !ids.is_empty()
            && let Some(restored) = ids.restore(&body)
        {
            body = restored;
        }
        out.write_all(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes()).await?;
        out.write_all(&body).await?;
        if from_server.buffer().is_empty() {
            out.flush().await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_frames(out: &[u8]) -> Vec<Value> {
        let mut msgs = Vec::new();
        let mut rest = out;
        while let Some(i) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
            let len: usize = std::str::from_utf8(&rest[16..i]).unwrap().parse().unwrap();
            msgs.push(serde_json::from_slice(&rest[i + 4..i + 4 + len]).unwrap());
            rest = &rest[i + 4 + len..];
        }
        msgs
    }

    async fn run(input: &[u8]) -> Vec<Value> {
        let mut out = Vec::new();
        pump_input(input, &mut out, &IdMap::default()).await.unwrap();
        parse_frames(&out)
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
        input.extend(frame(r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#));
        input.extend(frame(r#"{"jsonrpc":"2.0","method":"exit"}"#));
        let msgs = run(&input).await;
        let methods: Vec<_> = msgs.iter().map(|m| m["method"].as_str().unwrap_or_default()).collect();
        assert_eq!(methods, ["shutdown", INVALID_MESSAGE, INVALID_MESSAGE, INVALID_MESSAGE, INVALID_MESSAGE, "exit"]);
        assert_eq!(msgs[1]["id"], Value::Null);
        assert_eq!(msgs[1]["params"]["code"], message::PARSE_ERROR);
        assert_eq!(msgs[2]["id"], 7);
        assert_eq!(msgs[4]["id"], Value::Null);
        assert_eq!(msgs[4]["params"]["code"], message::INVALID_REQUEST);
    }

    #[tokio::test]
    async fn output_restores_stand_in_ids() {
        let ids = IdMap::default();
        let mut forwarded = Vec::new();
        let input = frame(r#"{"jsonrpc":"2.0","id":18446744073709551616,"method":"shutdown"}"#);
        pump_input(&input[..], &mut forwarded, &ids).await.unwrap();
        let stand_in = parse_frames(&forwarded)[0]["id"].clone();
        let answer = format!(r#"{{"jsonrpc":"2.0","result":null,"id":{stand_in}}}"#);
        let mut out = Vec::new();
        pump_output(&frame(&answer)[..], &mut out, &ids).await.unwrap();
        assert_eq!(out, frame(r#"{"jsonrpc":"2.0","result":null,"id":18446744073709551616}"#));
    }
}
