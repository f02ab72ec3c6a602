"""A faithful fake of the Anthropic Messages API on 127.0.0.1 (wire-protocols.md §5, §7.2, §8).

Endpoints: POST /v1/messages, GET /v1/models[/{id}].
- Auth: exactly one of `x-api-key` or `Authorization: Bearer` (both -> 400), plus
  `anthropic-version` (missing -> 400). Wrong key -> 401 `authentication_error`.
- Validation (`fake.validate = True`): `model`, `max_tokens`, `messages` required; unknown model ->
  404 `not_found_error`; x.5 models (`*-5-5`) and Opus 5 reject sampling parameters
  (`temperature`/`top_p`/`top_k`), an assistant prefill, `thinking.type:"enabled"` with
  `budget_tokens`; Sonnet/Opus 5.5 reject `thinking:{"type":"disabled"}` and forced `tool_choice`;
  4.5-era models reject `temperature` together with `top_p`; bodies above `max_body_bytes` -> 413.
- Streams per §5.3: `message_start`, an optional signature-only (or summarized) thinking block,
  the text block with `ping`s, `message_delta` with cumulative usage, `message_stop`.
  Mid-stream `event: error` (spaced JSON, as the API sends it), then the end of the body.
- Every response carries `request-id`, `anthropic-organization-id` and the
  `anthropic-ratelimit-*` headers (RFC 3339 resets); 429 adds `retry-after`; 529 is overloaded.
- Prompt caching: a request with `cache_control` anywhere reports its system/tools prefix as
  `cache_creation_input_tokens` the first time and `cache_read_input_tokens` afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from .http import Connection, RecordedRequest
from .reply import Reply
from .scripted import ScriptedFake, approx_tokens, sse

DEFAULT_MODELS = [
    "claude-sonnet-5-5", "claude-haiku-5-5", "claude-opus-5-5", "claude-sonnet-5", "claude-opus-5",
    "claude-opus-4-8", "claude-opus-4-7", "claude-opus-4-6", "claude-sonnet-4-6", "claude-sonnet-4-5",
    "claude-haiku-4-5", "claude-haiku-4-5-20251001",
]
MESSAGES = "/v1/messages"
ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 402: "billing_error", 403: "permission_error",
    404: "not_found_error", 409: "conflict_error", 413: "request_too_large", 429: "rate_limit_error",
    500: "api_error", 504: "timeout_error", 529: "overloaded_error",
}
DEFAULT_MESSAGES = {
    "overloaded_error": "Overloaded", "rate_limit_error": "Number of request tokens has exceeded your per-minute "
    "rate limit", "api_error": "Internal server error", "authentication_error": "invalid x-api-key",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
}


class BadRequest(Exception):
    def __init__(self, status: int, message: str, type_: str | None = None):
        super().__init__(message)
        self.status, self.message = status, message
        self.type = type_ or ERROR_TYPES.get(status, "api_error")


def is_x5(model: str) -> bool:
    """Claude 5.x '.5' generation ids: claude-sonnet-5-5, claude-haiku-5-5, claude-opus-5-5."""
    return bool(re.search(r"-\d+-5(-\d{8})?$", model)) and not model.startswith("claude-haiku-4")


def is_45_era(model: str) -> bool:
    return bool(re.search(r"-4-5(-\d{8})?$", model))


class FakeAnthropic(ScriptedFake):
    generation_paths = (MESSAGES,)
    auth_headers = ("x-api-key", "authorization")

    def __init__(self, api_key: str = "sk-ant-test", known_keys: dict[str, str] | None = None,
                 models: list[str] | None = None, default_text: str = "This function adds two numbers."):
        super().__init__(api_key, known_keys, default_text)
        self.models = list(models or DEFAULT_MODELS)
        self.max_body_bytes = 32 * 1024 * 1024
        self._cache_seen: set[str] = set()

    @property
    def base_url(self) -> str:
        """What ANTHROPIC_BASE_URL should be set to (no /v1: the client adds /v1/messages)."""
        return self.origin

    # -- headers -----------------------------------------------------------------------------
    def common_headers(self) -> dict[str, str]:
        reset = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
        h = {"request-id": self.new_id("req_")[:28], "anthropic-organization-id": "00000000-0000-4000-8000-fake"}
        for kind, limit, remaining in (("requests", "4000", "3999"), ("tokens", "2000000", "1999000"),
                                       ("input-tokens", "2000000", "1999000"), ("output-tokens", "400000", "400000")):
            h[f"anthropic-ratelimit-{kind}-limit"] = limit
            h[f"anthropic-ratelimit-{kind}-remaining"] = remaining
            h[f"anthropic-ratelimit-{kind}-reset"] = reset
        return h

    @staticmethod
    def error_json(type_: str, message: str, request_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "error", "error": {"type": type_, "message": message}}
        if request_id:
            body["request_id"] = request_id
        return body

    # -- routing -----------------------------------------------------------------------------
    async def route(self, req: RecordedRequest, conn: Connection) -> None:
        headers = self.common_headers()
        try:
            self.check_headers(req)
            if req.method == "GET" and req.path == "/v1/models":
                return await conn.send_json(200, headers, self.models_list())
            if req.method == "GET" and req.path.startswith("/v1/models/"):
                mid = req.path[len("/v1/models/"):]
                if mid not in self.models:
                    raise BadRequest(404, f"model: {mid}")
                return await conn.send_json(200, headers, self.model_obj(mid))
            if req.method != "POST" or req.path != MESSAGES:
                raise BadRequest(404, f"Not found: {req.method} {req.path}")
            if len(req.body) > self.max_body_bytes:
                raise BadRequest(413, DEFAULT_MESSAGES["request_too_large"])
            if not isinstance(req.json, dict):
                raise BadRequest(400, "messages: Input should be a valid JSON object")
            body = req.json
            if self.validate:
                self.validate_request(body)
        except BadRequest as e:
            req.status = e.status
            return await conn.send_json(e.status, headers, self.error_json(e.type, e.message,
                                                                            headers["request-id"]))
        await self.perform(req, conn, body, self.next_reply(req.path), headers)

    def check_headers(self, req: RecordedRequest) -> None:
        has_key, has_bearer = "x-api-key" in req.headers, "authorization" in req.headers
        if has_key and has_bearer:
            raise BadRequest(400, "Send exactly one of x-api-key or Authorization, not both.")
        if not has_key and not has_bearer:
            raise BadRequest(401, "x-api-key header is required")
        if req.auth != "ok":
            raise BadRequest(401, "invalid x-api-key")
        if not req.headers.get("anthropic-version"):
            raise BadRequest(400, "anthropic-version: header is required")

    # -- validation (§5.1) -------------------------------------------------------------------
    def validate_request(self, body: dict[str, Any]) -> None:
        model = body.get("model")
        for field in ("model", "max_tokens", "messages"):
            if field not in body:
                raise BadRequest(400, f"{field}: Field required")
        if not isinstance(model, str) or model not in self.models:
            raise BadRequest(404, f"model: {model}")
        if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1:
            raise BadRequest(400, "max_tokens: Input should be a positive integer")
        messages = body["messages"]
        if not isinstance(messages, list) or not messages:
            raise BadRequest(400, "messages: at least one message is required")
        strict = is_x5(model) or model.startswith("claude-opus-5")
        sampling = [p for p in ("temperature", "top_p", "top_k") if p in body]
        if strict and sampling:
            raise BadRequest(400, f"{sampling[0]}: sampling parameters are not supported for {model}")
        if is_45_era(model) and "temperature" in body and "top_p" in body:
            raise BadRequest(400, "`temperature` and `top_p` cannot both be specified for this model.")
        if strict and isinstance(messages[-1], dict) and messages[-1].get("role") == "assistant":
            raise BadRequest(400, "This model does not support assistant message prefill. The conversation "
                                  "must end with a user message.")
        thinking = body.get("thinking") or {}
        if is_x5(model) and thinking.get("type") == "enabled":
            raise BadRequest(400, "thinking.type.enabled is not supported for this model; use adaptive thinking")
        big55 = is_x5(model) and not model.startswith("claude-haiku")
        if big55 and thinking.get("type") == "disabled":
            raise BadRequest(400, "thinking cannot be disabled for this model")
        if big55 and (body.get("tool_choice") or {}).get("type") in ("tool", "any"):
            raise BadRequest(400, "tool_choice forcing tool use is not supported with this model")

    # -- performing --------------------------------------------------------------------------
    async def perform(self, req: RecordedRequest, conn: Connection, body: dict[str, Any], reply: Reply,
                      headers: dict[str, str]) -> None:
        if reply.kind == "hang":
            return await self.serve_hang(conn)
        if reply.kind == "endless_body":
            req.status = reply.status
            return await self.serve_endless_body(conn, reply, headers)
        if reply.kind in ("status", "json"):
            req.status = reply.status
            await conn.pause(reply.first_byte_delay_ms / 1000)
            extra = {}
            if reply.retry_after is not None:
                extra["retry-after"] = str(reply.retry_after)
            if reply.should_retry is not None:
                extra["x-should-retry"] = "true" if reply.should_retry else "false"
            body_out = reply.body
            if body_out is None:
                typ = reply.error_type or ERROR_TYPES.get(reply.status, "api_error")
                body_out = self.error_json(typ, reply.error_message or DEFAULT_MESSAGES.get(typ, "Error"),
                                           headers["request-id"])
            return await conn.send_json(reply.status, {**headers, **extra, **reply.headers}, body_out)
        req.status = 200
        if reply.kind == "fixture":
            req.stream = True
            return await self.serve_fixture(conn, reply, headers)
        if not body.get("stream"):
            if reply.kind != "text":
                return await self.perform(req, conn, body, Reply.status(500), headers)
            await conn.pause(reply.first_byte_delay_ms / 1000)
            return await conn.send_json(200, {**headers, **reply.headers}, self.full_message(body, reply))
        req.stream = True
        events, ending = self.stream_plan(body, reply)
        await self.stream_events(conn, reply, headers, events, ending)

    # -- shapes ------------------------------------------------------------------------------
    def cache_account(self, body: dict[str, Any]) -> tuple[int, int, int]:
        """(input, cache_creation, cache_read) tokens for one request; updates the cache state."""
        prefix = json.dumps([body.get("tools"), body.get("system")], sort_keys=True)
        rest = json.dumps(body.get("messages"), sort_keys=True)
        if "cache_control" not in json.dumps(body):
            return approx_tokens(prefix + rest), 0, 0
        if prefix in self._cache_seen:
            return approx_tokens(rest), 0, approx_tokens(prefix)
        self._cache_seen.add(prefix)
        return approx_tokens(rest), approx_tokens(prefix), 0

    def usage(self, account: tuple[int, int, int], output_tokens: int, reply: Reply) -> dict[str, Any]:
        input_tokens, created, read = account
        usage = {"input_tokens": input_tokens, "cache_creation_input_tokens": created,
                 "cache_read_input_tokens": read,
                 "cache_creation": {"ephemeral_5m_input_tokens": created, "ephemeral_1h_input_tokens": 0},
                 "output_tokens": output_tokens, "service_tier": "standard"}
        return {**usage, **(reply.usage or {})}

    def thinking_mode(self, body: dict[str, Any], reply: Reply) -> str | None:
        if reply.thinking != "auto":
            return reply.thinking
        thinking = body.get("thinking") or {}
        if thinking.get("type") not in ("adaptive", "enabled"):
            return None
        return "omitted" if thinking.get("display") == "omitted" else "summarized"

    def full_message(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        mode = self.thinking_mode(body, reply)
        if mode:
            content.append({"type": "thinking", "thinking": "" if mode == "omitted" else "Thinking briefly.",
                            "signature": "EosnCkYICxIMMb3LzNrMu8fQ2e1kGgz..."})
        content.append({"type": "text", "text": reply.text})
        return {"id": self.new_id("msg_01"), "type": "message", "role": "assistant",
                "model": reply.model or body.get("model"), "content": content,
                "stop_reason": reply.stop_reason or ("max_tokens" if reply.incomplete else "end_turn"),
                "stop_sequence": None,
                "usage": self.usage(self.cache_account(body), approx_tokens(reply.text) + 1, reply)}

    def stream_plan(self, body: dict[str, Any], reply: Reply) -> tuple[list[bytes], str]:
        """§5.3 event sequence."""
        events: list[bytes] = []

        def emit(type_: str, **fields: Any) -> None:
            events.append(sse(type_, {"type": type_, **fields}))

        account = self.cache_account(body)
        start_usage = self.usage(account, 1, reply)
        emit("message_start", message={
            "model": reply.model or body.get("model"), "id": self.new_id("msg_01"), "type": "message",
            "role": "assistant", "content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage})
        index = 0
        mode = self.thinking_mode(body, reply)
        if mode:
            emit("content_block_start", index=0, content_block={"type": "thinking", "thinking": "",
                                                                 "signature": ""})
            if mode == "summarized":
                emit("content_block_delta", index=0, delta={"type": "thinking_delta",
                                                             "thinking": "Thinking briefly."})
            emit("content_block_delta", index=0, delta={"type": "signature_delta",
                                                         "signature": "EosnCkYICxIMMb3LzNrMu8fQ2e1kGgz..."})
            emit("content_block_stop", index=0)
            index = 1
        emit("content_block_start", index=index, content_block={"type": "text", "text": ""})
        for _ in range(reply.pings):
            events.append(sse("ping", '{"type": "ping"}'))
        deltas = reply.deltas()
        if reply.kind != "text":
            deltas = deltas[: reply.after_chunks]
        if reply.kind == "endless":
            deltas = [reply.text]
        for d in deltas:
            emit("content_block_delta", index=index, delta={"type": "text_delta", "text": d})
        if reply.kind == "endless":
            return events, "repeat"
        if reply.kind == "error_mid_stream":
            typ = reply.error_type or "overloaded_error"
            msg = reply.error_message or DEFAULT_MESSAGES.get(typ, "Error")
            events.append(sse("error", json.dumps({"type": "error", "error": {"type": typ, "message": msg}})))
            return events, "end"
        if reply.kind == "close_mid_stream":
            return events, "abort"
        if reply.kind == "stall":
            return events, "stall"
        emit("content_block_stop", index=index)
        out_tokens = approx_tokens("".join(deltas)) + (8 if mode else 0)
        final = self.usage(account, out_tokens, reply)
        final.pop("cache_creation", None)
        final.pop("service_tier", None)
        emit("message_delta", delta={"stop_reason": reply.stop_reason or ("max_tokens" if reply.incomplete
                                                                          else "end_turn"),
                                     "stop_sequence": None}, usage=final)
        emit("message_stop")
        return events, "end"

    # -- models ------------------------------------------------------------------------------
    def model_obj(self, mid: str) -> dict[str, Any]:
        return {"type": "model", "id": mid, "display_name": mid.replace("-", " ").title(),
                "created_at": "2026-09-01T00:00:00Z", "max_input_tokens": 1000000, "max_tokens": 128000,
                "lifecycle": "deprecated" if mid == "claude-sonnet-4-5" else "active"}

    def models_list(self) -> dict[str, Any]:
        data = [self.model_obj(m) for m in self.models]
        return {"data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None}
