"""Issue 2, item 1: the initialize handshake (position-encoding negotiation, advertised
capabilities) and a clean shutdown/exit, with real client profiles."""

from __future__ import annotations

import pytest
from lsprotocol import types

from harness.session import Session


@pytest.mark.parametrize("offered,expected", [
    (["utf-8", "utf-16", "utf-32"], "utf-8"),
    (["utf-16", "utf-8"], "utf-8"),
    (["utf-16"], "utf-16"),
    (["utf-32"], "utf-32"),
    (["utf-32", "utf-16"], "utf-16"),
    ([], "utf-16"),
    (None, "utf-16"),
])
async def test_position_encoding_negotiation(launch, offered, expected):
    s = await launch(profile="neovim", encodings=offered)
    enc = s.result.capabilities.position_encoding
    assert (str(getattr(enc, "value", enc)) if enc is not None else "utf-16") == expected
    if offered:  # a client that offered encodings must be told which one was picked
        assert enc is not None


@pytest.mark.parametrize("profile,expected", [("neovim", "utf-8"), ("visual-studio-code", "utf-16")])
async def test_profiles_get_their_encoding(launch, profile, expected):
    s = await launch(profile=profile)
    assert s.encoding == expected


async def test_capabilities(lsp: Session):
    caps = lsp.result.capabilities
    sync = caps.text_document_sync
    if isinstance(sync, types.TextDocumentSyncOptions):
        assert sync.change == types.TextDocumentSyncKind.Incremental
        assert sync.open_close is True
    else:
        assert sync == types.TextDocumentSyncKind.Incremental
    assert caps.inline_completion_provider not in (None, False)
    assert caps.completion_provider is not None
    cap = caps.code_action_provider
    assert isinstance(cap, types.CodeActionOptions) and cap.resolve_provider is True
    assert caps.execute_command_provider is not None
    assert "switchboard.accept" in caps.execute_command_provider.commands
    assert lsp.result.server_info is None or lsp.result.server_info.name.lower().startswith("switchboard")


async def test_shutdown_and_exit_code_zero(lsp: Session):
    assert await lsp.shutdown() == 0


async def test_serve_subcommand_and_stdio_flag(launch):
    for args in (["serve"], ["--stdio"], ["serve", "--stdio"]):
        s = await launch(profile="neovim", args=args)
        assert s.result.capabilities.inline_completion_provider not in (None, False)
        assert await s.shutdown() == 0
