#!/usr/bin/env bash
# The ops suite: what an operator deploys beside the application.
#
#   bash e2e/ops/run.sh
#
# - admin.test.mjs: the admin UI's protocol (@socket.io/admin-ui 0.5's /admin namespace) with
#   raw socket.io-client 4.8 clients, run twice: against Node's socket.io instrumented by
#   Node's own @socket.io/admin-ui (admin-reference.js: the reference), then against the
#   `sockeye` binary's --admin-ui.
# - admin-ui.test.mjs: the official UI's own page, served by `sockeye --admin-ui`, in headless
#   Chromium.
# - publish.test.mjs: POST /publish, on one binary and across two joined by a redis-server.
# - stock-ticker.test.mjs: examples/stock-ticker's page in Chromium, and its load test
#   (E2E_TICKER_CLIENTS subscribers, 2000 by default).
#
# Installs what it needs that is not there (npm ci in e2e/ and admin-ui/ from their lock
# files), builds the binary and the example; expects Debian's chromium and redis-server
# (scripts/test.sh installs them). Ends with one line "N passed, M failed".
set -euo pipefail

OPS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
E2E="$(cd "$OPS/.." && pwd)"
ROOT="$(cd "$E2E/.." && pwd)"
ART="$E2E/artifacts"
mkdir -p "$ART"
log() { echo "[ops] $*" >&2; }

missing=()
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium)
command -v "${REDIS_SERVER:-redis-server}" >/dev/null || missing+=(redis-server)
if [ "${#missing[@]}" -gt 0 ]; then
  log "missing: ${missing[*]} (apt-get install ${missing[*]}, or run scripts/test.sh)"
  echo "0 passed, 1 failed"
  exit 1
fi

# Installs are serialized with the other e2e runners (the lock is released on exit).
exec 9>"$ART/.install.lock"
flock -w 900 9 || {
  log "could not take $ART/.install.lock"
  exit 1
}
if [ ! -f "$E2E/node_modules/.package-lock.json" ] ||
  [ "$E2E/package-lock.json" -nt "$E2E/node_modules/.package-lock.json" ]; then
  log "npm ci in e2e/"
  (cd "$E2E" && npm ci --no-audit --no-fund --loglevel=error)
fi
bash "$ROOT/scripts/admin-ui.sh"
flock -u 9

log "cargo build (the sockeye binary, examples/stock-ticker)"
(cd "$ROOT" && cargo build --quiet -p sockeye-server)
(cd "$ROOT" && CARGO_TARGET_DIR="$ROOT/target" cargo build --quiet --manifest-path examples/Cargo.toml -p stock-ticker)

# The load test's subscribers each hold a socket, in this process and in the server.
want=$((${E2E_TICKER_CLIENTS:-2000} + 1000))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
    export E2E_TICKER_CLIENTS=$(($(ulimit -n) - 1000))
    log "open files limited to $(ulimit -n): the load test runs with $E2E_TICKER_CLIENTS subscribers"
  fi
fi

passed=0
failed=0
run() { # run NAME ENV... -- FILES...
  local name="$1"
  shift
  local envs=()
  while [ "$1" != "--" ]; do
    envs+=("$1")
    shift
  done
  shift
  log "$name"
  set +e
  (cd "$E2E" && env "${envs[@]}" timeout 600 node --test --test-reporter=tap "$@") 2>&1 | tee "$ART/ops-$name.tap"
  local rc="${PIPESTATUS[0]}"
  set -e
  local p f
  p="$({ grep -E '^# pass [0-9]+$' "$ART/ops-$name.tap" || true; } | tail -1 | awk '{print $3}')"
  f="$({ grep -E '^# fail [0-9]+$' "$ART/ops-$name.tap" || true; } | tail -1 | awk '{print $3}')"
  if [ -z "$p" ] || [ -z "$f" ]; then
    failed=$((failed + 1))
    return
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then failed=$((failed + 1)); fi
}

run admin-node E2E_OPS_TARGET=node -- ops/admin.test.mjs
run sockeye E2E_OPS_TARGET=sockeye -- ops/admin.test.mjs ops/admin-ui.test.mjs ops/publish.test.mjs ops/stock-ticker.test.mjs

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
