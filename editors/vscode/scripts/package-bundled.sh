#!/usr/bin/env bash
# Builds a platform-specific .vsix that carries the release server binary (bin/switchboard), the
# way rust-analyzer ships one .vsix per platform. The extension prefers that bundled binary unless
# `switchboard.serverPath` is set.
#
#   editors/vscode/scripts/package-bundled.sh            host platform (linux-x64 here)
#   VSCE_TARGET=linux-arm64 CARGO_TARGET=aarch64-unknown-linux-gnu editors/vscode/scripts/package-bundled.sh
#
# Output: editors/vscode/switchboard-<target>.vsix. Needs Node >= 20 and Rust >= 1.90 (rustup).
set -euo pipefail
EXT_DIR="$(cd "$(dirname "$0")/.." && pwd)"
REPO="$(cd "$EXT_DIR/../.." && pwd)"
die() { echo "package-bundled: $*" >&2; exit 1; }

command -v node >/dev/null || die "Node.js >= 20 is needed (not found). Install it from your package manager or nodejs.org."
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js >= 20 is needed, this is $(node --version): vsce crashes in undici on older versions."
command -v cargo >/dev/null || die "cargo is needed: install Rust >= 1.90 with rustup (https://rustup.rs); Debian's rustc is too old."

host_target() {
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) echo linux-x64 ;;
    Linux-aarch64) echo linux-arm64 ;;
    Darwin-x86_64) echo darwin-x64 ;;
    Darwin-arm64) echo darwin-arm64 ;;
    *) die "unknown host $(uname -s)-$(uname -m): set VSCE_TARGET and CARGO_TARGET" ;;
  esac
}
VSCE_TARGET="${VSCE_TARGET:-$(host_target)}"
exe=switchboard
case "$VSCE_TARGET" in win32-*) exe=switchboard.exe ;; esac

echo "== cargo build --release ${CARGO_TARGET:+--target $CARGO_TARGET}"
(cd "$REPO" && cargo build --release --locked ${CARGO_TARGET:+--target "$CARGO_TARGET"})
bin="$REPO/target/${CARGO_TARGET:+$CARGO_TARGET/}release/$exe"
[ -x "$bin" ] || die "the build did not produce $bin"

cd "$EXT_DIR"
if [ ! -d node_modules ] || [ package.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
rm -rf bin && mkdir -p bin
cp "$bin" "bin/$exe"
chmod 755 "bin/$exe"
node scripts/copy-licenses.mjs
out="switchboard-$VSCE_TARGET.vsix"
npx --no-install vsce package --no-dependencies --allow-missing-repository --skip-license --target "$VSCE_TARGET" -o "$out"
echo "built $EXT_DIR/$out ($(du -h "$out" | cut -f1)) with $("bin/$exe" --version 2>/dev/null || echo "bin/$exe")"
