"""Issue 13: `switchboard mcp` driven by the official Python MCP SDK client over stdio, against the
fake OpenAI and Anthropic servers — every tool listed and called, the error cases (paths outside
the workspace, missing arguments, failing providers) answered as tool errors while the server goes
on, and no key in any message on the wire (a tee between client and binary records every byte)."""

from __future__ import annotations

import json
import sys
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest

from fakes import Reply
from harness.env import clean_env

mcp = pytest.importorskip("mcp", reason="the MCP client SDK is missing: pip install -r tests/e2e/requirements.txt")
from mcp import ClientSession, StdioServerParameters, stdio_client  # noqa: E402

TEE = Path(__file__).parent / "harness" / "teepipe.py"
TOOLS = {"complete", "explain", "refactor", "fix", "document", "tests", "symbols", "context"}
OPENAI_KEY = "sk-test-openai-MCPSECRET"
ANTHROPIC_KEY = "sk-ant-test-MCPSECRET"

LIB = ("use std::fmt;\n\nfn add(a: i32, b: i32) -> i32 {\n    let s = a + b;\n    s\n}\n\n"
       "struct Cart {\n    items: Vec<u32>,\n}\n\nimpl Cart {\n    fn total(&self) -> u32 {\n        "
       "self.items.iter().sum()\n    }\n}\n\nfn sub(a: i32, b: i32) -> i32 {\n    \n}\n")
REFACTORED = LIB.replace("    let s = a + b;\n    s\n", "    a + b\n")
ANSWER = "Simpler:\n\n```rust\nfn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n```\n"
EXPLANATION = "`add` returns the sum of `a` and `b`, through a redundant temporary."
CART_PY = "def total(items):\n    return sum(items)\n"


class Server:
    """One `switchboard mcp` process behind the tee, with its client session."""

    def __init__(self, session: ClientSession, workspace: Path, wire: Path, stderr: Path):
        self.session, self.workspace, self.wire, self.stderr = session, workspace, wire, stderr

    async def call(self, name: str, args: dict | None = None):
        return await self.session.call_tool(name, args or {})

    async def ok(self, name: str, args: dict | None = None) -> list[str]:
        """Calls a tool that must succeed; returns its text blocks."""
        r = await self.call(name, args)
        texts = [c.text for c in r.content if c.type == "text"]
        assert not r.is_error, f"{name} failed: {texts}"
        return texts

    async def error(self, name: str, args: dict | None = None) -> str:
        """Calls a tool that must answer a tool error; returns its message."""
        r = await self.call(name, args)
        texts = [c.text for c in r.content if c.type == "text"]
        assert r.is_error, f"{name} should fail: {texts}"
        return "\n".join(texts)

    def wire_text(self) -> str:
        return self.wire.read_bytes().decode("utf-8", "replace")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "lib.rs").write_text(LIB)
    (ws / "cart.py").write_text(CART_PY)
    (tmp_path / "outside.rs").write_text("fn secret() {}\n")
    return ws


