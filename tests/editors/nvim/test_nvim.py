#!/usr/bin/env python3
"""Drives a real Neovim 0.12 (TUI inside tmux, in the sid chroot) as a user would, over pynvim.

Checks: ghost text from the fake Codex server appears while typing in insert mode, <Tab> accepts it,
<M-Right> accepts one word and the rest stays shown (from the server's typing-through cache),
the "Switchboard: Refactor" code action applies the fake Claude edit, "Switchboard: Explain" streams
into the floating window. Screens are saved as text captures (with colours) under the artifacts dir.

Environment (set by run.sh): E2E_SID (chroot root), E2E_TMUX (tmux socket name), E2E_ARTIFACTS,
E2E_NVIM_CMD (the command line run inside tmux).
"""

import os
import subprocess
import sys
import time
import traceback

import pynvim

SID = os.environ["E2E_SID"]
TMUX = ["tmux", "-L", os.environ["E2E_TMUX"]]
ART = os.environ["E2E_ARTIFACTS"]
SOCK = os.path.join(SID, "opt/e2e/nvim.sock")
EXPECT_LINE = "    a + b"

results = []  # (name, ok, detail)


def upstream(path_suffix):
    """How many requests the fake upstream got on paths ending with path_suffix."""
    try:
        with open(os.environ.get("FAKE_RECORD", "/nonexistent")) as f:
            return sum(1 for line in f if f'"path": "' in line and path_suffix in line.split('"body"')[0])
    except OSError:
        return 0


def log(msg):
    print(f"[nvim-test {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def capture(name):
    """Save the tmux pane (plain and with escapes) as an artifact."""
    try:
        plain = subprocess.run(TMUX + ["capture-pane", "-p", "-t", "e2e"], capture_output=True, text=True, timeout=5).stdout
        ansi = subprocess.run(TMUX + ["capture-pane", "-p", "-e", "-t", "e2e"], capture_output=True, text=True, timeout=5).stdout
        with open(os.path.join(ART, f"nvim-{name}.txt"), "w") as f:
            f.write(plain)
        with open(os.path.join(ART, f"nvim-{name}.ansi"), "w") as f:
            f.write(ansi)
        return plain
    except Exception as e:  # noqa: BLE001
        log(f"capture {name} failed: {e}")
        return ""


def wait_for(what, fn, timeout):
    """Polls fn() until it returns a truthy value; raises with `what` on timeout."""
    deadline = time.time() + timeout
    last_exc = None
    while time.time() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # noqa: BLE001
            last_exc = e
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last_exc})" if last_exc else ""))


def check(name, fn):
    t0 = time.time()
    try:
        detail = fn()
        results.append((name, True, detail))
        log(f"PASS {name} ({time.time() - t0:.2f}s){': ' + str(detail) if detail else ''}")
    except Exception as e:  # noqa: BLE001
        results.append((name, False, str(e)))
        log(f"FAIL {name} ({time.time() - t0:.2f}s): {e}")
        capture(f"fail-{name}")
        if not isinstance(e, (TimeoutError, AssertionError)):
            traceback.print_exc()


