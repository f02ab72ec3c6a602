"""What both vendor fakes share: reply queues, SSE streaming with the `Reply` knobs, fixtures.

A vendor fake builds a list of SSE events (bytes) for a reply and calls `stream_events`, which
applies first-byte delay, per-event delay, split writes and the ending (clean end of the
chunked body, abrupt reset, or a stall until the client leaves).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
from collections import deque
from pathlib import Path
from typing import Any

from .http import Connection, FakeHTTPServer, RecordedRequest
from .reply import Reply, split_for_writes

# The repo's byte-exact wire-format captures (tests/fixtures), so a clone alone runs the tests.
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def fixtures_dir() -> Path:
    """`tests/fixtures` in the repo (or $SWITCHBOARD_FIXTURES)."""
    import os

    env = os.environ.get("SWITCHBOARD_FIXTURES")
    return Path(env) if env else FIXTURES


def sse(event: str | None, data: Any) -> bytes:
    """One SSE event; `data` is compact JSON unless already a string."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def approx_tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4) if text else 0


class ScriptedFake(FakeHTTPServer):
    """A fake upstream with a queue of `Reply` per endpoint and a default reply."""

    generation_paths: tuple[str, ...] = ()

    def __init__(self, api_key: str, known_keys: dict[str, str] | None = None, default_text: str = "a + b"):
        super().__init__(api_key, known_keys)
        self.default_reply = Reply.text(default_text)
        self.validate = True
        self._queues: dict[str | None, deque[Reply]] = {}
        self._ids = itertools.count(1)

    # -- scripting ---------------------------------------------------------------------------
    def script(self, *replies: Reply, endpoint: str | None = None) -> None:
        """Queue replies. `endpoint` (e.g. "/v1/chat/completions") limits them to one path;
        without it they serve any generation endpoint whose own queue is empty."""
        self._queues.setdefault(endpoint, deque()).extend(replies)

    def pending(self, endpoint: str | None = None) -> int:
        return len(self._queues.get(endpoint, ()))

    def next_reply(self, path: str) -> Reply:
        for key in (path, None):
            q = self._queues.get(key)
            if q:
                return q.popleft()
        return self.default_reply

    @property
    def generation_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path in self.generation_paths]

    # -- ids ---------------------------------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        n = next(self._ids)
        return f"{prefix}{hashlib.sha256(f'{prefix}{n}'.encode()).hexdigest()[:24]}"

    # -- streaming ---------------------------------------------------------------------------
    async def stream_events(
        self,
        conn: Connection,
        reply: Reply,
        headers: dict[str, str],
        events: list[bytes],
        ending: str = "end",
    ) -> None:
        """Write a 200 SSE response, one chunk per event (or per piece with split_writes).

        ending: "end" (terminating chunk), "abort" (socket reset), "stall" (wait for hang-up),
        "repeat" (the last event again every `reply.delay_ms`, until the client hangs up)."""
        await conn.pause(reply.first_byte_delay_ms / 1000)
        await conn.send_head(
            200,
            {
                "content-type": "text/event-stream; charset=utf-8",
                "transfer-encoding": "chunked",
                "cache-control": "no-cache",
                "connection": "keep-alive",
                **headers,
                **reply.headers,
            },
        )
        for i, event in enumerate(events):
            if i and reply.delay_ms:
                await conn.pause(reply.delay_ms / 1000)
            if reply.split_writes:
                for piece in split_for_writes(event):
                    await conn.send_chunk(piece)
                    await asyncio.sleep(0.002)
            else:
                await conn.send_chunk(event)
        if ending == "abort":
            await asyncio.sleep(0.01)
            conn.abort()
        elif ending == "stall":
            await conn.pause(3600)
        elif ending == "repeat":
            while True:
                await conn.pause(max(reply.delay_ms, 1) / 1000)
                await conn.send_chunk(events[-1])
        else:
            await conn.end_chunks()

    async def serve_endless_body(self, conn: Connection, reply: Reply, headers: dict[str, str]) -> None:
        """`reply.status` with a JSON body that never ends, until the client hangs up."""
        await conn.send_head(reply.status, {"content-type": "application/json", "transfer-encoding": "chunked",
                                            **headers, **reply.headers})
        await conn.send_chunk(b'{"error":{"message":"')
        piece = b"x" * 65536
        while True:
            await conn.send_chunk(piece)
            await asyncio.sleep(0)

    async def serve_fixture(self, conn: Connection, reply: Reply, headers: dict[str, str]) -> None:
        raw = (fixtures_dir() / str(reply.fixture_name)).read_bytes()
        events = [e + b"\n\n" for e in raw.split(b"\n\n") if e.strip()]
        await self.stream_events(conn, reply, headers, events)

    async def serve_hang(self, conn: Connection) -> None:
        await conn.pause(3600)
