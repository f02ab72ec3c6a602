"""Issue 2, item 1: the initialize handshake (position-encoding negotiation, advertised
capabilities) and a clean shutdown/exit, with real client profiles."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import time

import pytest
from lsprotocol import types

from harness.env import clean_env
from harness.session import Session


@pytest.mark.parametrize("offered,expected", [
    (["utf-8", "utf-16", "utf-32"], "utf-8"),
    (["utf-16", "utf-8"], "utf-8"),
    (["utf-16"], "utf-16"),
    (["utf-32"], "utf-32"),
    (["utf-32", "utf-16"], "utf-16"),
    ([], "utf-16"),
    (None, "utf-16"),
])
async def test_position_encoding_negotiation(launch, offered, expected):
    s = await launch(profile="neovim", encodings=offered)
    enc = s.result.capabilities.position_encoding
    assert (str(getattr(enc, "value", enc)) if enc is not None else "utf-16") == expected
    if offered:  # a client that offered encodings must be told which one was picked
        assert enc is not None


@pytest.mark.parametrize("profile,expected", [("neovim", "utf-8"), ("visual-studio-code", "utf-16")])
async def test_profiles_get_their_encoding(launch, profile, expected):
    s = await launch(profile=profile)
    assert s.encoding == expected


async def test_capabilities(lsp: Session):
    caps = lsp.result.capabilities
    sync = caps.text_document_sync
    if isinstance(sync, types.TextDocumentSyncOptions):
        assert sync.change == types.TextDocumentSyncKind.Incremental
        assert sync.open_close is True
    else:
        assert sync == types.TextDocumentSyncKind.Incremental
    assert caps.inline_completion_provider not in (None, False)
    assert caps.completion_provider is not None
    cap = caps.code_action_provider
    assert isinstance(cap, types.CodeActionOptions) and cap.resolve_provider is True
    assert caps.execute_command_provider is not None
    assert "switchboard.accept" in caps.execute_command_provider.commands
    assert lsp.result.server_info is None or lsp.result.server_info.name.lower().startswith("switchboard")


async def test_shutdown_and_exit_code_zero(lsp: Session):
    assert await lsp.shutdown() == 0


async def test_serve_subcommand_and_stdio_flag(launch):
    for args in (["serve"], ["--stdio"], ["serve", "--stdio"]):
        s = await launch(profile="neovim", args=args)
        assert s.result.capabilities.inline_completion_provider not in (None, False)
        assert await s.shutdown() == 0


def _frame(obj: dict) -> bytes:
    body = json.dumps(obj).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


HANDSHAKE = [
    {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}, "rootUri": None}},
    {"jsonrpc": "2.0", "method": "initialized", "params": {}},
    {"jsonrpc": "2.0", "id": 2, "method": "shutdown"},
    {"jsonrpc": "2.0", "method": "exit"},
]


def _answers(raw: bytes) -> dict:
    out, rest = {}, raw
    while b"\r\n\r\n" in rest:
        head, rest = rest.split(b"\r\n\r\n", 1)
        n = int(head.split(b":")[1])
        if len(rest) < n:
            break
        msg = json.loads(rest[:n])
        rest = rest[n:]
        if "id" in msg and "method" not in msg:
            out[msg["id"]] = msg
    return out


def _read_until_answered(sock: socket.socket, raw: bytes, msg_id: int) -> bytes:
    while msg_id not in _answers(raw):
        chunk = sock.recv(65536)
        if not chunk:
            break
        raw += chunk
    return raw


def test_stdio_is_left_blocking_as_it_was_found(switchboard_bin, tmp_path):
    """The server polls pipes in non-blocking mode, which belongs to the open file: after `exit`
    the pipes it shared with its parent (a shell pipeline, an editor) are blocking again."""
    for d in ("home", "xdg"):
        (tmp_path / d).mkdir()
    env = clean_env(tmp_path / "home", tmp_path / "xdg")
    r_in, w_in = os.pipe()
    r_out, w_out = os.pipe()
    with open(tmp_path / "stderr.log", "wb") as stderr:
        proc = subprocess.Popen([str(switchboard_bin)], stdin=r_in, stdout=w_out, stderr=stderr, env=env,
                                cwd=tmp_path)
    try:
        raw = b""
        for step, answered in ((HANDSHAKE[:1], 1), (HANDSHAKE[1:3], 2)):
            os.write(w_in, b"".join(_frame(m) for m in step))
            deadline = time.monotonic() + 20
            while answered not in _answers(raw):
                ready, _, _ = select.select([r_out], [], [], max(0.0, deadline - time.monotonic()))
                assert ready, f"no answer to request {answered}"
                raw += os.read(r_out, 65536)
        assert not os.get_blocking(r_in) and not os.get_blocking(w_out), "polled while in use"
        os.write(w_in, _frame(HANDSHAKE[3]))
        assert proc.wait(timeout=20) == 0
        assert os.get_blocking(r_in), "stdin's pipe is blocking again"
        assert os.get_blocking(w_out), "stdout's pipe is blocking again"
    finally:
        proc.kill()
        for fd in (r_in, w_in, r_out, w_out):
            os.close(fd)


@pytest.mark.parametrize("kind", ["socketpair", "file-and-pipe"])
def test_stdio_as_editors_wire_it(switchboard_bin, tmp_path, kind):
    """libuv (Neovim, VS Code's Node) hands a language server Unix socket pairs, Rust's Command
    pipes, a shell a file; each is served and ends as LSP says."""
    for d in ("home", "xdg"):
        (tmp_path / d).mkdir()
    env = clean_env(tmp_path / "home", tmp_path / "xdg")
    stderr = open(tmp_path / "stderr.log", "wb")
    log = lambda: (tmp_path / "stderr.log").read_text(errors="replace")  # noqa: E731
    if kind == "socketpair":
        ours_in, theirs_in = socket.socketpair()
        ours_out, theirs_out = socket.socketpair()
        proc = subprocess.Popen([str(switchboard_bin)], stdin=theirs_in.fileno(), stdout=theirs_out.fileno(),
                                stderr=stderr, env=env, cwd=tmp_path)
        theirs_in.close()
        theirs_out.close()
        ours_out.settimeout(20)
        # As a client does: each step once the one before is answered.
        ours_in.sendall(_frame(HANDSHAKE[0]))
        raw = _read_until_answered(ours_out, b"", 1)
        ours_in.sendall(_frame(HANDSHAKE[1]) + _frame(HANDSHAKE[2]))
        raw = _read_until_answered(ours_out, raw, 2)
        ours_in.sendall(_frame(HANDSHAKE[3]))
        while chunk := ours_out.recv(65536):
            raw += chunk
        assert proc.wait(timeout=20) == 0, log()
    else:
        # A file cannot wait for answers: `initialize`, then end of input.
        script = tmp_path / "input.bin"
        script.write_bytes(_frame(HANDSHAKE[0]))
        with open(script, "rb") as stdin:
            proc = subprocess.Popen([str(switchboard_bin)], stdin=stdin, stdout=subprocess.PIPE, stderr=stderr,
                                    env=env, cwd=tmp_path)
            raw, _ = proc.communicate(timeout=20)
        assert proc.wait(timeout=20) == 1, log()  # end of input without `exit`
    answers = _answers(raw)
    assert answers[1]["result"]["capabilities"]["inlineCompletionProvider"], (answers, log())
    if kind == "socketpair":
        assert answers[2].get("result", "missing") is None, answers[2]
        assert "stdin is a socket, polled when ready" in log() and "stdout is a socket" in log()
    else:
        assert "stdin is on the blocking pool" in log() and "stdout is a pipe, polled" in log()
