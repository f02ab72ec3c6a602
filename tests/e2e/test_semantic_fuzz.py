"""Seeded semantic fuzzing over stdio: well-framed messages for every method the server knows,
with hostile contents (wrong types, huge and negative numbers, positions past the text, lone
surrogates, deep nesting, binary and 200 KB texts, planted secrets), while both fake upstreams
answer with random faults (error statuses, errors and resets mid-stream, stalls, hangs, endless
bodies). The server must stay up, answer every request under its own id, and send no planted
secret upstream.

`SWITCHBOARD_FUZZ_SECONDS` (default 4) and `SWITCHBOARD_FUZZ_SEEDS` (default "1,2") make a longer
run: `SWITCHBOARD_FUZZ_SECONDS=60 SWITCHBOARD_FUZZ_SEEDS=11,12,13 pytest tests/e2e/test_semantic_fuzz.py`.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import time

import pytest

from fakes import Reply
from harness.env import clean_env

SECONDS = float(os.environ.get("SWITCHBOARD_FUZZ_SECONDS", "4"))
SEEDS = [int(s) for s in os.environ.get("SWITCHBOARD_FUZZ_SEEDS", "1,2").split(",") if s.strip()]

SECRETS = ["ghp_" + "Q7x" * 12, "AKIAIOSFODNN7FUZZKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYFUZZKEYAB",
           "npm_" + "Zq4" * 12, "sk-proj-" + "Fz9" * 14]
WEIRD_STR = ["", "\u0000", "\ud800", "é", "😀" * 50, "a" * 100_000, "\r\n" * 1000, "\r", "{{{{" * 500,
             "def f(:\n", "../../etc/passwd", "file:///etc/passwd"]
WEIRD_NUM = [0, -1, 1, 2**31 - 1, 2**31, 2**32, 2**53, -2**53, 2**64, 1.5, 1e308, -0.0]
URIS = ["file:///ws/a.rs", "file:///ws/b.py", "file:///ws/c.ts", "untitled:Untitled-1", "file:///ws/%E2%82%AC.go",
        "file:///ws/.env", "http://x/y", "notauri", "", "file:///ws/z.txt", "file://host/share/x.rs"]
LANGS = ["rust", "python", "typescript", "javascript", "go", "plaintext", "", "🦀", None]
TEXTS = ["fn main() {\n    let x = 1;\n    x.\n}\n", "def f(a, b):\n    return a +\n", "const x = {a: 1,\n",
         "é\n😀x\n", "a" * 200_000, ("x" * 5000 + "\n") * 20, "\x00\x01binary\xff", "", "\n" * 5000,
         "".join(f'KEY_{i} = connect("{s}")\n' for i, s in enumerate(SECRETS))]
DEEP = "__DEEP_{}__"


class Fuzzer:
    def __init__(self, seed: int):
        self.r = random.Random(seed)
        self.versions: dict[str, int] = {}

    def weird(self):
        r, c = self.r, self.r.random()
        if c < 0.2:
            return r.choice(WEIRD_STR)
        if c < 0.4:
            return r.choice(WEIRD_NUM)
        if c < 0.5:
            return None
        if c < 0.6:
            return [self.weird() for _ in range(r.randint(0, 3))]
        if c < 0.7:
            return {r.choice(["uri", "line", "character", "text"]): self.weird()}
        if c < 0.75:
            return DEEP.format(r.randint(10, 3000))
        return r.choice([True, False, "x", 1])

    def pos(self):
        if self.r.random() < 0.7:
            return {"line": self.r.randint(0, 30), "character": self.r.randint(0, 40)}
        return {"line": self.weird(), "character": self.weird()}

    def rng(self):
        return {"start": self.pos(), "end": self.pos()} if self.r.random() < 0.8 else self.weird()

    def mutate(self, obj, p=0.08):
        if self.r.random() < p:
            return self.weird()
        if isinstance(obj, dict):
            return {k: self.mutate(v, p) for k, v in obj.items() if self.r.random() > p / 2}
        if isinstance(obj, list):
            return [self.mutate(v, p) for v in obj]
        return obj

    def reply(self) -> Reply:
        r = self.r
        k = r.randint(0, 10)
        if k == 0:
            return Reply.status(r.choice([400, 401, 429, 500, 503, 529]), retry_after=r.choice([None, 0, 1, "x"]))
        if k == 1:
            return Reply.error_mid_stream(shape=r.choice(["flat", "nested", "failed"]), after_chunks=r.randint(0, 3))
        if k == 2:
            return Reply.close_mid_stream(after_chunks=r.randint(0, 3))
        if k == 3:
            return Reply.stall_mid_stream()
        if k == 4:
            return Reply.endless(delay_ms=r.choice([0, 5, 100]), text=r.choice(["x ", ""]))
        if k == 5:
            return Reply.endless_body()
        if k == 6:
            return Reply.hang()
        if k == 7:
            return Reply.json(r.choice([200, 500]), r.choice([None, [], {"a": 1}, "x" * 1000]))
        return Reply.text(r.choice(["a + b", "", "x" * 50_000, "fn x() {}\n" * 200, "é" * 500]),
                          delay_ms=r.choice([0, 1, 20]), split_writes=r.random() < 0.5)

    def message(self) -> tuple[bool, str, object]:
        """(is a request, method, params)."""
        r = self.r
        uri = r.choice(URIS)
        doc = {"uri": uri}
        v = self.versions.get(uri, 0) + r.choice([1, 1, 1, 0, -1, 100])
        self.versions[uri] = v
        m = r.choice(["open", "change", "change", "inline", "inline", "completion", "close", "action",
                      "resolve", "exec", "cfg", "cancel", "text", "folders", "watched", "symbols", "unknown"])
        if m == "open":
            return False, "textDocument/didOpen", {"textDocument": {
                "uri": uri, "languageId": r.choice(LANGS), "version": v, "text": r.choice(TEXTS)}}
        if m == "change":
            changes = [{"text": r.choice(TEXTS)} if r.random() < 0.15 else
                       {"range": self.rng(), "text": r.choice(["a", ".", "\n", "é", "😀", "", "\r\n", "}"])}
                       for _ in range(r.randint(1, 4))]
            return False, "textDocument/didChange", {"textDocument": {"uri": uri, "version": v}, "contentChanges": changes}
        if m == "inline":
            return True, "textDocument/inlineCompletion", {"textDocument": doc, "position": self.pos(),
                                                          "context": {"triggerKind": r.choice([1, 2, 0, "x"])}}
        if m == "completion":
            return True, "textDocument/completion", {"textDocument": doc, "position": self.pos()}
        if m == "close":
            return False, "textDocument/didClose", {"textDocument": doc}
        if m == "action":
            return True, "textDocument/codeAction", {"textDocument": doc, "range": self.rng(), "context": {
                "diagnostics": [], "only": r.choice([None, ["refactor"], ["quickfix"], [""]])}}
        if m == "resolve":
            return True, "codeAction/resolve", {"title": "x", "data": self.weird()}
        if m == "exec":
            return True, "workspace/executeCommand", {
                "command": r.choice(["switchboard.accept", "switchboard.runAction", "switchboard.stats", "nope"]),
                "arguments": r.choice([None, [], [self.weird()], [{"uri": uri, "range": self.rng(), "action": "explain"}]])}
        if m == "cfg":
            return False, "workspace/didChangeConfiguration", {"settings": r.choice([None, {}, {"switchboard": self.weird()}])}
        if m == "cancel":
            return False, "$/cancelRequest", {"id": r.choice([self.weird(), r.randint(0, 200)])}
        if m == "text":
            return True, "switchboard/documentText", {"textDocument": doc}
        if m == "folders":
            return False, "workspace/didChangeWorkspaceFolders", {"event": {
                "added": [{"uri": r.choice(URIS), "name": "x"}], "removed": []}}
        if m == "watched":
            return False, "workspace/didChangeWatchedFiles", {"changes": [{"uri": r.choice(URIS), "type": self.weird()}]}
        if m == "symbols":
            return True, "textDocument/documentSymbol", {"textDocument": doc}
        return r.random() < 0.5, r.choice(["foo/bar", "$/x", "textDocument/hover"]), self.weird()


def encode(obj) -> bytes:
    text = json.dumps(obj)
    text = re.sub(r'"__DEEP_(\d+)__"', lambda m: "[" * int(m.group(1)) + "]" * int(m.group(1)), text)
    body = text.encode("utf-8", "surrogatepass")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


@pytest.mark.parametrize("seed", SEEDS)
async def test_hostile_contents_and_failing_upstreams(switchboard_bin, tmp_path, fake_openai, fake_anthropic, seed):
    fz = Fuzzer(seed)
    ws, home, xdg = tmp_path / "ws", tmp_path / "home", tmp_path / "xdg"
    for d in (ws, home, xdg):
        d.mkdir()
    (ws / "a.rs").write_text("fn helper(x: i32) -> i32 { x }\n")
    # An action against a hanging upstream would wait minutes by default: cut every call at 2 s.
    (xdg / "switchboard").mkdir()
    (xdg / "switchboard" / "config.toml").write_text(
        "[providers.codex.inline_timeouts]\ntotal_ms = 2000\n[providers.claude.action_timeouts]\ntotal_ms = 2000\n")
    env = clean_env(home, xdg, {"OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": fake_openai.api_key,
                                "ANTHROPIC_BASE_URL": fake_anthropic.base_url, "ANTHROPIC_API_KEY": fake_anthropic.api_key})
    log = tmp_path / "server.log"
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(str(switchboard_bin), stdin=asyncio.subprocess.PIPE,
                                                    stdout=asyncio.subprocess.PIPE, stderr=err, env=env, cwd=ws)
    pending: dict[object, str] = {}

    def send(obj) -> None:
        assert proc.stdin is not None
        proc.stdin.write(encode(obj))

    async def read() -> None:
        assert proc.stdout is not None
        while True:
            line = await proc.stdout.readline()
            if not line:
                return
            if not line.lower().startswith(b"content-length"):
                continue
            n = int(line.split(b":")[1])
            while (await proc.stdout.readline()) not in (b"\r\n", b""):
                pass
            msg = json.loads(await proc.stdout.readexactly(n))
            if "method" in msg and "id" in msg:  # a request of the server's own: answer it
                send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
            elif "id" in msg:
                pending.pop(msg["id"], None)

    reader = asyncio.create_task(read())
    try:
        send({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": {
            "processId": None, "rootUri": ws.as_uri(), "workspaceFolders": [{"uri": ws.as_uri(), "name": "ws"}],
            "capabilities": {"textDocument": {"inlineCompletion": {}}, "window": {"workDoneProgress": True}}}})
        pending["init"] = "initialize"
        for _ in range(100):
            if "init" not in pending:
                break
            await asyncio.sleep(0.05)
        send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        next_id, sent, began = 1, 0, time.monotonic()
        while time.monotonic() - began < SECONDS:
            if fz.r.random() < 0.2:
                fz.r.choice([fake_openai, fake_anthropic]).script(fz.reply())
            is_request, method, params = fz.message()
            obj: dict[str, object] = {"jsonrpc": "2.0", "method": method}
            params = fz.mutate(params)
            if params is not None or fz.r.random() < 0.5:
                obj["params"] = params
            if is_request:
                obj["id"] = next_id
                pending[next_id] = method
                next_id += 1
            send(obj)
            await proc.stdin.drain()
            sent += 1
            await asyncio.sleep(fz.r.choice([0, 0, 0.001, 0.01]))
        send({"jsonrpc": "2.0", "id": "probe", "method": "switchboard/documentText",
              "params": {"textDocument": {"uri": "file:///nowhere.rs"}}})
        pending["probe"] = "probe"
        await proc.stdin.drain()
        # Everything is answered: at once, or when a stalled upstream times out (inline 4 s).
        deadline = time.monotonic() + 20
        while pending and time.monotonic() < deadline and proc.returncode is None:
            await asyncio.sleep(0.1)
        tail = log.read_text(errors="replace")[-3000:]
        assert proc.returncode is None, f"the server exited ({proc.returncode}) after {sent} messages:\n{tail}"
        assert not pending, f"{len(pending)} of {next_id} requests never answered, e.g. {list(pending.items())[:5]}"
        assert "panicked" not in log.read_text(errors="replace"), tail
        for fake in (fake_openai, fake_anthropic):
            for req in fake.requests:
                for secret in SECRETS:
                    assert secret.encode() not in req.body, f"a planted secret reached {req.path}"
    finally:
        reader.cancel()
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
