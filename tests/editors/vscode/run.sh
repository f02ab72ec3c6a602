#!/usr/bin/env bash
# Real-editor test: VS Code 1.139 (code-server 4.139.1) + the Switchboard extension (.vsix) + the real
# server, against the fake OpenAI/Anthropic upstream, driven by Playwright in Debian's Chromium.
#   --stub     use tests/editors/stub_server.py instead of the real binary (checks the harness itself)
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

STUB=0
for a in "$@"; do case $a in --stub) STUB=1 ;; *) die "unknown flag $a" ;; esac; done

T0=$(now)
rm -f "$ARTIFACTS"/vscode-* "$ARTIFACTS"/*Switchboard*.log "$ARTIFACTS"/fake-upstream-vscode*
bash "$EDITORS_DIR/vscode/setup.sh"
export PATH="$E2E_CACHE/node24/node-v24/bin:$PATH"
CS_BIN="$E2E_CACHE/code-server/node_modules/.bin/code-server"
T1=$(now)

# Build and package the extension.
EXT_DIR="$REPO_ROOT/editors/vscode"
(
  cd "$EXT_DIR"
  if [ ! -d node_modules ] || [ package.json -nt node_modules/.package-lock.json ]; then
    if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi
  fi
  npm run --silent typecheck && npm run --silent lint && npm run --silent package:bundled
) >"$ARTIFACTS/vscode-extension-build.log" 2>&1 || { tail -30 "$ARTIFACTS/vscode-extension-build.log" >&2; die "building the extension failed (typecheck, lint or package:bundled)"; }
VSIX="$EXT_DIR/switchboard-linux-x64.vsix"
# The platform .vsix must carry a working server and its licences: unpack it and ask that binary.
CHECK=$(mktemp -d /tmp/switchboard-vsix.XXXXXX)
python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$VSIX" "$CHECK"
for f in extension/bin/switchboard extension/LICENSE-MIT extension/LICENSE-APACHE; do
  [ -f "$CHECK/$f" ] || { rm -rf "$CHECK"; die "the .vsix lacks $f"; }
done
chmod +x "$CHECK/extension/bin/switchboard"
got=$(cd "$REPO_ROOT" && env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY "$CHECK/extension/bin/switchboard" complete tests/data/cart.py:18:22 2>/dev/null || true)
rm -rf "$CHECK"
[ "$got" = compute_tax ] || die "the server bundled in the .vsix answered '$got' instead of compute_tax"
log "vsix: $(du -h "$VSIX" | cut -f1) with bin/switchboard (answers), LICENSE-MIT, LICENSE-APACHE"
T2=$(now)

WORK=$(mktemp -d /tmp/switchboard-vscode-e2e.XXXXXX)
mkdir -p "$WORK/user/User" "$WORK/user/Machine" "$WORK/ext" "$WORK/ws/src" "$WORK/ws/.git" "$WORK/home"
cat > "$WORK/ws/src/a.rs" <<'RS'
fn add(a: i32, b: i32) -> i32 {
    
}

fn main() {
    println!("{}", add(1, 2));
}
RS

CS_PID=""; FAKE_PID=""
cleanup() {
  if [ -n "$CS_PID" ]; then kill "$CS_PID" 2>/dev/null || true; wait "$CS_PID" 2>/dev/null || true; fi
  stop_pid "$FAKE_PID"
  cp "$WORK/server.log" "$ARTIFACTS/vscode-server.log" 2>/dev/null || true
  cp "$WORK/cs.log" "$ARTIFACTS/vscode-code-server.log" 2>/dev/null || true
  find "$WORK/user/logs" -name '*Switchboard*.log' -exec cp {} "$ARTIFACTS/" \; 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

start_fake_upstream vscode
if [ "$STUB" = 1 ]; then
  printf '#!/bin/sh\nexec python3 %s "$@" 2>>%s\n' "$EDITORS_DIR/stub_server.py" "$WORK/server.log" > "$WORK/switchboard"
  log "using the stub server"
else
  SERVER=$(find_server)
  printf '#!/bin/sh\nexec %s "$@" 2>>%s\n' "$SERVER" "$WORK/server.log" > "$WORK/switchboard"
  log "server: $SERVER"
fi
chmod +x "$WORK/switchboard"

PORT=$(free_port)
printf 'bind-addr: 127.0.0.1:%s\nauth: none\ncert: false\n' "$PORT" > "$WORK/config.yaml"
cat > "$WORK/user/User/settings.json" <<JSON
{
  "switchboard.serverPath": "$WORK/switchboard",
  "switchboard.completion.debounceMs": 0,
  "switchboard.log": "switchboard=debug",
  "switchboard.trace.server": "verbose",
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "security.workspace.trust.enabled": false,
  "telemetry.telemetryLevel": "off",
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": "off",
  "workbench.secondarySideBar.defaultVisibility": "hidden",
  "editor.inlineSuggest.enabled": true,
  "editor.quickSuggestions": { "other": false, "comments": false, "strings": false },
  "editor.suggestOnTriggerCharacters": false,
  "editor.acceptSuggestionOnEnter": "off"
}
JSON
# The remote extension host reads machine settings at start; user settings reach it from the browser later.
cp "$WORK/user/User/settings.json" "$WORK/user/Machine/settings.json"
export HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/home/.config" XDG_DATA_HOME="$WORK/home/.local/share"
CS=("$CS_BIN" --config "$WORK/config.yaml" --user-data-dir "$WORK/user" --extensions-dir "$WORK/ext")
timeout 120 "${CS[@]}" --install-extension "$VSIX" >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log" >&2; die "installing the .vsix into code-server failed"; }
"${CS[@]}" ${CS_EXTRA_ARGS:-} --disable-telemetry --disable-update-check --disable-workspace-trust "$WORK/ws" >"$WORK/cs.log" 2>&1 &
CS_PID=$!
wait_http "http://127.0.0.1:$PORT/healthz" 30 || { tail -20 "$WORK/cs.log" >&2; die "code-server did not come up on port $PORT"; }
T3=$(now)

rc=0
FAKE_RECORD="$FAKE_RECORD" CS_URL="http://127.0.0.1:$PORT/?folder=$WORK/ws" ARTIFACTS="$ARTIFACTS" PW_DIR="$E2E_CACHE/playwright" CHROMIUM=/usr/bin/chromium \
  timeout 240 node "$EDITORS_DIR/vscode/drive.mjs" || rc=$?
T4=$(now)
log "vscode: setup $(elapsed "$T0" "$T1")s, extension build $(elapsed "$T1" "$T2")s, code-server start $(elapsed "$T2" "$T3")s, run $(elapsed "$T3" "$T4")s, exit $rc; artifacts in $ARTIFACTS"
exit $rc
