"""Issue 13, item 3: the Claude Code plugin in editors/claude-code, checked with the real `claude`
CLI (npm `@anthropic-ai/claude-code`) where it is installed: the manifests validate strictly, the
marketplace installs the plugin into a temp HOME, and `claude mcp list` health-checks the plugin's
`switchboard mcp` server as connected. All of it runs offline without an account; tests that need
the CLI skip when it is missing. The extension map is checked against the language table always."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from harness.env import REPO

PLUGIN = REPO / "editors" / "claude-code"
MANIFEST = PLUGIN / ".claude-plugin" / "plugin.json"
MARKETPLACE = PLUGIN / ".claude-plugin" / "marketplace.json"


def claude_bin() -> str | None:
    return os.environ.get("CLAUDE_BIN") or shutil.which("claude")


needs_claude = pytest.mark.skipif(
    claude_bin() is None,
    reason="the claude CLI is not installed (npm install -g @anthropic-ai/claude-code, or set CLAUDE_BIN)",
)


def run_claude(*args: str, home: Path, cwd: Path, path_prefix: Path | None = None) -> subprocess.CompletedProcess:
    """The CLI in a temp HOME, with every optional network call switched off."""
    env = {
        "HOME": str(home),
        "PATH": (f"{path_prefix}{os.pathsep}" if path_prefix else "") + os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "NO_COLOR": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "OPENAI_BASE_URL": "http://127.0.0.1:1/v1",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:1",
    }
    return subprocess.run([claude_bin(), *args], env=env, cwd=str(cwd), capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


def test_extension_map_matches_the_language_table():
    table = tomllib.loads((REPO / "grammars" / "languages.toml").read_text())
    expected = {f".{ext}": lang["id"] for lang in table["language"] for ext in lang.get("extensions", [])}
    manifest = json.loads(MANIFEST.read_text())
    (server,) = manifest["lspServers"].values()
    assert server["extensionToLanguage"] == expected
    assert (server["command"], server["args"]) == ("switchboard", ["serve"])
    assert manifest["mcpServers"]["switchboard"] == {"command": "switchboard", "args": ["mcp"]}
    plugins = json.loads(MARKETPLACE.read_text())["plugins"]
    assert [p["name"] for p in plugins] == [manifest["name"]]


@needs_claude
@pytest.mark.parametrize("manifest", [MANIFEST, MARKETPLACE], ids=["plugin", "marketplace"])
def test_manifests_validate_strictly(manifest, tmp_path):
    r = run_claude("plugin", "validate", "--strict", str(manifest), home=tmp_path, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Validation passed" in r.stdout


@needs_claude
def test_marketplace_install_connects_the_mcp_server(switchboard_bin, tmp_path):
    home, project, bindir = tmp_path / "home", tmp_path / "project", tmp_path / "bin"
    for d in (home, project, bindir):
        d.mkdir()
    (bindir / "switchboard").symlink_to(switchboard_bin)
    r = run_claude("plugin", "marketplace", "add", str(PLUGIN), home=home, cwd=project)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_claude("plugin", "install", "switchboard@switchboard", home=home, cwd=project)
    assert r.returncode == 0 and "Successfully installed" in r.stdout, r.stdout + r.stderr
    r = run_claude("plugin", "list", home=home, cwd=project)
    assert "switchboard@switchboard" in r.stdout and "enabled" in r.stdout, r.stdout + r.stderr
    r = run_claude("mcp", "list", home=home, cwd=project, path_prefix=bindir)
    line = next((ln for ln in r.stdout.splitlines() if "plugin:switchboard:switchboard" in ln), "")
    assert "Connected" in line, r.stdout + r.stderr
