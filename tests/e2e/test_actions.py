"""Issue 5: code actions routed to Claude — offered for free, resolved into versioned minimal
edits, streamed explanations, progress, cancellation, stale-edit safety, retries, the CLI."""

from __future__ import annotations

import asyncio
import functools
import subprocess
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from fakes import Reply
from harness import textmodel
from harness.env import clean_env

SRC = ("use std::fmt;\n\nfn add(a: i32, b: i32) -> i32 {\n    let s = a + b;\n    s\n}\n\n"
       "fn other() -> i32 {\n    1\n}\n")
CURSOR_IN_ADD = {"start": {"line": 3, "character": 8}, "end": {"line": 3, "character": 8}}
REFACTORED = ("use std::fmt;\n\nfn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n\n"
              "fn other() -> i32 {\n    1\n}\n")
ANSWER = ("Here is a simpler version that drops the temporary:\n\n```rust\nfn add(a: i32, b: i32) -> i32 {\n"
          "    a + b\n}\n```\n\nThe behaviour is unchanged.")
EXPLANATION = "`add` returns the sum of `a` and `b`.\n\nIt stores the sum in `s` first, which is redundant."
TITLES = ["Switchboard: Explain", "Switchboard: Refactor", "Switchboard: Add documentation",
          "Switchboard: Write tests"]


def env(fake, key: str | None = None) -> dict[str, str]:
    return {"ANTHROPIC_API_KEY": key or fake.api_key, "ANTHROPIC_BASE_URL": fake.base_url}


async def model_requests(fake, n: int, timeout: float = 5.0) -> list:
    """The first `n` POST /v1/messages (the server may also warm its connection with a HEAD)."""
    deadline = time.monotonic() + timeout
    while len(fake.generation_requests) < n:
        assert time.monotonic() < deadline, f"{len(fake.generation_requests)} of {n} model requests"
        await asyncio.sleep(0.01)
    return fake.generation_requests


