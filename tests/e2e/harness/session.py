"""Driving the real `switchboard` binary over stdio with pytest-lsp, like an editor does.

`launch(...)` starts the binary in a clean environment with a temp workspace, performs the
`initialize` handshake with a real client profile (neovim / visual-studio-code, plus the LSP 3.18
inline-completion capability those captured profiles predate), and returns a `Session` with
small helpers: open/change documents, completion, inline completion, the test-only
`switchboard/documentText` request, waiting for `window/showMessage`, reading the server log.

The server's stderr goes to a per-test log file (`Session.log()`), not to the terminal.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from lsprotocol import types
from pygls.lsp.client import LanguageClient as BaseLanguageClient
from pygls.protocol import JsonRPCProtocol, default_converter
from pytest_lsp import LanguageClient, client_capabilities
from pytest_lsp.client import register_lsp_features

from .env import clean_env

PROFILES = {"neovim": "neovim", "visual-studio-code": "visual-studio-code"}
REQUEST_TIMEOUT = 10.0


class SwitchboardClient(LanguageClient):
    """pytest-lsp's client, with the server's stderr copied to a file instead of the terminal."""

    stderr_path: Path | None = None

    async def start_io(self, cmd: str, *args, **kwargs):
        await BaseLanguageClient.start_io(self, cmd, *args, **kwargs)
        if self._server and self._server.stderr and self.stderr_path:
            self._stderr_forwarder = asyncio.create_task(_copy_stream(self._server.stderr, self.stderr_path))


async def _copy_stream(stream: asyncio.StreamReader, path: Path) -> None:
    with open(path, "ab") as f:
        while chunk := await stream.read(65536):
            f.write(chunk)
            f.flush()


def plain(obj: Any) -> Any:
    """pygls returns unknown-method results as namedtuples; turn them back into dicts/lists."""
    if hasattr(obj, "_asdict"):
        return {k: plain(v) for k, v in obj._asdict().items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


def capabilities_for(profile: str, encodings: list[str] | None | str = "profile") -> types.ClientCapabilities:
    """A captured client profile plus inline completion; `encodings` overrides
    general.positionEncodings (None = offer nothing)."""
    caps = client_capabilities(PROFILES[profile])
    if caps.text_document is None:
        caps.text_document = types.TextDocumentClientCapabilities()
    caps.text_document.inline_completion = types.InlineCompletionClientCapabilities(
        dynamic_registration=profile == "visual-studio-code")
    if encodings != "profile":
        if caps.general is None:
            caps.general = types.GeneralClientCapabilities()
        caps.general.position_encodings = (
            None if encodings is None else [types.PositionEncodingKind(e) for e in encodings])
    return caps


@dataclass
class Session:
    """A running server plus what a test needs to talk to it."""

    client: SwitchboardClient
    workspace: Path
    log_path: Path
    result: types.InitializeResult | None = None
    encoding: str = "utf-16"
    _versions: dict[str, int] = field(default_factory=dict)

    # -- plumbing ----------------------------------------------------------------------------
    def uri(self, name: str) -> str:
        return (self.workspace / name).as_uri()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def returncode(self) -> int | None:
        return self.client._server.returncode if self.client._server else None

    def assert_alive(self) -> None:
        assert self.returncode is None, f"server exited with {self.returncode}; log tail:\n{self.log()[-3000:]}"

    async def request(self, method: str, params: Any, timeout: float = REQUEST_TIMEOUT) -> Any:
        """Any request, typed when pygls knows the method, plain dicts otherwise."""
        fut = self.client.protocol.send_request_async(method, params)
        return plain(await asyncio.wait_for(fut, timeout))

    # -- documents ---------------------------------------------------------------------------
    def open(self, name: str, text: str, language_id: str = "rust", version: int = 1, write: bool = True) -> str:
        """didOpen (and write the file into the workspace so the CLI and the disk agree)."""
        uri = self.uri(name)
        if write:
            path = self.workspace / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, newline="")
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id=language_id, version=version, text=text)))
        self._versions[uri] = version
        return uri

    def change(self, uri: str, changes: list[dict[str, Any]], version: int | None = None) -> int:
        """didChange with raw content-change dicts ({"range":..., "text":...} or {"text":...})."""
        version = self._versions.get(uri, 0) + 1 if version is None else version
        self._versions[uri] = max(version, self._versions.get(uri, 0))
        events = []
        for c in changes:
            if "range" in c:
                r = c["range"]
                events.append(types.TextDocumentContentChangePartial(
                    range=types.Range(start=types.Position(**r["start"]), end=types.Position(**r["end"])),
                    text=c["text"]))
            else:
                events.append(types.TextDocumentContentChangeWholeDocument(text=c["text"]))
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=events))
        return version

    def close(self, uri: str) -> None:
        self.client.text_document_did_close(types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))

    async def document_text(self, uri: str, timeout: float = REQUEST_TIMEOUT) -> dict[str, Any]:
        """The test/debug request `switchboard/documentText` -> {"text", "version"}."""
        return await self.request("switchboard/documentText", {"textDocument": {"uri": uri}}, timeout)

    # -- completion --------------------------------------------------------------------------
    async def completion(self, uri: str, line: int, character: int,
                         timeout: float = REQUEST_TIMEOUT) -> list[types.CompletionItem]:
        result = await asyncio.wait_for(self.client.text_document_completion_async(types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
            context=types.CompletionContext(trigger_kind=types.CompletionTriggerKind.Invoked))), timeout)
        if result is None:
            return []
        return list(result.items if isinstance(result, types.CompletionList) else result)

    async def inline(self, uri: str, line: int, character: int,
                     trigger: types.InlineCompletionTriggerKind = types.InlineCompletionTriggerKind.Automatic,
                     timeout: float = REQUEST_TIMEOUT) -> list[types.InlineCompletionItem]:
        result = await asyncio.wait_for(self.client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=line, character=character),
                context=types.InlineCompletionContext(trigger_kind=trigger))), timeout)
        if result is None:
            return []
        return list(result.items if isinstance(result, types.InlineCompletionList) else result)

    # -- code actions ------------------------------------------------------------------------
    async def call(self, method: str, params: Any, params_type: Any = None, timeout: float = REQUEST_TIMEOUT,
                   msg_id: str | None = None) -> Any:
        """A request with plain-dict params (structured into `params_type` for methods pygls
        knows); the result as plain JSON (dicts and lists)."""
        conv = self.client.protocol._converter
        typed = conv.structure(params, params_type) if params_type is not None else params
        msg_id = msg_id or f"call-{uuid.uuid4()}"
        fut = JsonRPCProtocol.send_request(self.client.protocol, method, typed, msg_id=msg_id)
        # Read the result untyped: pygls would squeeze `Command | CodeAction` into the first
        # type that fits and drop fields.
        self.client.protocol._result_types[msg_id] = None
        return plain(await asyncio.wait_for(asyncio.wrap_future(fut), timeout))

    async def code_actions(self, uri: str, range_: dict[str, Any], diagnostics: list[dict] | None = None,
                           only: list[str] | None = None, timeout: float = REQUEST_TIMEOUT) -> list[dict]:
        context: dict[str, Any] = {"diagnostics": diagnostics or []}
        if only is not None:
            context["only"] = only
        params = {"textDocument": {"uri": uri}, "range": range_, "context": context}
        return await self.call("textDocument/codeAction", params, types.CodeActionParams, timeout) or []

    async def resolve(self, action: dict[str, Any], timeout: float = REQUEST_TIMEOUT, msg_id: str | None = None) -> dict:
        return await self.call("codeAction/resolve", action, types.CodeAction, timeout, msg_id)

    async def execute(self, command: str, arguments: list[Any], timeout: float = REQUEST_TIMEOUT,
                      msg_id: str | None = None) -> Any:
        params = {"command": command, "arguments": arguments}
        return await self.call("workspace/executeCommand", params, types.ExecuteCommandParams, timeout, msg_id)

    def cancel(self, msg_id: str) -> None:
        """$/cancelRequest for a request sent with `msg_id`."""
        self.client.protocol.notify("$/cancelRequest", types.CancelParams(id=msg_id))

    @property
    def applied_edits(self) -> list[dict]:
        """`workspace/applyEdit` params received (the client answers `applied: apply_edit_result`)."""
        return self.client.applied_edits

    @property
    def explanations(self) -> list[dict]:
        """`switchboard/explanation` notifications received."""
        return self.client.explanations

    @property
    def message_requests(self) -> list[dict]:
        """`window/showMessageRequest` params received (answered with `message_request_answer`)."""
        return self.client.message_requests

    @property
    def shown_documents(self) -> list[types.ShowDocumentParams]:
        return list(self.client.shown_documents)

    # -- messages ----------------------------------------------------------------------------
    @property
    def messages(self) -> list[types.ShowMessageParams]:
        return list(self.client.messages)

    async def wait_for_message(self, predicate: Callable[[types.ShowMessageParams], bool],
                               timeout: float = 5.0) -> types.ShowMessageParams:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.client.messages:
                if predicate(m):
                    return m
            await asyncio.sleep(0.02)
        raise AssertionError(f"no matching window/showMessage within {timeout}s; got: "
                             f"{[(m.type, m.message) for m in self.client.messages]}")

    # -- lifecycle ---------------------------------------------------------------------------
    async def shutdown(self, timeout: float = 10.0) -> int | None:
        """shutdown + exit; returns the exit code (None if the process did not end)."""
        if self.returncode is not None:
            return self.returncode
        await asyncio.wait_for(self.client.shutdown_session(), timeout)
        return self.returncode


async def launch(
    binary: Path,
    tmp: Path,
    *,
    profile: str = "neovim",
    encodings: list[str] | None | str = "profile",
    env: dict[str, str] | None = None,
    workspace_files: dict[str, str] | None = None,
    user_config: str | None = None,
    init_options: Any = None,
    experimental: dict[str, Any] | None = None,
    patch_capabilities: Callable[[types.ClientCapabilities], None] | None = None,
    args: list[str] | None = None,
    initialize: bool = True,
) -> Session:
    """Start the server in `tmp` (workspace, home, xdg config, log) and initialize it.

    In `workspace_files`, `user_config` and `env` values, "@WORKSPACE@" is replaced by the
    workspace path (e.g. for `trusted_workspaces`)."""
    workspace, home, xdg = tmp / "ws", tmp / "home", tmp / "xdg"
    for d in (workspace, home, xdg):
        d.mkdir(parents=True, exist_ok=True)

    def subst(text: str) -> str:
        return text.replace("@WORKSPACE@", str(workspace))

    for name, text in (workspace_files or {}).items():
        (workspace / name).parent.mkdir(parents=True, exist_ok=True)
        (workspace / name).write_text(subst(text))
    if user_config is not None:
        (xdg / "switchboard").mkdir(parents=True, exist_ok=True)
        (xdg / "switchboard" / "config.toml").write_text(subst(user_config))
    env = {k: (subst(v) if isinstance(v, str) else v) for k, v in (env or {}).items()}
    log_path = tmp / "server.log"
    client = SwitchboardClient(converter_factory=default_converter)
    register_lsp_features(client)
    register_action_features(client)
    client.stderr_path = log_path
    argv = [str(binary), *(args if args is not None else (["--stdio"] if profile == "visual-studio-code" else []))]
    await client.start_io(*argv, env=clean_env(home, xdg, env), cwd=str(workspace))
    session = Session(client=client, workspace=workspace, log_path=log_path)
    if initialize:
        caps = capabilities_for(profile, encodings)
        if experimental is not None:
            caps.experimental = experimental
        if patch_capabilities is not None:
            patch_capabilities(caps)
        params = types.InitializeParams(
            capabilities=caps, root_uri=workspace.as_uri(), root_path=str(workspace),
            workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="ws")],
            initialization_options=init_options,
            client_info=types.ClientInfo(name=profile, version="e2e"))
        session.result = await asyncio.wait_for(client.initialize_session(params), REQUEST_TIMEOUT)
        enc = session.result.capabilities.position_encoding
        session.encoding = str(getattr(enc, "value", enc)) if enc is not None else "utf-16"
    return session


def register_action_features(client: SwitchboardClient) -> None:
    """Client sides of the code-action flow: `workspace/applyEdit` (recorded, answered with
    `client.apply_edit_result`), `window/showMessageRequest` (recorded, answered with the item
    titled `client.message_request_answer`, or none) and `switchboard/explanation` (recorded)."""
    conv = client.protocol._converter
    client.applied_edits = []
    client.apply_edit_result = True
    client.message_requests = []
    client.message_request_answer = None
    client.explanations = []

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams):
        client.applied_edits.append(plain(conv.unstructure(params)))
        return types.ApplyWorkspaceEditResult(applied=client.apply_edit_result)

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def show_message_request(params: types.ShowMessageRequestParams):
        client.message_requests.append(plain(conv.unstructure(params)))
        answer = client.message_request_answer
        return types.MessageActionItem(title=answer) if answer else None

    @client.feature("switchboard/explanation")
    def explanation(params):
        client.explanations.append(plain(params))


async def stop(session: Session) -> None:
    """Teardown: polite shutdown if still running, then make sure the process is gone."""
    client = session.client
    try:
        if session.returncode is None and client.capabilities is not None and client.error is None:
            await asyncio.wait_for(client.shutdown_session(), 5)
    except Exception:
        pass
    finally:
        server = client._server
        if server is not None and server.returncode is None:
            server.kill()
            try:
                await asyncio.wait_for(server.wait(), 5)
            except asyncio.TimeoutError:
                pass
        try:
            await asyncio.wait_for(client.stop(), 5)
        except Exception:
            pass
