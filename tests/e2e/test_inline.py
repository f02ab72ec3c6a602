"""The inline completion engine end to end: ghost text from the fake Codex server, typing-through,
in-flight reuse, supersession, early cut, clean-up, fallbacks and keys."""

from __future__ import annotations

import asyncio
import socket
import ssl

import pytest
import trustme
from lsprotocol import types

from fakes import FakeOpenAI, Reply

ADD = "fn add(a: i32, b: i32) -> i32 {\n    \n}\n"


async def wait_gen(fake, n: int, timeout: float = 5.0):
    """Wait for `n` generation requests (the warm-up HEAD does not count)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(fake.generation_requests) < n:
        assert loop.time() < deadline, f"expected {n} generation request(s), got {len(fake.generation_requests)}"
        await asyncio.sleep(0.02)
    return fake.generation_requests


def env_for(fake) -> dict[str, str]:
    return {"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": fake.api_key}


def insert(lsp, uri: str, line: int, col: int, text: str) -> None:
    """Types `text` at (line, col), as one incremental change."""
    lsp.change(uri, [{"range": {"start": {"line": line, "character": col}, "end": {"line": line, "character": col}},
                      "text": text}])


async def start(launch, fake, **kw):
    return await launch(env=env_for(fake), **kw)


async def test_ghost_text_comes_from_codex(launch, fake_openai):
    fake_openai.script(Reply.text("a + b", chunks=3).but(split_writes=True))
    lsp = await start(launch, fake_openai)
    uri = lsp.open("a.rs", ADD)
    items = await lsp.inline(uri, 1, 4)
    assert [i.insert_text for i in items] == ["a + b"]
    await wait_gen(fake_openai, 1)
    req = fake_openai.generation_requests[0]
    assert req.path == "/v1/responses"
    assert req.auth == "ok"
    body = req.json
    assert body["stream"] is True and body["store"] is False
    assert body["prompt_cache_key"].startswith("switchboard:")
    assert "temperature" not in body and "top_p" not in body
    text = body["input"][0]["content"][0]["text"]
    assert "path: " in text and "<CURSOR>" in text
    # Stable header first, the code with the hole last.
    assert text.index("language: rust") < text.index("<CURSOR>")


async def test_typing_through_is_served_from_memory(launch, fake_openai):
    fake_openai.script(Reply.text("total_price(items)"))
    lsp = await start(launch, fake_openai)
    uri = lsp.open("a.rs", "fn main() {\n    let t = \n}\n")
    items = await lsp.inline(uri, 1, 12)
    assert items[0].insert_text == "total_price(items)"
    # The user types the first characters of the suggestion.
    insert(lsp, uri, 1, 12, "tot")
    items = await lsp.inline(uri, 1, 15)
    assert items[0].insert_text == "al_price(items)"
    await asyncio.sleep(0.1)
    assert len(fake_openai.generation_requests) == 1


async def test_a_newer_request_supersedes_and_joins_the_stream(launch, fake_openai):
    # A slow stream: the user types its first character while it is still arriving.
    fake_openai.script(Reply.text("value + 1;", chunks=["v", "alue", " + 1;"], delay_ms=300))
    lsp = await start(launch, fake_openai)
    uri = lsp.open("a.rs", "fn f(value: i32) -> i32 {\n    let x = \n}\n")
    first = asyncio.create_task(lsp.inline(uri, 1, 12))
    await wait_gen(fake_openai, 1)
    await asyncio.sleep(0.15)
    insert(lsp, uri, 1, 12, "v")
    second = await lsp.inline(uri, 1, 13)
    assert [i.insert_text for i in second] == ["alue + 1;"]
    with pytest.raises(Exception):
        # The older request was answered at once with RequestCancelled (-32800).
        await first
    assert len(fake_openai.generation_requests) == 1


async def test_ghost_text_after_enter_in_an_unclosed_literal_at_the_end_of_the_file(launch, fake_openai):
    """`"range": {` and Enter with nothing below (no auto-closed bracket): the entry the model
    suggests continues the open dict and is shown (the syntax gate judged it as top-level code)."""
    entry = '"start": {"line": self.start[0], "character": self.start[1]},'
    fake_openai.script(Reply.text(entry))
    lsp = await start(launch, fake_openai)
    text = ("class Edit:\n    def to_lsp(self) -> dict:\n        return {\n"
            '            "range": {\n                ')
    uri = lsp.open("edit.py", text, language_id="python")
    items = await lsp.inline(uri, 4, 16)
    assert [i.insert_text for i in items] == [entry]


async def test_divergent_typing_drops_the_stream(launch, fake_openai):
    fake_openai.script(Reply.text("alpha_beta_gamma_delta", chunks=6, delay_ms=400))
    fake_openai.script(Reply.text("zed"))
    lsp = await start(launch, fake_openai)
    uri = lsp.open("a.rs", "fn f() {\n    let x = \n}\n")
    first = asyncio.create_task(lsp.inline(uri, 1, 12))
    await wait_gen(fake_openai, 1)
    insert(lsp, uri, 1, 12, "q")
    second = await lsp.inline(uri, 1, 13)
    assert [i.insert_text for i in second] == ["zed"]
    first.cancel()
    # The first stream nobody can use any more was closed early (no tokens paid for after).
    for _ in range(100):
        if fake_openai.generation_requests[0].client_disconnected_early:
            break
        await asyncio.sleep(0.05)
    assert fake_openai.generation_requests[0].client_disconnected_early


async def test_single_line_cut_closes_the_stream_early(launch, fake_openai):
    fake_openai.script(Reply.text("first_line();\nsecond_line();\nthird();", chunks=["first_line();\n", "second", "_line();\n", "third();"], delay_ms=300))
    lsp = await start(launch, fake_openai)
    uri = lsp.open("a.rs", "fn f() {\n    let a = 1;\n    g(a); \n}\n")
    # Mid-line after `g(a); `: single-line.
    items = await lsp.inline(uri, 2, 10)
    assert [i.insert_text for i in items] == ["first_line();"]
    req = fake_openai.generation_requests[0]
    for _ in range(100):
        if req.client_disconnected_early:
            break
        await asyncio.sleep(0.05)
    assert req.client_disconnected_early


async def test_no_duplicated_closing_brackets(launch, fake_openai):
    fake_openai.script(Reply.text("a, b)"))
    lsp = await start(launch, fake_openai)
    uri = lsp.open("a.rs", "fn f(a: i32, b: i32) {\n    g()\n}\n")
    items = await lsp.inline(uri, 1, 6)
    assert len(items) == 1
    item = items[0]
    # Either the `)` is dropped, or the range covers the existing `)`.
    line = "    g()"
    lo, hi = item.range.start.character, item.range.end.character
    assert line[:lo] + item.insert_text + line[hi:] == "    g(a, b)"


async def test_fences_are_stripped(launch, fake_openai):
    fake_openai.script(Reply.text("```rust\na + b\n```"))
    lsp = await start(launch, fake_openai)
    uri = lsp.open("a.rs", ADD)
    items = await lsp.inline(uri, 1, 4)
    assert [i.insert_text for i in items] == ["a + b"]


async def test_completion_that_breaks_the_syntax_is_rejected(launch, fake_openai):
    fake_openai.script(Reply.text("let x = ((((;"))
    lsp = await start(launch, fake_openai)
    uri = lsp.open("a.rs", "fn f() {\n    let y = 1;\n    \n}\n")
    items = await lsp.inline(uri, 2, 4)
    assert items == []


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_failing_codex_falls_back_to_local_without_waiting(launch, fake_openai, status):
    fake_openai.script(Reply.status(status, retry_after=30))
    lsp = await start(launch, fake_openai)
    uri = lsp.open("a.rs", "fn compute_total() -> u32 { 0 }\nfn main() {\n    let r = comp\n}\n")
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    items = await lsp.inline(uri, 2, 16)
    assert loop.time() - t0 < 5  # never sleeps on retry-after while the user types
    assert [i.insert_text for i in items] == ["compute_total"]


async def test_no_key_uses_local_and_opens_no_connection(launch):
    # The real default base URL and no key: the codex provider must not touch the network at all.
    lsp = await launch(env={"OPENAI_BASE_URL": None, "ANTHROPIC_BASE_URL": None})
    uri = lsp.open("a.rs", "fn compute_total() -> u32 { 0 }\nfn main() {\n    let r = comp\n}\n")
    items = await lsp.inline(uri, 2, 16)
    assert [i.insert_text for i in items] == ["compute_total"]
    items = await lsp.inline(uri, 2, 16)
    assert [i.insert_text for i in items] == ["compute_total"]
    await asyncio.sleep(0.2)
    assert "connecting to" not in lsp.log() and "starting new connection" not in lsp.log()


async def test_only_https_reads_the_ca_store(launch, fake_openai):
    """The system's CA certificates (tens of milliseconds to read) are read for an https provider
    only, on the way to its first connection; a loopback provider's warm-up and requests go
    without them."""
    fake_openai.script(Reply.text("a + b"))
    lsp = await start(launch, fake_openai)
    uri = lsp.open("a.rs", ADD)
    assert [i.insert_text for i in await lsp.inline(uri, 1, 4)] == ["a + b"]
    await asyncio.sleep(0.2)
    assert "starting new connection" in lsp.log() or "connecting to" in lsp.log(), "the control: it did connect"
    assert "read the system's CA certificates" not in lsp.log()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    https = await launch(env={"OPENAI_BASE_URL": f"https://127.0.0.1:{closed}/v1", "OPENAI_API_KEY": "sk-test-tls"})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while "read the system's CA certificates" not in https.log():
        assert loop.time() < deadline, "an https provider with a key warms up with the CA certificates read"
        await asyncio.sleep(0.05)


async def test_https_provider_is_verified_against_the_system_roots(launch, tmp_path):
    """The client's own TLS set-up end to end: an https upstream whose CA is in the system store
    (SSL_CERT_FILE) serves ghost text; one signed by a CA the store lacks is refused and the
    answer falls back to local words, with the certificate named in the log."""
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    trusted = tmp_path / "trusted.pem"
    ca.cert_pem.write_to_path(str(trusted))
    stranger = tmp_path / "stranger.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    context.set_alpn_protocols(["http/1.1"])
    source = "fn compute_total() -> u32 { 0 }\nfn main() {\n    let r = \n}\n"
    fake = FakeOpenAI()
    fake.tls = context
    async with fake:
        fake.script(Reply.text("compute_total()"))
        env = {**env_for(fake), "SSL_CERT_FILE": str(trusted), "SSL_CERT_DIR": str(tmp_path / "none")}
        lsp = await launch(env=env)
        assert fake.base_url.startswith("https://")
        uri = lsp.open("a.rs", source)
        assert [i.insert_text for i in await lsp.inline(uri, 2, 12)] == ["compute_total()"]
        await wait_gen(fake, 1)
        assert fake.generation_requests[0].auth == "ok"

        before = len(fake.generation_requests)
        env = {**env_for(fake), "SSL_CERT_FILE": str(stranger), "SSL_CERT_DIR": str(tmp_path / "none")}
        refused = await launch(env=env)
        uri = refused.open("a.rs", source.replace("let r = ", "let r = comp"))
        items = await refused.inline(uri, 2, 16)
        assert [i.insert_text for i in items] == ["compute_total"], "local words, not the untrusted host"
        assert len(fake.generation_requests) == before, "no request reached a host it could not verify"
        assert "certificate" in refused.log().lower() or "UnknownIssuer" in refused.log()


async def test_keyless_local_server_is_tried_then_set_aside(launch, fake_openai):
    # A loopback OpenAI-compatible server may need no key; a 401 sets the provider aside.
    lsp = await launch(env={"OPENAI_BASE_URL": fake_openai.base_url})
    uri = lsp.open("a.rs", "fn compute_total() -> u32 { 0 }\nfn main() {\n    let r = comp\n}\n")
    for _ in range(3):
        items = await lsp.inline(uri, 2, 16)
        assert [i.insert_text for i in items] == ["compute_total"]
    assert len(fake_openai.generation_requests) == 1
    assert all(r.auth == "none" for r in fake_openai.generation_requests)


async def test_mid_word_sends_no_request(launch, fake_openai):
    lsp = await start(launch, fake_openai)
    uri = lsp.open("a.rs", "fn main() {\n    let value = compute;\n}\n")
    items = await lsp.inline(uri, 1, 18)
    assert items == []
    await asyncio.sleep(0.2)
    assert fake_openai.generation_requests == []


async def test_emoji_before_the_cursor_does_not_shift_the_split(launch, fake_openai):
    fake_openai.script(Reply.text("x + 1"))
    lsp = await start(launch, fake_openai, profile="visual-studio-code")  # utf-16 positions
    uri = lsp.open("a.rs", "fn f(x: i32) -> i32 {\n    /* 😀 */ \n}\n")
    # utf-16: `    /* 😀 */ ` is 4 + 3 + 2 + 4 = 13 units.
    await lsp.inline(uri, 1, 13)
    body = fake_openai.generation_requests[0].json
    text = body["input"][0]["content"][0]["text"]
    assert "/* 😀 */ <CURSOR>" in text


async def test_popup_offers_the_model_suggestion_first(launch, fake_openai):
    fake_openai.script(Reply.text("compute_total(&items)"))
    lsp = await start(launch, fake_openai)
    uri = lsp.open("a.rs", "fn compute_total(v: &[u32]) -> u32 { 0 }\nfn main() {\n    let r = comp\n}\n")
    items = await lsp.completion(uri, 2, 16)
    assert items[0].label == "compute_total(&items)"
    edit = items[0].text_edit
    assert edit.new_text == "compute_total(&items)"
    assert (edit.range.start.character, edit.range.end.character) == (12, 16)  # replaces the typed `comp`
    assert any(i.label == "compute_total" for i in items[1:])


async def test_accept_prefetches_the_next_completion(launch, fake_openai):
    fake_openai.script(Reply.text("let a = 1;"))
    fake_openai.script(Reply.text("let b = 2;"))
    lsp = await start(launch, fake_openai)
    uri = lsp.open("a.rs", "fn f() {\n    \n}\n")
    items = await lsp.inline(uri, 1, 4)
    assert items[0].insert_text.startswith("let a = 1;")
    cmd = items[0].command
    # Accept: the editor inserts the text, then runs the item's command.
    insert(lsp, uri, 1, 4, items[0].insert_text)
    await lsp.request("workspace/executeCommand", types.ExecuteCommandParams(command=cmd.command, arguments=cmd.arguments))
    for _ in range(100):
        if len(fake_openai.generation_requests) >= 2:
            break
        await asyncio.sleep(0.05)
    assert len(fake_openai.generation_requests) == 2
    # The prefetched answer is then served without a third request.
    insert(lsp, uri, 1, 14, "\n    ")
    await asyncio.sleep(0.3)


async def test_large_files_answer_while_their_tree_catches_up(launch, fake_openai):
    # 20,000 functions (~700 KB): over the size where the typing path stops waiting for reparses.
    body = "".join(f"fn f{i}(a: u32) -> u32 {{\n    a + {i}\n}}\n\n" for i in range(20_000))
    src = body + "fn add(a: i32, b: i32) -> i32 {\n    \n}\n"
    line = src.count("\n") - 2
    lsp = await start(launch, fake_openai)
    uri = lsp.open("big.rs", src)

    fake_openai.script(Reply.text(" + b"))
    insert(lsp, uri, line, 4, "a")
    assert [i.insert_text for i in await lsp.inline(uri, line, 5)] == [" + b"]
    insert(lsp, uri, line, 5, " +")
    assert [i.insert_text for i in await lsp.inline(uri, line, 7)] == [" b"], "typing-through"
    assert len(fake_openai.generation_requests) == 1
    # Far from the edits, a completion that breaks the syntax is still rejected (the gate parses
    # that function alone) once the tree has caught up: the file is parsed off the request path
    # after didOpen, and a request never waits for that.
    fake_openai.script(Reply.text(" * 2"))
    assert [i.insert_text for i in await lsp.inline(uri, 5 * 4 + 1, 9)] == [" * 2"]
    rejected = False
    for k in range(6, 106):  # a new place each time: an answer once accepted would be cached
        fake_openai.script(Reply.text("; let x = ((((;"))
        if await lsp.inline(uri, k * 4 + 1, len(f"    a + {k}")) == []:
            rejected = True
            break
        await asyncio.sleep(0.1)
    assert rejected, "the syntax gate never rejected the broken completion"
    lsp.assert_alive()
