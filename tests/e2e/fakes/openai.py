"""A faithful fake of the OpenAI API on 127.0.0.1 (wire-protocols.md §2–§4.1, §7, §8).

Endpoints: POST /v1/responses, /v1/chat/completions, /v1/completions; GET /v1/models[/{id}].
- Bearer auth required: missing or wrong key -> 401 `invalid_api_key`.
- Validation (§2.7, with `fake.validate = True`): `temperature`/`top_p` -> 400 `unsupported_value`
  for reasoning models (any value: clients must not send them; set `strict_sampling = False` to
  accept the default 1 like the real API), `max_output_tokens` < 16 -> 400, `max_tokens` on Chat
  -> 400 `unsupported_parameter`, Codex ids on Chat -> 400 (Responses only), `suffix` on a
  non-instruct model -> 400, unknown model -> 404 `model_not_found`. Invalid requests are answered
  without consuming the script.
- Streams exactly per §2.3 (Responses: sequence numbers, obfuscation unless
  `stream_options.include_obfuscation` is false, usage with cached tokens) and §3 (Chat: role
  chunk, content, finish chunk, usage chunk when asked, `[DONE]`), legacy Completions per §4.1.
- Every response carries `x-request-id`, `x-ratelimit-*`, `openai-processing-ms`, `openai-version`.
- Prompt caching: requests sharing a `prompt_cache_key` report the common prefix (>= 1024
  tokens, in steps of 128) as `cached_tokens`.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from .http import Connection, RecordedRequest
from .reply import Reply
from .scripted import ScriptedFake, approx_tokens, sse

# id -> kind: "general" (Responses + Chat), "responses-only" (Codex), "legacy" (Completions only)
DEFAULT_MODELS: dict[str, str] = {
    "gpt-5.4-mini": "general",
    "gpt-5.4-mini-2026-03-17": "general",
    "gpt-5.4-nano": "general",
    "gpt-5.4": "general",
    "gpt-5.5": "general",
    "gpt-5.6-luna": "general",
    "gpt-6-luna": "general",
    "gpt-5.3-codex": "responses-only",
    "gpt-3.5-turbo-instruct": "legacy",
    "davinci-002": "legacy",
    "babbage-002": "legacy",
}
DATED = {"gpt-5.4-mini": "gpt-5.4-mini-2026-03-17"}
EFFORTS = {"none", "minimal", "low", "medium", "high", "xhigh", "max"}
INSTRUCT_MODELS = {"gpt-3.5-turbo-instruct"}

RESPONSES = "/v1/responses"
CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"


class BadRequest(Exception):
    """Validation failure, answered as an OpenAI error body."""

    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None,
                 type_: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.code, self.param, self.type = status, message, code, param, type_

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class FakeOpenAI(ScriptedFake):
    generation_paths = (RESPONSES, CHAT, COMPLETIONS)
    auth_headers = ("authorization",)

    def __init__(self, api_key: str = "sk-test-openai", known_keys: dict[str, str] | None = None,
                 models: dict[str, str] | None = None, default_text: str = "a + b"):
        super().__init__(api_key, known_keys, default_text)
        self.models = dict(models or DEFAULT_MODELS)
        self.strict_sampling = True
        self._cache_prefixes: dict[str, str] = {}

    @property
    def base_url(self) -> str:
        """What OPENAI_BASE_URL should be set to (includes /v1)."""
        return self.origin + "/v1"

    # -- headers -----------------------------------------------------------------------------
    def common_headers(self) -> dict[str, str]:
        return {
            "x-request-id": "req_" + self.new_id("")[:32],
            "openai-processing-ms": "42",
            "openai-version": "2020-10-01",
            "x-ratelimit-limit-requests": "5000",
            "x-ratelimit-limit-tokens": "30000",
            "x-ratelimit-remaining-requests": "4999",
            "x-ratelimit-remaining-tokens": "29000",
            "x-ratelimit-reset-requests": "12ms",
            "x-ratelimit-reset-tokens": "1.898s",
        }

    # -- routing -----------------------------------------------------------------------------
    async def route(self, req: RecordedRequest, conn: Connection) -> None:
        headers = self.common_headers()
        try:
            self.check_auth(req)
            if req.method == "GET" and req.path == "/v1/models":
                return await conn.send_json(200, headers, self.models_list())
            if req.method == "GET" and req.path.startswith("/v1/models/"):
                return await conn.send_json(200, headers, self.model_obj(self.known_model(req.path[11:])))
            if req.method != "POST" or req.path not in self.generation_paths:
                raise BadRequest(404, f"Invalid URL ({req.method} {req.path})")
            body = self.parse_body(req)
            if self.validate:
                self.validate_request(req.path, body)
        except BadRequest as e:
            req.status = e.status
            return await conn.send_json(e.status, headers, e.body())
        reply = self.next_reply(req.path)
        await self.perform(req, conn, body, reply, headers)

    def check_auth(self, req: RecordedRequest) -> None:
        if req.auth == "none":
            raise BadRequest(401, "You didn't provide an API key. You need to provide your API key in an "
                                  "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                             code="invalid_api_key")
        if req.auth != "ok":
            raise BadRequest(401, "Incorrect API key provided: sk-...****. You can find your API key at "
                                  "https://platform.openai.com/account/api-keys.", code="invalid_api_key")

    @staticmethod
    def parse_body(req: RecordedRequest) -> dict[str, Any]:
        if not isinstance(req.json, dict):
            raise BadRequest(400, "We could not parse the JSON body of your request.")
        return req.json

    def known_model(self, model: Any) -> str:
        if not isinstance(model, str) or not model:
            raise BadRequest(400, "Missing required parameter: 'model'.", "missing_required_parameter", "model")
        if model not in self.models:
            raise BadRequest(404, f"The model `{model}` does not exist or you do not have access to it.",
                             "model_not_found", "model")
        return model

    # -- validation (§2.7) -------------------------------------------------------------------
    def validate_request(self, path: str, body: dict[str, Any]) -> None:
        model = self.known_model(body.get("model"))
        kind = self.models[model]
        if "stream" in body and not isinstance(body["stream"], bool):
            raise BadRequest(400, "Invalid type for 'stream': expected a boolean.", "invalid_type", "stream")
        if path == RESPONSES:
            self.validate_responses(model, kind, body)
        elif path == CHAT:
            self.validate_chat(model, kind, body)
        else:
            self.validate_completions(model, kind, body)
        if kind != "legacy":
            self.validate_sampling(body)

    def validate_sampling(self, body: dict[str, Any]) -> None:
        for param in ("temperature", "top_p"):
            if param in body and (self.strict_sampling or body[param] != 1):
                raise BadRequest(400, f"Unsupported value: '{param}' does not support {body[param]} with this "
                                      "model. Only the default (1) value is supported.", "unsupported_value", param)

    def validate_responses(self, model: str, kind: str, body: dict[str, Any]) -> None:
        if kind == "legacy":
            raise BadRequest(400, f"The model `{model}` is not supported with the Responses API.", None, "model")
        if "input" not in body:
            raise BadRequest(400, "Missing required parameter: 'input'.", "missing_required_parameter", "input")
        mot = body.get("max_output_tokens")
        if mot is not None and (not isinstance(mot, int) or mot < 16):
            raise BadRequest(400, f"Invalid 'max_output_tokens': integer below minimum value. Expected a value "
                                  f">= 16, but got {mot} instead.", "integer_below_min_value", "max_output_tokens")
        effort = (body.get("reasoning") or {}).get("effort")
        if effort is not None and effort not in EFFORTS:
            raise BadRequest(400, f"Unsupported value: '{effort}' is not supported with this model for "
                                  "'reasoning.effort'.", "unsupported_value", "reasoning.effort")

    def validate_chat(self, model: str, kind: str, body: dict[str, Any]) -> None:
        if kind == "responses-only":
            raise BadRequest(400, "This model is only supported in v1/responses and not in v1/chat/completions.",
                             None, "model")
        if kind == "legacy":
            raise BadRequest(404, "This is not a chat model and thus not supported in the v1/chat/completions "
                                  "endpoint. Did you mean to use v1/completions?", None, "model")
        if not isinstance(body.get("messages"), list):
            raise BadRequest(400, "Missing required parameter: 'messages'.", "missing_required_parameter",
                             "messages")
        if "max_tokens" in body:
            raise BadRequest(400, "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                                  "'max_completion_tokens' instead.", "unsupported_parameter", "max_tokens")

    def validate_completions(self, model: str, kind: str, body: dict[str, Any]) -> None:
        if kind != "legacy":
            raise BadRequest(404, "This is a chat model and not supported in the v1/completions endpoint. "
                                  "Did you mean to use v1/chat/completions?", None, "model")
        if "prompt" not in body:
            raise BadRequest(400, "Missing required parameter: 'prompt'.", "missing_required_parameter", "prompt")
        if "suffix" in body and model not in INSTRUCT_MODELS:
            raise BadRequest(400, f"Unsupported parameter: 'suffix' is not supported with {model}.",
                             "unsupported_parameter", "suffix")

    # -- performing a reply ------------------------------------------------------------------
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
            return await conn.send_json(reply.status, {**headers, **self.retry_headers(reply), **reply.headers},
                                        self.error_body(reply))
        req.status = 200
        if reply.kind == "fixture":
            req.stream = True
            return await self.serve_fixture(conn, reply, headers)
        if not body.get("stream"):
            if reply.kind != "text":
                return await self.perform(req, conn, body, Reply.status(500), headers)
            await conn.pause(reply.first_byte_delay_ms / 1000)
            return await conn.send_json(200, {**headers, **reply.headers}, self.full_object(req.path, body, reply))
        req.stream = True
        events, ending = self.stream_plan(req.path, body, reply)
        await self.stream_events(conn, reply, headers, events, ending)

    @staticmethod
    def retry_headers(reply: Reply) -> dict[str, str]:
        h: dict[str, str] = {}
        if reply.retry_after is not None:
            h["retry-after"] = str(reply.retry_after)
        if reply.retry_after_ms is not None:
            h["retry-after-ms"] = str(reply.retry_after_ms)
        if reply.should_retry is not None:
            h["x-should-retry"] = "true" if reply.should_retry else "false"
        return h

    @staticmethod
    def error_body(reply: Reply) -> Any:
        if reply.body is not None:
            return reply.body
        s, code = reply.status, reply.error_code
        typ, msg = "invalid_request_error", "Error"
        if s == 401:
            code, msg = code or "invalid_api_key", "Incorrect API key provided: sk-...****."
        elif s == 403:
            code, msg = code or "unsupported_country_region_territory", "Country, region, or territory not supported"
        elif s == 404:
            code, msg = code or "model_not_found", "The model does not exist or you do not have access to it."
        elif s == 429 and code == "insufficient_quota":
            typ, msg = "insufficient_quota", ("You exceeded your current quota, please check your plan and "
                                             "billing details.")
        elif s == 429:
            wait = reply.retry_after if reply.retry_after is not None else 1.898
            typ, code = "tokens", code or "rate_limit_exceeded"
            msg = (f"Rate limit reached for gpt-5.4-mini in organization org-abc on tokens per min (TPM): "
                   f"Limit 30000, Used 29000, Requested 2000. Please try again in {wait}s.")
        elif s >= 500:
            typ = "server_error"
            msg = "The server had an error while processing your request. Sorry about that!"
            if s == 503:
                code, msg = code or "server_is_overloaded", "The server is overloaded. Please try again later."
        return {"error": {"message": reply.error_message or msg, "type": reply.error_type or typ,
                          "param": None, "code": code}}

    # -- shapes ------------------------------------------------------------------------------
    def resolved_model(self, body: dict[str, Any], reply: Reply) -> str:
        model = reply.model or str(body.get("model", "gpt-5.4-mini"))
        return DATED.get(model, model)

    def usage_responses(self, body: dict[str, Any], text: str, reply: Reply) -> dict[str, Any]:
        prompt = str(body.get("instructions") or "") + repr(body.get("input"))
        input_tokens = approx_tokens(prompt)
        usage = {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": self.cached_tokens(body.get("prompt_cache_key"), prompt),
                                     "cache_write_tokens": 0},
            "output_tokens": approx_tokens(text),
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + approx_tokens(text),
        }
        return {**usage, **(reply.usage or {})}

    def cached_tokens(self, key: Any, prompt: str) -> int:
        """Common prefix with the previous prompt under the same cache key, >= 1024 tokens, step 128."""
        if not key:
            return 0
        prev = self._cache_prefixes.get(str(key), "")
        self._cache_prefixes[str(key)] = prompt
        common = 0
        for a, b in zip(prev, prompt):
            if a != b:
                break
            common += 1
        tokens = common // 4
        return (tokens // 128) * 128 if tokens >= 1024 else 0

    def response_obj(self, rid: str, body: dict[str, Any], reply: Reply, status: str,
                     output: list[Any], usage: Any, error: Any = None, incomplete: Any = None) -> dict[str, Any]:
        done = status in ("completed", "incomplete")
        return {
            "id": rid, "object": "response", "created_at": int(time.time()), "status": status,
            "background": False, "completed_at": int(time.time()) if done else None, "error": error,
            "incomplete_details": incomplete, "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"), "max_tool_calls": None,
            "model": self.resolved_model(body, reply), "output": output, "parallel_tool_calls": True,
            "previous_response_id": None, "prompt_cache_key": body.get("prompt_cache_key"),
            "reasoning": {"effort": (body.get("reasoning") or {}).get("effort", "medium"), "summary": None},
            "safety_identifier": None, "service_tier": "default" if done else body.get("service_tier", "auto"),
            "store": body.get("store", True), "temperature": 1.0,
            "text": {"format": {"type": "text"}, "verbosity": (body.get("text") or {}).get("verbosity", "medium")},
            "tool_choice": "auto", "tools": [], "top_logprobs": 0, "top_p": 1.0, "truncation": "disabled",
            "usage": usage, "user": None, "metadata": {},
        }

    @staticmethod
    def obfuscation(seed: str) -> str:
        h = hashlib.sha256(seed.encode()).hexdigest()
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        return "".join(alphabet[int(h[i:i + 2], 16) % 62] for i in range(0, 2 * (4 + int(h[0], 16) % 9), 2))

    def full_object(self, path: str, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        """Non-streaming response bodies."""
        text, model = reply.text, self.resolved_model(body, reply)
        if path == RESPONSES:
            rid, mid = self.new_id("resp_"), self.new_id("msg_")
            item = {"id": mid, "type": "message", "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": text}]}
            status = "incomplete" if reply.incomplete else "completed"
            inc = {"reason": reply.incomplete} if reply.incomplete else None
            return self.response_obj(rid, body, reply, status, [item], self.usage_responses(body, text, reply),
                                     incomplete=inc)
        usage = {"prompt_tokens": approx_tokens(repr(body)), "completion_tokens": approx_tokens(text)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if path == CHAT:
            return {"id": self.new_id("chatcmpl-"), "object": "chat.completion", "created": int(time.time()),
                    "model": model, "choices": [{"index": 0, "message": {"role": "assistant", "content": text,
                                                                          "refusal": None},
                                                 "logprobs": None, "finish_reason": reply.stop_reason or "stop"}],
                    "usage": usage, "service_tier": "default", "system_fingerprint": None}
        return {"id": self.new_id("cmpl-"), "object": "text_completion", "created": int(time.time()),
                "model": model, "choices": [{"text": text, "index": 0, "logprobs": None,
                                             "finish_reason": reply.stop_reason or "stop"}], "usage": usage}

    def stream_plan(self, path: str, body: dict[str, Any], reply: Reply) -> tuple[list[bytes], str]:
        if path == RESPONSES:
            return self.responses_events(body, reply)
        return self.chat_like_events(path, body, reply)

    def responses_events(self, body: dict[str, Any], reply: Reply) -> tuple[list[bytes], str]:
        """§2.3: created, in_progress, item/part added, deltas, done events, completed."""
        rid, mid = self.new_id("resp_"), self.new_id("msg_")
        obf = (body.get("stream_options") or {}).get("include_obfuscation", True) is not False
        deltas = reply.deltas()
        if reply.kind != "text":
            deltas = deltas[: reply.after_chunks]
        if reply.kind == "endless":
            deltas = [reply.text]
        events: list[bytes] = []

        def emit(type_: str, **fields: Any) -> None:
            events.append(sse(type_, {"type": type_, "sequence_number": len(events), **fields}))

        loc = {"item_id": mid, "output_index": 0, "content_index": 0}
        emit("response.created", response=self.response_obj(rid, body, reply, "in_progress", [], None))
        emit("response.in_progress", response=self.response_obj(rid, body, reply, "in_progress", [], None))
        if reply.kind == "error_mid_stream" and reply.after_chunks <= 0 and reply.shape != "failed":
            return self._responses_error(events, emit, rid, body, reply)
        emit("response.output_item.added", output_index=0,
             item={"id": mid, "type": "message", "status": "in_progress", "content": [], "role": "assistant"})
        emit("response.content_part.added", **loc,
             part={"type": "output_text", "annotations": [], "logprobs": [], "text": ""})
        for d in deltas:
            extra = {"obfuscation": self.obfuscation(f"{rid}{len(events)}")} if obf else {}
            emit("response.output_text.delta", **loc, delta=d, logprobs=[], **extra)
        if reply.kind == "endless":
            return events, "repeat"
        if reply.kind == "error_mid_stream":
            return self._responses_error(events, emit, rid, body, reply)
        if reply.kind == "close_mid_stream":
            return events, "abort"
        if reply.kind == "stall":
            return events, "stall"
        text = "".join(deltas)
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
        item = {"id": mid, "type": "message", "status": "completed" if not reply.incomplete else "incomplete",
                "content": [part], "role": "assistant"}
        emit("response.output_text.done", **loc, text=text, logprobs=[])
        emit("response.content_part.done", **loc, part=part)
        emit("response.output_item.done", output_index=0, item=item)
        usage = self.usage_responses(body, text, reply)
        if reply.incomplete:
            emit("response.incomplete", response=self.response_obj(
                rid, body, reply, "incomplete", [item], usage, incomplete={"reason": reply.incomplete}))
        else:
            emit("response.completed", response=self.response_obj(rid, body, reply, "completed", [item], usage))
        return events, "end"

    def _responses_error(self, events, emit, rid, body, reply) -> tuple[list[bytes], str]:
        code = reply.error_code or ("rate_limit_exceeded" if reply.shape == "failed" else "server_error")
        if reply.shape == "failed":
            msg = reply.error_message or (
                "Rate limit reached for gpt-5.4-mini in organization org-AAA on tokens per min (TPM): Limit 30000, "
                "Used 22999, Requested 12528. Please try again in 11.054s. Visit "
                "https://platform.openai.com/account/rate-limits to learn more."
                if code == "rate_limit_exceeded" else "The server had an error processing your request.")
            emit("response.failed", response=self.response_obj(
                rid, body, reply, "failed", [], None, error={"code": code, "message": msg}))
        elif reply.shape == "nested":
            code = reply.error_code or "too_many_requests"
            emit("error", error={"type": reply.error_type or code, "code": code,
                                 "message": reply.error_message or "Too Many Requests", "param": None})
        else:
            emit("error", code=code, message=reply.error_message or
                 "The server had an error processing your request. Sorry about that!", param=None)
        return events, "end"

    def chat_like_events(self, path: str, body: dict[str, Any], reply: Reply) -> tuple[list[bytes], str]:
        """§3 (Chat) and §4.1 (legacy Completions) streams, ending with `data: [DONE]`."""
        chat = path == CHAT
        cid = self.new_id("chatcmpl-" if chat else "cmpl-")
        created, model = int(time.time()), self.resolved_model(body, reply)
        opts = body.get("stream_options") or {}
        with_usage = bool(opts.get("include_usage"))
        obf = opts.get("include_obfuscation", True) is not False
        deltas = reply.deltas()
        if reply.kind != "text":
            deltas = deltas[: reply.after_chunks]
        if reply.kind == "endless":
            deltas = [reply.text]
        events: list[bytes] = []

        def emit(choices: list[Any], usage: Any = None) -> None:
            if chat:
                obj = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                       "service_tier": "default", "system_fingerprint": None, "choices": choices}
            else:
                obj = {"id": cid, "object": "text_completion", "created": created, "model": model,
                       "choices": choices}
            if with_usage:
                obj["usage"] = usage
            if obf:
                obj["obfuscation"] = self.obfuscation(f"{cid}{len(events)}")
            events.append(sse(None, obj))

        def choice(delta_or_text: Any, finish: str | None) -> dict[str, Any]:
            if chat:
                return {"index": 0, "delta": delta_or_text, "logprobs": None, "finish_reason": finish}
            return {"text": delta_or_text, "index": 0, "logprobs": None, "finish_reason": finish}

        if chat:
            emit([choice({"role": "assistant", "content": "", "refusal": None}, None)])
        for d in deltas:
            emit([choice({"content": d} if chat else d, None)])
        if reply.kind == "endless":
            return events, "repeat"
        if reply.kind == "error_mid_stream":
            events.append(sse(None, {"error": {"message": reply.error_message or "The server had an error "
                                               "while processing your request. Sorry about that!",
                                               "type": reply.error_type or "server_error", "param": None,
                                               "code": reply.error_code}}))
            return events, "end"
        if reply.kind == "close_mid_stream":
            return events, "abort"
        if reply.kind == "stall":
            return events, "stall"
        finish = reply.stop_reason or ("length" if reply.incomplete else "stop")
        emit([choice({} if chat else "", finish)])
        if with_usage:
            text = "".join(deltas)
            usage = {"prompt_tokens": approx_tokens(repr(body)), "completion_tokens": approx_tokens(text)}
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            usage["prompt_tokens_details"] = {"cached_tokens": 0, "audio_tokens": 0}
            usage["completion_tokens_details"] = {"reasoning_tokens": 0, "audio_tokens": 0,
                                                  "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
            emit([], {**usage, **(reply.usage or {})})
        events.append(b"data: [DONE]\n\n")
        return events, "end"

    # -- models ------------------------------------------------------------------------------
    def model_obj(self, mid: str) -> dict[str, Any]:
        return {"id": mid, "object": "model", "created": 1764000000, "owned_by": "system", "shutdown_date": None}

    def models_list(self) -> dict[str, Any]:
        return {"object": "list", "data": [self.model_obj(m) for m in self.models]}
