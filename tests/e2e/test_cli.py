"""Issue 2, item 7: the command line — --version, --help, `complete FILE:LINE:COL` with the
local engine and no key, `doctor` reporting keys as set / not set without printing them.
Issue 9: files the CLI must refuse at once (FIFO, device, directory, huge, binary), and what
`action --apply` must never do (follow a planted link, lose appended lines, replace read-only
files, break hard links, write through a link that leads out of the workspace)."""

from __future__ import annotations

import asyncio
import os
import re
import stat
import subprocess
import time
from pathlib import Path

import pytest

from fakes import Reply
from harness.env import REPO, clean_env
from test_actions import ANSWER, REFACTORED
from test_actions import SRC as SRC_ACTIONS

SOURCE = "fn compute_total(items: &[u32]) -> u32 { 0 }\nfn main() {\n    let result = comp\n}\n"
SECRET = "sk-test-SECRET"


def cargo_version() -> str:
    m = re.search(r'(?m)^version\s*=\s*"([^"]+)"', (REPO / "Cargo.toml").read_text())
    assert m
    return m.group(1)


def test_version(run_cli):
    r = run_cli("--version")
    assert r.returncode == 0, r.stderr
    assert cargo_version() in r.stdout and "switchboard" in r.stdout.lower()


def test_help_lists_commands(run_cli):
    r = run_cli("--help")
    assert r.returncode == 0, r.stderr
    for cmd in ("serve", "complete", "doctor"):
        assert cmd in r.stdout


def test_complete_prints_local_completion(run_cli, tmp_path):
    f = tmp_path / "a.rs"
    f.write_text(SOURCE)
    r = run_cli("complete", f"{f}:3:{len('    let result = comp') + 1}")
    assert r.returncode == 0, r.stderr
    assert "compute_total" in r.stdout or "ute_total" in r.stdout, r.stdout


