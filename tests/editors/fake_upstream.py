#!/usr/bin/env python3
"""A minimal fake OpenAI (Responses) + Anthropic (Messages) server for the real-editor tests.

Stand-alone (standard library only), so the editor tests need nothing from tests/e2e. It serves:

  GET  /health                 -> 200 "ok"
  GET  /v1/models              -> a model list (both providers' shapes are close enough for doctor checks)
  POST /v1/responses           -> SSE stream of FAKE_COMPLETION (default "a + b"), per the Responses API
  POST /v1/chat/completions    -> SSE stream of FAKE_COMPLETION, per Chat Completions
  POST /v1/messages            -> SSE stream (or JSON) whose text depends on the task found in the prompt:
                                  refactor -> prose + a fenced block with REFACTORED_RUST
                                  explain (default) -> EXPLANATION, split into several deltas

Every request is appended (body, no headers) to --record FILE as one JSON line.
"""

import argparse
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import os

COMPLETION = os.environ.get("FAKE_COMPLETION", "a + b")
REFACTORED_RUST = "fn add(lhs: i32, rhs: i32) -> i32 {\n    lhs + rhs\n}"
REFACTORED_PY = "def add(lhs, rhs):\n    return lhs + rhs"
# A realistic answer (it shows in the README's screenshots); the editor tests look for MARKER in it.
EXPLANATION = (
    "## What it does\n\n"
    "`add` returns the sum of `a` and `b` as an `i32`; `main` calls it with `1` and `2` and prints `3`.\n\n"
    "## Worth knowing\n\n"
    "- `a + b` panics on overflow in debug builds and wraps in release builds. If the inputs can be large, "
    "say which you want: `a.checked_add(b)` returns `None` on overflow, `a.wrapping_add(b)` wraps.\n"
    "- It has no side effects, so it can be a `const fn` and be evaluated at compile time.\n"
)
EXPLANATION_MARKER = "checked_add"
CURSOR_MARKERS = ("<CURSOR>", "<|cursor|>", "{{CURSOR}}", "<FILL_HERE>", "{{FILL_HERE}}", "<FILL>", "<HOLE>",
                  "<|fim_middle|>", "<fim_middle>")

LOCK = threading.Lock()
RECORD = None


def prompt_text(body):
    """All human-readable text of a request body, flattened."""
    out = []

    def walk(v):
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for k, x in v.items():
                if k in ("model", "role", "type"):
                    continue
                walk(x)

    for key in ("instructions", "system", "input", "messages", "prompt"):
        walk(body.get(key))
    return "\n".join(out)


def completion_for(body):
    """FAKE_COMPLETION, minus what the user already typed on the cursor's line when we can see it."""
    text = prompt_text(body)
    for marker in CURSOR_MARKERS:
        i = text.find(marker)
        if i >= 0:
            line = text[:i].rsplit("\n", 1)[-1].lstrip()
            if line and COMPLETION.startswith(line):
                return COMPLETION[len(line):]
            break
    return COMPLETION


def last_user_text(body):
    msgs = body.get("messages") or []
    for m in reversed(msgs):
        if m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, str):
                return c
            return "\n".join(p.get("text", "") for p in c if isinstance(p, dict))
    return ""


