"""Providers seen from the outside: doctor's live checks, a rejected key reported once and the
provider set aside, and keys never in the logs even with real traffic."""

from __future__ import annotations

import asyncio

from fakes import Reply

SOURCE = "fn compute_total() -> u32 { 0 }\nfn main() {\n    let r = comp\n}\n"


async def test_doctor_checks_each_provider(run_cli, fake_openai, fake_anthropic):
    openai, anthropic = fake_openai, fake_anthropic
    env = {"OPENAI_BASE_URL": openai.base_url, "OPENAI_API_KEY": openai.api_key,
           "ANTHROPIC_BASE_URL": anthropic.base_url, "ANTHROPIC_API_KEY": "sk-ant-wrong-SECRET"}
    # The CLI blocks; the fakes live on this event loop.
    out = await asyncio.to_thread(run_cli, "doctor", env=env)
    text = out.stdout + out.stderr
    codex = next(l for l in text.splitlines() if " codex:" in l)
    claude = next(l for l in text.splitlines() if " claude:" in l)
    assert codex.strip().startswith("ok"), codex
    assert claude.strip().startswith("FAIL") and "ANTHROPIC_API_KEY" in claude, claude
    # The fake answered 401: this key really was rejected, and the actions have nobody else.
    assert "rejected" in claude, claude
    assert "ok   inline: served by codex" in text and "FAIL refactor" in text, text
    assert out.returncode == 1, text
    assert "SECRET" not in text and openai.api_key not in text


async def test_anthropic_auth_token_wins_and_goes_as_bearer(run_cli, fake_anthropic):
    # As in the Anthropic SDKs and Claude Code: a set ANTHROPIC_AUTH_TOKEN is used instead of
    # ANTHROPIC_API_KEY, as `Authorization: Bearer`, and never beside an x-api-key.
    env = {"ANTHROPIC_BASE_URL": fake_anthropic.base_url, "ANTHROPIC_AUTH_TOKEN": fake_anthropic.api_key,
           "ANTHROPIC_API_KEY": "sk-ant-wrong-SECRET"}
    out = await asyncio.to_thread(run_cli, "doctor", env=env)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    claude = next(l for l in text.splitlines() if " claude:" in l)
    assert claude.strip().startswith("ok") and "ANTHROPIC_AUTH_TOKEN as Authorization: Bearer" in claude, claude
    assert "SECRET" not in text and fake_anthropic.api_key not in text
    assert fake_anthropic.requests
    for r in fake_anthropic.requests:
        assert r.auth == "ok" and r.header("authorization") == "<key:ok>" and r.header("x-api-key") is None, r


async def test_rejected_key_is_reported_once_and_the_provider_set_aside(launch, fake_openai):
    fake_openai.script(Reply.status(401))
    lsp = await launch(env={"OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": "sk-wrong-SECRET"})
    uri = lsp.open("a.rs", SOURCE)
    for _ in range(3):
        items = await lsp.inline(uri, 2, 16)
        assert [i.insert_text for i in items] == ["compute_total"]  # local answers meanwhile
    msg = await lsp.wait_for_message(lambda m: "OPENAI_API_KEY" in m.message)
    assert "codex" in msg.message
    assert len([m for m in lsp.messages if "OPENAI_API_KEY" in m.message]) == 1
    assert len(fake_openai.generation_requests) == 1
    assert "sk-wrong-SECRET" not in lsp.log()


async def test_keys_never_reach_the_logs_with_real_traffic(launch, fake_openai):
    key = fake_openai.api_key
    fake_openai.script(Reply.text("a + b"))
    lsp = await launch(env={"OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": key})
    uri = lsp.open("a.rs", "fn add(a: i32, b: i32) -> i32 {\n    \n}\n")
    items = await lsp.inline(uri, 1, 4)
    assert items and items[0].insert_text == "a + b"
    await asyncio.sleep(0.1)
    log = lsp.log()
    assert "/v1/responses" in log or "codex" in log  # the log did see the traffic
    assert key not in log
