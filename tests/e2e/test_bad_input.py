"""Issue 2, item 8: bad input never kills or hangs the server. Each case is followed by a valid
request that must be answered; the process must still be running at the end.

Malformed frames go through the bytes-level client (`harness.rawlsp`); the rest through
pytest-lsp."""

from __future__ import annotations

import asyncio
import json

import pytest
from pygls.exceptions import JsonRpcException

from harness.session import Session

SOURCE = "fn compute_total(items: &[u32]) -> u32 { 0 }\nfn main() {\n    let result = comp\n}"
CURSOR = (2, len("    let result = comp"))


async def assert_responsive(s: Session, timeout: float = 10.0) -> None:
    """A fresh document and a completion that must be answered correctly within `timeout`."""
    uri = s.open("probe.rs", SOURCE)
    items = await s.completion(uri, *CURSOR, timeout=timeout)
    assert "compute_total" in [i.label for i in items]
    s.assert_alive()


async def completion_or_error(coro) -> list:
    """Either an empty/any result or a JSON-RPC error is acceptable; a crash or hang is not."""
    try:
        return await coro
    except JsonRpcException:
        return []


# -- malformed frames (raw bytes) --------------------------------------------------------------

async def raw_session(raw_lsp):
    c = await raw_lsp()
    await c.initialize(c.workspace.as_uri())
    return c


async def raw_probe(c) -> None:
    """A valid request after the bad input must be answered by the same process."""
    try:
        resp = await c.request("textDocument/completion", {
            "textDocument": {"uri": (c.workspace / "nope.rs").as_uri()}, "position": {"line": 0, "character": 0}})
    except EOFError:
        code = await asyncio.wait_for(c.proc.wait(), 5)
        log = c.stderr_path.read_text(errors="replace")[-1500:]
        pytest.fail(f"server exited (code {code}) after bad input instead of answering the next request; "
                    f"log tail:\n{log}", pytrace=False)
    assert "result" in resp or "error" in resp
    assert c.proc.returncode is None


@pytest.mark.parametrize("body", [
    b"{not json",
    b'{"jsonrpc":"2.0","id":99,"method":',
    b"[1, 2, 3]",
    b'{"foo": "bar"}',
    b'"just a string"',
    b"\xff\xfe\x00garbage",
])
async def test_malformed_body(raw_lsp, body):
    c = await raw_session(raw_lsp)
    await c.send_body(body)
    got = await c.drain(0.3)
    for msg in got:  # if the server answers, it must be a JSON-RPC error (parse/invalid request)
        if "error" in msg and msg.get("id") is None:
            assert msg["error"]["code"] in (-32700, -32600), msg
    await raw_probe(c)


async def test_invalid_params_get_an_error(raw_lsp):
    c = await raw_session(raw_lsp)
    resp = await c.request("textDocument/completion", {"textDocument": 5, "position": "x"})
    assert resp.get("error", {}).get("code") in (-32602, -32600, -32603), resp
    resp = await c.request("switchboard/noSuchMethod", {})
    assert resp.get("error", {}).get("code") == -32601, resp
    await raw_probe(c)


async def test_lone_surrogate_in_did_open(raw_lsp):
    """A JSON string with an unpaired surrogate escape cannot become Rust text: no crash."""
    c = await raw_session(raw_lsp)
    uri = (c.workspace / "s.rs").as_uri()
    frame = ('{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":'
             f'{{"uri":"{uri}","languageId":"rust","version":1,"text":"a\\ud800b"}}}}}}').encode()
    await c.send_body(frame)
    await raw_probe(c)


async def test_request_before_initialize(raw_lsp):
    c = await raw_lsp()
    resp = await c.request("textDocument/completion", {
        "textDocument": {"uri": "file:///x.rs"}, "position": {"line": 0, "character": 0}})
    assert "error" in resp  # -32002 ServerNotInitialized
    await c.initialize(c.workspace.as_uri())
    await raw_probe(c)


# -- semantic garbage (pytest-lsp) -------------------------------------------------------------

@pytest.mark.parametrize("pos", [(2, 500), (100, 0), (3, 1), (1_000_000, 1_000_000)])
async def test_positions_past_the_end(lsp: Session, pos):
    uri = lsp.open("a.rs", SOURCE)
    await completion_or_error(lsp.completion(uri, *pos))
    await completion_or_error(lsp.inline(uri, *pos))
    await assert_responsive(lsp)


async def test_unknown_uri(lsp: Session):
    missing = lsp.uri("never-opened.rs")
    assert await completion_or_error(lsp.completion(missing, 0, 0)) == []
    assert await completion_or_error(lsp.inline(missing, 0, 0)) == []
    try:
        await lsp.document_text(missing)
    except JsonRpcException:
        pass
    lsp.change(missing, [{"text": "x"}], version=2)  # change for a document never opened
    lsp.close(missing)
    await assert_responsive(lsp)


async def test_out_of_order_version_ignored(lsp: Session):
    uri = lsp.open("v.rs", "start", version=5)
    lsp.change(uri, [{"text": "newer"}], version=6)
    lsp.change(uri, [{"text": "older"}], version=3)
    got = await lsp.document_text(uri)
    assert got == {"text": "newer", "version": 6}
    await asyncio.sleep(0.2)
    assert "WARN" in lsp.log(), "an out-of-order version should be logged as a warning"
    await assert_responsive(lsp)


async def test_edit_range_out_of_bounds(lsp: Session):
    uri = lsp.open("r.rs", "ab\ncd")
    lsp.change(uri, [{"range": {"start": {"line": 9, "character": 0}, "end": {"line": 12, "character": 3}},
                      "text": "zz"}])
    lsp.change(uri, [{"range": {"start": {"line": 1, "character": 2}, "end": {"line": 0, "character": 0}},
                      "text": "reversed"}])
    await lsp.document_text(uri)  # any text is acceptable; an answer is required
    await assert_responsive(lsp)


async def test_binary_content(lsp: Session):
    text = "\x00\x01\x02 fn \x00main\ufffd\x7f\x1b[31m " + "".join(chr(i) for i in range(0x80, 0x100)) + "\n"
    uri = lsp.open("bin.rs", text)
    assert (await lsp.document_text(uri))["text"] == text
    await completion_or_error(lsp.completion(uri, 0, 5))
    await completion_or_error(lsp.inline(uri, 0, 3))
    await assert_responsive(lsp)


async def test_deeply_nested_and_long_line(lsp: Session):
    uri = lsp.open("deep.rs", "fn f() { " + "(" * 20000 + ")" * 20000 + " }\n" + "x" * 200_000)
    await completion_or_error(lsp.completion(uri, 1, 100_000))
    await assert_responsive(lsp)


async def test_50_mb_document(launch):
    s = await launch(profile="visual-studio-code")
    line = "let identifier_{:07d} = compute_value({});\n"
    big = "".join(line.format(i, i) for i in range(1_000_000))
    assert len(big) >= 40_000_000
    big += "x" * max(0, 50 * 1024 * 1024 - len(big))
    uri = s.open("huge.rs", big, write=False)
    del big
    await completion_or_error(s.completion(uri, 999_999, 10, timeout=20))
    await assert_responsive(s, timeout=20)


async def test_process_survives_everything_then_exits_cleanly(lsp: Session):
    uri = lsp.open("z.rs", SOURCE)
    lsp.change(uri, [{"text": json.dumps({"weird": "\u0000"})}], version=2)
    await completion_or_error(lsp.completion(uri, 0, 999))
    await assert_responsive(lsp)
    assert await lsp.shutdown() == 0