def action_reply(body):
    forced = os.environ.get("FAKE_ACTION")
    task = forced
    if not task:
        user = last_user_text(body).lower()
        allt = prompt_text(body).lower()
        for hay in (user, allt):
            pos = {t: hay.find(t) for t in ("refactor", "explain") if t in hay}
            if pos:
                task = min(pos, key=pos.get)
                break
    if task == "refactor":
        code = REFACTORED_PY if ("python" in prompt_text(body).lower() and "fn add" not in prompt_text(body)) \
            else REFACTORED_RUST
        lang = "python" if code is REFACTORED_PY else "rust"
        return ["Here is the refactored code, with clearer names:\n\n", f"```{lang}\n", code + "\n", "```\n"]
    words = re.split(r"(\s+)", EXPLANATION)
    chunks, cur = [], ""
    for w in words:
        cur += w
        if len(cur) > 12:
            chunks.append(cur)
            cur = ""
    if cur:
        chunks.append(cur)
    return chunks


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        sys.stderr.write("fake: " + (fmt % args) + "\n")

    def _send(self, code, payload, ctype="application/json"):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", "req_fake")
        self.send_header("request-id", "req_fake")
        self.end_headers()
        self.wfile.write(data)

    def _sse_start(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.send_header("x-request-id", "req_fake")
        self.end_headers()
        self.close_connection = True

    def _event(self, name, data):
        try:
            msg = (f"event: {name}\n" if name else "") + "data: " + (data if isinstance(data, str) else json.dumps(data)) + "\n\n"
            self.wfile.write(msg.encode())
            self.wfile.flush()
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def do_GET(self):
        if self.path.rstrip("/") in ("/health", "/healthz"):
            return self._send(200, b"ok", "text/plain")
        if self.path.startswith("/v1/models"):
            models = ["gpt-6-luna", "gpt-5.4-mini", "gpt-5.3-codex", "claude-sonnet-5-5", "claude-opus-5", "claude-haiku-5-5"]
            return self._send(200, {"object": "list", "data": [
                {"id": m, "object": "model", "type": "model", "display_name": m, "created": 0, "owned_by": "fake"}
                for m in models], "has_more": False, "first_id": models[0], "last_id": models[-1]})
        self._send(404, {"error": {"type": "not_found", "message": self.path}})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b"{}"
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self._send(400, {"error": {"type": "invalid_request_error", "message": "bad json"}})
        if RECORD:
            with LOCK, open(RECORD, "a") as f:
                f.write(json.dumps({"t": time.time(), "path": self.path, "body": body}) + "\n")
        path = self.path.split("?")[0].rstrip("/")
        if path.endswith("/responses"):
            return self.openai_responses(body)
        if path.endswith("/chat/completions"):
            return self.openai_chat(body)
        if path.endswith("/messages"):
            return self.anthropic_messages(body)
        self._send(404, {"error": {"type": "not_found", "message": self.path}})

    def openai_responses(self, body):
        text = completion_for(body)
        model = body.get("model", "gpt-6-luna")
        resp = {"id": "resp_fake", "object": "response", "status": "in_progress", "model": model, "output": [],
                "usage": None, "error": None, "incomplete_details": None}
        item = {"id": "msg_fake", "type": "message", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": text}]}
        usage = {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 3,
                 "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 103}
        if not body.get("stream"):
            return self._send(200, dict(resp, status="completed", output=[item], usage=usage))
        self._sse_start()
        seq = iter(range(1000))
        ev = [("response.created", {"response": resp}), ("response.in_progress", {"response": resp}),
              ("response.output_item.added", {"output_index": 0, "item": dict(item, status="in_progress", content=[])}),
              ("response.content_part.added", {"item_id": "msg_fake", "output_index": 0, "content_index": 0,
                                                "part": {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}})]
        pieces = [text[i:i + 2] for i in range(0, len(text), 2)] or [""]
        ev += [("response.output_text.delta", {"item_id": "msg_fake", "output_index": 0, "content_index": 0,
                                               "delta": p, "logprobs": []}) for p in pieces]
        ev += [("response.output_text.done", {"item_id": "msg_fake", "output_index": 0, "content_index": 0,
                                              "text": text, "logprobs": []}),
               ("response.content_part.done", {"item_id": "msg_fake", "output_index": 0, "content_index": 0,
                                               "part": item["content"][0]}),
               ("response.output_item.done", {"output_index": 0, "item": item}),
               ("response.completed", {"response": dict(resp, status="completed", output=[item], usage=usage)})]
        for name, data in ev:
            if not self._event(name, dict({"type": name, "sequence_number": next(seq)}, **data)):
                return

    def openai_chat(self, body):
        text = completion_for(body)
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": body.get("model", "x")}
        if not body.get("stream"):
            return self._send(200, {"id": "chatcmpl-fake", "object": "chat.completion", "model": base["model"],
                                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                                 "finish_reason": "stop"}]})
        self._sse_start()
        self._event(None, dict(base, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}}]))
        self._event(None, dict(base, choices=[{"index": 0, "delta": {"content": text}}]))
        self._event(None, dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]))
        self._event(None, "[DONE]")

    def anthropic_messages(self, body):
        chunks = action_reply(body)
        model = body.get("model", "claude-sonnet-5-5")
        full = "".join(chunks)
        if not body.get("stream"):
            return self._send(200, {"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
                                    "content": [{"type": "text", "text": full}], "stop_reason": "end_turn",
                                    "stop_sequence": None, "usage": {"input_tokens": 200, "output_tokens": 40}})
        self._sse_start()
        delay = float(os.environ.get("FAKE_CHUNK_DELAY", "0.03"))
        self._event("message_start", {"type": "message_start", "message": {
            "id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 200, "output_tokens": 1}}})
        self._event("content_block_start", {"type": "content_block_start", "index": 0,
                                            "content_block": {"type": "text", "text": ""}})
        self._event("ping", {"type": "ping"})
        for c in chunks:
            if not self._event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                       "delta": {"type": "text_delta", "text": c}}):
                return
            time.sleep(delay)
        self._event("content_block_stop", {"type": "content_block_stop", "index": 0})
        self._event("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                      "usage": {"output_tokens": 40}})
        self._event("message_stop", {"type": "message_stop"})


def main():
    global RECORD
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--record")
    a = ap.parse_args()
    RECORD = a.record
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    print(f"fake upstream listening on 127.0.0.1:{srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
