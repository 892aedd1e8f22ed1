#!/usr/bin/env bash
# The WebSocket conformance gate: the Autobahn test suite's fuzzingclient (wstest) against the
# engine's own WebSocket connection code, run as a plain echo (the `autobahn_echo` example of
# sockeye-engineio, on `sockeye_engineio::testing::websocket_echo_deflate`, which agrees
# permessage-deflate with the clients that offer it and compresses every message it echoes).
# Every case must give the result committed in expected-results.json, and that result must be
# a pass (OK or NON-STRICT; INFORMATIONAL cases have no verdict). Of the permessage-deflate
# cases (12.*, 13.*: 1000 compressed messages each, under every offer the suite makes) three
# sizes per group run, to keep the gate short: 16 and 1024 bytes in one frame, 8192 bytes in
# 256-byte fragments (x.y.1, x.y.4, x.y.11; fuzzingclient.json lists the others as left out).
#
#   bash e2e/autobahn/run.sh [--update]     (--update rewrites expected-results.json)
#
# wstest is Python 2.7 only: PYTHON2 (default /root/.pyenv/versions/2.7.18/bin/python, else
# python2 on PATH). A virtualenv e2e/autobahn/.venv is made for it (virtualenv 16.7.12 is
# installed into .venv/bootstrap, never into the base install), with requirements.txt, when
# missing or when the requirements changed. Reports go to e2e/artifacts/autobahn/. Ends with
# "N passed, M failed" (one per case); exits non-zero when anything failed. About 90 s.
set -euo pipefail

AB="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$AB/../.." && pwd)"
ART="$ROOT/e2e/artifacts"
OUT="$ART/autobahn"
mkdir -p "$ART"
log() { echo "[autobahn] $*" >&2; }
fail() {
  log "$*"
  echo "0 passed, 1 failed"
  exit 1
}

# --- Python 2.7 and the suite's virtualenv -------------------------------------------------
PY2="${PYTHON2:-/root/.pyenv/versions/2.7.18/bin/python}"
if [ ! -x "$PY2" ]; then
  PY2="$(command -v python2 || true)"
fi
[ -n "$PY2" ] && [ -x "$PY2" ] || fail "no Python 2.7 (set PYTHON2): wstest needs it"
"$PY2" -c 'import sys; sys.exit(sys.version_info[:2] != (2, 7))' || fail "$PY2 is not Python 2.7"

VENV="$AB/.venv"
want_hash="$(sha256sum "$AB/requirements.txt" | cut -d' ' -f1)"
exec 9>"$ART/.autobahn-install.lock"
flock -w 900 9 || fail "could not take $ART/.autobahn-install.lock"
if [ ! -x "$VENV/py/bin/wstest" ] || [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$want_hash" ]; then
  log "creating $VENV"
  rm -rf "$VENV"
  "$PY2" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
    --target "$VENV/bootstrap" "virtualenv==16.7.12" 2>&1 | grep -v DEPRECATION >&2 || true
  PYTHONPATH="$VENV/bootstrap" "$PY2" -m virtualenv --quiet "$VENV/py" >&2 ||
    fail "virtualenv failed"
  "$VENV/py/bin/pip" install --quiet --disable-pip-version-check -r "$AB/requirements.txt" 2>&1 |
    grep -v DEPRECATION >&2 || true
  [ -x "$VENV/py/bin/wstest" ] || fail "installing the requirements failed"
  echo "$want_hash" >"$VENV/.requirements.sha256"
fi
flock -u 9

# --- the echo server ---------------------------------------------------------------------
log "cargo build --example autobahn_echo"
(cd "$ROOT" && cargo build --quiet --example autobahn_echo -p sockeye-engineio) || fail "cargo build failed"
RUN_DIR="$(mktemp -d "$ART/autobahn-run.XXXXXX")"
SERVER_PID=""
finish() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$RUN_DIR"
}
trap finish EXIT
trap 'exit 130' INT TERM
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
"$ROOT/target/debug/examples/autobahn_echo" --port "$PORT" >"$RUN_DIR/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do # at most 10 s
  grep -q "listening on" "$RUN_DIR/server.log" && break
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
grep -q "listening on" "$RUN_DIR/server.log" || fail "the echo server did not start: $(cat "$RUN_DIR/server.log")"

# --- the suite ---------------------------------------------------------------------------
rm -rf "$OUT"
mkdir -p "$OUT"
sed -e "s|@OUTDIR@|$OUT|" -e "s|@PORT@|$PORT|" "$AB/fuzzingclient.json" >"$RUN_DIR/spec.json"
log "wstest -m fuzzingclient (reports in $OUT)"
if ! (cd "$RUN_DIR" && timeout 600 "$VENV/py/bin/wstest" -m fuzzingclient -s spec.json) >"$OUT/wstest.log" 2>&1; then
  tail -20 "$OUT/wstest.log" >&2
  fail "wstest failed"
fi
[ -f "$OUT/index.json" ] || fail "wstest wrote no index.json"
python3 "$AB/compare.py" "$OUT/index.json" "$AB/expected-results.json" "$@"
