#!/usr/bin/env bash
# Runs the cluster interop suite (e2e/cluster/*.test.mjs): nodes that implement
# e2e/cluster/CONTRACT.md joined through a real redis-server, socket.io-client 4.8 clients on
# every node, the emitter CLI, nginx and haproxy in front of two nodes.
#
#   e2e/cluster/run.sh [test files...]          (default: every e2e/cluster/*.test.mjs)
#
# The cluster is chosen by variables (CONTRACT.md says what each command must do):
#   E2E_CLUSTER_NODES         node kinds, one per node (default "node node node node": Node's
#                             cluster, the reference); e.g. "sockeye sockeye sockeye node"
#   E2E_CLUSTER_SOCKEYE_CMD   command line of a sockeye node, before the contract's flags
#                             (default "target/debug/e2e-server --cluster")
#   E2E_CLUSTER_NODE_CMD      command line of a node node (default "node e2e/cluster/server.js")
#   E2E_CLUSTER_EMITTER       the emitter: node (default: e2e/cluster/emitter.js on
#                             @socket.io/redis-emitter), sockeye ("target/debug/e2e-server
#                             --emitter"), or a command line
# A relative path in a command (target/..., e2e/...) is taken from the repository root. When a command that
# names target/ is used, `cargo build -p sockeye-e2e-server` runs first.
#
# Installs what it needs when missing: Debian's redis-server, nginx and haproxy (apt-get), and
# e2e/node_modules (npm ci from the lock file). Each test file starts its own redis-server
# (free port, 127.0.0.1, a temporary folder, no persistence) and its own nodes on free ports,
# and stops them; the runner runs in a process group of its own, killed on exit, so nothing
# outlives a failed or interrupted run. Ends with "N passed, M failed"; exits non-zero when
# anything failed. Node and Redis logs go to e2e/artifacts/cluster/.
set -euo pipefail

CLUSTER="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
E2E="$(cd "$CLUSTER/.." && pwd)"
ROOT="$(cd "$E2E/.." && pwd)"
ART="$E2E/artifacts"
LOGS="$ART/cluster"
RUN_TIMEOUT="${E2E_RUN_TIMEOUT:-900}" # seconds, for the whole node --test run
mkdir -p "$ART"

log() { echo "[cluster] $*" >&2; }
fail_early() {
  log "$*"
  echo "0 passed, 1 failed"
  exit 1
}

KINDS="${E2E_CLUSTER_NODES:-node node node node}"
EMITTER="${E2E_CLUSTER_EMITTER:-node}"
for k in $KINDS; do
  case "$k" in
    node | sockeye) ;;
    *) fail_early "E2E_CLUSTER_NODES: unknown kind '$k' (node or sockeye)" ;;
  esac
done
export E2E_CLUSTER_NODES="$KINDS" E2E_CLUSTER_EMITTER="$EMITTER"

# Installs are serialized between overlapping runs (e2e/run.sh takes the same lock).
exec 9>"$ART/.install.lock"
flock -w 900 9 || fail_early "could not take $ART/.install.lock"

# --- (a) system packages ---------------------------------------------------------------------
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need+=(nginx)
[ -x /usr/sbin/haproxy ] || command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
if [ "${#need[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  log "apt-get install ${need[*]}"
  $SUDO apt-get update -qq
  # The packages' own services are not wanted (the tests start their own instances): a
  # policy-rc.d that refuses every start, for the time of the install, where none exists.
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
    { [ -z "$policy" ] || $SUDO rm -f "$policy"; fail_early "apt-get install ${need[*]} failed"; }
  [ -z "$policy" ] || $SUDO rm -f "$policy"
fi

# --- (b) Node dependencies -------------------------------------------------------------------
if [ ! -f "$E2E/node_modules/.package-lock.json" ] ||
  [ "$E2E/package-lock.json" -nt "$E2E/node_modules/.package-lock.json" ] ||
  [ "$E2E/package.json" -nt "$E2E/node_modules/.package-lock.json" ]; then
  log "npm ci"
  (cd "$E2E" && npm ci --no-audit --no-fund --loglevel=error) || fail_early "npm ci failed"
fi
flock -u 9

# --- (c) the Rust binaries, when asked for -----------------------------------------------------
build=0
case " $KINDS " in
  *" sockeye "*) case "${E2E_CLUSTER_SOCKEYE_CMD:-target/}" in *target/*) build=1 ;; esac ;;
esac
case "$EMITTER" in sockeye | *target/*) build=1 ;; esac
if [ "$#" -gt 0 ]; then
  FILES=()
  for f in "$@"; do FILES+=("$(realpath "$f")"); done
else
  FILES=()
  for f in "$CLUSTER"/*.test.mjs; do FILES+=("$f"); done
fi
if [ "$build" = 1 ]; then
  log "cargo build -p sockeye-e2e-server"
  (cd "$ROOT" && cargo build --quiet -p sockeye-e2e-server) || fail_early "cargo build failed"
fi
# binary.test.mjs drives the `sockeye` binary (E2E_SOCKEYE_BIN, default target/debug/sockeye).
case " ${FILES[*]} " in
  *"/binary.test.mjs "*)
    if [ -z "${E2E_SOCKEYE_BIN:-}" ]; then
      log "cargo build -p sockeye-server"
      (cd "$ROOT" && cargo build --quiet -p sockeye-server) || fail_early "cargo build failed"
    fi
    ;;
esac

# --- (d) the tests -----------------------------------------------------------------------------
rm -rf "$LOGS"
mkdir -p "$LOGS"
export E2E_CLUSTER_LOGS="$LOGS"
TAP="$ART/cluster.tap"
: >"$TAP"

log "nodes: $KINDS; emitter: $EMITTER"
log "node --test ${FILES[*]#"$E2E/"}"

RUNNER_PID=""
cleanup() {
  if [ -n "$RUNNER_PID" ]; then
    # the runner leads its own process group: every node, redis-server and proxy it started
    kill -TERM -- "-$RUNNER_PID" 2>/dev/null || true
    for _ in $(seq 1 30); do
      kill -0 -- "-$RUNNER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$RUNNER_PID" 2>/dev/null || true
    RUNNER_PID=""
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

set +e
(cd "$E2E" && exec setsid timeout "$RUN_TIMEOUT" node --test --test-concurrency=1 --test-reporter=tap "${FILES[@]}") >"$TAP" 2>&1 &
RUNNER_PID=$!
tail -n +1 -f --pid="$RUNNER_PID" "$TAP" &
TAIL_PID=$!
wait "$RUNNER_PID"
rc=$?
wait "$TAIL_PID" 2>/dev/null
set -e
cleanup

tap_count() { # the value of the last top-level "# <name> N" line of the TAP output, or empty
  { grep -E "^# $1 [0-9]+$" "$TAP" || true; } | tail -1 | awk '{print $3}'
}
np="$(tap_count pass)"
nf="$(tap_count fail)"
nc="$(tap_count cancelled)"
ns="$(tap_count skipped)"
if [ -z "$np" ] || [ -z "$nf" ]; then
  log "node --test gave no summary (exit $rc)"
  echo "0 passed, 1 failed"
  exit 1
fi
failed=$((nf + ${nc:-0} + ${ns:-0})) # run.sh gives every test what it needs: a skip is a failure
if [ "$rc" != 0 ] && [ "$failed" = 0 ]; then
  log "node --test exited $rc without a failing test"
  failed=1
fi
log "logs: ${LOGS#"$ROOT/"}"
echo "$np passed, $failed failed"
[ "$failed" = 0 ]
