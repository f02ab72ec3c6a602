#!/usr/bin/env bash
# Runs every test Switchboard has: unit and property tests (cargo test), the end-to-end suite that
# drives the release binary over stdio against fake OpenAI and Anthropic servers (pytest), and the
# real-editor tests (Neovim, VS Code) when their tools can be installed.
#
#   tests/run.sh              everything
#   SKIP_EDITORS=1 tests/run.sh   skip the real-editor tests
set -euo pipefail
cd "$(dirname "$0")/.."

need() { echo "tests/run.sh: $*" >&2; exit 1; }
# Rust >= 1.90 (edition 2024): Debian's packaged rustc (1.63) cannot build this crate.
command -v cargo >/dev/null || need "cargo not found: install Rust >= 1.90 with rustup (https://rustup.rs)."
rust_minor=$(rustc --version 2>/dev/null | sed -n 's/^rustc 1\.\([0-9]*\).*/\1/p')
[ -n "$rust_minor" ] && [ "$rust_minor" -ge 90 ] ||
  need "Rust >= 1.90 is needed, found '$(rustc --version 2>/dev/null)'. Install it with rustup (https://rustup.rs); a distribution's rustc is usually too old."
command -v python3 >/dev/null || need "python3 not found: the end-to-end tests need Python >= 3.9 (apt install python3 python3-venv)."
python3 -c 'import sys; sys.exit(sys.version_info < (3, 9))' ||
  need "Python >= 3.9 is needed for the end-to-end tests, found $(python3 --version 2>&1)."

echo "== cargo test"
cargo test --all-targets

echo "== build the release binary for the end-to-end tests"
cargo build --release
export SWITCHBOARD_BIN="$PWD/target/release/switchboard"

if [ -d tests/e2e ]; then
  echo "== end-to-end tests (pytest-lsp, fake upstream servers)"
  if [ ! -x .venv/bin/pytest ] || ! cmp -s tests/e2e/requirements.txt .venv/.requirements 2>/dev/null; then
    python3 -c 'import venv, ensurepip' 2>/dev/null ||
      need "python3 cannot create virtual environments: install python3-venv (Debian/Ubuntu: apt install python3-venv)."
    rm -rf .venv
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt
    cp tests/e2e/requirements.txt .venv/.requirements
  fi
  .venv/bin/pytest tests/e2e -q -p no:cacheprovider
fi

if [ -n "${SKIP_EDITORS:-}" ]; then
  echo "== real-editor tests: skipped (SKIP_EDITORS is set)"
elif [ "$(id -u)" != 0 ]; then
  # They install Neovim, code-server and Chromium from Debian and npm and use a chroot: root only.
  echo "== real-editor tests: SKIPPED, they need root (they install packages and use a chroot); run tests/run.sh as root or in CI to include them"
elif [ -x tests/editors/run.sh ]; then
  echo "== real-editor tests"
  tests/editors/run.sh
fi
echo "== all tests passed"
