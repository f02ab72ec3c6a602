#!/usr/bin/env bash
# Optional check: editors/emacs/switchboard.el byte-compiles and drives the real server through eglot
# (Emacs 30.2 in the same sid chroot as the Neovim test; batch mode, no UI).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
[ "${1:-}" = --stub ] && { log "emacs: no stub mode (the chroot has no Python); skipped"; exit 0; }
bash "$EDITORS_DIR/nvim/setup.sh"
SID="$E2E_CACHE/sid"
if ! chroot "$SID" sh -c 'command -v emacs' >/dev/null 2>&1; then
  log "installing emacs-nox in the sid chroot"
  chroot "$SID" sh -c 'apt-get -qq -o Acquire::Check-Valid-Until=false update &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends emacs-nox' >/dev/null || die "emacs install failed"
fi
W="$SID/opt/emacs-e2e"
rm -rf "$W"; mkdir -p "$W/ws/.git"
cp "$REPO_ROOT/editors/emacs/switchboard.el" "$EDITORS_DIR/emacs/e2e.el" "$W/"
cp "$(find_server)" "$W/switchboard"
printf 'fn add(a: i32, b: i32) -> i32 {\n    \n}\n' > "$W/ws/a.rs"
FAKE_PID=""
trap 'stop_pid "$FAKE_PID"' EXIT
start_fake_upstream emacs
timeout 120 chroot "$SID" env HOME=/opt/emacs-e2e OPENAI_BASE_URL="$OPENAI_BASE_URL" OPENAI_API_KEY=test \
  ANTHROPIC_BASE_URL="$ANTHROPIC_BASE_URL" ANTHROPIC_API_KEY=test emacs --batch -l /opt/emacs-e2e/e2e.el 2>&1 |
  grep -E 'PASS|FAIL|emacs:|line 2' | tee "$ARTIFACTS/emacs.log"
exit "${PIPESTATUS[0]}"
