"""Issue 13, item 2: textDocument/documentSymbol (nested for clients that declare hierarchical
support, flat SymbolInformation otherwise) and workspace/symbol over the open documents, from the
tree-sitter definitions — what Claude Code's LSP tool and every editor's outline use."""

from __future__ import annotations

import asyncio

from lsprotocol import types

from harness import textmodel

PY = "LIMIT = 3\n\nclass Cart:\n    def add(self, item):\n        pass\n\n    def total(self):\n        return 0\n\n\ndef main():\n    pass\n"
RS = "/// é😀\nstruct Ünit {\n    wert: u32,\n}\n\nimpl Ünit {\n    fn total_price(&self) -> u32 { self.wert }\n}\n"


async def document_symbols(s, uri: str):
    return await s.call("textDocument/documentSymbol", {"textDocument": {"uri": uri}}, types.DocumentSymbolParams)


async def workspace_symbols(s, query: str):
    return await s.call("workspace/symbol", {"query": query}, types.WorkspaceSymbolParams)


def flat_kinds(result) -> list[tuple[str, int, str | None]]:
    return [(s["name"], s["kind"], s.get("containerName")) for s in result]


async def test_capabilities_are_advertised(lsp):
    caps = lsp.result.capabilities
    assert caps.document_symbol_provider and caps.workspace_symbol_provider


async def test_nested_document_symbols(launch):
    s = await launch(profile="visual-studio-code")  # declares hierarchicalDocumentSymbolSupport
    uri = s.open("cart.py", PY, language_id="python")
    result = await document_symbols(s, uri)
    assert [(x["name"], x["kind"]) for x in result] == [("LIMIT", 14), ("Cart", 5), ("main", 12)]
    cart = result[1]
    assert cart["range"]["start"] == {"line": 2, "character": 0} and cart["range"]["end"]["line"] == 7
    assert cart["selectionRange"] == {"start": {"line": 2, "character": 6}, "end": {"line": 2, "character": 10}}
    assert [(c["name"], c["kind"]) for c in cart["children"]] == [("add", 6), ("total", 6)]
    assert "children" not in result[2]


async def test_flat_symbols_for_clients_without_hierarchy(launch):
    def flat(caps) -> None:
        caps.text_document.document_symbol = None

    s = await launch(profile="neovim", patch_capabilities=flat)
    uri = s.open("cart.py", PY, language_id="python")
    result = await document_symbols(s, uri)
    assert flat_kinds(result) == [("LIMIT", 14, None), ("Cart", 5, None), ("add", 6, "Cart"),
                                  ("total", 6, "Cart"), ("main", 12, None)]
    assert all(x["location"]["uri"] == uri for x in result)


async def test_positions_follow_the_negotiated_encoding(launch):
    for enc in ("utf-8", "utf-16", "utf-32"):
        s = await launch(encodings=[enc], profile="visual-studio-code")
        uri = s.open("u.rs", RS)
        (unit, imp) = await document_symbols(s, uri)
        line = RS.splitlines()[1]
        start = textmodel.units(line[:line.index("Ünit")], enc)
        assert unit["selectionRange"]["start"] == {"line": 1, "character": start}, enc
        assert unit["selectionRange"]["end"]["character"] == start + textmodel.units("Ünit", enc), enc
        assert imp["kind"] == 19 and imp["children"][0]["name"] == "total_price"


async def test_workspace_symbols_search_the_open_documents(lsp):
    py = lsp.open("cart.py", PY, language_id="python")
    # Not written to disk: once closed it must be gone (a file on disk would rightly stay, and
    # whether the workspace walk saw it would be a race).
    rs = lsp.open("u.rs", RS, write=False)
    result = await workspace_symbols(lsp, "total")
    assert [(x["name"], x["location"]["uri"]) for x in result] == [("total", py), ("total_price", rs)]
    assert result[0]["containerName"] == "Cart" and result[0]["kind"] == 6
    fuzzy = await workspace_symbols(lsp, "tp")
    assert [x["name"] for x in fuzzy] == ["total_price"]
    everything = await workspace_symbols(lsp, "")
    assert len(everything) == 9
    lsp.close(rs)
    # The index applies the close off the request path: a moment later the symbols are gone.
    deadline = asyncio.get_running_loop().time() + 10
    while (names := [x["name"] for x in await workspace_symbols(lsp, "total")]) != ["total"]:
        assert asyncio.get_running_loop().time() < deadline, names
        await asyncio.sleep(0.05)
    assert names == ["total"]


async def test_unknown_documents_and_plain_text(lsp):
    uri = lsp.open("notes.txt", "class Cart:\n", language_id="plaintext")
    assert await document_symbols(lsp, uri) == []
    try:
        await document_symbols(lsp, lsp.uri("missing.rs"))
    except Exception as e:  # the server answers an error for a document it never saw
        assert "not open" in str(e)
    else:
        raise AssertionError("a document that is not open is an error")
    lsp.assert_alive()
