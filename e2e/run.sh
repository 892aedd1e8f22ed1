#!/usr/bin/env bash
# Runs the interop suite (Node socket.io-client tests, then python-socketio tests) against
# one server that implements e2e/CONTRACT.md.
#
#   e2e/run.sh [sockeye|node]     (default: sockeye)
#
#   sockeye  builds and runs target/debug/e2e-server (the Rust server under test)
#   node     runs e2e/reference/server.js (Node's socket.io: the reference)
#
# Ends with one line "N passed, M failed" (both runners added up); exits non-zero when
# anything failed. Logs go to e2e/artifacts/.
set -euo pipefail

TARGET="${1:-sockeye}"
case "$TARGET" in
  sockeye | node) ;;
  *)
    echo "usage: $0 [sockeye|node]" >&2
    exit 2
    ;;
esac

E2E="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$E2E/.." && pwd)"
ART="$E2E/artifacts"
mkdir -p "$ART"
RUN_TIMEOUT="${E2E_RUN_TIMEOUT:-600}" # seconds, for each test runner

log() { echo "[e2e] $*" >&2; }

# Installs are serialized between overlapping runs (the lock is released on exit).
exec 9>"$ART/.install.lock"
flock -w 900 9 || {
  log "could not take $ART/.install.lock"
  exit 1
}

# --- (a) Node dependencies ---------------------------------------------------------------
if [ ! -f "$E2E/node_modules/.package-lock.json" ] ||
  [ "$E2E/package-lock.json" -nt "$E2E/node_modules/.package-lock.json" ] ||
  [ "$E2E/package.json" -nt "$E2E/node_modules/.package-lock.json" ]; then
  log "npm ci"
  (cd "$E2E" && npm ci --no-audit --no-fund --loglevel=error)
fi

# --- (b) Python virtualenv ---------------------------------------------------------------
VENV="$E2E/.venv"
REQ="$E2E/python/requirements.txt"
STAMP="$VENV/.requirements.sha256"
want_hash="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$want_hash" ]; then
  log "creating $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQ"
  echo "$want_hash" >"$STAMP"
fi
flock -u 9

# --- (c) the server ----------------------------------------------------------------------
# This run's files live in a private folder (runs may overlap); on exit they are copied to
# e2e/artifacts/{server,node,pytest}-<target>.* for reading.
RUN_DIR="$(mktemp -d "$ART/run.XXXXXX")"
SERVER_LOG="$RUN_DIR/server.log"
NODE_TAP="$RUN_DIR/node.tap"
PY_OUT="$RUN_DIR/pytest.txt"
: >"$SERVER_LOG"

SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
finish() {
  stop_server
  if [ -d "$RUN_DIR" ]; then
    cp -f "$SERVER_LOG" "$ART/server-$TARGET.log" 2>/dev/null || true
    cp -f "$NODE_TAP" "$ART/node-$TARGET.tap" 2>/dev/null || true
    cp -f "$PY_OUT" "$ART/pytest-$TARGET.txt" 2>/dev/null || true
    rm -rf "$RUN_DIR"
  fi
}
trap finish EXIT
trap 'exit 130' INT TERM

if [ "$TARGET" = sockeye ]; then
  log "cargo build -p sockeye-e2e-server"
  if ! (cd "$ROOT" && cargo build --quiet -p sockeye-e2e-server); then
    log "cargo build failed"
    echo "0 passed, 1 failed"
    exit 1
  fi
  SERVER_CMD=("$ROOT/target/debug/e2e-server")
else
  SERVER_CMD=(node "$E2E/reference/server.js")
fi

# a free port, picked as late as possible
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
SERVER_CMD+=(--port "$PORT")
log "starting ${SERVER_CMD[*]}"
"${SERVER_CMD[@]}" >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!

ready=0
for _ in $(seq 1 150); do # at most 15 s
  if grep -q "listening on" "$SERVER_LOG"; then
    ready=1
    break
  fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    break
  fi
  sleep 0.1
done
if [ "$ready" != 1 ]; then
  log "the server did not print 'listening on'; its output:"
  cat "$SERVER_LOG" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

export E2E_URL="http://127.0.0.1:$PORT"
export E2E_SERVER_LOG="$SERVER_LOG"
export E2E_TARGET="$TARGET"
log "server ready at $E2E_URL"

# --- (d) the runners ---------------------------------------------------------------------
passed=0
failed=0
skipped=0

log "node --test"
set +e
(cd "$E2E" && timeout "$RUN_TIMEOUT" node --test --test-reporter=tap node/*.test.mjs) 2>&1 |
  tee "$NODE_TAP"
node_rc="${PIPESTATUS[0]}"
set -e
tap_count() { # the value of the last top-level "# <name> N" line of the TAP output, or empty
  { grep -E "^# $1 [0-9]+$" "$NODE_TAP" || true; } | tail -1 | awk '{print $3}'
}
np="$(tap_count pass)"
nf="$(tap_count fail)"
nc="$(tap_count cancelled)"
ns="$(tap_count skipped)"
if [ -z "$np" ] || [ -z "$nf" ]; then
  log "node --test gave no summary (exit $node_rc)"
  failed=$((failed + 1))
else
  passed=$((passed + np))
  failed=$((failed + nf + ${nc:-0}))
  skipped=$((skipped + ${ns:-0}))
  if [ "$node_rc" != 0 ] && [ "$nf" = 0 ] && [ "${nc:-0}" = 0 ]; then
    log "node --test exited $node_rc without a failing test"
    failed=$((failed + 1))
  fi
fi

log "pytest"
set +e
(cd "$E2E" && timeout "$RUN_TIMEOUT" "$VENV/bin/python" -m pytest -q -p no:cacheprovider python) 2>&1 |
  tee "$PY_OUT"
py_rc="${PIPESTATUS[0]}"
set -e
summary="$(grep -E '^=*[ ]*[0-9]+ (passed|failed|error|errors|skipped)' "$PY_OUT" | tail -1 || true)"
if [ -z "$summary" ]; then
  summary="$(grep -E '[0-9]+ (passed|failed)' "$PY_OUT" | tail -1 || true)"
fi
py_count() { { echo "$summary" | grep -oE "[0-9]+ $1" || true; } | head -1 | awk '{print $1}'; }
if [ -z "$summary" ]; then
  log "pytest gave no summary (exit $py_rc)"
  failed=$((failed + 1))
else
  pp="$(py_count passed)"
  pf="$(py_count failed)"
  pe="$(py_count 'errors?')"
  pk="$(py_count skipped)"
  passed=$((passed + ${pp:-0}))
  failed=$((failed + ${pf:-0} + ${pe:-0}))
  skipped=$((skipped + ${pk:-0}))
  if [ "$py_rc" != 0 ] && [ "${pf:-0}" = 0 ] && [ "${pe:-0}" = 0 ]; then
    log "pytest exited $py_rc without a failing test"
    failed=$((failed + 1))
  fi
fi

# --- (e) stop the server, (f) the summary ------------------------------------------------
stop_server
if [ "$skipped" != 0 ]; then
  # run.sh gives every test what it needs: a skip here means something is missing
  log "$skipped test(s) skipped: counted as failed"
  failed=$((failed + skipped))
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