def apply_text_edits(text: str, edits: list[dict], encoding: str) -> str:
    """Applies LSP TextEdits (ranges in the original text) as an editor would."""
    spans = []
    for e in edits:
        r = e["range"]
        start = textmodel.offset(text, r["start"]["line"], r["start"]["character"], encoding)
        end = textmodel.offset(text, r["end"]["line"], r["end"]["character"], encoding)
        spans.append((start, end, e["newText"]))
    for start, end, new in sorted(spans, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def by_title(actions: list[dict], title: str) -> dict:
    found = [a for a in actions if a["title"] == title]
    assert found, f"{title} not offered; got {[a['title'] for a in actions]}"
    return found[0]


def text_edit(resolved: dict) -> dict:
    changes = resolved["edit"]["documentChanges"]
    edits = [c for c in changes if "edits" in c]
    assert len(edits) == 1, changes
    return edits[0]


async def refactor(s, uri: str, range_=CURSOR_IN_ADD, **kw) -> dict:
    actions = await s.code_actions(uri, range_)
    return await s.resolve(by_title(actions, "Switchboard: Refactor"), **kw)


# -- offering ---------------------------------------------------------------------------------

async def test_actions_are_listed_without_any_upstream_request(launch, fake_anthropic):
    toml = '[[actions]]\nname = "Add logging"\nprompt = "Add tracing calls to {selection}"\n'
    s = await launch(env=env(fake_anthropic), workspace_files={"switchboard.toml": toml})
    uri = s.open("src/lib.rs", SRC)
    actions = await s.code_actions(uri, CURSOR_IN_ADD)
    assert [a["title"] for a in actions] == TITLES + ["Switchboard: Add logging"]
    kinds = {a["title"]: a["kind"] for a in actions}
    assert kinds["Switchboard: Refactor"] == "refactor.rewrite"
    assert all(k == "refactor" for t, k in kinds.items() if t != "Switchboard: Refactor")
    assert all("edit" not in a for a in actions), "edits are computed on resolve, not when listing"
    assert by_title(actions, "Switchboard: Explain")["command"]["command"] == "switchboard.runAction"

    diag = {"range": {"start": {"line": 3, "character": 12}, "end": {"line": 3, "character": 17}},
            "severity": 1, "message": "mismatched types", "source": "rustc"}
    far = {"range": {"start": {"line": 8, "character": 4}, "end": {"line": 8, "character": 5}}, "message": "elsewhere"}
    actions = await s.code_actions(uri, CURSOR_IN_ADD, diagnostics=[diag, far])
    fix = by_title(actions, "Switchboard: Fix")
    assert fix["kind"] == "quickfix" and [d["message"] for d in fix["diagnostics"]] == ["mismatched types"]
    assert [a["title"] for a in await s.code_actions(uri, CURSOR_IN_ADD, diagnostics=[diag], only=["quickfix"])] \
        == ["Switchboard: Fix"]
    assert "Switchboard: Fix" not in [a["title"] for a in await s.code_actions(uri, CURSOR_IN_ADD, [far])]
    await asyncio.sleep(0.2)
    assert fake_anthropic.generation_requests == [], "listing must not call the model"


# -- resolving edits --------------------------------------------------------------------------

@pytest.mark.parametrize("profile", ["neovim", "visual-studio-code"])
async def test_refactor_resolves_to_a_versioned_minimal_edit(launch, fake_anthropic, profile):
    s = await launch(profile=profile, env=env(fake_anthropic))
    uri = s.open("src/lib.rs", SRC)
    fake_anthropic.script(Reply.text(ANSWER, chunks=6, delay_ms=10))
    resolved = await refactor(s, uri)
    tde = text_edit(resolved)
    assert tde["textDocument"] == {"uri": uri, "version": 1}
    assert apply_text_edits(SRC, tde["edits"], s.encoding) == REFACTORED
    replaced = sum(len(e["newText"]) for e in tde["edits"])
    assert replaced < 20, f"not minimal: {tde['edits']}"
    # The prompt: task, code with path and lines, language; stable parts in `system`.
    body = (await model_requests(fake_anthropic, 1))[0].json
    system = " ".join(b["text"] for b in body["system"])
    assert "refactor" in system and "File: src/lib.rs" in system and "Language: rust" in system
    user = body["messages"][0]["content"]
    assert "src/lib.rs, lines 3–6" in user and "let s = a + b;" in user
    # Progress: begin, streamed reports, end.
    def progress():
        reports = [v for vs in s.client.progress_reports.values() for v in vs]
        return reports, [getattr(r, "kind", None) for r in reports]

    deadline = time.monotonic() + 2  # $/progress and the response travel separate queues
    while progress()[1][-1:] != ["end"] and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    reports, kinds = progress()
    assert kinds[0] == "begin" and kinds[-1] == "end" and "report" in kinds, reports
    assert any("tokens" in (getattr(r, "message", "") or "") or "writing" in (getattr(r, "message", "") or "")
               for r in reports)


async def test_fences_and_prose_around_the_code(launch, fake_anthropic):
    s = await launch(env=env(fake_anthropic))
    uri = s.open("src/lib.rs", SRC)
    answer = ("Sure! I looked at the function.\n\n```text\nnot this\n```\n\nHere it is:\n~~~rust\n"
              "fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n~~~\nLet me know.")
    fake_anthropic.script(Reply.text(answer))
    tde = text_edit(await refactor(s, uri))
    assert apply_text_edits(SRC, tde["edits"], s.encoding) == REFACTORED


async def test_multibyte_selection_in_utf16(launch, fake_anthropic):
    src = 'fn greet() -> String {\n    let s = "héllo 😀 世界";\n    s.to_string()\n}\n'
    s = await launch(env=env(fake_anthropic), encodings=["utf-16"])
    assert s.encoding == "utf-16"
    uri = s.open("src/greet.rs", src)
    line = src.splitlines()[1]
    sel = {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": textmodel.units(line, "utf-16")}}
    fake_anthropic.script(Reply.text('```rust\nlet s = "héllo 😀 世界!"; // 👋\n```'))
    resolved = await refactor(s, uri, sel)
    tde = text_edit(resolved)
    assert apply_text_edits(src, tde["edits"], "utf-16") == src.replace('世界";', '世界!"; // 👋')
    user = (await model_requests(fake_anthropic, 1))[0].json["messages"][0]["content"]
    assert 'let s = "héllo 😀 世界";' in user


async def refactor_in_flight(launch, fake_anthropic):
    """A session with SRC open and a Refactor whose answer is still streaming (about 1 s)."""
    s = await launch(env=env(fake_anthropic))
    uri = s.open("src/lib.rs", SRC)
    fake_anthropic.script(Reply.text(ANSWER, chunks=10, delay_ms=100))
    task = asyncio.create_task(refactor(s, uri))
    await model_requests(fake_anthropic, 1)
    return s, uri, task


async def test_stale_edit_is_refused_when_the_target_changed(launch, fake_anthropic):
    s, uri, task = await refactor_in_flight(launch, fake_anthropic)
    s.change(uri, [{"range": {"start": {"line": 3, "character": 14}, "end": {"line": 3, "character": 15}},
                    "text": "-"}])
    with pytest.raises(Exception) as err:
        await task
    assert "the code changed while Claude was working; run the action again" in str(err.value)
    await s.wait_for_message(lambda m: "changed while Claude was working" in m.message)
    assert (await s.document_text(uri))["text"] == SRC.replace("a + b;", "a - b;")


async def test_stale_edit_is_reanchored_when_only_the_rest_changed(launch, fake_anthropic):
    s, uri, task = await refactor_in_flight(launch, fake_anthropic)
    header = "// a header line 😀\n"
    v = s.change(uri, [{"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
                        "text": header}])
    tde = text_edit(await task)
    assert tde["textDocument"]["version"] == v == 2
    assert apply_text_edits(header + SRC, tde["edits"], s.encoding) == header + REFACTORED


def at(line: int, character: int, end: tuple[int, int] | None = None) -> dict:
    """An LSP range: a point, or (line, character) to `end`."""
    el, ec = end or (line, character)
    return {"start": {"line": line, "character": character}, "end": {"line": el, "character": ec}}


# SRC's Refactor target is `fn add ... }`: lines 2 to 5, from `fn` to the closing brace.
@pytest.mark.parametrize("where, typed, side", [
    ("end", " // done", "end"),  # right after the closing brace
    ("start", "pub ", "start"),  # right before `fn`
])
async def test_typing_against_the_target_is_a_conflict(launch, fake_anthropic, where, typed, side):
    s, uri, task = await refactor_in_flight(launch, fake_anthropic)
    pos = at(5, 1) if where == "end" else at(2, 0)
    s.change(uri, [{"range": pos, "text": typed}])
    with pytest.raises(Exception) as err:
        await task
    assert "the code changed while Claude was working; run the action again" in str(err.value)
    assert f"typed right at the {side} of the code" in str(err.value), err.value
    expected = SRC.replace("}\n\nfn other", "} // done\n\nfn other") if where == "end" else SRC.replace(
        "fn add", "pub fn add")
    assert (await s.document_text(uri))["text"] == expected, "the user's text is left alone"


async def test_an_edit_overlapping_the_target_is_refused(launch, fake_anthropic):
    s, uri, task = await refactor_in_flight(launch, fake_anthropic)
    # Deletes the target's closing brace and the blank line after it.
    s.change(uri, [{"range": at(5, 0, (7, 0)), "text": ""}])
    with pytest.raises(Exception) as err:
        await task
    assert "was edited since it started" in str(err.value), err.value


async def test_an_edit_elsewhere_below_still_reanchors(launch, fake_anthropic):
    s, uri, task = await refactor_in_flight(launch, fake_anthropic)
    v = s.change(uri, [{"range": at(8, 4, (8, 5)), "text": "2"}])
    tde = text_edit(await task)
    assert tde["textDocument"]["version"] == v
    now = SRC.replace("    1\n", "    2\n")
    assert apply_text_edits(now, tde["edits"], s.encoding) == REFACTORED.replace("    1\n", "    2\n")


# -- line endings -------------------------------------------------------------------------------

LINE_ANSWER = "```rust\nlet t = a;\nlet s = t + b;\n```"


@pytest.mark.parametrize("name, text, expected", [
    # CRLF: a one-line target that becomes two lines gets CRLF, not bare LF.
    ("crlf", SRC.replace("\n", "\r\n"),
     SRC.replace("let s = a + b;", "let t = a;\n    let s = t + b;").replace("\n", "\r\n")),
    # Mostly CRLF with one LF line (line 8): the new line follows the document, line 8 keeps its LF.
    ("mixed", SRC.replace("\n", "\r\n").replace("    1\r\n", "    1\n"),
     SRC.replace("let s = a + b;", "let t = a;\n    let s = t + b;").replace("\n", "\r\n")
     .replace("    1\r\n", "    1\n")),
    # LF with a lone CR in a comment line: new lines are LF, the lone CR is untouched.
    ("lone-cr", SRC.replace("fn other", "// a\rb\nfn other"),
     SRC.replace("let s = a + b;", "let t = a;\n    let s = t + b;").replace("fn other", "// a\rb\nfn other")),
])
async def test_new_lines_take_the_documents_line_ending(launch, fake_anthropic, name, text, expected):
    s = await launch(env=env(fake_anthropic))
    uri = s.open("src/lib.rs", text)
    fake_anthropic.script(Reply.text(LINE_ANSWER))
    line = "    let s = a + b;"
    resolved = await refactor(s, uri, at(3, 4, (3, len(line))))
    tde = text_edit(resolved)
    got = apply_text_edits(text, tde["edits"], s.encoding)
    assert got == expected, (got, expected)


async def test_cancel_mid_stream_closes_the_upstream_connection(launch, fake_anthropic):
    s = await launch(env=env(fake_anthropic))
    uri = s.open("src/lib.rs", SRC)
    fake_anthropic.script(Reply.text(ANSWER * 4, chunks=60, delay_ms=100))
    actions = await s.code_actions(uri, CURSOR_IN_ADD)
    task = asyncio.create_task(s.resolve(by_title(actions, "Switchboard: Refactor"), msg_id="resolve-1"))
    req = (await model_requests(fake_anthropic, 1))[0]
    await asyncio.sleep(0.4)
    cancelled_at = time.monotonic()
    s.cancel("resolve-1")
    with pytest.raises(Exception) as err:
        await task
    assert "cancel" in str(err.value).lower()
    deadline = time.monotonic() + 3
    while req.finished_at is None and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert req.client_disconnected_early, "the HTTP stream must be dropped on cancel"
    assert req.finished_at - cancelled_at < 1.0
    print(f"cancel -> upstream hang-up in {(req.finished_at - cancelled_at) * 1000:.0f} ms")
    assert (await s.document_text(uri))["text"] == SRC
    s.assert_alive()


async def test_529_then_success(launch, fake_anthropic):
    s = await launch(env=env(fake_anthropic))
    uri = s.open("src/lib.rs", SRC)
    fake_anthropic.script(Reply.status(529))
    fake_anthropic.script(Reply.text(ANSWER))
    t = time.monotonic()
    tde = text_edit(await refactor(s, uri, timeout=20))
    elapsed = time.monotonic() - t
    assert apply_text_edits(SRC, tde["edits"], s.encoding) == REFACTORED
    assert len(fake_anthropic.generation_requests) == 2
    print(f"529 then success in {elapsed:.2f}s")


async def test_429_honours_retry_after(launch, fake_anthropic):
    s = await launch(env=env(fake_anthropic))
    uri = s.open("src/lib.rs", SRC)
    fake_anthropic.script(Reply.status(429, retry_after=1))
    fake_anthropic.script(Reply.text(ANSWER))
    t = time.monotonic()
    text_edit(await refactor(s, uri, timeout=20))
    assert time.monotonic() - t >= 0.9, "retry-after: 1 must be waited out"
    assert len(fake_anthropic.generation_requests) == 2


async def test_401_names_the_env_var(launch, fake_anthropic):
    s = await launch(env=env(fake_anthropic, key="sk-ant-wrong"))
    uri = s.open("src/lib.rs", SRC)
    with pytest.raises(Exception) as err:
        await refactor(s, uri)
    assert "ANTHROPIC_API_KEY" in str(err.value)
    await s.wait_for_message(lambda m: "ANTHROPIC_API_KEY" in m.message)
    assert "sk-ant-wrong" not in s.log()


async def test_mid_stream_error_leaves_the_buffer_alone(launch, fake_anthropic):
    s = await launch(env=env(fake_anthropic))
    uri = s.open("src/lib.rs", SRC)
    fake_anthropic.script(Reply.error_mid_stream(after_chunks=2, text="```rust\nfn add(a: i32, b: i32) -> i32 {\n"))
    with pytest.raises(Exception) as err:
        await refactor(s, uri)
    assert "nothing was changed" in str(err.value)


async def test_edit_with_new_syntax_errors_needs_consent(launch, fake_anthropic):
    s = await launch(env=env(fake_anthropic))
    uri = s.open("src/lib.rs", SRC)
    broken = "```rust\nfn add(a: i32, b: i32) -> i32 {\n    a +\n}\n```"
    fake_anthropic.script(Reply.text(broken))
    with pytest.raises(Exception) as err:
        await refactor(s, uri)
    assert "syntax errors" in str(err.value)
    assert s.message_requests and "Apply anyway" in [a["title"] for a in s.message_requests[0]["actions"]]

    s.client.message_request_answer = "Apply anyway"
    fake_anthropic.script(Reply.text(broken))
    tde = text_edit(await refactor(s, uri))
    assert "a +\n}" in apply_text_edits(SRC, tde["edits"], s.encoding)


async def test_write_tests_creates_the_python_test_file(launch, fake_anthropic):
    src = "def total(items):\n    return sum(items)\n"
    s = await launch(env=env(fake_anthropic))
    uri = s.open("cart.py", src, language_id="python")
    fake_anthropic.script(Reply.text("```python\nfrom cart import total\n\n\ndef test_total():\n"
                                     "    assert total([1, 2]) == 3\n```"))
    actions = await s.code_actions(uri, {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 4}})
    resolved = await s.resolve(by_title(actions, "Switchboard: Write tests"))
    changes = resolved["edit"]["documentChanges"]
    test_uri = s.uri("tests/test_cart.py")
    assert changes[0] == {"kind": "create", "uri": test_uri, "options": {"overwrite": False, "ignoreIfExists": True}}
    assert changes[1]["textDocument"] == {"uri": test_uri, "version": None}
    assert apply_text_edits("", changes[1]["edits"], s.encoding).startswith("from cart import total\n")
    user = (await model_requests(fake_anthropic, 1))[0].json["messages"][0]["content"]
    assert "tests/test_cart.py (a new file)" in user


async def test_write_tests_appends_a_rust_test_module(launch, fake_anthropic):
    s = await launch(env=env(fake_anthropic))
    uri = s.open("src/lib.rs", SRC)
    module = "#[cfg(test)]\nmod tests {\n    use super::*;\n\n    #[test]\n    fn adds() {\n        assert_eq!(add(1, 2), 3);\n    }\n}"
    fake_anthropic.script(Reply.text(f"```rust\n{module}\n```"))
    actions = await s.code_actions(uri, CURSOR_IN_ADD)
    tde = text_edit(await s.resolve(by_title(actions, "Switchboard: Write tests")))
    assert tde["textDocument"] == {"uri": uri, "version": 1}
    assert apply_text_edits(SRC, tde["edits"], s.encoding) == SRC + "\n" + module + "\n"


# -- executeCommand -----------------------------------------------------------------------------

async def test_run_action_applies_the_edit(launch, fake_anthropic):
    s = await launch(env=env(fake_anthropic))
    uri = s.open("src/lib.rs", SRC)
    fake_anthropic.script(Reply.text(ANSWER))
    result = await s.execute("switchboard.runAction", [{"action": "refactor", "uri": uri, "range": CURSOR_IN_ADD,
                                                        "version": 1}])
    assert result == {"applied": True}
    (applied,) = s.applied_edits
    tde = applied["edit"]["documentChanges"][0]
    assert tde["textDocument"]["version"] == 1
    assert apply_text_edits(SRC, tde["edits"], s.encoding) == REFACTORED

    s.change(uri, [{"text": SRC + "\n"}])
    with pytest.raises(Exception) as err:
        await s.execute("switchboard.runAction", [{"action": "refactor", "uri": uri, "range": CURSOR_IN_ADD,
                                                   "version": 1}])
    assert "changed" in str(err.value)


async def test_explain_streams_explanation_notifications(launch, fake_anthropic):
    s = await launch(profile="visual-studio-code", env=env(fake_anthropic),
                     experimental={"switchboard": {"explanationView": True}})
    uri = s.open("src/lib.rs", SRC)
    fake_anthropic.script(Reply.text(EXPLANATION, chunks=5, delay_ms=20))
    actions = await s.code_actions(uri, CURSOR_IN_ADD)
    explain = await s.resolve(by_title(actions, "Switchboard: Explain"))
    cmd = explain["command"]
    assert cmd["command"] == "switchboard.runAction"
    result = await s.execute(cmd["command"], cmd["arguments"])
    assert result["text"] == EXPLANATION
    chunks = s.explanations
    assert len(chunks) >= 5 and chunks[-1]["done"] is True and not chunks[0]["done"]
    assert "".join(c["delta"] for c in chunks) == EXPLANATION
    assert {c["id"] for c in chunks} == {result["id"]}
    assert chunks[0]["title"].startswith("Switchboard: Explain")
    assert "explain the code" in " ".join(b["text"] for b in fake_anthropic.generation_requests[0].json["system"])


async def test_explain_without_a_view_writes_markdown_and_shows_it(launch, fake_anthropic):
    s = await launch(profile="neovim", env=env(fake_anthropic))
    uri = s.open("src/lib.rs", SRC)
    fake_anthropic.script(Reply.text(EXPLANATION, chunks=3))
    await s.execute("switchboard.runAction", [{"action": "explain", "uri": uri, "range": CURSOR_IN_ADD}])
    (shown,) = s.shown_documents
    path = Path(unquote(urlparse(shown.uri).path))
    assert path.suffix == ".md" and "switchboard/explanations" in str(path)
    assert EXPLANATION in path.read_text()
    assert s.explanations == []


# -- clients that cannot resolve edits lazily -----------------------------------------------------

def without_lazy_edits(caps) -> None:
    caps.text_document.code_action.resolve_support = None


async def test_clients_without_lazy_edits_get_commands_that_apply_the_edit(launch, fake_anthropic):
    s = await launch(env=env(fake_anthropic), patch_capabilities=without_lazy_edits)
    uri = s.open("src/lib.rs", SRC)
    actions = await s.code_actions(uri, CURSOR_IN_ADD)
    assert [a["title"] for a in actions] == TITLES
    action = by_title(actions, "Switchboard: Refactor")
    assert action["command"]["command"] == "switchboard.runAction" and "edit" not in action
    assert fake_anthropic.generation_requests == [], "listing is still free"
    fake_anthropic.script(Reply.text(ANSWER))
    result = await s.execute(action["command"]["command"], action["command"]["arguments"])
    assert result == {"applied": True}
    (applied,) = s.applied_edits
    tde = applied["edit"]["documentChanges"][0]
    assert tde["textDocument"]["version"] == 1
    assert apply_text_edits(SRC, tde["edits"], s.encoding) == REFACTORED


async def test_clients_that_cannot_receive_edits_are_offered_explain_only(launch, fake_anthropic):
    def neither(caps) -> None:
        without_lazy_edits(caps)
        caps.workspace.apply_edit = False

    s = await launch(env=env(fake_anthropic), patch_capabilities=neither)
    uri = s.open("src/lib.rs", SRC)
    actions = await s.code_actions(uri, CURSOR_IN_ADD)
    assert [a["title"] for a in actions] == ["Switchboard: Explain"]


# -- the CLI ------------------------------------------------------------------------------------

async def test_cli_action_prints_a_diff_and_applies(run_cli, fake_anthropic, tmp_path):
    f = tmp_path / "lib.rs"
    f.write_text(SRC)
    fake_anthropic.script(Reply.text(ANSWER))
    r = await asyncio.to_thread(run_cli, "action", "refactor", f"{f}:4", env=env(fake_anthropic))
    assert r.returncode == 0, r.stderr
    assert "--- a/lib.rs" in r.stdout and "+++ b/lib.rs" in r.stdout
    assert "-    let s = a + b;" in r.stdout and "+    a + b" in r.stdout
    assert f.read_text() == SRC, "without --apply the file is untouched"

    fake_anthropic.script(Reply.text(ANSWER))
    r = await asyncio.to_thread(run_cli, "action", "refactor", f"{f}:3:1-6:1", "--apply", env=env(fake_anthropic))
    assert r.returncode == 0, r.stderr
    assert f.read_text() == REFACTORED
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "no temp file left"


def run_cli_bytes(binary: Path, cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`switchboard ARGS...` with stdout and stderr as bytes (run_cli decodes and folds CRLF)."""
    home, xdg = cwd / "cli-home", cwd / "cli-xdg"
    home.mkdir(exist_ok=True)
    xdg.mkdir(exist_ok=True)
    return subprocess.run([str(binary), *args], env=clean_env(home, xdg, env), cwd=str(cwd), capture_output=True,
                          timeout=20, stdin=subprocess.DEVNULL)


async def test_cli_action_on_a_crlf_file(switchboard_bin, fake_anthropic, tmp_path):
    crlf = SRC.replace("\n", "\r\n").encode()
    f = tmp_path / "lib.rs"
    f.write_bytes(crlf)
    fake_anthropic.script(Reply.text(LINE_ANSWER))
    spot = f"{f}:4:5-4:18"
    run = functools.partial(run_cli_bytes, switchboard_bin, tmp_path)
    r = await asyncio.to_thread(run, "action", "refactor", spot, env=env(fake_anthropic))
    assert r.returncode == 0, r.stderr
    # The diff keeps the file's bytes in each line (CR included), one diff line per file line.
    assert b"\n-    let s = a + b;\r\n+    let t = a;\r\n+    let s = t + b;\r\n" in r.stdout, r.stdout
    assert b"\r\r" not in r.stdout and b"\r+" not in r.stdout and b"\r-" not in r.stdout
    fake_anthropic.script(Reply.text(LINE_ANSWER))
    r = await asyncio.to_thread(run, "action", "refactor", spot, "--apply", env=env(fake_anthropic))
    assert r.returncode == 0, r.stderr
    assert f.read_bytes() == crlf.replace(b"let s = a + b;", b"let t = a;\r\n    let s = t + b;")


async def test_cli_explain_streams_to_stdout(run_cli, fake_anthropic, tmp_path):
    f = tmp_path / "lib.rs"
    f.write_text(SRC)
    fake_anthropic.script(Reply.text(EXPLANATION, chunks=4))
    r = await asyncio.to_thread(run_cli, "action", "explain", f"{f}:4:9", env=env(fake_anthropic))
    assert r.returncode == 0, r.stderr
    assert r.stdout == EXPLANATION + "\n"
    r = await asyncio.to_thread(run_cli, "action", "frobnicate", f"{f}:4", env=env(fake_anthropic))
    assert r.returncode != 0 and "unknown action" in r.stderr
