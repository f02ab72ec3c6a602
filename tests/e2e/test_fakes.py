"""The fake upstreams, tested on their own with a plain asyncio HTTP client: exact bytes,
validation, auth, errors, keep-alive, split writes, abrupt closes and hang-up detection.
These tests do not need the switchboard binary."""

from __future__ import annotations

import asyncio
import json

import pytest

from fakes import FakeAnthropic, FakeOpenAI, Reply
from fakes.scripted import fixtures_dir
from harness.httpclient import HttpConn

OA_KEY = "sk-test-openai"
AN_KEY = "sk-ant-test"
OA = {"authorization": f"Bearer {OA_KEY}"}
AN = {"x-api-key": AN_KEY, "anthropic-version": "2023-06-01"}
RESP_BODY = {"model": "gpt-5.4-mini", "input": "fn add(", "stream": True, "max_output_tokens": 64}
MSG_BODY = {"model": "claude-sonnet-5-5", "max_tokens": 256, "stream": True,
            "messages": [{"role": "user", "content": "Explain"}]}


async def post(port: int, path: str, body, headers) -> "object":
    async with HttpConn(port) as c:
        return await c.request("POST", path, headers, body)


def datas(resp) -> list[dict]:
    return [json.loads(e["data"]) for e in resp.events() if e["data"] != "[DONE]"]


# -- OpenAI: auth, headers, validation ---------------------------------------------------------

async def test_openai_auth_and_headers(fake_openai: FakeOpenAI):
    missing = await post(fake_openai.port, "/v1/responses", RESP_BODY, {})
    assert missing.status == 401 and missing.json()["error"]["code"] == "invalid_api_key"
    wrong = await post(fake_openai.port, "/v1/responses", RESP_BODY, {"authorization": "Bearer sk-nope"})
    assert wrong.status == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    ok = await post(fake_openai.port, "/v1/responses", RESP_BODY, OA)
    assert ok.status == 200 and ok.headers["content-type"].startswith("text/event-stream")
    for r in (missing, wrong, ok):
        assert r.headers["x-request-id"].startswith("req_")
        assert r.headers["x-ratelimit-remaining-tokens"] and r.headers["x-ratelimit-reset-requests"] == "12ms"
    assert [r.auth for r in fake_openai.requests] == ["none", "unknown", "ok"]
    assert fake_openai.requests[2].headers["authorization"] == "<key:ok>"
    assert OA_KEY not in repr(fake_openai.requests) and "sk-nope" not in repr(fake_openai.requests)


async def test_openai_known_keys_are_labelled():
    async with FakeOpenAI(known_keys={"sk-ant-SECRET": "anthropic"}) as fake:
        await post(fake.port, "/v1/responses", RESP_BODY, {"authorization": "Bearer sk-ant-SECRET"})
        assert fake.requests[0].auth == "anthropic"
        assert "sk-ant-SECRET" not in repr(fake.requests)


@pytest.mark.parametrize("path,body,status,code", [
    ("/v1/responses", {**RESP_BODY, "temperature": 0.2}, 400, "unsupported_value"),
    ("/v1/responses", {**RESP_BODY, "top_p": 0.9}, 400, "unsupported_value"),
    ("/v1/responses", {**RESP_BODY, "max_output_tokens": 8}, 400, "integer_below_min_value"),
    ("/v1/responses", {**RESP_BODY, "model": "gpt-nope"}, 404, "model_not_found"),
    ("/v1/chat/completions", {"model": "gpt-5.4-mini", "messages": [], "max_tokens": 5}, 400,
     "unsupported_parameter"),
    ("/v1/chat/completions", {"model": "gpt-5.3-codex", "messages": []}, 400, None),
    ("/v1/completions", {"model": "davinci-002", "prompt": "a", "suffix": "b"}, 400, "unsupported_parameter"),
    ("/v1/completions", {"model": "gpt-5.4-mini", "prompt": "a"}, 404, None),
])
async def test_openai_validation(fake_openai: FakeOpenAI, path, body, status, code):
    fake_openai.script(Reply.text("kept for the next valid request"))
    r = await post(fake_openai.port, path, body, OA)
    assert r.status == status, r.body
    assert r.json()["error"]["code"] == code
    assert fake_openai.pending() == 1  # an invalid request does not consume the script


async def test_openai_models(fake_openai: FakeOpenAI):
    async with HttpConn(fake_openai.port) as c:
        listing = await c.request("GET", "/v1/models", OA)
        one = await c.request("GET", "/v1/models/gpt-6-luna", OA)
        missing = await c.request("GET", "/v1/models/gpt-nope", OA)
    assert listing.json()["object"] == "list"
    assert {"id": "gpt-5.4-mini", "object": "model", "created": 1764000000, "owned_by": "system",
            "shutdown_date": None} in listing.json()["data"]
    assert one.json()["id"] == "gpt-6-luna" and missing.status == 404


