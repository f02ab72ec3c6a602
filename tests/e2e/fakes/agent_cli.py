#!/usr/bin/env python3
"""A fake `claude` / `codex` CLI for the `claude-cli` and `codex-cli` providers (wire-protocols §6).

Run as `python3 agent_cli.py ARGS...`: `exec ...` speaks `codex exec --json`, anything else
`claude -p --output-format stream-json --verbose --include-partial-messages`. The prompt is read from
stdin, as the real CLIs do.

State lives in `$FAKE_AGENT_DIR` (the provider must list it in `pass_env`):
- `plan.json`: a list of replies, one per run (the last one repeats), each
  `{"text": ..., "chunks": N, "delay_ms": D}` or `{"api_error_status": 529, "text": "Overloaded"}` or
  `{"crash": "message on stderr"}`;
- `calls.jsonl`: one line per run: argv, stdin, cwd, the names of the environment variables it got;
- `signals.jsonl`: one line per SIGTERM received (the run number and when).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

DIR = Path(os.environ["FAKE_AGENT_DIR"])


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def chunks_of(text: str, n: int) -> list[str]:
    n = max(1, min(n, len(text) or 1))
    size = -(-len(text) // n)
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def main() -> int:
    argv = sys.argv[1:]
    prompt = sys.stdin.read()
    calls = DIR / "calls.jsonl"
    run = sum(1 for _ in calls.open()) if calls.exists() else 0
    with calls.open("a") as f:
        f.write(json.dumps({"argv": argv, "stdin": prompt, "cwd": os.getcwd(), "env": sorted(os.environ)}) + "\n")

    def on_term(_signum, _frame):
        with (DIR / "signals.jsonl").open("a") as f:
            f.write(json.dumps({"run": run, "at": time.time()}) + "\n")
        sys.exit(143)

    signal.signal(signal.SIGTERM, on_term)
    plan = json.loads((DIR / "plan.json").read_text())
    reply = plan[min(run, len(plan) - 1)]
    if "crash" in reply:
        sys.stderr.write(reply["crash"] + "\n")
        return 2
    text, delay = reply.get("text", ""), reply.get("delay_ms", 0) / 1000
    parts = chunks_of(text, reply.get("chunks", 1))
    if argv[:1] == ["exec"]:
        return codex(text, parts, delay)
    return claude(reply, text, parts, delay)


def claude(reply: dict, text: str, parts: list[str], delay: float) -> int:
    emit({"type": "system", "subtype": "init", "session_id": "fake", "tools": [], "model": "claude-sonnet-5-5",
          "permissionMode": "dontAsk", "apiKeySource": "none", "claude_code_version": "2.1.240"})
    if "api_error_status" in reply:
        emit({"type": "result", "subtype": "success", "is_error": True, "api_error_status": reply["api_error_status"],
              "result": text or "API Error", "duration_ms": 5, "num_turns": 1, "total_cost_usd": 0})
        return 1
    emit({"type": "stream_event", "event": {"type": "message_start", "message": {"id": "msg_fake", "role": "assistant"}}})
    emit({"type": "stream_event", "event": {"type": "content_block_start", "index": 0,
                                            "content_block": {"type": "text", "text": ""}}})
    for part in parts:
        time.sleep(delay)
        emit({"type": "stream_event", "event": {"type": "content_block_delta", "index": 0,
                                                "delta": {"type": "text_delta", "text": part}}})
    emit({"type": "stream_event", "event": {"type": "content_block_stop", "index": 0}})
    emit({"type": "assistant", "message": {"role": "assistant", "content": [{"type": "text", "text": text}]}})
    emit({"type": "result", "subtype": "success", "is_error": False, "result": text, "duration_ms": 20,
          "num_turns": 1, "total_cost_usd": 0.001, "stop_reason": "end_turn",
          "usage": {"input_tokens": 120, "cache_read_input_tokens": 30, "output_tokens": 45}})
    return 0


def codex(text: str, parts: list[str], delay: float) -> int:
    emit({"type": "thread.started", "thread_id": "fake"})
    emit({"type": "turn.started"})
    emit({"type": "item.completed", "item": {"id": "r0", "type": "reasoning", "text": "thinking"}})
    time.sleep(delay * len(parts))
    emit({"type": "item.completed", "item": {"id": "m0", "type": "agent_message", "text": text}})
    emit({"type": "turn.completed", "usage": {"input_tokens": 100, "cached_input_tokens": 10, "output_tokens": 40}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
