"""Issue 9, items 1-2: every class of bad frame is answered (or logged) and the next message is
served by the same process; ids come back exactly as sent; exit codes follow the LSP spec; a
didChange batch applies whole or not at all.

Each case sends its bad bytes, then a valid request with an id of its own, through the bytes-level
client (`harness.rawlsp`), and asserts that the valid request is answered with that id."""

from __future__ import annotations

import asyncio
import json
import random
import time

import pytest

PROBE_ID = "probe-after-bad-input"


def frame(body: bytes, length: int | None = None, header: bytes = b"") -> bytes:
    n = len(body) if length is None else length
    return header + b"Content-Length: " + str(n).encode() + b"\r\n\r\n" + body


def req(id_json: str, method: str = "switchboard/documentText", params: str | None = None) -> bytes:
    """A request with its id given as raw JSON text (so big integers stay exact)."""
    params = params or '{"textDocument":{"uri":"file:///nowhere.rs"}}'
    return f'{{"jsonrpc":"2.0","id":{id_json},"method":"{method}","params":{params}}}'.encode()


async def started(raw_lsp):
    c = await raw_lsp()
    await c.initialize(c.workspace.as_uri())
    return c


async def probe(c, msg_id=PROBE_ID) -> dict:
    """A valid request after the bad bytes must be answered, with its own id, by the same process."""
    await c.send_bytes(frame(req(json.dumps(msg_id))))
    try:
        resp = await c.wait_response(msg_id, timeout=10)
    except (EOFError, asyncio.TimeoutError) as e:
        log = c.stderr_path.read_text(errors="replace")[-2000:]
        pytest.fail(f"the request after the bad input was not answered ({e!r}); log tail:\n{log}", pytrace=False)
    assert resp["id"] == msg_id and type(resp["id"]) is type(msg_id)
    assert c.proc.returncode is None
    return resp


async def responses(c, seconds: float = 0.5) -> list[dict]:
    return [m for m in await c.drain(seconds) if "method" not in m]


@pytest.mark.parametrize("id_json", [b"1.5", b"true", b'{"a":1}', b"[1]", b"1e3"])
async def test_an_id_that_is_not_an_integer_or_string_gets_invalid_request_with_null_id(raw_lsp, id_json):
    c = await started(raw_lsp)
    await c.send_bytes(frame(req(id_json.decode())))
    got = await responses(c)
    assert any(r.get("id") is None and r["error"]["code"] == -32600 for r in got), got
    await probe(c)


async def test_a_duplicated_id_key_gets_invalid_request(raw_lsp):
    c = await started(raw_lsp)
    await c.send_bytes(frame(b'{"jsonrpc":"2.0","id":1,"id":2,"method":"switchboard/documentText","params":{}}'))
    got = await responses(c)
    assert any(r.get("id") is None and r["error"]["code"] == -32600 for r in got), got
    await probe(c)


@pytest.mark.parametrize("raw_id", ["9223372036854775807", "9223372036854775808", "18446744073709551615",
                                    "123456789012345678901234567890", "-0", '"42"', '"\\u0001switchboard-id-0"'])
async def test_ids_are_echoed_exactly(raw_lsp, raw_id):
    c = await started(raw_lsp)
    await c.send_bytes(frame(req(raw_id)))
    resp = await c.wait_response(json.loads(raw_id))
    assert "error" in resp  # the document is not open: an error, but for this id
    # Exactly as sent: a string stays a string, digits are not rounded.
    assert type(resp["id"]) is type(json.loads(raw_id))
    await probe(c)


async def test_exact_big_id_bytes_on_the_wire(raw_lsp):
    c = await started(raw_lsp)
    await c.send_bytes(frame(req("123456789012345678901234567890", "shutdown", "null")))
    resp = await c.wait_response(123456789012345678901234567890)
    assert resp.get("result", "missing") is None
    await c.notify("exit")
    assert await asyncio.wait_for(c.proc.wait(), 10) == 0


async def test_dollar_requests_get_method_not_found(raw_lsp):
    c = await started(raw_lsp)
    await c.send_bytes(frame(req('"d1"', "$/unknownThing", "{}")))
    resp = await c.wait_response("d1")
    assert resp["error"]["code"] == -32601
    await c.send_bytes(frame(b'{"jsonrpc":"2.0","method":"$/setTrace","params":{"value":"off"}}'))
    await probe(c)


TEXT = '{"jsonrpc":"2.0","id":"framed","method":"switchboard/documentText","params":{"textDocument":{"uri":"file:///häßlich-😀.rs"}}}'


