"""Where the binary is, and the clean environment every server or CLI run gets.

The environment is built from scratch (not copied from the test process): a temp HOME and
XDG_CONFIG_HOME so no real user config is read, no API keys unless a test adds them, provider
base URLs pointing at a closed loopback port so nothing can reach the internet, and
SWITCHBOARD_LOG=debug so tests can grep the log.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
DEAD_OPENAI = "http://127.0.0.1:1/v1"  # nothing listens on port 1: connection refused at once
DEAD_ANTHROPIC = "http://127.0.0.1:1"


def find_binary() -> Path | None:
    """$SWITCHBOARD_BIN, else target/release/switchboard, else target/debug/switchboard.

    When both builds exist and the debug one is newer, the debug one is used: a stale release
    binary left from an earlier build would otherwise be tested by mistake."""
    env = os.environ.get("SWITCHBOARD_BIN")
    if env:
        p = Path(env)
        return p if p.is_file() and os.access(p, os.X_OK) else None
    found = [p for p in (REPO / "target" / prof / "switchboard" for prof in ("release", "debug"))
             if p.is_file() and os.access(p, os.X_OK)]
    if len(found) == 2 and found[1].stat().st_mtime > found[0].stat().st_mtime + 1:
        return found[1]
    return found[0] if found else None


def clean_env(home: Path, xdg_config: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A minimal environment for the binary. `extra` values of None remove a variable."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(xdg_config),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "LANG": "C.UTF-8",
        "SWITCHBOARD_LOG": "debug",
        "RUST_BACKTRACE": "1",
        "NO_COLOR": "1",
        "OPENAI_BASE_URL": DEAD_OPENAI,
        "ANTHROPIC_BASE_URL": DEAD_ANTHROPIC,
    }
    for k, v in (extra or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def which(name: str) -> str | None:
    return shutil.which(name)
