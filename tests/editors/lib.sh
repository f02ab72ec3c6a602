# Shared helpers for the real-editor tests. Sourced, not executed.
# shellcheck shell=bash

EDITORS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$EDITORS_DIR/../.." && pwd)"
# Everything downloaded or built for these tests lives here (outside the repo, survives fresh clones).
E2E_CACHE="${SWITCHBOARD_E2E_CACHE:-/var/cache/switchboard-e2e}"
ARTIFACTS="${SWITCHBOARD_E2E_ARTIFACTS:-$REPO_ROOT/tests/.artifacts/editors}"
mkdir -p "$E2E_CACHE" "$ARTIFACTS"

log() { printf '[editors %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

# Runs a download/install command up to 3 times: a registry hiccup must not fail the suite.
retry() {
  local n
  for n in 1 2 3; do
    "$@" && return 0
    [ "$n" -lt 3 ] && { log "retrying in $((n * 5)) s: $*"; sleep $((n * 5)); }
  done
  return 1
}

# The Debian mirror this machine is configured with (one-line or deb822 sources).
mirror_url() {
  local m
  m=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null)
  [ -n "$m" ] || m=$(awk '$1=="URIs:"{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
  [ -n "$m" ] || m=http://deb.debian.org/debian
  printf '%s\n' "$m"
}

APT_UPDATED=0
# apt_install PKG... : install missing Debian packages (runs apt-get update at most once).
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    retry env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || die "apt-get update failed"
    APT_UPDATED=1
  fi
  log "apt-get install ${missing[*]}"
  retry env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
}

# The switchboard binary under test: $SWITCHBOARD_BIN, else target/release, else target/debug.
find_server() {
  if [ -n "${SWITCHBOARD_BIN:-}" ]; then printf '%s\n' "$SWITCHBOARD_BIN"; return; fi
  local b
  for b in "$REPO_ROOT/target/release/switchboard" "$REPO_ROOT/target/debug/switchboard"; do
    [ -x "$b" ] && { printf '%s\n' "$b"; return; }
  done
  die "no switchboard binary: build it (cargo build --release) or set SWITCHBOARD_BIN"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_http URL SECONDS
wait_http() {
  local url=$1 secs=$2 i
  for ((i = 0; i < secs * 5; i++)); do
    curl -fs -o /dev/null "$url" && return 0
    sleep 0.2
  done
  return 1
}

# start_fake_upstream: starts the fake OpenAI/Anthropic server on a free port and exports
# FAKE_PID, FAKE_PORT and the provider environment the server reads.
start_fake_upstream() {
  FAKE_PORT=$(free_port)
  FAKE_RECORD="$ARTIFACTS/fake-upstream-$1-requests.jsonl"
  rm -f "$FAKE_RECORD"
  python3 "$EDITORS_DIR/fake_upstream.py" --port "$FAKE_PORT" --record "$FAKE_RECORD" >"$ARTIFACTS/fake-upstream-$1.log" 2>&1 &
  FAKE_PID=$!
  wait_http "http://127.0.0.1:$FAKE_PORT/health" 10 || die "fake upstream did not start (see $ARTIFACTS/fake-upstream-$1.log)"
  export OPENAI_BASE_URL="http://127.0.0.1:$FAKE_PORT/v1" OPENAI_API_KEY=test
  export ANTHROPIC_BASE_URL="http://127.0.0.1:$FAKE_PORT" ANTHROPIC_API_KEY=test
  export FAKE_PORT FAKE_PID FAKE_RECORD
  log "fake upstream on 127.0.0.1:$FAKE_PORT (pid $FAKE_PID)"
}

stop_pid() { [ -n "${1:-}" ] && kill "$1" 2>/dev/null; wait "$1" 2>/dev/null || true; }

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }
