"""Issue 2, items 1 and 8, and DESIGN.md's key rules: stdout carries nothing but LSP frames
(checked strictly, byte by byte, through a whole session), logs go to stderr, and a key in the
environment never appears in the log or on stdout."""

from __future__ import annotations

import asyncio

SOURCE = "fn compute_total(items: &[u32]) -> u32 { 0 }\nfn main() {\n    let result = comp\n}"
SECRET = "sk-test-SECRET"


async def raw_full_session(c) -> list[dict]:
    """initialize .. didOpen .. completion .. inline .. shutdown/exit; returns every frame."""
    init = await c.initialize(c.workspace.as_uri(),
                              {"general": {"positionEncodings": ["utf-8", "utf-16"]},
                               "textDocument": {"inlineCompletion": {}}})
    uri = (c.workspace / "a.rs").as_uri()
    await c.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "rust", "version": 1,
                                                             "text": SOURCE}})
    pos = {"line": 2, "character": len("    let result = comp")}
    comp = await c.request("textDocument/completion", {"textDocument": {"uri": uri}, "position": pos})
    inline = await c.request("textDocument/inlineCompletion", {"textDocument": {"uri": uri}, "position": pos,
                                                              "context": {"triggerKind": 1}})
    assert "result" in comp and "result" in inline
    resp = await c.request("shutdown")
    assert resp.get("result", "missing") is None, resp
    await c.notify("exit")
    rest = await c.read_to_eof(timeout=10)  # strict: raises on any non-frame byte
    code = await asyncio.wait_for(c.proc.wait(), 10)
    assert code == 0
    return [init, comp, inline, *rest]


async def test_stdout_is_only_lsp_frames(raw_lsp):
    c = await raw_lsp(env={"SWITCHBOARD_LOG": "trace"})
    await raw_full_session(c)
    assert c.stderr_path.stat().st_size > 0, "logs should go to stderr (SWITCHBOARD_LOG=trace)"


async def test_key_never_logged(raw_lsp):
    c = await raw_lsp(env={"SWITCHBOARD_LOG": "trace", "OPENAI_API_KEY": SECRET, "ANTHROPIC_API_KEY": SECRET})
    frames = await raw_full_session(c)
    log = c.stderr_path.read_text(errors="replace")
    assert SECRET not in log
    assert SECRET not in repr(frames) and SECRET not in repr(c.notifications)


async def test_key_never_logged_pytest_lsp(launch):
    s = await launch(env={"OPENAI_API_KEY": SECRET, "ANTHROPIC_API_KEY": SECRET})
    uri = s.open("a.rs", SOURCE)
    await s.completion(uri, 2, len("    let result = comp"))
    await s.inline(uri, 2, len("    let result = comp"))
    assert await s.shutdown() == 0
    assert SECRET not in s.log()
    assert all(SECRET not in m.message for m in s.messages)
