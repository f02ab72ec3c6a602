"""A minimal asyncio HTTP/1.1 client for testing the fakes themselves (keep-alive, chunked bodies,
timing of each received piece, hanging up mid-stream) plus a strict SSE parser."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    chunks: list[bytes] = field(default_factory=list)  # chunked-body pieces, in arrival order
    chunk_times: list[float] = field(default_factory=list)
    complete: bool = False  # terminating chunk (or full Content-Length) received
    first_byte_at: float = 0.0

    def json(self) -> Any:
        return json.loads(self.body)

    def events(self) -> list[dict[str, Any]]:
        return parse_sse(self.body.decode())


def parse_sse(text: str) -> list[dict[str, Any]]:
    """Events as {"event": name|None, "data": str}; per the SSE rules (LF only, as the fakes send)."""
    out = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        ev: dict[str, Any] = {"event": None, "data": []}
        for line in block.split("\n"):
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                ev["data"].append(value)
            elif name == "event":
                ev["event"] = value
        ev["data"] = "\n".join(ev["data"])
        out.append(ev)
    return out


class HttpConn:
    """One keep-alive connection to 127.0.0.1:port."""

    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> "HttpConn":
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.writer:
            self.writer.close()

    async def send(self, method: str, path: str, headers: dict[str, str] | None = None,
                   body: Any = None) -> None:
        assert self.writer
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        h = {"host": f"127.0.0.1:{self.port}", "content-length": str(len(data)), **(headers or {})}
        if body is not None and not isinstance(body, bytes):
            h.setdefault("content-type", "application/json")
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
        self.writer.write(head.encode() + data)
        await self.writer.drain()

    async def read_response(self, max_chunks: int | None = None, timeout: float = 5.0) -> Response:
        """Read one response; with `max_chunks`, stop after that many body chunks."""
        return await asyncio.wait_for(self._read(max_chunks), timeout)

    async def _read(self, max_chunks: int | None) -> Response:
        assert self.reader
        status_line = await self.reader.readuntil(b"\r\n")
        t0 = time.monotonic()
        status = int(status_line.split(b" ")[1])
        headers: dict[str, str] = {}
        while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        resp = Response(status, headers, first_byte_at=t0)
        if "chunked" in headers.get("transfer-encoding", ""):
            body = bytearray()
            while max_chunks is None or len(resp.chunks) < max_chunks:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                data = await self.reader.readexactly(size + 2)
                if size == 0:
                    resp.complete = True
                    break
                resp.chunks.append(data[:-2])
                resp.chunk_times.append(time.monotonic())
                body += data[:-2]
            resp.body = bytes(body)
        else:
            resp.body = await self.reader.readexactly(int(headers.get("content-length", "0")))
            resp.complete = True
        return resp

    async def request(self, method: str, path: str, headers: dict[str, str] | None = None, body: Any = None,
                      timeout: float = 5.0) -> Response:
        await self.send(method, path, headers, body)
        return await self.read_response(timeout=timeout)
