#!/usr/bin/env python3
"""A stand-in for the switchboard language server, to check the editor harnesses themselves.

Not a test of the server: `run.sh --stub` runs the editor tests against this instead of the real
binary, so a failure there is on the editor side. It speaks the same protocol the plugins expect:
inlineCompletion ("a + b" minus what was typed), completion, codeAction + resolve ("Switchboard: Refactor"
edits the function, "Switchboard: Explain" runs switchboard.runAction, which streams
`switchboard/explanation`), executeCommand (switchboard.doctor/stats/accept/runAction) and
`switchboard/status`.

Usage: stub_server.py            (LSP on stdio)
       stub_server.py --tcp PORT (LSP on 127.0.0.1:PORT, one client at a time)
"""

import json
import socket
import sys
import threading
import time

COMPLETION = "a + b"
REFACTORED = ["fn add(lhs: i32, rhs: i32) -> i32 {", "    lhs + rhs", "}"]
EXPLANATION = "## What it does\n\n`add` returns the sum of `a` and `b`; use `a.checked_add(b)` to catch overflow.\n"


class Conn:
    def __init__(self, rfile, wfile):
        self.r, self.w = rfile, wfile
        self.lock = threading.Lock()
        self.docs = {}
        self.next_id = 1000

    def send(self, msg):
        msg["jsonrpc"] = "2.0"
        data = json.dumps(msg).encode()
        with self.lock:
            self.w.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
            self.w.flush()

    def notify(self, method, params):
        self.send({"method": method, "params": params})

    def read(self):
        headers = {}
        while True:
            line = self.r.readline()
            if not line:
                return None
            line = line.strip()
            if not line:
                break
            k, _, v = line.decode().partition(":")
            headers[k.lower()] = v.strip()
        return json.loads(self.r.read(int(headers["content-length"])))

    def serve(self):
        while True:
            msg = self.read()
            if msg is None:
                return
            method, params, mid = msg.get("method"), msg.get("params") or {}, msg.get("id")
            sys.stderr.write("stub: <- %s\n" % method)
            if method is None:
                continue  # a response to one of our requests
            try:
                result = self.dispatch(method, params)
            except Exception as e:  # noqa: BLE001
                sys.stderr.write("stub: %s failed: %r\n" % (method, e))
                if mid is not None:
                    self.send({"id": mid, "error": {"code": -32603, "message": str(e)}})
                continue
            if mid is not None:
                self.send({"id": mid, "result": result})
            if method == "exit":
                return

    # -- LSP ----------------------------------------------------------------------------------
    def dispatch(self, method, p):
        if method == "initialize":
            self.client_caps = p.get("capabilities", {})
            sys.stderr.write("stub: experimental caps: %s\n" % json.dumps(self.client_caps.get("experimental")))
            return {"capabilities": {
                "positionEncoding": "utf-16", "textDocumentSync": 1,
                "inlineCompletionProvider": True,
                "completionProvider": {"triggerCharacters": ["."]},
                "codeActionProvider": {"resolveProvider": True, "codeActionKinds": ["refactor.rewrite", "quickfix", "source"]},
                "executeCommandProvider": {"commands": ["switchboard.accept", "switchboard.runAction",
                                                        "switchboard.doctor", "switchboard.stats"]}},
                "serverInfo": {"name": "switchboard-stub", "version": "0"}}
        if method in ("textDocument/didOpen", "textDocument/didChange"):
            td = p["textDocument"]
            text = td.get("text") if method.endswith("didOpen") else p["contentChanges"][-1]["text"]
            self.docs[td["uri"]] = {"text": text, "version": td.get("version", 0)}
            return None
        if method == "textDocument/inlineCompletion":
            line = self.line(p)
            typed = line[: p["position"]["character"]].lstrip()
            sys.stderr.write("stub: inline at %s line %r ctx %s\n" % (p["position"], line, json.dumps(p.get("context"))))
            if not COMPLETION.startswith(typed):
                return {"items": []}
            self.notify("switchboard/status", {"task": "inline", "provider": "codex", "model": "stub", "latencyMs": 42})
            # An explicit range: without one VS Code replaces the word at the cursor.
            pos = p["position"]
            rng = {"start": {"line": pos["line"], "character": pos["character"] - len(typed)}, "end": pos}
            return {"items": [{"insertText": COMPLETION, "range": rng,
                               "command": {"title": "accept", "command": "switchboard.accept", "arguments": ["x"]}}]}
        if method == "textDocument/completion":
            return {"isIncomplete": False, "items": [{"label": "a + b", "kind": 1}]}
        if method == "textDocument/codeAction":
            uri = p["textDocument"]["uri"]
            return [{"title": "Switchboard: " + t, "kind": k, "data": {"uri": uri, "action": t}}
                    for t, k in (("Explain", "refactor"), ("Refactor", "refactor.rewrite"))]
        if method == "codeAction/resolve":
            d = p["data"]
            if d["action"] == "Refactor":
                doc = self.docs[d["uri"]]
                lines = doc["text"].split("\n")
                start = next(i for i, l in enumerate(lines) if l.startswith("fn add"))
                end = next(i for i in range(start, len(lines)) if lines[i].startswith("}"))
                p["edit"] = {"documentChanges": [{"textDocument": {"uri": d["uri"], "version": doc["version"]}, "edits": [
                    {"range": {"start": {"line": start, "character": 0}, "end": {"line": end, "character": 1}},
                     "newText": "\n".join(REFACTORED)}]}]}
            else:
                p["command"] = {"title": "Explain", "command": "switchboard.runAction", "arguments": [d]}
            return p
        if method == "workspace/executeCommand":
            cmd = p["command"]
            if cmd == "switchboard.doctor":
                return "switchboard-stub doctor: all good"
            if cmd == "switchboard.stats":
                return "no stats"
            if cmd == "switchboard.runAction":
                threading.Thread(target=self.stream_explanation, daemon=True).start()
                return None
            return None
        if method == "shutdown":
            return None
        return None

    def line(self, p):
        text = self.docs.get(p["textDocument"]["uri"], {}).get("text", "")
        lines = text.split("\n")
        n = p["position"]["line"]
        return lines[n] if n < len(lines) else ""

    def stream_explanation(self):
        words = EXPLANATION.split(" ")
        for i, w in enumerate(words):
            time.sleep(0.02)
            self.notify("switchboard/explanation", {"id": "e1", "title": "Switchboard: Explain add",
                                                     "delta": w + (" " if i < len(words) - 1 else ""), "done": False})
        self.notify("switchboard/explanation", {"id": "e1", "title": "Switchboard: Explain add", "delta": "", "done": True})


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--tcp":
        srv = socket.create_server(("127.0.0.1", int(sys.argv[2])))
        while True:
            c, _ = srv.accept()
            threading.Thread(target=lambda c=c: Conn(c.makefile("rb"), c.makefile("wb")).serve(), daemon=True).start()
    Conn(sys.stdin.buffer, sys.stdout.buffer).serve()


if __name__ == "__main__":
    main()