@pytest.mark.parametrize("length", ["short", "long", "chars", "negative", "word", "missing", "huge"])
async def test_a_wrong_content_length_is_recovered(raw_lsp, length):
    """The mis-framed request itself is answered (its JSON delimits it), and so is the next one."""
    c = await started(raw_lsp)
    body = TEXT.encode()
    header = {
        "short": f"Content-Length: {len(body) - 7}", "long": f"Content-Length: {len(body) + 30}",
        "chars": f"Content-Length: {len(TEXT)}", "negative": "Content-Length: -12",
        "word": "Content-Length: twelve", "missing": "X-Nothing: 1", "huge": "Content-Length: 99999999999999",
    }[length]
    await c.send_bytes(header.encode() + b"\r\n\r\n" + body)
    resp = await c.wait_response("framed")
    assert "error" in resp and resp["error"]["code"] != -32700
    await probe(c)


@pytest.mark.parametrize("bad", [
    frame(b'{"jsonrpc":"2.0","id":99,"method":'),               # truncated, correct length
    b"Content-Length: 40\r\n\r\n",                               # header without a body
    b"\x00\xff garbage \r\n\r\n",                                 # bytes outside any frame
    b"X" * 1_000_000 + b"\r\n\r\n",                               # a header line of a megabyte
    frame(b"[" * 5000 + b"]" * 5000),                             # nesting past serde's limit
    frame(b'{"jsonrpc":"2.0","id":5,"method":"x","params":' + b"[" * 3000 + b"]" * 3000 + b"}"),
    frame(b"{}", header=b"Content-Type: application/vscode-jsonrpc; charset=latin1\r\n"),
])
async def test_garbage_then_the_next_message_is_served(raw_lsp, bad):
    c = await started(raw_lsp)
    await c.send_bytes(bad)
    await probe(c)


@pytest.mark.parametrize("body,want_id", [
    (b'{"id":"j1","method":"switchboard/documentText","params":{}}', "j1"),                      # no jsonrpc
    (b'{"jsonrpc":"1.0","id":"j2","method":"switchboard/documentText","params":{}}', "j2"),
    (b'{"jsonrpc":"2.0","id":"j3","method":17}', "j3"),                                           # method not a string
    (b'{"jsonrpc":"2.0","id":"j4","method":"switchboard/documentText","params":"scalar"}', "j4"),
    (b'{"jsonrpc":"2.0","id":"j5"}', "j5"),                                                       # neither
    # Nested past the limit, the id before or after the deep params (Python's json.dumps puts it last).
    (b'{"jsonrpc":"2.0","id":"j6","method":"textDocument/hover","params":' + b"[" * 3000 + b"]" * 3000 + b"}",
     "j6"),
    (b'{"jsonrpc":"2.0","method":"textDocument/hover","params":{"a":' + b"[" * 120 + b"]" * 120 + b'},"id":"j7"}',
     "j7"),
])
async def test_shape_errors_are_answered_with_the_id(raw_lsp, body, want_id):
    c = await started(raw_lsp)
    await c.send_bytes(frame(body))
    resp = await c.wait_response(want_id)
    assert resp["error"]["code"] == -32600, resp
    await probe(c)


async def test_a_batch_gets_one_error_per_request(raw_lsp):
    c = await started(raw_lsp)
    batch = b'[' + req("41") + b"," + req('"b2"') + b',{"jsonrpc":"2.0","method":"initialized","params":{}}]'
    await c.send_bytes(frame(batch))
    for msg_id in (41, "b2"):
        assert (await c.wait_response(msg_id))["error"]["code"] == -32600
    await c.send_bytes(frame(b"[]"))
    await probe(c)


