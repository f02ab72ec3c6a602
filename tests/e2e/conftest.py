"""Fixtures for the end-to-end suite: the real binary over stdio, fake upstreams, the CLI.

- `switchboard_bin`: $SWITCHBOARD_BIN, else target/release/switchboard, else target/debug; a test
  that needs it fails with a clear message when none exists (the fake-server tests still run).
- `launch`: async factory `await launch(profile=..., encodings=..., env=..., workspace_files=...,
  user_config=..., init_options=...)` -> `harness.session.Session`; each call gets its own temp
  workspace/HOME/XDG dirs and log file; every session is shut down at teardown.
- `lsp`: one initialized session, parametrised over the neovim and visual-studio-code profiles.
- `raw_lsp`: async factory for `harness.rawlsp.RawLsp` (bytes-level client).
- `fake_openai`, `fake_anthropic`: fresh fakes on 127.0.0.1, stopped at teardown.
- `run_cli`: run `switchboard ARGS...` in the clean environment, with a timeout.

On failure, the tail of each server log is attached to the report.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from pathlib import Path

import pytest
import pytest_asyncio

from fakes import FakeAnthropic, FakeOpenAI
from harness.env import clean_env, find_binary
from harness.rawlsp import RawLsp
from harness.session import Session, launch as _launch, stop as _stop

SESSIONS_KEY = pytest.StashKey[list]()


@pytest.fixture(scope="session")
def switchboard_bin() -> Path:
    binary = find_binary()
    if binary is None:
        if os.environ.get("SWITCHBOARD_BIN"):
            pytest.fail(f"SWITCHBOARD_BIN={os.environ['SWITCHBOARD_BIN']} is not an executable file",
                        pytrace=False)
        pytest.fail(
            "switchboard binary not found: set SWITCHBOARD_BIN, or build it with "
            "`cargo build --release` (looked in target/release and target/debug)",
            pytrace=False,
        )
    return binary


@pytest_asyncio.fixture
async def launch(switchboard_bin: Path, tmp_path: Path, request):
    """Factory: start and initialize a server; all are stopped at teardown."""
    sessions: list[Session] = []
    request.node.stash[SESSIONS_KEY] = sessions
    counter = itertools.count()

    async def start(**kwargs) -> Session:
        session = await _launch(switchboard_bin, tmp_path / f"s{next(counter)}", **kwargs)
        sessions.append(session)
        return session

    yield start
    for s in sessions:
        await _stop(s)


@pytest_asyncio.fixture(params=["neovim", "visual-studio-code"])
async def lsp(request, launch) -> Session:
    """An initialized server, once per client profile."""
    return await launch(profile=request.param)


@pytest_asyncio.fixture
async def raw_lsp(switchboard_bin: Path, tmp_path: Path, request):
    """Factory: a bytes-level client (`harness.rawlsp.RawLsp`), killed at teardown."""
    clients: list[RawLsp] = []
    counter = itertools.count()

    async def start(env: dict[str, str] | None = None, args: list[str] | None = None) -> RawLsp:
        base = tmp_path / f"raw{next(counter)}"
        for d in ("ws", "home", "xdg"):
            (base / d).mkdir(parents=True, exist_ok=True)
        c = RawLsp([str(switchboard_bin), *(args or [])], clean_env(base / "home", base / "xdg", env),
                   base / "ws", base / "server.log")
        c.workspace = base / "ws"  # type: ignore[attr-defined]
        clients.append(c)
        return await c.start()

    yield start
    for c in clients:
        await c.close()


@pytest_asyncio.fixture
async def fake_openai():
    async with FakeOpenAI() as fake:
        yield fake


@pytest_asyncio.fixture
async def fake_anthropic():
    async with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
def run_cli(switchboard_bin: Path, tmp_path: Path):
    """`run_cli(*args, env={...}, cwd=..., timeout=20)` -> CompletedProcess (text mode)."""
    home, xdg = tmp_path / "cli-home", tmp_path / "cli-xdg"
    home.mkdir(exist_ok=True)
    xdg.mkdir(exist_ok=True)

    def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 20) -> subprocess.CompletedProcess:
        return subprocess.run([str(switchboard_bin), *args], env=clean_env(home, xdg, env),
                              cwd=str(cwd or tmp_path), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    return run


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        for i, s in enumerate(item.stash.get(SESSIONS_KEY, [])):
            tail = s.log()[-4000:]
            if tail:
                report.sections.append((f"server log {i} ({s.log_path})", tail))
    return report
