"""A tiny asyncio HTTP/1.1 server that lets a fake upstream control every byte it writes.

Why not `http.server` or aiohttp: the fakes must decide exactly how a response reaches the
client (one TCP write per SSE event, an event split across writes, a close in the middle of a
chunked body, a stall before the first byte) and must notice when the client hangs up early.
A raw `asyncio.start_server` does all of that in ~200 lines.

Pieces:
- `RecordedRequest`: what a test may inspect afterwards (keys never stored, only a marker).
- `Connection`: the buffered reader plus the writer of one TCP connection; helpers to send a
  whole response, or a chunked stream whose pieces are written (and flushed) one at a time.
- `FakeHTTPServer`: accept loop, keep-alive request loop, request recording, `wait_for_requests`.
  Subclasses implement `route(request, conn)`.
"""

from __future__ import annotations

import asyncio
import ssl
import json
import socket
import time
from dataclasses import dataclass
from typing import Any

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    529: "Site Overloaded",
}

MAX_HEADER_BYTES = 64 * 1024


class ClientGone(Exception):
    """The client closed the connection (or reset it) while we were writing."""


@dataclass
class RecordedRequest:
    """One request as the fake saw it. Secrets are replaced by markers before storage."""

    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names; auth values replaced by "<key:LABEL>"
    body: bytes
    json: Any  # parsed body, or None when it is not JSON
    time: float  # time.monotonic() when the request line arrived
    auth: str = "none"  # which key was seen: "ok" | a label from `known_keys` | "unknown" | "none"
    status: int | None = None  # status code the fake answered with
    stream: bool = False  # whether the response was an SSE stream
    response_complete: bool = False  # the fake finished writing the whole response
    client_disconnected_early: bool = False  # the client hung up before the response ended
    finished_at: float | None = None  # monotonic time the exchange ended (either way)

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)


