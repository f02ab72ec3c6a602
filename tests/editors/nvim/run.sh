#!/usr/bin/env bash
# Real-editor test: Neovim 0.12 (sid chroot, TUI in tmux) + the switchboard plugin + the real server,
# against the fake OpenAI/Anthropic upstream. Needs root. Exit status 0 = all checks passed.
#   --stub     use tests/editors/stub_server.py instead of the real binary (checks the harness itself)
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

STUB=0
for a in "$@"; do case $a in --stub) STUB=1 ;; *) die "unknown flag $a" ;; esac; done

T0=$(now)
rm -f "$ARTIFACTS"/nvim-* "$ARTIFACTS"/fake-upstream-nvim*
bash "$EDITORS_DIR/nvim/setup.sh"
apt_install tmux
SID="$E2E_CACHE/sid"
VENV="$E2E_CACHE/venv"
T1=$(now)

E2E="$SID/opt/e2e"
rm -rf "$E2E"; mkdir -p "$E2E/ws/src" "$E2E/ws/.git" "$E2E/home/.config" "$E2E/plugin"
cp -r "$REPO_ROOT/editors/neovim/." "$E2E/plugin/"
cat > "$E2E/ws/src/a.rs" <<'RS'
fn add(a: i32, b: i32) -> i32 {
    
}

fn main() {
    println!("{}", add(1, 2));
}
RS

TMUX_NAME="switchboard-e2e-$$"
STUB_PID=""; FAKE_PID=""
cleanup() {
  tmux -L "$TMUX_NAME" kill-server 2>/dev/null || true
  stop_pid "$STUB_PID"; stop_pid "$FAKE_PID"
  [ -f "$E2E/server.log" ] && cp "$E2E/server.log" "$ARTIFACTS/nvim-server.log" 2>/dev/null || true
  [ -f "$E2E/home/.local/state/nvim/lsp.log" ] && cp "$E2E/home/.local/state/nvim/lsp.log" "$ARTIFACTS/nvim-lsp.log" 2>/dev/null || true
}
trap cleanup EXIT

start_fake_upstream nvim
if [ "$STUB" = 1 ]; then
  STUB_PORT=$(free_port)
  python3 "$EDITORS_DIR/stub_server.py" --tcp "$STUB_PORT" 2>"$E2E/server.log" &
  STUB_PID=$!
  for _ in $(seq 50); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $STUB_PORT), 1)" 2>/dev/null && break; sleep 0.1; done
  CMD_LUA="vim.lsp.rpc.connect('127.0.0.1', $STUB_PORT)"
  log "using the stub server on port $STUB_PORT"
else
  SERVER=$(find_server)
  cp "$SERVER" "$E2E/switchboard"
  # stderr of the server goes to a log file we keep as an artifact
  printf '#!/bin/sh\nexec /opt/e2e/switchboard "$@" 2>>/opt/e2e/server.log\n' > "$E2E/switchboard.sh"
  chmod +x "$E2E/switchboard.sh"
  CMD_LUA="{ '/opt/e2e/switchboard.sh' }"
  log "server: $SERVER"
fi

cat > "$E2E/init.lua" <<LUA
vim.opt.rtp:prepend('/opt/e2e/plugin')
vim.o.swapfile = false
vim.o.laststatus = 2
vim.o.statusline = "%f %= %{%v:lua.require'switchboard'.statusline()%} "
vim.lsp.log.set_level('info')
require('switchboard').setup({
  cmd = $CMD_LUA,
  filetypes = { 'rust' },
  settings = { completion = { debounce_ms = 0 } },
})
LUA

export E2E_SID="$SID" E2E_TMUX="$TMUX_NAME" E2E_ARTIFACTS="$ARTIFACTS"
export E2E_NVIM_CMD="chroot $SID env HOME=/opt/e2e/home XDG_CONFIG_HOME=/opt/e2e/home/.config XDG_STATE_HOME=/opt/e2e/home/.local/state XDG_CACHE_HOME=/opt/e2e/home/.cache SWITCHBOARD_LOG=${SWITCHBOARD_LOG:-info} OPENAI_BASE_URL=$OPENAI_BASE_URL OPENAI_API_KEY=test ANTHROPIC_BASE_URL=$ANTHROPIC_BASE_URL ANTHROPIC_API_KEY=test TERM=xterm-256color sh -c 'cd /opt/e2e/ws && exec nvim --clean -u /opt/e2e/init.lua --listen /opt/e2e/nvim.sock src/a.rs'"
rc=0
timeout 180 "$VENV/bin/python" "$EDITORS_DIR/nvim/test_nvim.py" || rc=$?
T2=$(now)
log "neovim: setup $(elapsed "$T0" "$T1")s, run $(elapsed "$T1" "$T2")s, exit $rc; artifacts in $ARTIFACTS"
exit $rc
