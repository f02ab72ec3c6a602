#!/usr/bin/env bash
# Installs Neovim 0.12 (Debian sid in an mmdebstrap chroot) and pynvim. Idempotent; needs root.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

[ "$(id -u)" = 0 ] || die "the Neovim test needs root (mmdebstrap + chroot)"
apt_install mmdebstrap python3-venv curl ca-certificates

SID="$E2E_CACHE/sid"
if ! chroot "$SID" nvim --version >/dev/null 2>&1; then
  rm -rf "$SID" "$SID.tmp"
  MIRROR=$(mirror_url)
  log "mmdebstrap sid (neovim) from $MIRROR"
  # mmdebstrap wants an empty target: start each try afresh.
  bootstrap() {
    rm -rf "$SID.tmp"
    mmdebstrap --quiet --variant=apt --aptopt='Acquire::Check-Valid-Until "false"' \
      --include=neovim,ca-certificates sid "$SID.tmp" "$MIRROR"
  }
  retry bootstrap || die "mmdebstrap failed"
  mv "$SID.tmp" "$SID"
fi
chroot "$SID" nvim --version | head -1 | grep -q 'NVIM v0.1[2-9]' || die "chroot nvim is not 0.12+: $(chroot "$SID" nvim --version | head -1)"

VENV="$E2E_CACHE/venv"
if ! "$VENV/bin/python" -c 'import pynvim' 2>/dev/null; then
  rm -rf "$VENV"
  /usr/bin/python3 -m venv "$VENV"
  retry "$VENV/bin/pip" install -q pynvim==0.6.0 || die "pip install pynvim failed"
fi
log "neovim ready: $(chroot "$SID" nvim --version | head -1), pynvim in $VENV"
