"""A small LSP client over raw bytes, outside pytest-lsp, for malformed-frame tests.

`RawLsp` spawns the binary, writes whatever bytes a test wants (`send_bytes`), frames JSON with
Content-Length (`send`, `request`, `notify`), and reads frames strictly: anything on stdout that
is not a well-formed `Content-Length` frame fails the test (so it also proves that logs never go
to stdout). Every read has a timeout; nothing can hang.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any


class ProtocolViolation(AssertionError):
    """The server wrote something to stdout that is not an LSP frame."""


def _may_be_header(prefix: bytes) -> bool:
    """Could these first bytes start a "Content-..." header line?"""
    return b"content-"[: len(prefix)] == prefix.lower()


class RawLsp:
    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, stderr_path: Path):
        self.argv, self.env, self.cwd, self.stderr_path = argv, env, cwd, stderr_path
        self.proc: asyncio.subprocess.Process | None = None
        self._buf = bytearray()
        self._ids = itertools.count(1)
        self.notifications: list[dict[str, Any]] = []  # server -> client notifications seen so far
        self.server_requests: list[dict[str, Any]] = []  # server -> client requests (answered with null)
        self._stderr_file = None

    async def start(self) -> "RawLsp":
        self._stderr_file = open(self.stderr_path, "ab")
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=self._stderr_file, env=self.env, cwd=str(self.cwd))
        return self

    async def close(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._stderr_file:
            self._stderr_file.close()

    # -- writing -----------------------------------------------------------------------------
    async def send_bytes(self, data: bytes) -> None:
        assert self.proc and self.proc.stdin
        self.proc.stdin.write(data)
        await self.proc.stdin.drain()

    async def send_body(self, body: bytes) -> None:
        """Frame arbitrary bytes (valid JSON or not) with a correct Content-Length."""
        await self.send_bytes(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    async def send(self, msg: dict[str, Any]) -> None:
        await self.send_body(json.dumps(msg).encode())

    async def notify(self, method: str, params: Any = None) -> None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        await self.send(msg)

    async def request(self, method: str, params: Any = None, timeout: float = 10.0) -> dict[str, Any]:
        """Send a request and wait for its response (the whole message: result or error)."""
        msg_id = next(self._ids)
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            msg["params"] = params
        await self.send(msg)
        return await self.wait_response(msg_id, timeout)

    # -- reading -----------------------------------------------------------------------------
    async def _fill(self, deadline: float) -> None:
        assert self.proc and self.proc.stdout
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise asyncio.TimeoutError()
        data = await asyncio.wait_for(self.proc.stdout.read(65536), remaining)
        if not data:
            raise EOFError("server closed stdout")
        self._buf += data

    async def read_message(self, timeout: float = 10.0) -> dict[str, Any]:
        """Next frame from stdout, parsed strictly."""
        deadline = asyncio.get_running_loop().time() + timeout
        while b"\r\n\r\n" not in self._buf:
            if not _may_be_header(bytes(self._buf[:8])):
                raise ProtocolViolation(f"non-LSP bytes on stdout: {bytes(self._buf[:200])!r}")
            await self._fill(deadline)
        head, _, rest = bytes(self._buf).partition(b"\r\n\r\n")
        length = None
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
            elif name.strip().lower() != b"content-type":
                raise ProtocolViolation(f"unexpected header line on stdout: {line!r}")
        if length is None:
            raise ProtocolViolation(f"frame without Content-Length: {head!r}")
        while len(rest) < length:
            await self._fill(deadline)
            head, _, rest = bytes(self._buf).partition(b"\r\n\r\n")
        body, remainder = rest[:length], rest[length:]
        self._buf = bytearray(remainder)
        try:
            return json.loads(body)
        except ValueError as e:
            raise ProtocolViolation(f"frame body is not JSON: {body[:200]!r}") from e

    async def wait_response(self, msg_id: Any, timeout: float = 10.0) -> dict[str, Any]:
        """Read frames until the response with `msg_id`; notifications and server requests are
        recorded (server requests answered with a null result)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            msg = await self.read_message(max(remaining, 0.001))
            if "method" in msg and "id" in msg:
                self.server_requests.append(msg)
                await self.send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
            elif "method" in msg:
                self.notifications.append(msg)
            elif msg.get("id") == msg_id:
                return msg
            else:
                self.notifications.append(msg)  # e.g. an error response with id null

    async def drain(self, seconds: float) -> list[dict[str, Any]]:
        """Collect whatever frames arrive within `seconds` (no error when nothing does)."""
        got: list[dict[str, Any]] = []
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return got
            try:
                msg = await self.read_message(remaining)
            except (asyncio.TimeoutError, EOFError):
                return got
            got.append(msg)
            if "method" in msg and "id" in msg:
                await self.send({"jsonrpc": "2.0", "id": msg["id"], "result": None})

    async def read_to_eof(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """All remaining frames until stdout closes (strict)."""
        got = []
        while True:
            try:
                got.append(await self.read_message(timeout))
            except EOFError:
                if self._buf.strip():
                    raise ProtocolViolation(f"trailing non-frame bytes on stdout: {bytes(self._buf[:200])!r}")
                return got

    # -- conveniences ------------------------------------------------------------------------
    async def initialize(self, root_uri: str, capabilities: dict[str, Any] | None = None,
                         init_options: Any = None) -> dict[str, Any]:
        params: dict[str, Any] = {"processId": None, "rootUri": root_uri,
                                  "capabilities": capabilities or {"general": {"positionEncodings": ["utf-16"]}},
                                  "workspaceFolders": [{"uri": root_uri, "name": "ws"}]}
        if init_options is not None:
            params["initializationOptions"] = init_options
        resp = await self.request("initialize", params)
        assert "result" in resp, f"initialize failed: {resp}"
        await self.notify("initialized", {})
        return resp["result"]

    async def shutdown_and_exit(self, timeout: float = 10.0) -> int:
        resp = await self.request("shutdown", None, timeout)
        assert "error" not in resp, f"shutdown failed: {resp}"
        await self.notify("exit")
        assert self.proc
        return await asyncio.wait_for(self.proc.wait(), timeout)
