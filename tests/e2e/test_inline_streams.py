"""Inline streams against the way editors really type: VS Code cancels the pending request on every
keystroke and sends the next one a few milliseconds later (or in the same read batch), so a stream
must outlive the request that started it; a joined stream that diverges from what was typed makes
way for a new request at once; a huge or endless answer is cut at the suggestion cap.

Driven over raw bytes (`raw_lsp`) so that cancels and requests can share one write."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from fakes import Reply

DOC = "fn main() {\n    let t = \n}\n"
CAPS = {"general": {"positionEncodings": ["utf-16"]}, "textDocument": {"inlineCompletion": {}}}


def frame(msg: dict) -> bytes:
    body = json.dumps(msg).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def change(uri: str, version: int, line: int, col: int, text: str) -> dict:
    at = {"line": line, "character": col}
    return {"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
        "textDocument": {"uri": uri, "version": version},
        "contentChanges": [{"range": {"start": at, "end": at}, "text": text}]}}


def inline(msg_id: int, uri: str, line: int, col: int) -> dict:
    return {"jsonrpc": "2.0", "id": msg_id, "method": "textDocument/inlineCompletion", "params": {
        "textDocument": {"uri": uri}, "position": {"line": line, "character": col},
        "context": {"triggerKind": 2}}}


def cancel(msg_id: int) -> dict:
    return {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": msg_id}}


def ghost(response: dict) -> str | None:
    result = response.get("result")
    if not result:
        return None
    items = result["items"] if isinstance(result, dict) else result
    return items[0]["insertText"] if items else None


async def session(raw_lsp, fake, init_options=None, text: str = DOC):
    c = await raw_lsp(env={"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": fake.api_key})
    await c.initialize(c.workspace.as_uri(), CAPS, init_options)
    uri = (c.workspace / "a.rs").as_uri()
    await c.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "rust", "version": 1, "text": text}})
    return c, uri


async def generation(fake, n: int = 1, timeout: float = 5.0):
    """The `n`-th generation request (the warm-up HEAD does not count), once it has arrived."""
    deadline = time.monotonic() + timeout
    while len(fake.generation_requests) < n:
        assert time.monotonic() < deadline, f"expected {n} generation request(s), got {len(fake.generation_requests)}"
        await asyncio.sleep(0.01)
    return fake.generation_requests[n - 1]


async def responses(c, ids: set[int], timeout: float = 10.0) -> dict[int, tuple[float, dict]]:
    """Reads until every id in `ids` is answered: id -> (arrival, response)."""
    got: dict[int, tuple[float, dict]] = {}
    deadline = time.monotonic() + timeout
    while not ids <= got.keys():
        msg = await c.read_message(max(deadline - time.monotonic(), 0.001))
        if "method" in msg and "id" in msg:
            await c.send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
        elif msg.get("id") in ids:
            got[msg["id"]] = (time.monotonic(), msg)
    return got


@pytest.mark.parametrize("pattern", ["request 10 ms after the cancel", "cancel then request in one write",
                                     "request then cancel in one write"])
async def test_vscode_cancels_on_every_keystroke_and_the_stream_is_joined(raw_lsp, fake_openai, pattern):
    # A model slower than the keystrokes: nothing has arrived while the user types "tot".
    fake_openai.script(Reply.text("total_price(items)", first_byte_delay_ms=500))
    c, uri = await session(raw_lsp, fake_openai)
    await c.send(inline(10, uri, 1, 12))
    await generation(fake_openai)
    col, pending = 12, 10
    for version, ch in enumerate("tot", start=2):
        await asyncio.sleep(0.06)
        keystroke = frame(change(uri, version, 1, col, ch))
        col += 1
        new = pending + 1
        if pattern == "request 10 ms after the cancel":
            await c.send_bytes(keystroke + frame(cancel(pending)))
            await asyncio.sleep(0.01)
            await c.send(inline(new, uri, 1, col))
        elif pattern == "cancel then request in one write":
            await c.send_bytes(keystroke + frame(cancel(pending)) + frame(inline(new, uri, 1, col)))
        else:
            await c.send_bytes(keystroke + frame(inline(new, uri, 1, col)) + frame(cancel(pending)))
        pending = new
    got = await responses(c, set(range(10, pending + 1)))
    last_at, last = got[pending]
    # The request nobody cancelled gets the rest of the joined stream's suggestion.
    assert ghost(last) == "al_price(items)", last
    for msg_id in range(10, pending):
        at, response = got[msg_id]
        # Cancelled (or superseded) requests are answered RequestCancelled, before the stream ends.
        assert response.get("error", {}).get("code") == -32800, response
        assert at < last_at
    # One upstream request served all four keystrokes.
    await asyncio.sleep(0.2)
    assert len(fake_openai.generation_requests) == 1
    assert not fake_openai.generation_requests[0].client_disconnected_early


async def test_a_cancelled_stream_nobody_joins_is_closed_after_the_grace(raw_lsp, fake_openai):
    fake_openai.script(Reply.text("total_price(items)", first_byte_delay_ms=3000))
    c, uri = await session(raw_lsp, fake_openai, {"completion": {"cancel_grace_ms": 100}})
    await c.send(inline(10, uri, 1, 12))
    req = await generation(fake_openai)
    await c.send(cancel(10))
    got = await responses(c, {10})
    assert got[10][1]["error"]["code"] == -32800
    # Nobody joined within 100 ms: the connection is closed long before the answer would come.
    await fake_openai.wait_until_finished(req, timeout=2.0)
    assert req.client_disconnected_early


async def test_divergence_after_joining_starts_the_new_request_at_once(raw_lsp, fake_openai):
    # The first answer starts after ~0.6 s and would last ~2 s; the user typed something else.
    fake_openai.script(Reply.text("alpha_beta_gamma", chunks=6, delay_ms=150))
    fake_openai.script(Reply.text("zed"))
    c, uri = await session(raw_lsp, fake_openai)
    await c.send(inline(10, uri, 1, 12))
    first = await generation(fake_openai)
    await c.send_bytes(frame(change(uri, 2, 1, 12, "q")) + frame(cancel(10)) + frame(inline(11, uri, 1, 13)))
    got = await responses(c, {10, 11})
    assert got[10][1]["error"]["code"] == -32800
    assert ghost(got[11][1]) == "zed"
    second = fake_openai.generation_requests[1]
    # The second upstream request went out when the first stream's first words contradicted what
    # was typed, not when that stream ended; and the first stream was closed then.
    assert second.time < first.time + 1.5
    await fake_openai.wait_until_finished(first)
    assert first.client_disconnected_early
    assert len(fake_openai.generation_requests) == 2


async def test_a_huge_one_line_answer_is_cut_at_the_cap(raw_lsp, fake_openai):
    # 4.8 MB on one line, in 1,000-byte deltas.
    huge = "a_b + " * 800_000
    fake_openai.script(Reply.text(huge, chunks=4800))
    c, uri = await session(raw_lsp, fake_openai)
    await c.send(inline(10, uri, 1, 12))
    got = await responses(c, {10}, timeout=10)
    response = got[10][1]
    assert "error" not in response, response
    text = ghost(response)
    assert text is None or 0 < len(text.encode()) <= 16384
    req = await generation(fake_openai)
    await fake_openai.wait_until_finished(req)
    assert req.client_disconnected_early


async def test_an_endless_stream_is_cut_at_the_cap(raw_lsp, fake_openai):
    # A delta every few milliseconds for a minute or more: the byte cap (set low here) ends it.
    fake_openai.script(Reply.text(" + a_b" * 20_000, chunks=20_000, delay_ms=3))
    c, uri = await session(raw_lsp, fake_openai, {"completion": {"max_suggestion_bytes": 1200}})
    await c.send(inline(10, uri, 1, 12))
    got = await responses(c, {10}, timeout=20)
    response = got[10][1]
    assert "error" not in response, response
    text = ghost(response)
    assert text is None or 0 < len(text.encode()) <= 1200
    req = await generation(fake_openai)
    await fake_openai.wait_until_finished(req)
    assert req.client_disconnected_early