# -- OpenAI: streams ---------------------------------------------------------------------------

async def test_responses_stream_shape(fake_openai: FakeOpenAI):
    fake_openai.script(Reply.text("a + b", chunks=["a", " +", " b"]))
    r = await post(fake_openai.port, "/v1/responses", {**RESP_BODY, "prompt_cache_key": "k"}, OA)
    evs = r.events()
    types_ = [e["event"] for e in evs]
    assert types_ == ["response.created", "response.in_progress", "response.output_item.added",
                      "response.content_part.added"] + ["response.output_text.delta"] * 3 + [
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.completed"]
    data = datas(r)
    assert [d["sequence_number"] for d in data] == list(range(len(data)))
    assert all(d["type"] == e["event"] for d, e in zip(data, evs))
    deltas = [d for d in data if d["type"] == "response.output_text.delta"]
    assert "".join(d["delta"] for d in deltas) == "a + b"
    assert all(d["obfuscation"] for d in deltas)
    done = data[-1]["response"]
    assert done["status"] == "completed" and done["model"] == "gpt-5.4-mini-2026-03-17"
    assert done["output"][0]["content"][0]["text"] == "a + b"
    assert set(done["usage"]) >= {"input_tokens", "input_tokens_details", "output_tokens", "total_tokens"}
    assert data[0]["response"]["usage"] is None
    assert r.complete and r.body.endswith(b"\n\n")


async def test_responses_obfuscation_off_and_incomplete(fake_openai: FakeOpenAI):
    fake_openai.script(Reply.incomplete_text("abc"))
    body = {**RESP_BODY, "stream_options": {"include_obfuscation": False}}
    data = datas(await post(fake_openai.port, "/v1/responses", body, OA))
    assert not any("obfuscation" in d for d in data)
    assert data[-1]["type"] == "response.incomplete"
    assert data[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


async def test_responses_prompt_cache_accounting(fake_openai: FakeOpenAI):
    body = {**RESP_BODY, "instructions": "x" * 8000, "prompt_cache_key": "ws1"}
    first = datas(await post(fake_openai.port, "/v1/responses", body, OA))[-1]["response"]["usage"]
    second = datas(await post(fake_openai.port, "/v1/responses", body, OA))[-1]["response"]["usage"]
    assert first["input_tokens_details"]["cached_tokens"] == 0
    assert second["input_tokens_details"]["cached_tokens"] >= 1024
    assert second["input_tokens_details"]["cached_tokens"] % 128 == 0


async def test_responses_non_streaming(fake_openai: FakeOpenAI):
    fake_openai.script(Reply.text("xyz"))
    r = await post(fake_openai.port, "/v1/responses", {**RESP_BODY, "stream": False}, OA)
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["output"][0]["content"][0]["text"] == "xyz"


@pytest.mark.parametrize("name", ["openai-responses-text.sse", "openai-responses-error-flat.sse",
                                  "openai-chat-text-usage.sse"])
@pytest.mark.parametrize("split", [False, True])
async def test_fixture_served_verbatim(fake_openai: FakeOpenAI, name, split):
    fake_openai.script(Reply.fixture(name, split_writes=split))
    r = await post(fake_openai.port, "/v1/responses", RESP_BODY, OA)
    expected = (fixtures_dir() / name).read_bytes()
    assert r.body == expected
    n_events = expected.count(b"\n\n")
    assert len(r.chunks) == n_events if not split else len(r.chunks) > 2 * n_events


async def test_split_writes_cut_lines(fake_openai: FakeOpenAI):
    fake_openai.script(Reply.text("hello world", split_writes=True))
    r = await post(fake_openai.port, "/v1/responses", RESP_BODY, OA)
    assert any(not c.endswith(b"\n") for c in r.chunks)  # some pieces end mid-line
    assert "".join(d.get("delta", "") for d in datas(r)) == "hello world"


async def test_keep_alive_two_requests_one_connection(fake_openai: FakeOpenAI):
    async with HttpConn(fake_openai.port) as c:
        a = await c.request("POST", "/v1/responses", OA, RESP_BODY)
        b = await c.request("POST", "/v1/chat/completions", OA,
                            {"model": "gpt-5.4-mini", "messages": [{"role": "user", "content": "x"}],
                             "stream": True})
    assert a.complete and b.complete and len(fake_openai.requests) == 2


async def test_chat_stream_with_and_without_usage(fake_openai: FakeOpenAI):
    body = {"model": "gpt-5.4-mini", "messages": [{"role": "user", "content": "x"}], "stream": True,
            "stream_options": {"include_usage": True}}
    fake_openai.script(Reply.text("a + b", chunks=["a", " + b"]))
    r = await post(fake_openai.port, "/v1/chat/completions", body, OA)
    assert r.events()[-1]["data"] == "[DONE]"
    data = datas(r)
    assert data[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert [d["choices"][0]["delta"].get("content") for d in data[1:3]] == ["a", " + b"]
    assert data[3]["choices"][0]["finish_reason"] == "stop"
    assert data[4]["choices"] == [] and data[4]["usage"]["completion_tokens"] >= 1
    assert all(d["usage"] is None for d in data[:4])
    plain = datas(await post(fake_openai.port, "/v1/chat/completions",
                             {**body, "stream_options": {"include_obfuscation": False}}, OA))
    assert not any("usage" in d or "obfuscation" in d for d in plain)


async def test_legacy_completions_stream(fake_openai: FakeOpenAI):
    fake_openai.script(Reply.text("return a", chunks=2))
    r = await post(fake_openai.port, "/v1/completions",
                   {"model": "gpt-3.5-turbo-instruct", "prompt": "def f(a):\n    ", "suffix": "\n", "stream": True},
                   OA)
    data = datas(r)
    assert r.events()[-1]["data"] == "[DONE]"
    assert all(d["object"] == "text_completion" for d in data)
    assert "".join(d["choices"][0]["text"] for d in data) == "return a"


@pytest.mark.parametrize("shape,check", [
    ("flat", lambda d: d["type"] == "error" and d["code"] == "server_error" and d["message"]),
    ("nested", lambda d: d["type"] == "error" and d["error"]["code"] == "too_many_requests"),
    ("failed", lambda d: d["type"] == "response.failed" and d["response"]["status"] == "failed"
     and "try again in" in d["response"]["error"]["message"]),
])
async def test_responses_error_mid_stream(fake_openai: FakeOpenAI, shape, check):
    fake_openai.script(Reply.error_mid_stream(shape, after_chunks=1))
    r = await post(fake_openai.port, "/v1/responses", RESP_BODY, OA)
    data = datas(r)
    assert r.status == 200 and r.complete
    assert sum(d["type"] == "response.output_text.delta" for d in data) == 1
    assert check(data[-1])


async def test_chat_error_mid_stream(fake_openai: FakeOpenAI):
    fake_openai.script(Reply.error_mid_stream(after_chunks=1))
    r = await post(fake_openai.port, "/v1/chat/completions",
                   {"model": "gpt-5.4-mini", "messages": [{"role": "user", "content": "x"}], "stream": True}, OA)
    assert "error" in datas(r)[-1] and "[DONE]" not in r.body.decode()


@pytest.mark.parametrize("reply,status,code,headers", [
    (Reply.status(429, retry_after=2), 429, "rate_limit_exceeded", {"retry-after": "2"}),
    (Reply.status(429, error_code="insufficient_quota"), 429, "insufficient_quota", {}),
    (Reply.status(503, retry_after_ms=150, should_retry=True), 503, "server_is_overloaded",
     {"retry-after-ms": "150", "x-should-retry": "true"}),
    (Reply.status(500), 500, None, {}),
])
async def test_openai_scripted_status(fake_openai: FakeOpenAI, reply, status, code, headers):
    fake_openai.script(reply)
    r = await post(fake_openai.port, "/v1/responses", RESP_BODY, OA)
    assert r.status == status and r.json()["error"]["code"] == code
    for k, v in headers.items():
        assert r.headers[k] == v
    if code == "insufficient_quota":
        assert "retry-after" not in r.headers
    assert "x-request-id" in r.headers and fake_openai.requests[0].status == status


async def test_script_per_endpoint_and_default(fake_openai: FakeOpenAI):
    fake_openai.default_reply = Reply.text("DEFAULT")
    fake_openai.script(Reply.status(500), endpoint="/v1/chat/completions")
    r = await post(fake_openai.port, "/v1/responses", RESP_BODY, OA)
    assert "DEFAULT" in r.body.decode()
    chat = await post(fake_openai.port, "/v1/chat/completions",
                      {"model": "gpt-5.4-mini", "messages": [], "stream": True}, OA)
    assert chat.status == 500


# -- both: timing, closes, hang-ups ------------------------------------------------------------

async def test_slow_first_byte(fake_openai: FakeOpenAI):
    fake_openai.script(Reply.slow_first_byte(300))
    loop = asyncio.get_running_loop()
    async with HttpConn(fake_openai.port) as c:
        t0 = loop.time()
        await c.send("POST", "/v1/responses", OA, RESP_BODY)
        r = await c.read_response()
    assert r.first_byte_at - t0 >= 0.28 and r.complete


async def test_delay_between_events(fake_openai: FakeOpenAI):
    fake_openai.script(Reply.text("a b c d", delay_ms=50))
    r = await post(fake_openai.port, "/v1/responses", RESP_BODY, OA)
    gaps = [b - a for a, b in zip(r.chunk_times, r.chunk_times[1:])]
    assert min(gaps) >= 0.04


async def test_close_mid_stream_truncates_body(fake_openai: FakeOpenAI):
    fake_openai.script(Reply.close_mid_stream(after_chunks=2))
    async with HttpConn(fake_openai.port) as c:
        await c.send("POST", "/v1/responses", OA, RESP_BODY)
        with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
            await c.read_response()
    req = fake_openai.requests[0]
    await fake_openai.wait_until_finished(req)
    assert not req.response_complete and not req.client_disconnected_early


async def test_client_hangup_is_recorded(fake_openai: FakeOpenAI):
    fake_openai.script(Reply.text("one two three four five six seven eight", delay_ms=100))
    async with HttpConn(fake_openai.port) as c:
        await c.send("POST", "/v1/responses", OA, RESP_BODY)
        partial = await c.read_response(max_chunks=3)
    assert not partial.complete
    req = (await fake_openai.wait_for_requests(1))[0]
    await fake_openai.wait_until_finished(req, timeout=3)
    assert req.client_disconnected_early and not req.response_complete


async def test_hang_until_client_leaves(fake_openai: FakeOpenAI):
    fake_openai.script(Reply.hang())
    async with HttpConn(fake_openai.port) as c:
        await c.send("POST", "/v1/responses", OA, RESP_BODY)
        with pytest.raises(asyncio.TimeoutError):
            await c.read_response(timeout=0.3)
    req = fake_openai.requests[0]
    await fake_openai.wait_until_finished(req, timeout=3)
    assert req.client_disconnected_early


async def test_stall_mid_stream(fake_openai: FakeOpenAI):
    fake_openai.script(Reply.stall_mid_stream(after_chunks=1))
    async with HttpConn(fake_openai.port) as c:
        await c.send("POST", "/v1/responses", OA, RESP_BODY)
        partial = await c.read_response(max_chunks=5, timeout=2)  # created..first delta
        assert not partial.complete
        with pytest.raises(asyncio.TimeoutError):
            await c.read_response(max_chunks=1, timeout=0.3)


async def test_wait_for_requests_times_out_clearly(fake_openai: FakeOpenAI):
    with pytest.raises(AssertionError, match="expected 1 request"):
        await fake_openai.wait_for_requests(1, timeout=0.1)


# -- Anthropic ---------------------------------------------------------------------------------

@pytest.mark.parametrize("headers,status,etype", [
    ({"x-api-key": AN_KEY}, 400, "invalid_request_error"),  # no anthropic-version
    ({"x-api-key": "sk-ant-wrong", "anthropic-version": "2023-06-01"}, 401, "authentication_error"),
    ({"anthropic-version": "2023-06-01"}, 401, "authentication_error"),
    ({**AN, "authorization": f"Bearer {AN_KEY}"}, 400, "invalid_request_error"),
])
async def test_anthropic_auth(fake_anthropic: FakeAnthropic, headers, status, etype):
    r = await post(fake_anthropic.port, "/v1/messages", MSG_BODY, headers)
    assert r.status == status and r.json()["type"] == "error" and r.json()["error"]["type"] == etype
    assert r.headers["request-id"].startswith("req_")
    assert AN_KEY not in repr(fake_anthropic.requests)


async def test_anthropic_bearer_accepted(fake_anthropic: FakeAnthropic):
    r = await post(fake_anthropic.port, "/v1/messages", MSG_BODY,
                   {"authorization": f"Bearer {AN_KEY}", "anthropic-version": "2023-06-01"})
    assert r.status == 200 and fake_anthropic.requests[0].headers["authorization"] == "<key:ok>"


@pytest.mark.parametrize("change,status", [
    ({"temperature": 0.5}, 400), ({"top_k": 5}, 400), ({"top_p": 0.9}, 400),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "Sure"}]}, 400),
    ({"thinking": {"type": "enabled", "budget_tokens": 2048}}, 400),
    ({"thinking": {"type": "disabled"}}, 400),
    ({"model": "claude-nope"}, 404),
    ({"model": "claude-haiku-4-5", "temperature": 0.5}, 200),
    ({"model": "claude-haiku-4-5", "temperature": 0.5, "top_p": 0.5}, 400),
    ({"model": "claude-haiku-5-5", "thinking": {"type": "disabled"}}, 200),
])
async def test_anthropic_validation(fake_anthropic: FakeAnthropic, change, status):
    r = await post(fake_anthropic.port, "/v1/messages", {**MSG_BODY, **change}, AN)
    assert r.status == status, r.body


