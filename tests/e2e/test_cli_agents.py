"""Code actions routed through the agents users already run: `claude -p` (claude-cli) and
`codex exec` (codex-cli), driven over LSP against a fake CLI (fakes/agent_cli.py) that speaks their
JSON-lines output. Covers the flags and stdin, the environment the agent gets, streaming, edits,
cancellation (SIGTERM), retries of an API error the agent reports, crashes, and the trust rule."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import pytest

from fakes import Reply
from test_actions import (ANSWER, CURSOR_IN_ADD, EXPLANATION, REFACTORED, SRC, apply_text_edits, by_title,
                          text_edit)

AGENT = Path(__file__).parent / "fakes" / "agent_cli.py"
SECRET = "sk-ant-must-not-reach-the-agent"


def user_config(route: str = "claude-code") -> str:
    cmd = json.dumps([sys.executable, str(AGENT)])
    return f"""
[providers.claude-code]
kind = "claude-cli"
model = "claude-sonnet-5-5"
command = {cmd}
pass_env = ["FAKE_AGENT_DIR"]

[providers.codex-agent]
kind = "codex-cli"
model = "gpt-5.5"
command = {cmd}
pass_env = ["FAKE_AGENT_DIR"]

[routes]
explain = ["{route}"]
refactor = ["{route}"]
"""


class Agent:
    """The fake agent's state directory: what it should answer, what it saw."""

    def __init__(self, root: Path):
        self.dir = root / "agent"
        self.dir.mkdir(parents=True, exist_ok=True)

    def plan(self, *replies: dict) -> None:
        (self.dir / "plan.json").write_text(json.dumps(list(replies)))

    def calls(self) -> list[dict]:
        p = self.dir / "calls.jsonl"
        return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []

    def signals(self) -> list[dict]:
        p = self.dir / "signals.jsonl"
        return [json.loads(line) for line in p.read_text().splitlines()] if p.exists() else []

    async def wait(self, what: str, check, timeout: float = 5.0):
        deadline = time.monotonic() + timeout
        while not (v := check()):
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.02)
        return v


@pytest.fixture
def agent(tmp_path: Path) -> Agent:
    return Agent(tmp_path)


async def start(launch, agent: Agent, route: str = "claude-code", **kw):
    env = {"FAKE_AGENT_DIR": str(agent.dir), "ANTHROPIC_API_KEY": SECRET, "OPENAI_API_KEY": SECRET}
    return await launch(env=env, user_config=user_config(route), **kw)


async def test_explain_through_claude_code_streams_and_passes_only_what_is_configured(launch, agent):
    agent.plan({"text": EXPLANATION, "chunks": 6, "delay_ms": 10})
    s = await start(launch, agent, profile="visual-studio-code",
                    experimental={"switchboard": {"explanationView": True}})
    uri = s.open("src/lib.rs", SRC)
    result = await s.execute("switchboard.runAction", [{"action": "explain", "uri": uri, "range": CURSOR_IN_ADD}])
    assert result["text"] == EXPLANATION
    # The last notification may be read just after the command's answer.
    deadline = asyncio.get_running_loop().time() + 5
    while not (s.explanations and s.explanations[-1]["done"]) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    chunks = s.explanations
    assert len(chunks) >= 6 and chunks[-1]["done"] is True, "the explanation streams in pieces"
    assert "".join(c["delta"] for c in chunks) == EXPLANATION

    (call,) = agent.calls()
    argv = call["argv"]
    for flag in ["-p", "--output-format", "stream-json", "--verbose", "--include-partial-messages",
                 "--no-session-persistence"]:
        assert flag in argv, argv
    assert argv[argv.index("--tools") + 1] == "", "no tools: the agent only reads the prompt"
    assert argv[argv.index("--max-turns") + 1] == "1"
    assert argv[argv.index("--model") + 1] == "claude-sonnet-5-5"
    assert "explain" in argv[argv.index("--append-system-prompt") + 1].lower()
    assert "let s = a + b;" in call["stdin"], "the code travels on stdin"
    assert Path(call["cwd"]) == s.workspace, "the agent runs in the workspace"
    assert "FAKE_AGENT_DIR" in call["env"] and "PATH" in call["env"]
    assert "ANTHROPIC_API_KEY" not in call["env"] and "OPENAI_API_KEY" not in call["env"], \
        "keys reach an agent only when listed in pass_env"
    s.assert_alive()


