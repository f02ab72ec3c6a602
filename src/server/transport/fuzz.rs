//! Property fuzzing of the input side: well-formed requests mixed with every class of bad frame
//! and random bytes, split into random chunks. Every well-formed request must reach
//! tower-lsp-server byte for byte, in order, whatever came before it; nothing panics; the buffer
//! stays bounded.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::{
    frames::FrameReader,
    frames_for,
    message::{self, IdMap},
};

const LIMIT: usize = 1 << 16;

#[derive(Debug, Clone)]
enum Item {
    /// A valid request with this id, framed correctly; its text may contain header-like strings.
    Good {
        id: u32,
        text: String,
        style: u8,
    },
    Bad(Bad),
}

#[derive(Debug, Clone)]
enum Bad {
    Bytes(Vec<u8>),
    /// A valid body with a wrong length: too short, too long, counted in characters.
    Shorter(usize),
    Longer(usize),
    CharCount,
    /// A header whose length is not a byte count.
    Length(&'static str),
    HeaderWithoutBody,
    Truncated(usize),
    Body(&'static str),
    LongHeaderLine(usize),
}

fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("a"),
            Just("é"),
            Just("😀"),
            Just("中"),
            Just("\r\n"),
            Just("\n"),
            Just("{"),
            Just("}]"),
            Just("\""),
            Just("\\"),
            Just("Content-Length: 12\r\n\r\n"),
            Just("content-length:"),
        ],
        0..12,
    )
    .prop_map(|v| v.concat())
}

