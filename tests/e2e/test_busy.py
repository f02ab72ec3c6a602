"""Requests that run long (explanations streaming from Claude, completions waiting for a slow
model, prompts waiting for the user) never stop the server from hearing the editor: edits and
`$/cancelRequest` get through however many are running, and past the limit of 64 running requests
a new one is refused at once with an error that says why, instead of queueing everything behind."""

from __future__ import annotations

import asyncio
import time

import pytest

from fakes import Reply

SRC = "fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n"
RANGE = {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 9}}
MAX_RUNNING = 64


def env(fake) -> dict[str, str]:
    return {"ANTHROPIC_API_KEY": fake.api_key, "ANTHROPIC_BASE_URL": fake.base_url}


async def explains_in_flight(launch, fake, n: int):
    """A session with `n` explanations streaming (each would take 20 s to finish)."""
    s = await launch(profile="visual-studio-code", env=env(fake),
                     experimental={"switchboard": {"explanationView": True}})
    uri = s.open("src/lib.rs", SRC)
    fake.script(*[Reply.text("slow " * 20, chunks=20, delay_ms=1000)] * n)
    ids = [f"explain-{i}" for i in range(n)]
    tasks = [asyncio.create_task(s.execute("switchboard.runAction",
                                           [{"action": "explain", "uri": uri, "range": RANGE, "version": 1}],
                                           timeout=60, msg_id=i)) for i in ids]
    deadline = time.monotonic() + 30
    while len(fake.generation_requests) < n:
        assert time.monotonic() < deadline, f"{len(fake.generation_requests)} of {n} explanations reached the model"
        await asyncio.sleep(0.02)
    return s, uri, ids, tasks


async def test_edits_and_cancels_get_through_while_requests_stream(launch, fake_anthropic):
    # More than tower-lsp-server's own default of 4 (and than the 8 it was set to): at that many
    # the server used to stop reading its input until one of them ended.
    s, uri, ids, tasks = await explains_in_flight(launch, fake_anthropic, 12)
    s.change(uri, [{"range": {"start": {"line": 1, "character": 9}, "end": {"line": 1, "character": 9}},
                    "text": " + 1"}])
    doc = await s.document_text(uri, timeout=10)
    assert doc["text"] == SRC.replace("a + b", "a + b + 1")
    assert not any(t.done() for t in tasks), "answered only after the explanations ended"
    for i in ids:
        s.cancel(i)
    # Cancelled, they end now, not when their 20 s streams would have.
    done, pending = await asyncio.wait(tasks, timeout=10)
    assert not pending, f"{len(pending)} explanations ignored their cancel"
    assert all(t.exception() is not None for t in done)
    s.assert_alive()


async def test_past_the_limit_a_request_is_refused_at_once(launch, fake_anthropic):
    s, uri, ids, tasks = await explains_in_flight(launch, fake_anthropic, MAX_RUNNING)
    with pytest.raises(Exception) as refused:
        await s.code_actions(uri, RANGE, timeout=10)
    assert "busy" in str(refused.value) and str(MAX_RUNNING) in str(refused.value)
    # Notifications and the requests' cancels still get through.
    s.change(uri, [{"text": SRC + "\n"}])
    for i in ids:
        s.cancel(i)
    done, pending = await asyncio.wait(tasks, timeout=15)
    assert not pending, f"{len(pending)} explanations ignored their cancel"
    assert all(t.exception() is not None for t in done)
    # With the running requests gone, requests are served again (and saw the edit).
    assert (await s.document_text(uri, timeout=10))["text"] == SRC + "\n"
    actions = await s.code_actions(uri, RANGE, timeout=10)
    assert any(a["title"] == "Switchboard: Explain" for a in actions)
    assert "requests are running already" in s.log()
    s.assert_alive()