class Connection:
    """One accepted TCP connection: a buffered reader with EOF detection, and a writer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()
        self.eof = False
        self.closed = False
        self.aborted_by_server = False
        self.client_gone = asyncio.Event()

    # -- reading ---------------------------------------------------------------------------
    async def _fill(self) -> bool:
        """Read more bytes into the buffer; False at EOF."""
        if self.eof:
            return False
        try:
            data = await self.reader.read(65536)
        except (ConnectionError, OSError):
            data = b""
        if not data:
            self.eof = True
            self.client_gone.set()
            return False
        self.buf += data
        return True

    async def read_line(self, limit: int = MAX_HEADER_BYTES) -> bytes | None:
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[: i + 2]
                return line
            if len(self.buf) > limit or not await self._fill():
                return None

    async def read_exactly(self, n: int) -> bytes | None:
        while len(self.buf) < n:
            if not await self._fill():
                return None
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    async def watch_for_hangup(self) -> None:
        """Runs while a response is being written: notices the client closing the socket.

        Anything the client sends meanwhile (a pipelined request) stays in the buffer."""
        while await self._fill():
            pass

    async def pause(self, seconds: float) -> None:
        """Sleep, but raise `ClientGone` as soon as the client hangs up."""
        if seconds <= 0:
            return
        try:
            await asyncio.wait_for(self.client_gone.wait(), seconds)
        except asyncio.TimeoutError:
            return
        raise ClientGone()

    # -- writing ---------------------------------------------------------------------------
    async def write(self, data: bytes) -> None:
        """One write, flushed at once (TCP_NODELAY is on, so it leaves as its own segment)."""
        if self.closed or self.client_gone.is_set():
            raise ClientGone()
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, OSError) as e:
            self.client_gone.set()
            raise ClientGone() from e

    async def send_head(self, status: int, headers: dict[str, str]) -> None:
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        await self.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    async def send_full(
        self, status: int, headers: dict[str, str], body: bytes, split: bool = False
    ) -> None:
        """A complete response with Content-Length; with `split`, head and body in two writes."""
        headers = {**headers, "content-length": str(len(body))}
        if split:
            await self.send_head(status, headers)
            await asyncio.sleep(0.005)
            await self.write(body)
        else:
            lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}"]
            lines += [f"{k}: {v}" for k, v in headers.items()]
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
            await self.write(head + body)

    async def send_json(self, status: int, headers: dict[str, str], obj: Any) -> None:
        body = json.dumps(obj, separators=(",", ":")).encode()
        h = {"content-type": "application/json; charset=utf-8", **headers}
        await self.send_full(status, h, body)

    async def send_chunk(self, data: bytes) -> None:
        """One chunk of a `Transfer-Encoding: chunked` body, in one TCP write."""
        if data:
            await self.write(b"%x\r\n" % len(data) + data + b"\r\n")

    async def end_chunks(self) -> None:
        await self.write(b"0\r\n\r\n")

    def abort(self) -> None:
        """Close the socket abruptly (mid-body): the client sees a truncated chunked body."""
        self.closed = True
        self.aborted_by_server = True
        transport = self.writer.transport
        try:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                # RST instead of FIN, like a proxy dropping the connection.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
        transport.abort()

    def close(self) -> None:
        self.closed = True
        try:
            self.writer.close()
        except Exception:
            pass


class FakeHTTPServer:
    """Accept loop + HTTP/1.1 keep-alive parsing + request log. Subclasses implement `route`.

    `known_keys` maps secret values to labels; `api_key` is the one the fake accepts ("ok").
    Recorded requests carry only the label, so tests can assert which key reached which server
    without a key ever being stored or printed.
    """

    auth_headers: tuple[str, ...] = ("authorization", "x-api-key")  # where this vendor reads keys
    redacted_headers: tuple[str, ...] = ("authorization", "x-api-key", "api-key")  # never stored raw

    def __init__(self, api_key: str, known_keys: dict[str, str] | None = None):
        self.api_key = api_key
        self.known_keys = dict(known_keys or {})
        self.requests: list[RecordedRequest] = []
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[Connection] = set()
        self._tasks: set[asyncio.Task] = set()
        self._new_request = asyncio.Condition()
        self.port: int = 0
        # Set before `start` to serve https (tests of the client's TLS) instead of plain http.
        self.tls: "ssl.SSLContext | None" = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> "FakeHTTPServer":
        self._server = await asyncio.start_server(self._on_connect, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._conns):
            conn.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2)
            except (asyncio.TimeoutError, Exception):
                pass

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc):
        await self.stop()

    @property
    def origin(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    # -- inspection --------------------------------------------------------------------------
    async def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Wait until at least `n` requests were recorded; returns them all. Raises on timeout."""

        async def _wait():
            async with self._new_request:
                await self._new_request.wait_for(lambda: len(self.requests) >= n)

        try:
            await asyncio.wait_for(_wait(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"{type(self).__name__}: expected {n} request(s) within {timeout}s, "
                f"got {len(self.requests)}: {[r.method + ' ' + r.path for r in self.requests]}"
            ) from None
        return list(self.requests)

    async def wait_until_finished(self, req: RecordedRequest, timeout: float = 5.0) -> None:
        """Wait until the exchange of `req` ended (completed or client hung up)."""
        deadline = time.monotonic() + timeout
        while req.finished_at is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"request {req.path} still in progress after {timeout}s")
            await asyncio.sleep(0.01)

    # -- connection handling -----------------------------------------------------------------
    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Connection(reader, writer)
        self._conns.add(conn)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._serve_connection(conn)
        except (ClientGone, ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            self._conns.discard(conn)
            if task is not None:
                self._tasks.discard(task)
            conn.close()

    async def _serve_connection(self, conn: Connection) -> None:
        while not conn.closed:
            req = await self._read_request(conn)
            if req is None:
                return
            await self._record(req)
            watcher = asyncio.create_task(conn.watch_for_hangup())
            try:
                await self.route(req, conn)
                req.response_complete = not conn.aborted_by_server
            except ClientGone:
                req.client_disconnected_early = True
            finally:
                watcher.cancel()
                try:
                    await watcher
                except (asyncio.CancelledError, Exception):
                    pass
                if (
                    conn.client_gone.is_set()
                    and not req.response_complete
                    and not conn.aborted_by_server
                ):
                    req.client_disconnected_early = True
                req.finished_at = time.monotonic()
            if conn.client_gone.is_set() or req.header("connection", "").lower() == "close":
                return

    async def _read_request(self, conn: Connection) -> RecordedRequest | None:
        line = await conn.read_line()
        while line == b"":  # tolerate stray CRLF between requests
            line = await conn.read_line()
        if line is None:
            return None
        started = time.monotonic()
        try:
            method, target, _version = line.decode("latin-1").split(" ", 2)
        except ValueError:
            await conn.send_full(400, {"connection": "close"}, b"bad request line")
            conn.close()
            return None
        headers: dict[str, str] = {}
        while True:
            h = await conn.read_line()
            if h is None:
                return None
            if h == b"":
                break
            name, _, value = h.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await self._read_body(conn, headers)
        if body is None:
            return None
        path, _, query = target.partition("?")
        auth = self._classify_auth(headers)
        parsed = None
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        return RecordedRequest(
            method=method.upper(),
            path=path,
            query=query,
            headers=self._redact(headers),
            body=body,
            json=parsed,
            time=started,
            auth=auth,
        )

    async def _read_body(self, conn: Connection, headers: dict[str, str]) -> bytes | None:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            out = bytearray()
            while True:
                size_line = await conn.read_line()
                if size_line is None:
                    return None
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # trailers until the blank line
                    while (t := await conn.read_line()) not in (b"", None):
                        pass
                    return bytes(out)
                data = await conn.read_exactly(size + 2)
                if data is None:
                    return None
                out += data[:-2]
        length = int(headers.get("content-length", "0") or "0")
        if length == 0:
            return b""
        return await conn.read_exactly(length)

    # -- keys ---------------------------------------------------------------------------------
    def _key_label(self, value: str) -> str:
        if value == self.api_key:
            return "ok"
        return self.known_keys.get(value, "unknown")

    def _header_key_label(self, name: str, value: str) -> str:
        """Label of the key in one header; an Authorization header must use the Bearer scheme."""
        if name == "authorization":
            if not value.lower().startswith("bearer "):
                return "malformed"
            value = value[7:]
        return self._key_label(value.strip())

    def _classify_auth(self, headers: dict[str, str]) -> str:
        for name in self.auth_headers:
            if name in headers:
                return self._header_key_label(name, headers[name])
        return "none"

    def _redact(self, headers: dict[str, str]) -> dict[str, str]:
        out = dict(headers)
        for name in self.redacted_headers:
            if name in out:
                out[name] = f"<key:{self._header_key_label(name, out[name])}>"
        return out

    async def _record(self, req: RecordedRequest) -> None:
        async with self._new_request:
            self.requests.append(req)
            self._new_request.notify_all()

    # -- to implement ------------------------------------------------------------------------
    async def route(self, req: RecordedRequest, conn: Connection) -> None:  # pragma: no cover
        raise NotImplementedError
