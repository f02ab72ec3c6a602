"""Issue 2, item 6: the `local` provider (no key, no network) through textDocument/completion
and textDocument/inlineCompletion: exact replace ranges in every encoding, other buffers
offered but ranked below the current file, the typed word itself not offered, nothing inline
in the middle of a word."""

from __future__ import annotations

import asyncio
import time

import pytest
from lsprotocol import types

from harness import textmodel as tm
from harness.session import Session

SOURCE = "fn compute_total(items: &[u32]) -> u32 { 0 }\nfn main() {\n    let result = comp\n}"
LINE = 2
END = len("    let result = comp")  # cursor right after `comp` (ASCII: same in every encoding)
START = END - len("comp")


def edit_of(item: types.CompletionItem) -> tuple[types.Range, str]:
    """(replace range, new text) of a completion item's textEdit (TextEdit or InsertReplaceEdit)."""
    te = item.text_edit
    assert te is not None, f"item {item.label!r} has no textEdit"
    rng = te.range if isinstance(te, types.TextEdit) else te.insert
    return rng, te.new_text


def rng(line: int, a: int, b: int) -> types.Range:
    return types.Range(start=types.Position(line=line, character=a), end=types.Position(line=line, character=b))


def ranked(items: list[types.CompletionItem]) -> list[str]:
    """Labels in the order an editor shows them (sortText, else label; stable)."""
    return [i.label for i in sorted(items, key=lambda i: i.sort_text if i.sort_text is not None else i.label)]


async def test_completion_offers_same_file_symbol(lsp: Session):
    uri = lsp.open("a.rs", SOURCE)
    items = await lsp.completion(uri, LINE, END)
    by_label = {i.label: i for i in items}
    assert "compute_total" in by_label, [i.label for i in items]
    r, new = edit_of(by_label["compute_total"])
    assert (r, new) == (rng(LINE, START, END), "compute_total")
    assert "comp" not in by_label  # the word being typed is not offered


async def test_completion_other_buffers_rank_lower(lsp: Session):
    lsp.open("b.rs", "fn compare_values(a: u32) -> bool { a > 1 }\n")
    uri = lsp.open("a.rs", SOURCE)
    # Other buffers reach completion through the index, which a request never waits for: the
    # first request right after didOpen may come before the indexer has read b.rs.
    deadline = time.monotonic() + 10
    while True:
        order = ranked(await lsp.completion(uri, LINE, END))
        if "compare_values" in order or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert "compare_values" in order, order
    assert order.index("compute_total") < order.index("compare_values")


async def test_inline_finishes_identifier(lsp: Session):
    uri = lsp.open("a.rs", SOURCE)
    for trigger in (types.InlineCompletionTriggerKind.Automatic, types.InlineCompletionTriggerKind.Invoked):
        items = await lsp.inline(uri, LINE, END, trigger=trigger)
        assert items, f"no inline item ({trigger.name})"
        first = items[0]
        text = first.insert_text if isinstance(first.insert_text, str) else first.insert_text.value
        assert text == "compute_total"
        assert first.range == rng(LINE, START, END)


async def test_inline_nothing_in_middle_of_word(lsp: Session):
    uri = lsp.open("a.rs", SOURCE)
    assert await lsp.inline(uri, LINE, START + 2) == []  # between "co" and "mp"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
async def test_ranges_use_negotiated_encoding(launch, encoding):
    """Multibyte text before the word: range columns must be in the negotiated units."""
    s = await launch(profile="neovim", encodings=[encoding])
    prefix = "    /* 😀 é 中 */ let result = comp"
    text = SOURCE.replace("    let result = comp", prefix)
    uri = s.open("a.rs", text)
    end = tm.units(prefix, encoding)
    start = end - 4
    items = await s.completion(uri, LINE, end)
    item = next((i for i in items if i.label == "compute_total"), None)
    assert item is not None, [i.label for i in items]
    assert edit_of(item) == (rng(LINE, start, end), "compute_total")
    inline = await s.inline(uri, LINE, end)
    assert inline and inline[0].range == rng(LINE, start, end)


async def test_other_languages_and_plain_text(lsp: Session):
    py = lsp.open("m.py", "def parse_header(line):\n    return line\n\nresult = parse_h", language_id="python")
    items = await lsp.completion(py, 3, len("result = parse_h"))
    assert "parse_header" in [i.label for i in items]
    txt = lsp.open("notes.txt", "remember the milk\nremem", language_id="plaintext")
    items = await lsp.completion(txt, 1, 5)
    assert "remember" in [i.label for i in items]  # unknown language degrades to words