def test_complete_relative_path(run_cli, tmp_path):
    (tmp_path / "b.py").write_text("def parse_header(x):\n    pass\n\nparse_h\n")
    r = run_cli("complete", "b.py:4:8", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "header" in r.stdout


def test_complete_bad_arguments_fail_cleanly(run_cli, tmp_path):
    for arg in (f"{tmp_path}/missing.rs:1:1", "no-position", f"{tmp_path}/x.rs:0:0"):
        r = run_cli("complete", arg)
        assert r.returncode != 0
        assert "panicked" not in r.stderr, r.stderr


def test_doctor_without_keys(run_cli):
    r = run_cli("doctor")
    out = r.stdout + r.stderr
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        line = next((ln for ln in out.splitlines() if var in ln), "")
        assert "not set" in line.lower(), f"{var} should be reported as not set:\n{out}"
    # Nothing was accepted or refused by a provider, so nothing was "rejected".
    assert "rejected" not in out, out
    # Completions fall back to local (fine); the actions have no provider at all (a failure: exit 1).
    verdict = out[out.index("Verdict"):]
    assert "ok   inline: served by local (codex failed the check above)" in verdict, verdict
    assert "FAIL explain: no provider of [claude] can serve it" in verdict, verdict
    assert r.returncode == 1, out


def test_doctor_never_prints_key(run_cli):
    r = run_cli("doctor", env={"OPENAI_API_KEY": SECRET, "ANTHROPIC_API_KEY": SECRET + "-ant"}, timeout=30)
    out = r.stdout + r.stderr
    assert SECRET not in out
    assert "SECRET" not in out and "sk-test" not in out
    line = next((ln for ln in out.splitlines() if "OPENAI_API_KEY" in ln), "")
    assert "not set" not in line.lower(), f"OPENAI_API_KEY is set:\n{out}"


def test_doctor_says_which_anthropic_variable_wins(run_cli):
    r = run_cli("doctor", env={"ANTHROPIC_API_KEY": SECRET + "-ant", "ANTHROPIC_AUTH_TOKEN": SECRET + "-tok"},
                timeout=30)
    out = r.stdout + r.stderr
    assert SECRET not in out
    keys = {ln.split(":")[0].strip(): ln for ln in out.splitlines() if ln.strip().startswith("ANTHROPIC_")}
    assert "not used: ANTHROPIC_AUTH_TOKEN is set" in keys["ANTHROPIC_API_KEY"], out
    assert keys["ANTHROPIC_AUTH_TOKEN"].strip() == "ANTHROPIC_AUTH_TOKEN: set", out


# -- files the CLI must not read ---------------------------------------------------------------

def odd_files(tmp_path):
    """(path, what the refusal says) for each kind of file the CLI must refuse, quickly."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    fifo = tmp_path / "pipe.rs"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.rs"
    with open(huge, "wb") as f:
        f.truncate(17 * 1024 * 1024)  # sparse: costs no disk
    binary = tmp_path / "blob.rs"
    binary.write_bytes(b"fn main() {}\n\x00\x01\x02")
    (tmp_path / "dir.rs").mkdir()
    return [(fifo, "is a FIFO"), (Path("/dev/zero"), "is a device"), (tmp_path / "dir.rs", "is a directory"),
            (huge, "over the 16777216-byte limit"), (binary, "looks like a binary file")]


@pytest.mark.parametrize("command", ["complete", "action"])
def test_odd_files_are_refused_at_once(run_cli, tmp_path, command):
    for path, says in odd_files(tmp_path / command):
        args = ("complete", f"{path}:1:1") if command == "complete" else ("action", "refactor", f"{path}:1")
        started = time.monotonic()
        r = run_cli(*args, timeout=10)
        assert r.returncode != 0, (path, r.stdout)
        assert says in r.stderr, (path, r.stderr)
        assert "panicked" not in r.stderr
        assert time.monotonic() - started < 5, f"{path} took {time.monotonic() - started:.1f} s"


# -- action --apply -------------------------------------------------------------------------------

def anthropic_env(fake) -> dict[str, str]:
    return {"ANTHROPIC_API_KEY": fake.api_key, "ANTHROPIC_BASE_URL": fake.base_url}


def hidden(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.startswith("."))


async def test_apply_never_follows_a_link_planted_at_a_temp_name(switchboard_bin, fake_anthropic, tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    f = ws / "lib.rs"
    f.write_text(SRC_ACTIONS)
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me\n")
    fake_anthropic.script(Reply.text(ANSWER, first_byte_delay_ms=800))
    home, xdg = tmp_path / "home", tmp_path / "xdg"
    home.mkdir()
    xdg.mkdir()
    p = subprocess.Popen([str(switchboard_bin), "action", "refactor", f"{f}:4", "--apply"], cwd=ws,
                         env=clean_env(home, xdg, anthropic_env(fake_anthropic)), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    # The name the old code wrote to: `.lib.rs.switchboard-<pid>.tmp`, a link to a file elsewhere.
    (ws / f".lib.rs.switchboard-{p.pid}.tmp").symlink_to(precious)
    out, err = await asyncio.to_thread(p.communicate, timeout=20)
    assert p.returncode == 0, err
    assert precious.read_text() == "keep me\n"
    assert f.read_text() == REFACTORED
    assert hidden(ws) == [f".lib.rs.switchboard-{p.pid}.tmp"], "no temporary file of ours is left"


async def test_apply_keeps_lines_appended_meanwhile(switchboard_bin, fake_anthropic, tmp_path):
    f = tmp_path / "lib.rs"
    f.write_text(SRC_ACTIONS)
    fake_anthropic.script(Reply.text(ANSWER, chunks=8, delay_ms=100))
    home, xdg = tmp_path / "home", tmp_path / "xdg"
    home.mkdir()
    xdg.mkdir()
    p = subprocess.Popen([str(switchboard_bin), "action", "refactor", f"{f}:4", "--apply"], cwd=tmp_path,
                         env=clean_env(home, xdg, anthropic_env(fake_anthropic)), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 10
    while not fake_anthropic.generation_requests:
        assert time.monotonic() < deadline and p.poll() is None, "no model request"
        await asyncio.sleep(0.01)
    with open(f, "a") as log:
        log.write("// appended by another process\n")
    out, err = await asyncio.to_thread(p.communicate, timeout=20)
    assert p.returncode == 0, err
    assert f.read_text() == REFACTORED + "// appended by another process\n"


async def test_apply_refuses_read_only_files_without_force(run_cli, fake_anthropic, tmp_path):
    f = tmp_path / "lib.rs"
    f.write_text(SRC_ACTIONS)
    f.chmod(0o444)
    fake_anthropic.script(Reply.text(ANSWER))
    r = await asyncio.to_thread(run_cli, "action", "refactor", f"{f}:4", "--apply", env=anthropic_env(fake_anthropic))
    assert r.returncode != 0
    assert "is read-only; nothing was written" in r.stderr and "--force" in r.stderr, r.stderr
    assert f.read_text() == SRC_ACTIONS
    fake_anthropic.script(Reply.text(ANSWER))
    r = await asyncio.to_thread(run_cli, "action", "refactor", f"{f}:4", "--apply", "--force",
                                env=anthropic_env(fake_anthropic))
    assert r.returncode == 0, r.stderr
    assert f.read_text() == REFACTORED
    assert stat.S_IMODE(f.stat().st_mode) == 0o444, "the mode is kept"


async def test_apply_keeps_hard_links_or_refuses(run_cli, fake_anthropic, tmp_path):
    f, other = tmp_path / "lib.rs", tmp_path / "copy.rs"
    f.write_text(SRC_ACTIONS)
    os.link(f, other)
    fake_anthropic.script(Reply.text(ANSWER))
    r = await asyncio.to_thread(run_cli, "action", "refactor", f"{f}:4", "--apply", env=anthropic_env(fake_anthropic))
    assert r.returncode != 0
    assert "has 2 hard links" in r.stderr and "--force" in r.stderr, r.stderr
    assert f.read_text() == other.read_text() == SRC_ACTIONS
    fake_anthropic.script(Reply.text(ANSWER))
    r = await asyncio.to_thread(run_cli, "action", "refactor", f"{f}:4", "--apply", "--force",
                                env=anthropic_env(fake_anthropic))
    assert r.returncode == 0, r.stderr
    assert other.read_text() == REFACTORED, "written in place: the other name sees the edit"
    assert f.stat().st_ino == other.stat().st_ino and f.stat().st_nlink == 2


async def test_apply_through_a_symlink_only_inside_the_workspace(run_cli, fake_anthropic, tmp_path):
    ws, elsewhere = tmp_path / "ws", tmp_path / "elsewhere"
    ws.mkdir()
    elsewhere.mkdir()
    real, outside = ws / "real.rs", elsewhere / "lib.rs"
    real.write_text(SRC_ACTIONS)
    outside.write_text(SRC_ACTIONS)
    (ws / "inside.rs").symlink_to(real)
    (ws / "out.rs").symlink_to(outside)

    r = await asyncio.to_thread(run_cli, "action", "refactor", "out.rs:4", "--apply", cwd=ws,
                                env=anthropic_env(fake_anthropic))
    assert r.returncode != 0
    assert "is a symbolic link to" in r.stderr and "outside the workspace" in r.stderr, r.stderr
    assert outside.read_text() == SRC_ACTIONS
    assert fake_anthropic.generation_requests == [], "refused before asking the model"

    fake_anthropic.script(Reply.text(ANSWER))
    r = await asyncio.to_thread(run_cli, "action", "refactor", "inside.rs:4", "--apply", cwd=ws,
                                env=anthropic_env(fake_anthropic))
    assert r.returncode == 0, r.stderr
    assert real.read_text() == REFACTORED, "the real file is edited"
    assert (ws / "inside.rs").is_symlink(), "the link stays a link"
