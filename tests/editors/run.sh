#!/usr/bin/env bash
# Real-editor tests: Neovim 0.12 and VS Code 1.139 (code-server), each driven like a user against the
# real switchboard binary and a fake OpenAI/Anthropic upstream. Installs what it needs on a fresh
# Debian 12 machine (as root; cached under /var/cache/switchboard-e2e), saves screenshots under
# tests/.artifacts/editors/, exits non-zero on any failure.
#
#   tests/editors/run.sh                 both editors
#   tests/editors/run.sh --nvim          Neovim only          (or SWITCHBOARD_EDITORS=nvim)
#   tests/editors/run.sh --vscode        VS Code only         (or SWITCHBOARD_EDITORS=vscode)
#   tests/editors/run.sh --emacs         Emacs + eglot (batch; opt-in, not in the default set)
#   tests/editors/run.sh --stub          against tests/editors/stub_server.py (checks the harnesses)
#
# The server binary: $SWITCHBOARD_BIN, else target/release/switchboard, else target/debug/switchboard.
set -uo pipefail
DIR="$(cd "$(dirname "$0")" && pwd)"
. "$DIR/lib.sh"

EDITORS="${SWITCHBOARD_EDITORS:-nvim,vscode}"
PASS_ARGS=()
PICKED=()
for a in "$@"; do
  case $a in
    --nvim | --neovim) PICKED+=(nvim) ;;
    --vscode | --code) PICKED+=(vscode) ;;
    --emacs) PICKED+=(emacs) ;;
    --stub) PASS_ARGS+=(--stub) ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) die "unknown flag $a (see --help)" ;;
  esac
done
[ ${#PICKED[@]} -gt 0 ] && EDITORS=$(IFS=,; echo "${PICKED[*]}")
[ "$(id -u)" = 0 ] || die "the editor tests install packages and use chroot: run them as root"
[ " ${PASS_ARGS[*]:-} " = " --stub " ] || find_server >/dev/null

passed=0 failed=0
T0=$(now)
for ed in ${EDITORS//,/ }; do
  case $ed in
    nvim | vscode | emacs) ;;
    none) continue ;;
    *) die "unknown editor $ed" ;;
  esac
  log "=== $ed ==="
  if bash "$DIR/$ed/run.sh" "${PASS_ARGS[@]}"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    log "$ed: FAILED (screens and logs in $ARTIFACTS)"
  fi
done
log "editors done in $(elapsed "$T0" "$(now)")s"
echo "editors: $passed passed, $failed failed"
[ "$failed" = 0 ]