async def test_header_styles_and_a_body_that_mentions_content_length(raw_lsp):
    """LF-only headers, Content-Type, lower-case names; a valid message whose text contains a
    header is not split."""
    c = await started(raw_lsp)
    uri = (c.workspace / "h.rs").as_uri()
    text = "Content-Length: 5\r\n\r\n{ not a frame }\ncontent-length: 1\n\n😀"
    body = json.dumps({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": uri, "languageId": "rust", "version": 1, "text": text}}}).encode()
    await c.send_bytes(b"content-type: application/vscode-jsonrpc; charset=utf-8\ncontent-length: %d\n\n" % len(body) + body)
    ask = json.dumps({"jsonrpc": "2.0", "id": "t", "method": "switchboard/documentText",
                      "params": {"textDocument": {"uri": uri}}}).encode()
    await c.send_bytes(b"Content-Length:%d\r\nContent-Type: application/vscode-jsonrpc\r\n\r\n" % len(ask) + ask)
    resp = await c.wait_response("t")
    assert resp["result"] == {"text": text, "version": 1}


async def test_seeded_garbage_stream(raw_lsp):
    """Random frames and bytes interleaved with valid requests, one process: all answered."""
    rng = random.Random("switchboard-transport")
    c = await started(raw_lsp)
    kinds = [
        lambda: bytes(rng.randrange(256) for _ in range(rng.randrange(1, 80))),
        lambda: frame(req(str(rng.random()))),
        lambda: frame(b"{" * rng.randrange(1, 300)),
        lambda: b"Content-Length: %d\r\n\r\n" % rng.randrange(-5, 200),
        lambda: frame(req('"x"'), length=rng.randrange(1, 60)),
        lambda: frame(bytes(rng.choice(b'{}[]":,0123456789tfn ') for _ in range(rng.randrange(1, 60)))),
    ]
    start = time.monotonic()
    for round_ in range(60):
        for _ in range(rng.randrange(1, 4)):
            await c.send_bytes(rng.choice(kinds)())
        await probe(c, msg_id=f"round-{round_}")
    assert time.monotonic() - start < 60


async def test_exit_without_shutdown_is_code_1(raw_lsp):
    c = await started(raw_lsp)
    await c.notify("exit")
    assert await asyncio.wait_for(c.proc.wait(), 10) == 1


async def test_exit_after_shutdown_is_code_0_and_eof_after_a_bare_header(raw_lsp):
    c = await started(raw_lsp)
    assert await c.shutdown_and_exit() == 0
    c2 = await started(raw_lsp)
    await c2.send_bytes(frame(req('"last"')) + b"Content-Length: 50\r\n\r\n")
    assert (await c2.wait_response("last"))["id"] == "last"
    c2.proc.stdin.close()
    assert await asyncio.wait_for(c2.proc.wait(), 10) == 1  # the pipe closed without shutdown


# -- documents: a didChange batch applies whole or not at all ---------------------------------

def change(uri: str, version: int, *changes: dict) -> dict:
    return {"textDocument": {"uri": uri, "version": version}, "contentChanges": list(changes)}


def rng_(sl, sc, el, ec, text):
    return {"range": {"start": {"line": sl, "character": sc}, "end": {"line": el, "character": ec}}, "text": text}


async def doc_text(c, uri: str) -> dict:
    return (await c.request("switchboard/documentText", {"textDocument": {"uri": uri}}))["result"]


@pytest.mark.parametrize("bad", [
    rng_(1, 2, 1, 0, "inverted"),        # start after end
    rng_(7, 0, 7, 1, "no such line"),    # a line that does not exist
    rng_(0, 0, 9, 0, "past the end"),    # ends past the end of the document
])
async def test_a_batch_with_a_bad_later_change_is_refused_whole(raw_lsp, bad):
    c = await started(raw_lsp)
    uri = (c.workspace / "b.rs").as_uri()
    await c.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "rust", "version": 1,
                                                             "text": "ab😀\r\ncd\n"}})
    await c.notify("textDocument/didChange", change(uri, 2, rng_(0, 0, 0, 1, "X"), rng_(1, 0, 1, 0, "!"), bad))
    assert await doc_text(c, uri) == {"text": "ab😀\r\ncd\n", "version": 1}
    # Said once, with which change and why.
    await c.notify("textDocument/didChange", change(uri, 3, bad))
    await doc_text(c, uri)
    seen = c.notifications + await c.drain(0.5)
    logs = [n["params"]["message"] for n in seen if n.get("method") == "window/logMessage"]
    shown = [n["params"]["message"] for n in seen if n.get("method") == "window/showMessage"]
    assert any("change at index 2 (of 3) for version 2" in m for m in logs), logs
    assert any("change at index 0 (of 1) for version 3" in m for m in logs), logs
    assert len([m for m in shown if "refused an edit" in m]) == 1, shown
    # The next valid change is accepted; a full sync resynchronises.
    await c.notify("textDocument/didChange", change(uri, 3, rng_(0, 0, 0, 0, "> ")))
    assert await doc_text(c, uri) == {"text": "> ab😀\r\ncd\n", "version": 3}
    await c.notify("textDocument/didChange", change(uri, 4, {"text": "fresh"}))
    assert await doc_text(c, uri) == {"text": "fresh", "version": 4}


async def test_stale_and_unopened_changes_do_not_corrupt_state(raw_lsp):
    c = await started(raw_lsp)
    uri = (c.workspace / "s.rs").as_uri()
    await c.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "rust", "version": 5,
                                                             "text": "keep"}})
    await c.notify("textDocument/didChange", change(uri, 5, {"text": "same version"}))
    await c.notify("textDocument/didChange", change(uri, 2, {"text": "older"}))
    await c.notify("textDocument/didChange", change((c.workspace / "never.rs").as_uri(), 9, {"text": "x"}))
    assert await doc_text(c, uri) == {"text": "keep", "version": 5}
    await probe(c)