async def test_refactor_through_claude_code_is_a_minimal_versioned_edit(launch, agent):
    agent.plan({"text": ANSWER, "chunks": 4})
    s = await start(launch, agent)
    uri = s.open("src/lib.rs", SRC)
    actions = await s.code_actions(uri, CURSOR_IN_ADD)
    assert agent.calls() == [], "listing actions runs nothing"
    tde = text_edit(await s.resolve(by_title(actions, "Switchboard: Refactor")))
    assert tde["textDocument"]["version"] == 1
    assert apply_text_edits(SRC, tde["edits"], s.encoding) == REFACTORED
    assert all("fn other" not in e["newText"] for e in tde["edits"]), "only the changed lines are edited"


async def test_cancel_sends_sigterm_to_the_agent_at_once(launch, agent):
    agent.plan({"text": ANSWER * 4, "chunks": 60, "delay_ms": 100})
    s = await start(launch, agent)
    uri = s.open("src/lib.rs", SRC)
    actions = await s.code_actions(uri, CURSOR_IN_ADD)
    task = asyncio.create_task(s.resolve(by_title(actions, "Switchboard: Refactor"), msg_id="agent-1"))
    await agent.wait("the agent to start", agent.calls)
    await asyncio.sleep(0.5)
    cancelled_at = time.time()
    s.cancel("agent-1")
    with pytest.raises(Exception) as err:
        await task
    assert "cancel" in str(err.value).lower()
    (sig,) = await agent.wait("SIGTERM at the agent", agent.signals, timeout=3)
    print(f"cancel -> SIGTERM at the agent in {(sig['at'] - cancelled_at) * 1000:.0f} ms")
    assert sig["at"] - cancelled_at < 1.0
    assert (await s.document_text(uri))["text"] == SRC, "the buffer is untouched"
    s.assert_alive()


async def test_api_error_reported_by_the_agent_is_retried(launch, agent):
    agent.plan({"api_error_status": 529, "text": "API Error: 529 Overloaded"}, {"text": ANSWER})
    s = await start(launch, agent)
    uri = s.open("src/lib.rs", SRC)
    actions = await s.code_actions(uri, CURSOR_IN_ADD)
    tde = text_edit(await s.resolve(by_title(actions, "Switchboard: Refactor"), timeout=20))
    assert apply_text_edits(SRC, tde["edits"], s.encoding) == REFACTORED
    assert len(agent.calls()) == 2, "one retry after the overloaded answer"


async def test_agent_crash_is_a_clear_error_with_its_stderr(launch, agent):
    agent.plan({"crash": "Error: not logged in. Run `claude login`."})
    s = await start(launch, agent)
    uri = s.open("src/lib.rs", SRC)
    with pytest.raises(Exception) as err:
        await s.execute("switchboard.runAction", [{"action": "explain", "uri": uri, "range": CURSOR_IN_ADD}])
    msg = str(err.value)
    assert "claude-code" in msg and "not logged in" in msg, msg
    assert (await s.document_text(uri))["text"] == SRC
    s.assert_alive()


async def test_explain_through_codex_exec(launch, agent):
    agent.plan({"text": EXPLANATION})
    s = await start(launch, agent, route="codex-agent")
    uri = s.open("src/lib.rs", SRC)
    result = await s.execute("switchboard.runAction", [{"action": "explain", "uri": uri, "range": CURSOR_IN_ADD}])
    assert result["text"] == EXPLANATION
    (call,) = agent.calls()
    argv = call["argv"]
    assert argv[:2] == ["exec", "--json"] and argv[-1] == "-", argv
    assert argv[argv.index("--sandbox") + 1] == "read-only" and "--ephemeral" in argv
    assert argv[argv.index("-m") + 1] == "gpt-5.5"
    assert "let s = a + b;" in call["stdin"] and "explain" in call["stdin"].lower(), \
        "codex gets the instructions and the code on stdin"