fn bad() -> impl Strategy<Value = Bad> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Bad::Bytes),
        (1usize..20).prop_map(Bad::Shorter),
        (1usize..200).prop_map(Bad::Longer),
        Just(Bad::CharCount),
        prop_oneof![Just("-5"), Just("abc"), Just(""), Just("99999999999999999999999"), Just("1e3")].prop_map(Bad::Length),
        Just(Bad::HeaderWithoutBody),
        (1usize..30).prop_map(Bad::Truncated),
        prop_oneof![
            Just(r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#),
            Just(r#"{"jsonrpc":"2.0","id":true,"method":"x"}"#),
            Just(r#"{"jsonrpc":"2.0","id":{"a":1},"method":"x"}"#),
            Just(r#"{"jsonrpc":"2.0","id":[1],"method":"x"}"#),
            Just(r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"x"}"#),
            Just(r#"{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"$/x"}"#),
            Just(r#"[{"jsonrpc":"2.0","id":5,"method":"x"}]"#),
            Just(r#"{"id":5,"method":"x"}"#),
            Just(r#"{"jsonrpc":"2.0","id":5,"method":5}"#),
            Just(r#"{"jsonrpc":"2.0","id":5,"method":"x","params":5}"#),
            Just(r#"{"jsonrpc":"2.0","id":"q","method":"$/unknown"}"#),
            Just("{not json"),
            Just(r#"{"jsonrpc":"2.0","method":"n","params":{"t":"\ud800 \udc00\ud83d"}}"#),
            Just(r#"{"jsonrpc":"2.0","id":"r","result":null}"#),
            Just(r#"{"jsonrpc":"2.0","id":"r","error":{"code":"x"}}"#),
            Just("\"just a string\""),
            Just("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]"),
        ]
        .prop_map(Bad::Body),
        (9000usize..20000).prop_map(Bad::LongHeaderLine),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        3 => (any::<u32>(), text(), 0u8..4).prop_map(|(id, text, style)| Item::Good { id, text, style }),
        2 => bad().prop_map(Item::Bad),
    ]
}

fn request(id: u32, text: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "switchboard/documentText", "params": {"text": text}}).to_string()
}

fn encode(item: &Item, n: usize) -> Vec<u8> {
    let frame = |header: String, body: &str| [header.as_bytes(), body.as_bytes()].concat();
    let body = request(1_000_000 + n as u32, "héllo wörld 😀");
    match item {
        Item::Good { id, text, style } => {
            let body = request(*id, text);
            let header = match style {
                0 => format!("Content-Length: {}\r\n\r\n", body.len()),
                1 => format!("content-length:{}\n\n", body.len()),
                2 => format!(
                    "Content-Length: {}\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n",
                    body.len()
                ),
                _ => format!("Content-Type: application/vscode-jsonrpc\r\nContent-Length:  {} \r\n\r\n", body.len()),
            };
            frame(header, &body)
        }
        Item::Bad(bad) => match bad {
            Bad::Bytes(b) => b.clone(),
            Bad::Shorter(k) => frame(format!("Content-Length: {}\r\n\r\n", body.len().saturating_sub(*k)), &body),
            Bad::Longer(k) => frame(format!("Content-Length: {}\r\n\r\n", body.len() + k), &body),
            Bad::CharCount => frame(format!("Content-Length: {}\r\n\r\n", body.chars().count()), &body),
            Bad::Length(v) => frame(format!("Content-Length: {v}\r\n\r\n"), &body),
            Bad::HeaderWithoutBody => b"Content-Length: 40\r\n\r\n".to_vec(),
            Bad::Truncated(k) => {
                let cut = &body.as_bytes()[..body.len() - k];
                [format!("Content-Length: {}\r\n\r\n", cut.len()).as_bytes(), cut].concat()
            }
            Bad::Body(b) => frame(format!("Content-Length: {}\r\n\r\n", b.len()), b),
            Bad::LongHeaderLine(n) => [vec![b'X'; *n], b"\r\n\r\n".to_vec()].concat(),
        },
    }
}

/// What tower-lsp-server's reader does with a frame: decode the text as a request or a response.
fn tower_can_decode(frame: &[u8]) -> bool {
    serde_json::from_slice::<tower_lsp_server::jsonrpc::Request>(frame).is_ok()
        || serde_json::from_slice::<tower_lsp_server::jsonrpc::Response>(frame).is_ok()
}

/// Runs the stream through the reader and the checker in the given chunk sizes; returns the
/// bodies forwarded to tower-lsp-server and the largest buffer seen.
fn pipeline(stream: &[u8], chunks: &[usize]) -> (Vec<Vec<u8>>, usize) {
    let ids = IdMap::default();
    let mut reader = FrameReader::new(LIMIT);
    let mut out = Vec::new();
    let mut peak = 0;
    let mut rest = stream;
    let mut sizes = chunks.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap_or(&1)).clamp(1, rest.len());
        reader.push(&rest[..n]);
        rest = &rest[n..];
        peak = peak.max(reader.buffered());
        while let Some(e) = reader.next_event() {
            out.extend(frames_for(e, &ids));
        }
    }
    reader.finish();
    while let Some(e) = reader.next_event() {
        out.extend(frames_for(e, &ids));
    }
    (out, peak)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, .. ProptestConfig::default() })]

    #[test]
    fn every_good_request_after_garbage_is_served(
        items in proptest::collection::vec(item(), 1..12),
        chunks in proptest::collection::vec(1usize..4096, 1..8),
    ) {
        let mut stream = Vec::new();
        for (n, item) in items.iter().enumerate() {
            stream.extend(encode(item, n));
        }
        let (forwarded, peak) = pipeline(&stream, &chunks);
        prop_assert!(peak <= LIMIT + 4096 + 64, "buffer grew to {peak}");
        let goods: Vec<Vec<u8>> = items
            .iter()
            .filter_map(|i| match i {
                Item::Good { id, text, .. } => Some(request(*id, text).into_bytes()),
                Item::Bad(_) => None,
            })
            .collect();
        // Good requests arrive unchanged and in order (other forwarded frames may sit between).
        let mut want = goods.iter().peekable();
        for f in &forwarded {
            if want.peek() == Some(&f) {
                want.next();
            }
            // Whatever is forwarded is something tower-lsp-server can decode.
            prop_assert!(tower_can_decode(f), "tower-lsp-server could not decode {}", String::from_utf8_lossy(f));
        }
        prop_assert!(want.peek().is_none(), "lost {:?}; forwarded {:?}", want.peek().map(|b| String::from_utf8_lossy(b)), forwarded.iter().map(|b| String::from_utf8_lossy(b)).collect::<Vec<_>>());
    }

    #[test]
    fn random_bytes_never_panic_or_grow(bytes in proptest::collection::vec(any::<u8>(), 0..4096), chunk in 1usize..512) {
        let (forwarded, peak) = pipeline(&bytes, &[chunk]);
        prop_assert!(peak <= LIMIT + 512);
        for f in forwarded {
            prop_assert!(tower_can_decode(&f), "tower-lsp-server could not decode {}", String::from_utf8_lossy(&f));
        }
    }
}

#[test]
fn the_answer_to_a_refusal_is_an_error_with_the_right_id() {
    let ids = IdMap::default();
    let refused = message::check(br#"{"jsonrpc":"2.0","id":"s-1","method":"$/x"}"#, &ids);
    let frames = refused
        .into_iter()
        .map(|c| match c {
            message::Checked::Refuse { id, code, reason } => super::invalid_message(id, code, &reason),
            other => panic!("{other:?}"),
        })
        .collect::<Vec<_>>();
    let v: Value = serde_json::from_slice(&frames[0]).unwrap();
    assert_eq!(v["id"], "s-1");
    assert_eq!(v["params"]["code"], message::METHOD_NOT_FOUND);
}