async def test_anthropic_stream_thinking_omitted(fake_anthropic: FakeAnthropic):
    fake_anthropic.script(Reply.text("This function computes.", chunks=3))
    body = {**MSG_BODY, "thinking": {"type": "adaptive", "display": "omitted"},
            "system": [{"type": "text", "text": "s" * 400, "cache_control": {"type": "ephemeral"}}]}
    r = await post(fake_anthropic.port, "/v1/messages", body, AN)
    evs = r.events()
    names = [e["event"] for e in evs]
    assert names == ["message_start", "content_block_start", "content_block_delta", "content_block_stop",
                     "content_block_start", "ping"] + ["content_block_delta"] * 3 + [
        "content_block_stop", "message_delta", "message_stop"]
    data = [json.loads(e["data"]) for e in evs]
    assert data[1]["content_block"]["type"] == "thinking"
    assert data[2]["delta"]["type"] == "signature_delta"
    assert evs[5]["data"] == '{"type": "ping"}'
    assert "".join(d["delta"]["text"] for d in data[6:9]) == "This function computes."
    assert all(d["index"] == 1 for d in data[6:9])
    assert data[0]["message"]["usage"]["output_tokens"] == 1
    assert data[0]["message"]["usage"]["cache_creation_input_tokens"] > 0
    assert data[-2]["usage"]["output_tokens"] > 1 and data[-2]["delta"]["stop_reason"] == "end_turn"
    again = [json.loads(e["data"]) for e in (await post(fake_anthropic.port, "/v1/messages", body, AN)).events()]
    assert again[0]["message"]["usage"]["cache_read_input_tokens"] > 0


