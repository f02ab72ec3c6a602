"""Issues 10 and 11: the symbol index. The workspace's files on disk are indexed in the background
(local completion offers a name defined only in a file that was never opened), file events keep
that index current, and a 7 MB minified line neither blocks other requests at didOpen nor stops
local completion in its own file."""

from __future__ import annotations

import asyncio
import time

from lsprotocol import types

from harness.session import Session

MAIN = "fn main() {\n    let w = frob\n}\n"
LINE, END = 1, len("    let w = frob")


async def labels(s: Session, uri: str, line: int, character: int) -> list[str]:
    return [i.label for i in await s.completion(uri, line, character)]


async def eventually_offers(s: Session, uri: str, line: int, character: int, label: str,
                            present: bool = True, timeout: float = 15.0) -> list[str]:
    """Polls completion until `label` is (or is no longer) offered: the index builds in the
    background, so the first requests may not see it yet."""
    deadline = time.monotonic() + timeout
    while True:
        got = await labels(s, uri, line, character)
        if (label in got) == present or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.1)


async def test_completion_offers_a_name_defined_only_in_an_unopened_file(launch):
    s = await launch(workspace_files={
        "src/widgets.rs": "pub fn frobnicate_widget(w: &mut Widget, depth: u32) -> bool {\n    true\n}\n",
        "target/debug/junk.rs": "pub fn frobnicate_ignored() {}\n",
        ".gitignore": "target/\n",
        "vendor/frob_secret.rs": "pub fn frobnicate_secret() {}\n",
        ".switchboardignore": "vendor/\n",
    })
    uri = s.open("src/main.rs", MAIN)
    got = await eventually_offers(s, uri, LINE, END, "frobnicate_widget")
    assert "frobnicate_widget" in got, got
    assert "frobnicate_ignored" not in got, "a .gitignore'd file was indexed"
    assert "frobnicate_secret" not in got, "a .switchboardignore'd file was indexed"
    s.assert_alive()


async def test_watched_file_events_update_the_index(launch):
    s = await launch(workspace_files={"src/lib.rs": "pub fn unrelated() {}\n"})
    uri = s.open("src/main.rs", MAIN)
    assert "frobnicate_later" not in await labels(s, uri, LINE, END)

    path = s.workspace / "src" / "later.rs"
    path.write_text("pub fn frobnicate_later(x: u32) -> u32 {\n    x\n}\n")
    s.client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(
        changes=[types.FileEvent(uri=path.as_uri(), type=types.FileChangeType.Created)]))
    got = await eventually_offers(s, uri, LINE, END, "frobnicate_later")
    assert "frobnicate_later" in got, got

    path.unlink()
    s.client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(
        changes=[types.FileEvent(uri=path.as_uri(), type=types.FileChangeType.Deleted)]))
    got = await eventually_offers(s, uri, LINE, END, "frobnicate_later", present=False)
    assert "frobnicate_later" not in got, got


async def test_other_requests_are_answered_while_a_7_mb_line_opens(launch):
    s = await launch()
    small = s.open("src/main.rs", "fn compute_total() {}\nfn main() {\n    comp\n}\n")
    minified = "var " + ",".join(f"v{i}=function(a){{return a+{i}}}" for i in range(230_000)) + ";needle_value=1;"
    assert len(minified) > 7_000_000
    big = s.open("dist/app.js", minified + "need", language_id="javascript", write=False)
    started = time.monotonic()
    got = await labels(s, small, 2, len("    comp"))
    assert "compute_total" in got, got
    assert time.monotonic() - started < 2.0, "a request waited for the minified file"
    # Local completion still answers in the minified file itself, from the words near the cursor.
    got = await labels(s, big, 0, len(minified) + 4)
    assert "needle_value" in got, got
    s.assert_alive()
