#!/usr/bin/env bash
# Runs every test Switchboard has: unit and property tests (cargo test), the end-to-end suite that
# drives the release binary over stdio against fake OpenAI and Anthropic servers (pytest), and the
# real-editor tests (Neovim, VS Code) when their tools can be installed.
#
#   tests/run.sh              everything
#   SKIP_EDITORS=1 tests/run.sh   skip the real-editor tests
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test"
cargo test --all-targets

echo "== build the release binary for the end-to-end tests"
cargo build --release
export SWITCHBOARD_BIN="$PWD/target/release/switchboard"

if [ -d tests/e2e ]; then
  echo "== end-to-end tests (pytest-lsp, fake upstream servers)"
  if [ ! -x .venv/bin/pytest ] || ! cmp -s tests/e2e/requirements.txt .venv/.requirements 2>/dev/null; then
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt
    cp tests/e2e/requirements.txt .venv/.requirements
  fi
  .venv/bin/pytest tests/e2e -q -p no:cacheprovider
fi

if [ -z "${SKIP_EDITORS:-}" ] && [ -x tests/editors/run.sh ]; then
  echo "== real-editor tests"
  tests/editors/run.sh
fi
echo "== all tests passed"
