"""Upstreams that misbehave, seen from the editor: streams that never end, endless bodies, a
breaker that counts requests (not retries), and no connection to a provider that has no key."""

from __future__ import annotations

import asyncio
import time

import pytest

from fakes import Reply
from test_actions import ANSWER, REFACTORED, SRC, apply_text_edits, env as claude_env, refactor, text_edit

INLINE_SRC = "fn add(a: i32, b: i32) -> i32 {\n    \n}\n"
# Deadlines scaled down so the suite stays fast; the defaults are 4 s (inline) and 5 min (actions).
FAST = "[providers.codex.inline_timeouts]\ntotal_ms = 1000\n[providers.claude.action_timeouts]\ntotal_ms = 2000\n"


def openai_env(fake) -> dict[str, str]:
    return {"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": fake.api_key}


async def timed_inline(lsp, uri: str) -> tuple[list, float]:
    t = time.monotonic()
    items = await lsp.inline(uri, 1, 4, timeout=8)
    return items, time.monotonic() - t


# "a" again and again: whatever arrived by the deadline is a well-formed expression.
@pytest.mark.parametrize("reply", [Reply.endless("a", delay_ms=100), Reply.endless("", delay_ms=100)],
                         ids=["endless-deltas", "drip-of-empty-deltas"])
async def test_an_inline_stream_that_never_ends_is_answered_by_the_deadline(launch, fake_openai, reply):
    fake_openai.script(reply)
    lsp = await launch(env=openai_env(fake_openai), user_config=FAST)
    uri = lsp.open("a.rs", INLINE_SRC)
    items, took = await timed_inline(lsp, uri)
    assert took < 2.5, f"answered after {took:.2f}s"
    if reply.text:
        # What arrived by the deadline is the suggestion.
        assert items and items[0].insert_text.startswith("aaa"), items
    req = (await fake_openai.wait_for_requests(1))[-1]
    await fake_openai.wait_until_finished(req, timeout=3)
    assert req.client_disconnected_early, "the endless stream was not dropped"
    lsp.assert_alive()


async def test_an_endless_error_body_is_read_only_so_far(launch, fake_openai):
    fake_openai.script(Reply.endless_body(500))
    lsp = await launch(env=openai_env(fake_openai), user_config=FAST)
    uri = lsp.open("a.rs", INLINE_SRC)
    _, took = await timed_inline(lsp, uri)
    assert took < 2.5, f"answered after {took:.2f}s"
    req = fake_openai.generation_requests[0]
    await fake_openai.wait_until_finished(req, timeout=3)
    assert req.client_disconnected_early
    # The next request is served normally (the fake is healthy now).
    items, _ = await timed_inline(lsp, lsp.open("b.rs", INLINE_SRC))
    assert items and items[0].insert_text == "a + b"
    lsp.assert_alive()


async def test_an_action_that_never_ends_fails_clearly_and_changes_nothing(launch, fake_anthropic):
    fake_anthropic.script(Reply.endless("let x = 1;\n", delay_ms=100))
    s = await launch(env=claude_env(fake_anthropic), user_config=FAST)
    uri = s.open("src/lib.rs", SRC)
    t = time.monotonic()
    with pytest.raises(Exception) as err:
        await refactor(s, uri, timeout=10)
    assert time.monotonic() - t < 4
    assert "cut off" in str(err.value) or "total_ms" in str(err.value), err.value
    assert (await s.document_text(uri))["text"] == SRC


async def test_a_refactor_that_retried_a_500_is_one_failure(launch, fake_anthropic):
    s = await launch(env=claude_env(fake_anthropic))
    uri = s.open("src/lib.rs", SRC)
    fake_anthropic.script(Reply.status(500), Reply.status(500), Reply.status(500))
    with pytest.raises(Exception):
        await refactor(s, uri, timeout=20)
    assert len(fake_anthropic.generation_requests) == 3
    # Healthy again: the next refactor goes through at once (three retries are not three failures).
    fake_anthropic.script(Reply.text(ANSWER))
    tde = text_edit(await refactor(s, uri, timeout=20))
    assert apply_text_edits(SRC, tde["edits"], s.encoding) == REFACTORED
    assert len(fake_anthropic.generation_requests) == 4


async def test_an_open_breaker_still_lets_the_user_try_an_action_once(launch, fake_anthropic):
    # Claude also on the inline route, so a keystroke shows whether the breaker is open.
    s = await launch(env=claude_env(fake_anthropic), user_config='[routes]\ninline = ["claude", "local"]\n')
    uri = s.open("src/lib.rs", SRC)
    for _ in range(3):
        fake_anthropic.script(Reply.status(400, error_type="invalid_request_error"))
        with pytest.raises(Exception):
            await refactor(s, uri, timeout=20)
    assert len(fake_anthropic.generation_requests) == 3, "a 400 is not retried"
    await s.inline(uri, 4, 5)
    assert len(fake_anthropic.generation_requests) == 3, "three failed requests open the breaker"
    fake_anthropic.script(Reply.text(ANSWER))
    tde = text_edit(await refactor(s, uri, timeout=20))
    assert apply_text_edits(SRC, tde["edits"], s.encoding) == REFACTORED
    assert len(fake_anthropic.generation_requests) == 4


async def _listener() -> tuple[asyncio.base_events.Server, list[float]]:
    """A TCP listener on 127.0.0.1 that records when each connection arrives."""
    seen: list[float] = []

    async def on_connect(reader, writer):
        seen.append(time.monotonic())
        writer.close()

    return await asyncio.start_server(on_connect, "127.0.0.1", 0), seen


@pytest.mark.parametrize("with_key", [False, True], ids=["no-key", "key"])
async def test_no_connection_to_a_provider_without_a_key(launch, with_key):
    server, seen = await _listener()
    port = server.sockets[0].getsockname()[1]
    env = {"OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1", "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}",
           "OPENAI_API_KEY": None, "ANTHROPIC_API_KEY": None, "ANTHROPIC_AUTH_TOKEN": None}
    if with_key:
        env["OPENAI_API_KEY"] = "sk-test-warm"
    try:
        await launch(env=env)
        await asyncio.sleep(1.0)
    finally:
        server.close()
    if with_key:
        # The control: the listener does see the warm-up connection of a provider with a key.
        assert seen, "no warm-up connection although a key is set"
    else:
        assert seen == [], f"{len(seen)} connection(s) to a provider without a key"
