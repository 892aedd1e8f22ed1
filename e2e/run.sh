#!/usr/bin/env bash
# Runs the interop suite (Node socket.io-client tests, then python-socketio tests) against
# one server that implements e2e/CONTRACT.md.
#
#   e2e/run.sh [sockeye|node]     (default: sockeye)
#
#   sockeye  builds and runs target/debug/e2e-server (the Rust server under test)
#   node     runs e2e/reference/server.js (Node's socket.io: the reference)
#
# The legacy suites (Engine.IO v3 clients: socket.io-client 2.2.0 in e2e/legacy, run by the
# same node --test; python-socketio 4.x in e2e/python-legacy, with its own venv) run too,
# unless E2E_LEGACY=0. For `sockeye`, legacy/tutorial.test.mjs drives the `sockeye` binary
# (built here) unless E2E_TUTORIAL_SERVER is set.
#
# Ends with one line "N passed, M failed" (all runners added up); exits non-zero when
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
LEGACY="${E2E_LEGACY:-1}"             # 0: skip the legacy (Engine.IO v3) suites
case "$LEGACY" in
  0 | 1) ;;
  *)
    echo "E2E_LEGACY must be 0 or 1, not '$LEGACY'" >&2
    exit 2
    ;;
esac

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

# --- (b) Python virtualenvs --------------------------------------------------------------
ensure_venv() { # ensure_venv VENV REQUIREMENTS: (re)creates VENV when the requirements changed
  local venv="$1" req="$2"
  local stamp="$venv/.requirements.sha256"
  local want_hash
  want_hash="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ ! -x "$venv/bin/python" ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want_hash" ]; then
    log "creating $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    echo "$want_hash" >"$stamp"
  fi
}
VENV="$E2E/.venv"
ensure_venv "$VENV" "$E2E/python/requirements.txt"
VENV_LEGACY="$E2E/.venv-legacy"
if [ "$LEGACY" = 1 ]; then
  ensure_venv "$VENV_LEGACY" "$E2E/python-legacy/requirements.txt"
fi
flock -u 9

# --- (c) the server ----------------------------------------------------------------------
# This run's files live in a private folder (runs may overlap); on exit they are copied to
# e2e/artifacts/{server,node,pytest}-<target>.* for reading.
RUN_DIR="$(mktemp -d "$ART/run.XXXXXX")"
SERVER_LOG="$RUN_DIR/server.log"
NODE_TAP="$RUN_DIR/node.tap"
PY_OUT="$RUN_DIR/pytest.txt"
PY_LEGACY_OUT="$RUN_DIR/pytest-legacy.txt"
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
  if [ -n "${REDIS_PID:-}" ]; then kill "$REDIS_PID" 2>/dev/null || true; fi
  if [ -d "$RUN_DIR" ]; then
    cp -f "$SERVER_LOG" "$ART/server-$TARGET.log" 2>/dev/null || true
    cp -f "$NODE_TAP" "$ART/node-$TARGET.tap" 2>/dev/null || true
    cp -f "$PY_OUT" "$ART/pytest-$TARGET.txt" 2>/dev/null || true
    cp -f "$PY_LEGACY_OUT" "$ART/pytest-legacy-$TARGET.txt" 2>/dev/null || true
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
  if [ "$LEGACY" = 1 ] && [ -z "${E2E_TUTORIAL_SERVER:-}" ]; then
    # legacy/tutorial.test.mjs: the tutorial's page against the `sockeye` binary
    log "cargo build -p sockeye-server"
    if ! (cd "$ROOT" && cargo build --quiet -p sockeye-server); then
      log "cargo build failed"
      echo "0 passed, 1 failed"
      exit 1
    fi
    export E2E_TUTORIAL_SERVER="$ROOT/target/debug/sockeye --host 127.0.0.1 --port {port} --cors {origin}"
  fi
else
  SERVER_CMD=(node "$E2E/reference/server.js")
fi

# a free port, picked as late as possible
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
SERVER_CMD+=(--port "$PORT")

# E2E_REDIS=1: the server's adapter is its Redis one (Node's @socket.io/redis-adapter, or
# sockeye-redis), on a redis-server of this run's own; every test must pass the same.
REDIS_PID=""
if [ "${E2E_REDIS:-0}" = 1 ]; then
  REDIS_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$RUN_DIR" --save '' --appendonly no \
    --loglevel warning >"$RUN_DIR/redis.log" 2>&1 &
  REDIS_PID=$!
  for _ in $(seq 1 100); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.05
  done
  SERVER_CMD+=(--redis "redis://127.0.0.1:$REDIS_PORT")
fi
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
export E2E_REDIS="${E2E_REDIS:-0}"
log "server ready at $E2E_URL"

# --- (d) the runners ---------------------------------------------------------------------
passed=0
failed=0
skipped=0

NODE_GLOBS="node/*.test.mjs" # expanded inside e2e/
if [ "$LEGACY" = 1 ]; then
  NODE_GLOBS+=" legacy/*.test.mjs"
else
  log "E2E_LEGACY=0: the legacy suites (e2e/legacy, e2e/python-legacy) are not run"
fi
log "node --test"
set +e
(cd "$E2E" && timeout "$RUN_TIMEOUT" node --test --test-reporter=tap $NODE_GLOBS) 2>&1 |
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

run_pytest() { # run_pytest VENV DIR OUTFILE: runs pytest on DIR and adds up its summary
  local venv="$1" dir="$2" out="$3"
  local rc summary pp pf pe pk
  log "pytest $dir"
  set +e
  (cd "$E2E" && timeout "$RUN_TIMEOUT" "$venv/bin/python" -m pytest -q -p no:cacheprovider "$dir") 2>&1 |
    tee "$out"
  rc="${PIPESTATUS[0]}"
  set -e
  summary="$(grep -E '^=*[ ]*[0-9]+ (passed|failed|error|errors|skipped)' "$out" | tail -1 || true)"
  if [ -z "$summary" ]; then
    summary="$(grep -E '[0-9]+ (passed|failed)' "$out" | tail -1 || true)"
  fi
  py_count() { { echo "$summary" | grep -oE "[0-9]+ $1" || true; } | head -1 | awk '{print $1}'; }
  if [ -z "$summary" ]; then
    log "pytest $dir gave no summary (exit $rc)"
    failed=$((failed + 1))
  else
    pp="$(py_count passed)"
    pf="$(py_count failed)"
    pe="$(py_count 'errors?')"
    pk="$(py_count skipped)"
    passed=$((passed + ${pp:-0}))
    failed=$((failed + ${pf:-0} + ${pe:-0}))
    skipped=$((skipped + ${pk:-0}))
    if [ "$rc" != 0 ] && [ "${pf:-0}" = 0 ] && [ "${pe:-0}" = 0 ]; then
      log "pytest $dir exited $rc without a failing test"
      failed=$((failed + 1))
    fi
  fi
}
run_pytest "$VENV" python "$PY_OUT"
if [ "$LEGACY" = 1 ]; then
  run_pytest "$VENV_LEGACY" python-legacy "$PY_LEGACY_OUT"
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