@pytest.fixture
def connect(switchboard_bin: Path, tmp_path: Path):
    """`async with connect(workspace, env) as server:` starts `switchboard mcp` in `workspace`."""
    stack = AsyncExitStack()

    @asynccontextmanager
    async def start(workspace: Path, env: dict[str, str] | None = None, args: list[str] | None = None):
        home, xdg = tmp_path / "home", tmp_path / "xdg"
        home.mkdir(exist_ok=True)
        xdg.mkdir(exist_ok=True)
        wire, stderr = tmp_path / "mcp-wire.log", tmp_path / "mcp-stderr.log"
        params = StdioServerParameters(
            command=sys.executable,
            args=[str(TEE), str(wire), str(switchboard_bin), "mcp", *(args or [])],
            env=clean_env(home, xdg, env),
            cwd=str(workspace),
        )
        with open(stderr, "w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    yield Server(session, workspace, wire, stderr)

    yield start


def keys_env(openai=None, anthropic=None) -> dict[str, str]:
    env = {}
    if openai is not None:
        env.update(OPENAI_API_KEY=OPENAI_KEY, OPENAI_BASE_URL=openai.base_url)
    if anthropic is not None:
        env.update(ANTHROPIC_API_KEY=ANTHROPIC_KEY, ANTHROPIC_BASE_URL=anthropic.base_url)
    return env


def fakes_with_our_keys(fake_openai, fake_anthropic) -> None:
    fake_openai.api_key = OPENAI_KEY
    fake_anthropic.api_key = ANTHROPIC_KEY


# -- listing -----------------------------------------------------------------------------------

async def test_every_tool_is_listed_with_a_described_schema(connect, workspace):
    async with connect(workspace) as s:
        tools = {t.name: t for t in (await s.session.list_tools()).tools}
        assert set(tools) == TOOLS
        for t in tools.values():
            assert t.description and len(t.description) > 80, t.name
            props = t.input_schema["properties"]
            assert props and all(p.get("description") for p in props.values()), (t.name, props)
        assert set(tools["explain"].input_schema["required"]) == {"path", "start_line"}
        assert set(tools["refactor"].input_schema["required"]) == {"path", "start_line"}
        assert {"instruction", "apply", "end_line"} <= set(tools["tests"].input_schema["properties"])
        assert set(tools["context"].input_schema["required"]) == {"path", "line", "column"}
        assert "required" not in tools["complete"].input_schema or not tools["complete"].input_schema["required"]
        assert tools["symbols"].annotations.read_only_hint is True
        assert tools["refactor"].annotations.read_only_hint is not True


# -- complete -----------------------------------------------------------------------------------

async def test_complete_goes_to_codex_first(connect, workspace, fake_openai):
    fake_openai.api_key = OPENAI_KEY
    fake_openai.script(Reply.text("a + b"))
    async with connect(workspace, keys_env(openai=fake_openai)) as s:
        (text,) = await s.ok("complete", {"path": "src/lib.rs", "line": 19, "column": 5})
        got = json.loads(text)
        assert got["text"] == "a + b" and got["provider"] == "codex" and got["model"], got
        req = fake_openai.generation_requests[0]
        assert req.auth == "ok"
        prompt = req.json["input"][0]["content"][0]["text"]
        assert "<CURSOR>" in prompt and "fn add(a: i32, b: i32)" in prompt


async def test_complete_a_snippet_and_fall_back_to_local_when_codex_fails(connect, workspace, fake_openai):
    fake_openai.api_key = OPENAI_KEY
    fake_openai.script(Reply.text("(items)"))
    async with connect(workspace, keys_env(openai=fake_openai)) as s:
        (text,) = await s.ok("complete", {"code": "def total(items):\n    return sum<CURSOR>\n", "language": "python"})
        assert json.loads(text)["text"] == "(items)"
        assert "language: python" in fake_openai.generation_requests[0].json["input"][0]["content"][0]["text"]

        fake_openai.script(Reply.status(500), Reply.status(500), Reply.status(500))
        (text,) = await s.ok("complete", {"code": "fn compute_total() {}\nfn main() { comp<CURSOR> }\n",
                                          "language": "rust"})
        got = json.loads(text)
        assert (got["provider"], got["text"], got["replaces"]) == ("local", "compute_total", "comp"), got


# -- explain and the edit actions --------------------------------------------------------------

async def test_explain_comes_from_claude(connect, workspace, fake_anthropic):
    fake_anthropic.api_key = ANTHROPIC_KEY
    fake_anthropic.script(Reply.text(EXPLANATION, chunks=3))
    async with connect(workspace, keys_env(anthropic=fake_anthropic)) as s:
        texts = await s.ok("explain", {"path": "src/lib.rs", "start_line": 3, "end_line": 6,
                                       "instruction": "review it for overflow"})
        assert texts[0] == EXPLANATION
        assert "claude" in texts[1]
        body = fake_anthropic.generation_requests[0].json
        user = json.dumps(body["messages"])
        assert "let s = a + b;" in user and "review it for overflow" in user


async def test_refactor_returns_a_diff_and_applies_it_on_request(connect, workspace, fake_anthropic):
    fake_anthropic.api_key = ANTHROPIC_KEY
    fake_anthropic.script(Reply.text(ANSWER), Reply.text(ANSWER))
    lib = workspace / "src" / "lib.rs"
    async with connect(workspace, keys_env(anthropic=fake_anthropic)) as s:
        diff, summary = await s.ok("refactor", {"path": "src/lib.rs", "start_line": 3, "end_line": 6,
                                                "instruction": "drop the temporary"})
        assert "--- a/src/lib.rs" in diff and "+++ b/src/lib.rs" in diff
        assert "-    let s = a + b;" in diff and "+    a + b" in diff
        assert "not applied" in summary
        assert lib.read_text() == LIB
        assert "drop the temporary" in json.dumps(fake_anthropic.generation_requests[0].json["messages"])

        diff, summary = await s.ok("refactor", {"path": str(lib), "start_line": 3, "end_line": 6, "apply": True})
        assert "applied to src/lib.rs" in summary
        assert lib.read_text() == REFACTORED
        assert [p.name for p in lib.parent.iterdir()] == ["lib.rs"], "no temp file left"


async def test_fix_document_and_tests(connect, workspace, fake_anthropic):
    fake_anthropic.api_key = ANTHROPIC_KEY
    fake_anthropic.script(
        Reply.text("```python\ndef total(items):\n    return sum(items or [])\n```"),
        Reply.text('```python\ndef total(items):\n    """Sum of the items."""\n    return sum(items)\n```'),
        Reply.text("```python\nfrom cart import total\n\n\ndef test_total():\n    assert total([1, 2]) == 3\n```"),
    )
    async with connect(workspace, keys_env(anthropic=fake_anthropic)) as s:
        diff, _ = await s.ok("fix", {"path": "cart.py", "start_line": 1, "end_line": 2,
                                     "instruction": "total(None) raises TypeError"})
        assert "+    return sum(items or [])" in diff
        assert "total(None) raises TypeError" in json.dumps(fake_anthropic.generation_requests[0].json["messages"])
        diff, _ = await s.ok("document", {"path": "cart.py", "start_line": 1, "end_line": 2})
        assert '+    """Sum of the items."""' in diff
        diff, summary = await s.ok("tests", {"path": "cart.py", "start_line": 1, "end_line": 2, "apply": True})
        assert "+++ b/tests/test_cart.py" in diff and "applied to tests/test_cart.py" in summary
        assert "def test_total" in (workspace / "tests" / "test_cart.py").read_text()
        assert (workspace / "cart.py").read_text() == CART_PY, "document and fix were not applied"


# -- symbols and context (local, free) ----------------------------------------------------------

async def test_symbols_is_a_nested_outline(connect, workspace):
    async with connect(workspace) as s:
        r = await s.call("symbols", {"path": "src/lib.rs"})
        assert not r.is_error
        outline = r.structured_content
        assert outline == json.loads(r.content[0].text)
        assert outline["path"] == "src/lib.rs" and outline["language"] == "rust"
        shape = [(x["kind"], x["name"], x["start_line"], x["end_line"]) for x in outline["symbols"]]
        assert shape == [("function", "add", 3, 6), ("type", "Cart", 8, 10), ("impl", "Cart", 12, 16),
                         ("function", "sub", 18, 20)]
        (total,) = outline["symbols"][2]["children"]
        assert (total["kind"], total["name"], total["start_line"], total["end_line"]) == ("method", "total", 13, 15)
        assert outline["symbols"][1]["children"][0]["name"] == "items"


async def test_context_shows_the_prompt_and_sends_nothing(connect, workspace, fake_openai):
    fake_openai.api_key = OPENAI_KEY
    async with connect(workspace, keys_env(openai=fake_openai)) as s:
        (text,) = await s.ok("context", {"path": "src/lib.rs", "line": 19, "column": 5})
        for label in ("=== system", "=== context", "=== prefix", "=== suffix"):
            assert label in text, text
        assert "route inline: codex → local" in text
        assert "path: " in text and "fn add(a: i32, b: i32) -> i32 {" in text
        assert "nothing was sent" in text
        assert fake_openai.generation_requests == []


# -- errors: tool errors, and the server goes on ------------------------------------------------

async def test_paths_outside_the_workspace_are_refused(connect, workspace, tmp_path):
    (workspace / "link.rs").symlink_to(tmp_path / "outside.rs")
    async with connect(workspace) as s:
        for path in ("../outside.rs", str(tmp_path / "outside.rs"), "link.rs", "/etc/passwd", "src/../../outside.rs"):
            msg = await s.error("symbols", {"path": path})
            assert "outside the workspace" in msg, (path, msg)
        msg = await s.error("explain", {"path": "../outside.rs", "start_line": 1})
        assert "outside the workspace" in msg
        msg = await s.error("refactor", {"path": "link.rs", "start_line": 1, "apply": True})
        assert "outside the workspace" in msg
        assert (tmp_path / "outside.rs").read_text() == "fn secret() {}\n"
        assert "cannot read src/missing.rs" in await s.error("symbols", {"path": "src/missing.rs"})
        await s.ok("symbols", {"path": "src/lib.rs"})


async def test_missing_and_bad_arguments_are_tool_errors(connect, workspace):
    async with connect(workspace) as s:
        assert "missing arguments" in await s.error("complete", {})
        assert "`path`, `line` and `column`" in await s.error("complete", {"path": "src/lib.rs", "line": 3})
        assert "exactly one <CURSOR>" in await s.error("complete", {"code": "no marker", "language": "rust"})
        msg = await s.error("explain", {"path": "src/lib.rs"})
        assert "missing field `start_line`" in msg, msg
        assert "missing field `path`" in await s.error("symbols", {})
        assert "invalid type" in await s.error("context", {"path": "src/lib.rs", "line": "four", "column": 1})
        assert "past the end" in await s.error("context", {"path": "src/lib.rs", "line": 4, "column": 99})
        assert "1-based" in await s.error("context", {"path": "src/lib.rs", "line": 0, "column": 1})
        assert "has 20 lines" in await s.error("explain", {"path": "src/lib.rs", "start_line": 90})
        assert "must not be before" in await s.error("explain", {"path": "src/lib.rs", "start_line": 5,
                                                                 "end_line": 2})
        with pytest.raises(mcp.MCPError):
            await s.call("frobnicate", {})
        await s.ok("symbols", {"path": "src/lib.rs"})


async def test_failing_providers_are_tool_errors(connect, workspace, fake_anthropic):
    fake_anthropic.api_key = ANTHROPIC_KEY
    async with connect(workspace, {**keys_env(anthropic=fake_anthropic), "ANTHROPIC_API_KEY": "sk-ant-wrong"}) as s:
        msg = await s.error("explain", {"path": "src/lib.rs", "start_line": 3, "end_line": 6})
        assert "ANTHROPIC_API_KEY" in msg, msg
        await s.ok("symbols", {"path": "src/lib.rs"})
    async with connect(workspace) as s:  # no key, nothing listening
        msg = await s.error("refactor", {"path": "src/lib.rs", "start_line": 3, "end_line": 6})
        assert "claude" in msg and "cannot connect" in msg, msg
        # Completions still answer, from the workspace's symbols.
        (text,) = await s.ok("complete", {"code": "fn compute_total() {}\nfn main() { comp<CURSOR> }\n",
                                          "language": "rust"})
        assert json.loads(text)["provider"] == "local"


# -- keys -------------------------------------------------------------------------------------

async def test_no_key_in_any_message(connect, workspace, fake_openai, fake_anthropic):
    fakes_with_our_keys(fake_openai, fake_anthropic)
    fake_anthropic.script(Reply.text(EXPLANATION), Reply.text(ANSWER), Reply.status(401))
    async with connect(workspace, keys_env(fake_openai, fake_anthropic)) as s:
        await s.session.list_tools()
        await s.ok("complete", {"path": "src/lib.rs", "line": 19, "column": 5})
        await s.ok("explain", {"path": "src/lib.rs", "start_line": 3, "end_line": 6})
        await s.ok("refactor", {"path": "src/lib.rs", "start_line": 3, "end_line": 6})
        await s.error("fix", {"path": "src/lib.rs", "start_line": 3, "end_line": 6})
        await s.ok("context", {"path": "src/lib.rs", "line": 19, "column": 5})
        await s.ok("symbols", {"path": "src/lib.rs"})
    wire = s.wire_text()
    assert '"tools/call"' in wire and wire.count("\n") > 10, "the tee saw the conversation"
    for secret in (OPENAI_KEY, ANTHROPIC_KEY, "MCPSECRET"):
        assert secret not in wire
        assert secret not in s.stderr.read_text()
    assert all(json.loads(line) for line in wire.splitlines() if line.strip()), "newline-delimited JSON only"


async def test_root_flag_picks_the_workspace(connect, workspace, tmp_path):
    async with connect(tmp_path, args=["--root", str(workspace)]) as s:
        await s.ok("symbols", {"path": "src/lib.rs"})
        assert "outside the workspace" in await s.error("symbols", {"path": "../outside.rs"})
