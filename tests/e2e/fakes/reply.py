"""Scripted behaviours for the fake upstreams, vendor-neutral.

A test queues `Reply` values on a fake (`fake.script(Reply.text("a + b", chunks=3))`); each
incoming generation request takes the next one. The fake turns it into its own wire format
(OpenAI Responses / Chat / legacy Completions, Anthropic Messages). Every constructor takes the
common knobs too:

- `delay_ms`            pause before each stream event after the first
- `first_byte_delay_ms` silence before the status line
- `split_writes`        every SSE event goes out in several TCP writes (lines, then halves of lines)
- `headers`             extra response headers

`reply.but(**changes)` returns a modified copy, e.g. `Reply.text("x").but(split_writes=True)`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Reply:
    kind: str = "text"  # text | status | error_mid_stream | close_mid_stream | stall | hang | fixture | json
    #                     | endless | endless_body
    text: str = ""
    chunks: int | tuple[str, ...] | None = None
    delay_ms: float = 0
    first_byte_delay_ms: float = 0
    split_writes: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    # kind == "status" / "json"
    status: int = 200
    retry_after: float | str | None = None
    retry_after_ms: float | None = None
    should_retry: bool | None = None
    error_type: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    body: Any = None
    # mid-stream failures
    shape: str = "flat"  # OpenAI Responses: flat | nested | failed
    after_chunks: int = 1
    # normal endings
    incomplete: str | None = None  # Responses: response.incomplete reason; Anthropic: stop_reason max_tokens
    stop_reason: str | None = None  # Anthropic stop_reason / Chat finish_reason override
    thinking: str | None = "auto"  # Anthropic: "auto" | "omitted" | "summarized" | None (no block)
    pings: int = 1  # Anthropic pings sent after the first content_block_start
    usage: dict[str, Any] | None = None  # merged into the usage object the fake computes
    model: str | None = None  # model name echoed back (default: the request's, resolved)
    fixture_name: str | None = None

    # -- constructors ------------------------------------------------------------------------
    @classmethod
    def text(cls, text: str, chunks: int | list[str] | None = None, delay_ms: float = 0, **kw) -> "Reply":
        """A successful stream (or JSON body when the request did not ask to stream)."""
        return cls(kind="text", text=text, chunks=_chunks(chunks), delay_ms=delay_ms, **kw)

    @classmethod
    def incomplete_text(cls, text: str, reason: str = "max_output_tokens", **kw) -> "Reply":
        """Responses: ends with `response.incomplete`; Anthropic: stop_reason `max_tokens`."""
        return cls.text(text, incomplete=reason, **kw)

    @classmethod
    def status(cls, code: int, retry_after: float | str | None = None, **kw) -> "Reply":
        """A non-2xx JSON error in the vendor's shape, e.g. `Reply.status(429, retry_after=2)`,
        `Reply.status(429, error_code="insufficient_quota")`, `Reply.status(529)`.
        Also `retry_after_ms=`, `should_retry=`, `error_type=`, `error_message=`, `body=`."""
        return cls(kind="status", status=code, retry_after=retry_after, **kw)

    @classmethod
    def json(cls, status: int, body: Any, **kw) -> "Reply":
        """Any JSON body with any status, verbatim."""
        return cls(kind="json", status=status, body=body, **kw)

    @classmethod
    def error_mid_stream(
        cls, shape: str = "flat", after_chunks: int = 1, text: str = "partial text here", **kw
    ) -> "Reply":
        """200 stream, `after_chunks` deltas, then a failure event and the end of the body.

        OpenAI Responses shapes: "flat" (`error` event, documented), "nested" (`error` event with
        an `error` object, as seen in production), "failed" (`response.failed`). Chat: a `data:`
        chunk with an `error` key. Anthropic: `event: error` (overloaded_error by default)."""
        return cls(kind="error_mid_stream", shape=shape, after_chunks=after_chunks, text=text, **kw)

    @classmethod
    def close_mid_stream(cls, after_chunks: int = 2, text: str = "one two three four", **kw) -> "Reply":
        """200 stream, `after_chunks` deltas, then the socket is reset (truncated chunked body)."""
        return cls(kind="close_mid_stream", after_chunks=after_chunks, text=text, **kw)

    @classmethod
    def stall_mid_stream(cls, after_chunks: int = 1, text: str = "one two three", **kw) -> "Reply":
        """200 stream, `after_chunks` deltas, then silence until the client gives up."""
        return cls(kind="stall", after_chunks=after_chunks, text=text, **kw)

    @classmethod
    def slow_first_byte(cls, ms: float, text: str = "a + b", **kw) -> "Reply":
        """Nothing at all for `ms` milliseconds, then a normal stream."""
        return cls.text(text, first_byte_delay_ms=ms, **kw)

    @classmethod
    def endless(cls, text: str = "x ", delay_ms: float = 500, **kw) -> "Reply":
        """200 stream that never finishes: the head, then the delta `text` every `delay_ms`,
        forever (`text=""`: a drip of empty deltas)."""
        return cls(kind="endless", text=text, delay_ms=delay_ms, **kw)

    @classmethod
    def endless_body(cls, status: int = 500, **kw) -> "Reply":
        """A status line, then a body that never ends (pieces of one JSON string, as fast as the
        client reads them)."""
        return cls(kind="endless_body", status=status, **kw)

    @classmethod
    def hang(cls) -> "Reply":
        """Never answer; the exchange ends when the client hangs up."""
        return cls(kind="hang")

    @classmethod
    def fixture(cls, name: str, **kw) -> "Reply":
        """Serve `tests/fixtures/<name>` verbatim as a 200 SSE body, event by event."""
        return cls(kind="fixture", fixture_name=name, **kw)

    # -- helpers -----------------------------------------------------------------------------
    def but(self, **changes) -> "Reply":
        return dataclasses.replace(self, **changes)

    def deltas(self) -> list[str]:
        """The text cut into stream deltas."""
        return split_text(self.text, self.chunks)


def _chunks(chunks: int | list[str] | None) -> int | tuple[str, ...] | None:
    return tuple(chunks) if isinstance(chunks, list) else chunks


def split_text(text: str, chunks: int | tuple[str, ...] | list[str] | None) -> list[str]:
    """None: word-ish pieces (leading whitespace kept); int: that many near-equal pieces;
    a sequence: exactly those pieces (they must join to the text)."""
    if isinstance(chunks, (tuple, list)):
        assert "".join(chunks) == text, "chunks must join to the text"
        return list(chunks)
    if not text:
        return []
    if chunks is None:
        return re.findall(r"\s*\S+|\s+$", text, flags=re.S) or [text]
    n = max(1, min(int(chunks), len(text)))
    size, extra = divmod(len(text), n)
    out, i = [], 0
    for k in range(n):
        j = i + size + (1 if k < extra else 0)
        out.append(text[i:j])
        i = j
    return out


def split_for_writes(event: bytes) -> list[bytes]:
    """Cut one SSE event into several pieces: at every line end, then each line in half."""
    pieces: list[bytes] = []
    for line in event.splitlines(keepends=True):
        half = max(1, len(line) // 2)
        pieces += [line[:half], line[half:]] if len(line) > 2 else [line]
    return [p for p in pieces if p]