def main():
    start = time.time()
    subprocess.run(TMUX + ["new-session", "-d", "-s", "e2e", "-x", "120", "-y", "34", os.environ["E2E_NVIM_CMD"]],
                   check=True, timeout=10)
    wait_for("the nvim socket " + SOCK, lambda: os.path.exists(SOCK), 20)
    nv = wait_for("pynvim attach", lambda: pynvim.attach("socket", path=SOCK), 10)
    log(f"attached to {nv.eval('v:progpath')} {nv.exec_lua('return tostring(vim.version())')}")

    def lua(code, *args):
        return nv.exec_lua(code, *args)

    def client_ready():
        return lua("local c = vim.lsp.get_clients({bufnr=0, name='switchboard'})[1]; return c ~= nil and c.initialized == true")

    def t_initialized():
        wait_for("the switchboard client to initialize", client_ready, 20)
        caps = lua("local c = vim.lsp.get_clients({bufnr=0, name='switchboard'})[1]; "
                   "return { inline = c:supports_method('textDocument/inlineCompletion'), "
                   "exp = vim.tbl_get(c.capabilities, 'experimental', 'switchboard', 'explanationView') }")
        assert caps.get("exp"), "client did not announce experimental.switchboard.explanationView"
        assert caps.get("inline"), "server does not advertise inlineCompletionProvider in its initialize result"
        return f"initialized {time.time() - start:.2f}s after start"

    check("lsp-initialize", t_initialized)
    if not results[-1][1]:
        log("the server never initialized: skipping the other checks")
        results.extend((n, False, "skipped") for n in ("inline", "refactor", "explain"))
        try:
            nv.command("qa!")
        except Exception:  # noqa: BLE001
            pass
        print(f"neovim: 0 passed, {len(results)} failed")
        return 1

    def ghost():
        return lua("""
            local ns = vim.api.nvim_get_namespaces()['nvim.lsp.inline_completion']
            if not ns then return nil end
            local out = {}
            for _, m in ipairs(vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })) do
              for _, chunk in ipairs(m[4].virt_text or {}) do out[#out + 1] = chunk[1] end
              for _, l in ipairs(m[4].virt_lines or {}) do
                out[#out + 1] = '\\n'
                for _, chunk in ipairs(l) do out[#out + 1] = chunk[1] end
              end
            end
            local s = table.concat(out)
            return s ~= '' and s or nil""")

    def t_ghost_and_accept():
        nv.command("call cursor(2, 1)")
        t0 = time.time()
        nv.input("A")
        try:
            text = wait_for("ghost text (inline completion extmarks)", ghost, 15)
        except TimeoutError as e:
            raw = lua("""
                local c = vim.lsp.get_clients({bufnr=0, name='switchboard'})[1]
                local params = vim.lsp.util.make_position_params(0, c.offset_encoding)
                params.context = { triggerKind = 2 }
                local r = c:request_sync('textDocument/inlineCompletion', params, 10000, 0)
                return vim.inspect(r)""")
            nv.input("<Esc>")
            raise AssertionError(f"{e}; the fake upstream got {upstream('/responses')} /v1/responses requests; "
                                 f"a direct textDocument/inlineCompletion returned {raw}")
        shown = time.time() - t0
        time.sleep(0.2)
        capture("1-ghost-text")
        assert "a + b" in text or "+ b" in text, f"unexpected ghost text {text!r}"
        nv.input("<Tab>")
        line = wait_for("the accepted line", lambda: (lambda l: l if l.strip() else None)(nv.current.buffer[1]), 5)
        wait_for(f"line 2 == {EXPECT_LINE!r} (is {nv.current.buffer[1]!r})", lambda: nv.current.buffer[1] == EXPECT_LINE, 5)
        time.sleep(0.3)
        capture("2-accepted")
        nv.input("<Esc>")
        return f"ghost {text!r} after {shown:.2f}s; line 2 = {line!r}"

    check("inline-ghost-text-tab-accept", t_ghost_and_accept)

    def t_partial_accept():
        cases = [("a + b", "word", "a"), (" + b", "word", " +"), ("foo_bar(x)", "word", "foo_bar"),
                 ("x = 1\n    y = 2", "line", "x = 1"), ("\n    y = 2\nz", "line", "\n    y = 2"),
                 ("    return x", "word", "    return"), ("done", "line", "done")]
        for rest, unit, want in cases:
            got = lua("return require('switchboard').partial(...)", rest, unit)
            assert got == want, f"partial({rest!r}, {unit!r}) = {got!r}, want {want!r}"
        nv.current.buffer[1] = "    "
        nv.command("call cursor(2, 1)")
        nv.input("A")
        text = wait_for("ghost text", ghost, 15)
        assert text.startswith("a"), f"unexpected ghost text {text!r}"
        sent = upstream("/responses")
        nv.input("<M-Right>")
        wait_for(f"line 2 == '    a' after accepting a word (is {nv.current.buffer[1]!r})",
                 lambda: nv.current.buffer[1] == "    a", 5)
        rest = wait_for("the rest of the suggestion as ghost text", lambda: (lambda g: g if g and "+" in g else None)(ghost()), 5)
        assert rest.strip() == "+ b", f"the rest should be shown, not {rest!r}"
        assert upstream("/responses") == sent, "the rest must come from the typing-through cache, not a new request"
        capture("1b-partial-accept")
        nv.input("<Tab>")
        wait_for(f"line 2 == {EXPECT_LINE!r} (is {nv.current.buffer[1]!r})", lambda: nv.current.buffer[1] == EXPECT_LINE, 5)
        nv.input("<Esc>")
        return f"word accepted, rest {rest!r} shown from the cache (no new upstream request)"

    check("inline-partial-accept-word", t_partial_accept)

    def offered():
        return lua("""
            local c = vim.lsp.get_clients({bufnr=0, name='switchboard'})[1]
            local params = vim.lsp.util.make_range_params(0, c.offset_encoding)
            params.context = { diagnostics = {}, triggerKind = 1 }
            local r = c:request_sync('textDocument/codeAction', params, 10000, 0)
            local t = {}
            for _, a in ipairs((r and r.result) or {}) do t[#t + 1] = a.title end
            return t""") or []

    def require_action(word):
        titles = offered()
        if not any(word.lower() in t.lower() and "Switchboard" in t for t in titles):
            raise AssertionError(f"no 'Switchboard: {word}' code action at line 2 (offered: {titles})")

    def t_refactor():
        nv.input("<Esc>")
        wait_for("normal mode", lambda: nv.api.get_mode()["mode"] == "n", 5)
        nv.command("call cursor(2, 5)")
        require_action("Refactor")
        lua("require('switchboard').action('Refactor')")
        try:
            wait_for("the refactor edit (buffer containing 'lhs + rhs')",
                     lambda: any("lhs + rhs" in l for l in nv.current.buffer[:]), 30)
        except TimeoutError as e:
            raise AssertionError(f"{e}; the fake upstream got {upstream('/messages')} /v1/messages requests; "
                                 f"buffer: {nv.current.buffer[:]}")
        time.sleep(0.2)
        capture("3-refactored")
        buf = "\n".join(nv.current.buffer[:])
        assert "fn add(lhs: i32, rhs: i32) -> i32 {" in buf, f"refactored buffer:\n{buf}"
        assert "fn main()" in buf, f"the refactor touched code outside the function:\n{buf}"
        return None

    check("code-action-refactor", t_refactor)

    def explanation():
        return lua("""
            local e = require('switchboard').last_explanation
            if not e then return nil end
            local lines = {}
            if e.buf and vim.api.nvim_buf_is_valid(e.buf) then lines = vim.api.nvim_buf_get_lines(e.buf, 0, -1, false) end
            local float = e.win and vim.api.nvim_win_is_valid(e.win) and vim.api.nvim_win_get_config(e.win).relative ~= ''
            return { done = e.done, error = e.error, text = table.concat(lines, '\\n'), float = float, title = e.title }""")

    def t_explain():
        nv.command("call cursor(2, 5)")
        require_action("Explain")
        lua("require('switchboard').action('Explain')")
        try:
            first = wait_for("the first streamed explanation chunk (switchboard/explanation)", explanation, 30)
        except TimeoutError as e:
            raise AssertionError(f"{e}; the fake upstream got {upstream('/messages')} /v1/messages requests in all")
        e = wait_for("the explanation stream to finish (done = true)",
                     lambda: (lambda x: x if x and x.get("done") else None)(explanation()), 40)
        time.sleep(0.2)
        capture("4-explanation")
        assert not e.get("error"), f"explanation error: {e.get('error')}"
        assert e.get("float"), "explanation is not shown in a floating window"
        assert "checked_add" in e["text"], f"explanation text: {e['text']!r}"
        return f"title {e.get('title')!r}, {len(e['text'])} chars, first chunk {len(first['text'])} chars"

    check("code-action-explain-float", t_explain)

    # Soft checks: reported, not failed (the server may not send them yet).
    try:
        st = lua("return require('switchboard').status")
        sl = lua("return require('switchboard').statusline()")
        log(f"INFO switchboard/status: {st!r}; statusline {sl!r}" if st else "WARN no switchboard/status notification received")
        nv.command("silent! close")
        nv.command("checkhealth switchboard")
        time.sleep(1.5)
        health = "\n".join(nv.current.buffer[:])
        with open(os.path.join(ART, "nvim-checkhealth.txt"), "w") as f:
            f.write(health)
        log("INFO :checkhealth switchboard -> " + ("ERROR lines present" if "ERROR" in health else "no errors")
            + f" (saved nvim-checkhealth.txt)")
    except Exception as e:  # noqa: BLE001
        log(f"WARN soft checks: {e}")

    try:
        nv.command("qa!")
    except Exception:  # noqa: BLE001
        pass  # nvim exits before replying

    passed = sum(1 for r in results if r[1])
    failed = len(results) - passed
    log(f"total {time.time() - start:.2f}s")
    print(f"neovim: {passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # noqa: BLE001
        log(f"FAIL harness: {e}")
        capture("fail-harness")
        print("neovim: 0 passed, 1 failed")
        sys.exit(1)
