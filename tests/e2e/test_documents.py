"""Issue 2, item 3: incremental document sync, exact in utf-8, utf-16 and utf-32.

The server's copy is read back with the test/debug request `switchboard/documentText`
({textDocument:{uri}} -> {text, version}) and compared with a naive Python model
(`harness.textmodel`) after targeted edits (emoji, CJK, combining marks, CRLF, end of document,
empty document) and hundreds of random ones."""

from __future__ import annotations

import random

import pytest

from harness import textmodel as tm
from harness.session import Session

ENCODINGS = ["utf-8", "utf-16", "utf-32"]


@pytest.fixture(params=ENCODINGS)
async def enc_session(request, launch) -> Session:
    s = await launch(profile="neovim", encodings=[request.param])
    assert s.encoding == request.param
    return s


async def check_text(s: Session, uri: str, expected: str, version: int | None = None) -> None:
    got = await s.document_text(uri)
    assert got["text"] == expected, f"{s.encoding}: server text differs\n got: {got['text']!r}\nwant: {expected!r}"
    if version is not None:
        assert got["version"] == version


def edit(s: Session, uri: str, text: str, start_off: int, end_off: int, new: str) -> str:
    """Send one change given as code-point offsets; return the expected new text."""
    e = tm.Edit(tm.position(text, start_off, s.encoding), tm.position(text, end_off, s.encoding), new)
    s.change(uri, [e.to_lsp()])
    return tm.apply(text, e, s.encoding)


async def test_document_text_after_open(enc_session: Session):
    text = "fn main() {}\r\n// 😀 中文 e\u0301\n"
    uri = enc_session.open("a.rs", text, version=7)
    await check_text(enc_session, uri, text, version=7)


@pytest.mark.parametrize("text,anchor,new", [
    ("let s = \"😀😀\";\n", "\";", "🦀"),           # after astral chars (surrogate pairs in UTF-16)
    ("// 中文注释 here\n", " here", "字"),            # after 3-byte CJK
    ("let e = \"e\u0301x\";\n", "x", "\u0301"),      # after a combining mark
    ("a\r\nb\r\nc", "c", "X\r\n"),                    # CRLF line ends
    ("line 1\nline 2", None, "\nline 3"),             # at the very end, no trailing newline
    ("👩\u200d👩\u200d👧 family\n", " family", "!"),  # after a ZWJ sequence
])
async def test_targeted_edit(enc_session: Session, text, anchor, new):
    s = enc_session
    uri = s.open("t.rs", text)
    at = len(text) if anchor is None else text.index(anchor)
    expected = edit(s, uri, text, at, at, new)
    await check_text(s, uri, expected, version=2)


async def test_replace_across_lines_with_multibyte(enc_session: Session):
    s = enc_session
    text = "α😀β\n中文\r\ne\u0301nd\n"
    uri = s.open("m.rs", text)
    start, end = text.index("😀") + 1, text.index("nd")  # from after the emoji to before "nd"
    expected = edit(s, uri, text, start, end, "🦀\n")
    await check_text(s, uri, expected)


async def test_empty_document(enc_session: Session):
    s = enc_session
    uri = s.open("empty.rs", "")
    await check_text(s, uri, "")
    text = edit(s, uri, "", 0, 0, "x😀\n")
    text = edit(s, uri, text, 0, len(text), "")
    await check_text(s, uri, "", version=3)


async def test_several_changes_in_one_notification(enc_session: Session):
    s = enc_session
    text = "aé😀\nbb\n"
    uri = s.open("multi.rs", text)
    changes = []
    for start, end, new in ((1, 2, "中"), (0, 0, "🦀"), (len("🦀a中😀\n"), len("🦀a中😀\nbb"), "")):
        e = tm.Edit(tm.position(text, start, s.encoding), tm.position(text, end, s.encoding), new)
        changes.append(e.to_lsp())
        text = tm.apply(text, e, s.encoding)  # later changes see the earlier ones (LSP rule)
    s.change(uri, changes)
    await check_text(s, uri, text)


async def test_full_document_change(enc_session: Session):
    s = enc_session
    uri = s.open("full.rs", "old")
    s.change(uri, [{"text": "new 😀\r\ntext"}])
    await check_text(s, uri, "new 😀\r\ntext", version=2)


async def test_random_edits(enc_session: Session):
    """300 random edits (some batched in one notification) against the naive model."""
    s = enc_session
    rng = random.Random(f"switchboard-{s.encoding}")
    text = tm.random_text(rng, 80)
    uri = s.open("rand.rs", text)
    for step in range(1, 151):
        batch = []
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            e = tm.random_edit(rng, text, s.encoding)
            batch.append(e.to_lsp())
            text = tm.apply(text, e, s.encoding)
        s.change(uri, batch)
        if step % 50 == 0:
            await check_text(s, uri, text)
    await check_text(s, uri, text, version=151)


async def test_did_close_then_reopen(enc_session: Session):
    s = enc_session
    uri = s.open("c.rs", "first")
    s.close(uri)
    uri = s.open("c.rs", "second 😀", version=1)
    await check_text(s, uri, "second 😀", version=1)


async def test_edit_visible_to_completion(lsp: Session):
    """The edited text is what completion sees: a newly typed identifier is offered."""
    uri = lsp.open("e.rs", "fn main() {\n    \n}\n")
    lsp.change(uri, [{"range": {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 4}},
                      "text": "let freshly_typed_name = 1;\n    fres"}])
    items = await lsp.completion(uri, 2, 8)
    assert "freshly_typed_name" in [i.label for i in items]