async def test_anthropic_stream_plain_and_json(fake_anthropic: FakeAnthropic):
    r = await post(fake_anthropic.port, "/v1/messages", MSG_BODY, AN)
    assert [e["event"] for e in r.events()][:3] == ["message_start", "content_block_start", "ping"]
    j = await post(fake_anthropic.port, "/v1/messages", {**MSG_BODY, "stream": False}, AN)
    assert j.json()["content"][-1] == {"type": "text", "text": fake_anthropic.default_reply.text}


async def test_anthropic_error_mid_stream_and_529(fake_anthropic: FakeAnthropic):
    fake_anthropic.script(Reply.error_mid_stream(after_chunks=1, text="Hel lo"), Reply.status(529),
                          Reply.status(429, retry_after=3))
    r = await post(fake_anthropic.port, "/v1/messages", MSG_BODY, AN)
    last = r.events()[-1]
    assert last["event"] == "error"
    assert last["data"] == '{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'
    assert "message_stop" not in r.body.decode()
    o = await post(fake_anthropic.port, "/v1/messages", MSG_BODY, AN)
    assert o.status == 529 and o.json()["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    rl = await post(fake_anthropic.port, "/v1/messages", MSG_BODY, AN)
    assert rl.status == 429 and rl.headers["retry-after"] == "3"
    assert rl.headers["anthropic-ratelimit-tokens-reset"].endswith("Z")


async def test_anthropic_fixture_and_models(fake_anthropic: FakeAnthropic):
    fake_anthropic.script(Reply.fixture("anthropic-messages-thinking-omitted.sse", split_writes=True))
    r = await post(fake_anthropic.port, "/v1/messages", MSG_BODY, AN)
    assert r.body == (fixtures_dir() / "anthropic-messages-thinking-omitted.sse").read_bytes()
    async with HttpConn(fake_anthropic.port) as c:
        models = (await c.request("GET", "/v1/models", AN)).json()
    assert any(m["id"] == "claude-sonnet-5-5" for m in models["data"]) and models["has_more"] is False


async def test_anthropic_413(fake_anthropic: FakeAnthropic):
    fake_anthropic.max_body_bytes = 1000
    r = await post(fake_anthropic.port, "/v1/messages",
                   {**MSG_BODY, "messages": [{"role": "user", "content": "x" * 2000}]}, AN)
    assert r.status == 413 and r.json()["error"]["type"] == "request_too_large"
