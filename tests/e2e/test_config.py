"""Issue 2, item 5: configuration errors are reported once (file:line:column) without killing
the server, unknown keys are named, and the trust rule holds: an untrusted workspace
`switchboard.toml` cannot redirect a key with `base_url` (proved with two fake OpenAI servers)."""

from __future__ import annotations

import asyncio
import re

import pytest
from lsprotocol import types

from fakes import FakeOpenAI
from harness.session import Session

SOURCE = "fn compute_total(items: &[u32]) -> u32 { 0 }\nfn main() {\n    let result = comp\n}"
PROBLEM = (types.MessageType.Error, types.MessageType.Warning)
BAD_TOML = '[completion]\ndebounce_ms = 0\nroute = = "x"\n'


def mentions(s: Session, needle: str) -> list[types.ShowMessageParams]:
    return [m for m in s.messages if needle in m.message]


async def still_answers(s: Session) -> None:
    uri = s.open("a.rs", SOURCE)
    items = await s.completion(uri, 2, len("    let result = comp"))
    assert "compute_total" in [i.label for i in items]


async def test_workspace_toml_syntax_error(launch):
    s = await launch(workspace_files={"switchboard.toml": BAD_TOML})
    msg = await s.wait_for_message(lambda m: "switchboard.toml" in m.message)
    assert msg.type in PROBLEM
    assert re.search(r"switchboard\.toml:3:\d+", msg.message), msg.message
    await still_answers(s)
    await asyncio.sleep(0.3)
    assert len(mentions(s, "switchboard.toml")) == 1, [m.message for m in s.messages]


async def test_user_config_syntax_error(launch):
    s = await launch(user_config='trusted_workspaces = [\n"x",\n!!\n]\n')
    msg = await s.wait_for_message(lambda m: "config.toml" in m.message)
    assert msg.type in PROBLEM and re.search(r"config\.toml:3:\d+", msg.message), msg.message
    await still_answers(s)


async def test_switchboard_config_env_file(launch, tmp_path):
    cfg = tmp_path / "custom-sb.toml"
    cfg.write_text("[completion]\ndebounce_ms = 0\n\n[routes\n")
    s = await launch(env={"SWITCHBOARD_CONFIG": str(cfg)})
    msg = await s.wait_for_message(lambda m: "custom-sb.toml" in m.message)
    assert re.search(r"custom-sb\.toml:4:\d+", msg.message), msg.message
    await still_answers(s)


async def test_unknown_key_is_named(launch):
    s = await launch(workspace_files={"switchboard.toml": "[completion]\ndebounce_msx = 5\n"})
    msg = await s.wait_for_message(lambda m: "debounce_msx" in m.message)
    assert msg.type in PROBLEM + (types.MessageType.Info,)
    await still_answers(s)


@pytest.mark.parametrize("setting", ['api_key_env = "HOME"', 'api_key_cmd = "cat /etc/passwd"'])
async def test_untrusted_workspace_secrets_settings_ignored(launch, setting):
    key = setting.split(" ")[0]
    s = await launch(workspace_files={"switchboard.toml": f"[providers.codex]\n{setting}\n"})
    msg = await s.wait_for_message(lambda m: key in m.message)
    assert msg.type in PROBLEM + (types.MessageType.Info,)
    await still_answers(s)


async def drive_completions(s: Session) -> None:
    """Ask for completions the way an editor would, several times."""
    uri = s.open("a.rs", SOURCE)
    for trigger in (types.InlineCompletionTriggerKind.Invoked, types.InlineCompletionTriggerKind.Automatic):
        await s.inline(uri, 2, len("    let result = comp"), trigger=trigger)
        await s.inline(uri, 1, len("fn main() {"), trigger=trigger)
    await s.completion(uri, 2, len("    let result = comp"))
    await asyncio.sleep(0.5)


async def test_untrusted_base_url_is_ignored(launch, fake_openai: FakeOpenAI):
    async with FakeOpenAI(api_key="never-accepted", known_keys={fake_openai.api_key: "openai"}) as evil:
        s = await launch(
            env={"OPENAI_API_KEY": fake_openai.api_key, "OPENAI_BASE_URL": fake_openai.base_url},
            workspace_files={"switchboard.toml": f'[providers.codex]\nbase_url = "{evil.base_url}"\n'})
        msg = await s.wait_for_message(lambda m: "base_url" in m.message)
        assert msg.type in PROBLEM + (types.MessageType.Info,)
        await drive_completions(s)
        assert evil.requests == [], f"untrusted base_url was used: {[(r.path, r.auth) for r in evil.requests]}"
        assert len(mentions(s, "base_url")) == 1  # said once
        s.assert_alive()


async def test_trusted_workspace_may_set_base_url(launch, fake_openai: FakeOpenAI):
    s = await launch(
        env={"OPENAI_API_KEY": fake_openai.api_key},
        user_config='trusted_workspaces = ["@WORKSPACE@"]\n',
        # A base_url of one's own gets a key only when api_key_env names it (no key leaks by default).
        workspace_files={"switchboard.toml": f'[providers.codex]\nbase_url = "{fake_openai.base_url}"\n'
                                             'api_key_env = "OPENAI_API_KEY"\n'})
    await drive_completions(s)
    ignored = [m.message for m in s.messages if "base_url" in m.message and "ignor" in m.message.lower()]
    assert ignored == [], ignored
    # Requests that do reach an upstream must carry the right key (none go elsewhere).
    # The connection warm-up (HEAD, never with a key) aside, every request carried the key.
    assert all(r.auth == "ok" for r in fake_openai.requests if r.method != "HEAD")
    assert fake_openai.generation_requests, "the trusted base_url was not used"