async def test_untrusted_workspace_cannot_swap_the_agent_program(launch, agent, tmp_path):
    agent.plan({"text": EXPLANATION})
    marker = tmp_path / "pwned"
    evil = json.dumps(["sh", "-c", f"touch {marker}"])
    workspace_toml = f'[providers.claude-code]\ncommand = {evil}\npass_env = ["HOME"]\n'
    s = await start(launch, agent, workspace_files={"switchboard.toml": workspace_toml})
    await s.wait_for_message(lambda m: "providers.claude-code.command" in m.message and "not trusted" in m.message)
    uri = s.open("src/lib.rs", SRC)
    result = await s.execute("switchboard.runAction", [{"action": "explain", "uri": uri, "range": CURSOR_IN_ADD}])
    assert result["text"] == EXPLANATION, "the user's own agent ran"
    assert not marker.exists(), "the workspace's program did not run"
    assert len(agent.calls()) == 1


# -- trust: an untrusted workspace cannot make Switchboard run a program -------------------------

UNTRUSTED_AGENTS = """
[providers.claude]
kind = "claude-cli"

[providers.agent]
kind = "codex-cli"
model = "gpt-5.5"
"""


def agents_on_path(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """`claude` and `codex` executables first on PATH that only record that they ran."""
    bin_dir, ran = tmp_path / "bin", tmp_path / "agents-ran"
    bin_dir.mkdir()
    for name in ("claude", "codex"):
        exe = bin_dir / name
        exe.write_text(f'#!/bin/sh\necho "{name} $*" >> "{ran}"\necho "9.9.9"\n')
        exe.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"}, ran


async def test_untrusted_workspace_cannot_add_an_agent_or_change_a_kind(launch, fake_anthropic, tmp_path):
    path_env, ran = agents_on_path(tmp_path)
    fake_anthropic.script(Reply.text(EXPLANATION))
    s = await launch(env={**path_env, "ANTHROPIC_API_KEY": fake_anthropic.api_key,
                          "ANTHROPIC_BASE_URL": fake_anthropic.base_url},
                     workspace_files={"switchboard.toml": UNTRUSTED_AGENTS})
    for setting in ("`providers.claude.kind` ignored", "`providers.agent` ignored"):
        await s.wait_for_message(lambda m, x=setting: x in m.message and "not trusted" in m.message)
    uri = s.open("src/lib.rs", SRC)
    result = await s.execute("switchboard.runAction", [{"action": "explain", "uri": uri, "range": CURSOR_IN_ADD}])
    assert result["text"] == EXPLANATION, "claude stayed the Anthropic API"
    assert fake_anthropic.generation_requests, "the answer came from the API, not a program"
    assert not ran.exists(), ran.read_text()
    for setting in ("providers.claude.kind", "`providers.agent`"):
        assert len([m for m in s.messages if setting in m.message]) == 1, "said once"
    s.assert_alive()


def test_doctor_runs_no_agent_an_untrusted_workspace_adds(run_cli, tmp_path):
    path_env, ran = agents_on_path(tmp_path)
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "switchboard.toml").write_text(UNTRUSTED_AGENTS)
    r = run_cli("doctor", cwd=ws, env=path_env, timeout=30)
    # Exit 1 only says that some route has no reachable provider here (the fakes are not running).
    assert r.returncode in (0, 1) and "Verdict" in r.stdout, r.stderr
    assert "`providers.agent` ignored" in r.stdout and "`providers.claude.kind` ignored" in r.stdout, r.stdout
    assert not ran.exists(), ran.read_text()

    # Trusted, the same file does run them: the check above is not vacuous.
    user = tmp_path / "cli-xdg" / "switchboard" / "config.toml"
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text(f"trusted_workspaces = [{json.dumps(str(ws))}]\n")
    r = run_cli("doctor", cwd=ws, env=path_env, timeout=30)
    assert r.returncode in (0, 1) and "Verdict" in r.stdout, r.stderr
    assert "ignored" not in r.stdout, r.stdout
    assert ran.exists() and "--version" in ran.read_text()
