#!/usr/bin/env bash
# The project's test command (README.md): installs what the tests need on a fresh machine,
# then runs every suite and ends with one line "N passed, M failed".
#
#   bash scripts/test.sh
#
# 1. Debian packages the tests need (chromium for the browser tests, redis-server for
#    sockeye-redis's), when missing.
# 2. cargo fmt --check, clippy and cargo doc with warnings denied; examples/ and the README's
#    library code (scripts/readme-check.sh) compiled.
# 3. cargo test --workspace (unit, property, integration and doc tests).
# 4. e2e/run.sh: the interop suite with the real socket.io-client (npm ci from the lock file)
#    and python-socketio (a venv from pinned requirements) against the e2e server, with its
#    in-process adapter and again with its Redis adapter (E2E_REDIS=1).
# 5. e2e/browser: the `sockeye` binary's page in headless Chromium, driven by playwright-core;
#    e2e/metrics: the binary's --metrics (checked with promtool) and --log-format json, with
#    real clients and a real redis-server.
# 5b. e2e/ops/run.sh: the admin UI (its protocol against the binary and against Node's own
#    @socket.io/admin-ui; its page in Chromium), the publish API (one node; two on a
#    redis-server) and examples/stock-ticker (its page in Chromium; 2000 subscribers).
# 6. e2e/cluster/run.sh: the cluster suite (redis-server, nginx and haproxy installed by it) on
#    a cluster of four Node nodes (the reference), on three Sockeye nodes beside a Node node,
#    and with the Rust emitter (E2E_CLUSTER_NODES / E2E_CLUSTER_EMITTER override it: one run).
# 7. e2e/autobahn/run.sh: the Autobahn test suite's fuzzingclient (Python 2.7, in a virtualenv
#    of its own) against the engine's WebSocket code; every case as in expected-results.json.
# 8. scripts/fuzz.sh: every decoder's fuzz target for a few seconds under AddressSanitizer.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ART="$ROOT/e2e/artifacts"
mkdir -p "$ART"
log() { echo "[test] $*" >&2; }

# --- 1. system packages -------------------------------------------------------------------
need=()
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || need+=(chromium)
# sockeye-redis's tests start their own redis-server (Debian's) on free ports.
command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ] || need+=(redis-server)
command -v openssl >/dev/null || need+=(openssl) # its TLS test makes a CA and a certificate
# promtool (Debian's prometheus package) checks the metrics output (crates/sockeye/tests/metrics.rs,
# e2e/metrics); the package's service is not started (the policy-rc.d below).
command -v "${PROMTOOL:-promtool}" >/dev/null || need+=(prometheus)
if [ "${#need[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  log "apt-get install ${need[*]}"
  $SUDO apt-get update -qq
  # No package service is wanted (redis-server's tests start their own): a policy-rc.d that
  # refuses every start, for the time of the install, where none exists (as e2e/cluster/run.sh).
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null ||
    { [ -z "$policy" ] || $SUDO rm -f "$policy"; exit 1; }
  [ -z "$policy" ] || $SUDO rm -f "$policy"
fi

passed=0
failed=0
add() { passed=$((passed + $1)); failed=$((failed + $2)); }

# --- 2. lints -----------------------------------------------------------------------------
log "cargo fmt --check"
if cargo fmt --all --check; then add 1 0; else add 0 1; log "cargo fmt: unformatted files"; fi
log "cargo clippy"
if cargo clippy --workspace --all-targets --quiet -- -D warnings; then add 1 0; else add 0 1; fi
log "cargo doc (warnings denied)"
if RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet -p sockeye -p sockeye-engineio -p sockeye-core -p sockeye-redis --features sockeye/admin-ui,sockeye/publish,sockeye/metrics,sockeye-engineio/metrics,sockeye-redis/metrics; then
  add 1 0
else
  add 0 1
fi

log "cargo check of examples/ (its own workspace, sharing target/)"
if CARGO_TARGET_DIR="$ROOT/target" cargo check --quiet --manifest-path examples/Cargo.toml; then
  add 1 0
else
  add 0 1
fi

log "README.md's library code, compiled as pasted (scripts/readme-check.sh)"
if bash scripts/readme-check.sh; then add 1 0; else add 0 1; fi

# --- 3. cargo test ------------------------------------------------------------------------
log "cargo test --workspace"
set +e
cargo test --workspace 2>&1 | tee "$ART/cargo-test.txt"
cargo_rc="${PIPESTATUS[0]}"
set -e
cp=$(grep -E "^test result:" "$ART/cargo-test.txt" | awk '{s += $4} END {print s + 0}')
cf=$(grep -E "^test result:" "$ART/cargo-test.txt" | awk '{s += $6} END {print s + 0}')
add "$cp" "$cf"
if [ "$cargo_rc" != 0 ] && [ "$cf" = 0 ]; then add 0 1; log "cargo test failed to build or run"; fi

# --- 4. interop suite ---------------------------------------------------------------------
# Twice: with the in-process adapter, then with the server's adapter the Redis one (a
# cluster of one on a redis-server of the run's own; the legacy suites once are enough), so
# that both adapters pass the same behaviour tests.
e2e_run() { # e2e_run NAME [VAR=VALUE...]
  local name="$1"
  shift
  log "e2e/run.sh sockeye ($name)"
  set +e
  env "$@" bash e2e/run.sh sockeye 2>&1 | tee "$ART/e2e-$name.txt"
  local rc="${PIPESTATUS[0]}"
  set -e
  local line
  line="$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$ART/e2e-$name.txt" | tail -1 || true)"
  if [ -n "$line" ]; then
    add "$(echo "$line" | awk '{print $1}')" "$(echo "$line" | awk '{print $3}')"
  else
    add 0 1
  fi
  if [ "$rc" != 0 ] && [ -n "$line" ] && [ "$(echo "$line" | awk '{print $3}')" = 0 ]; then add 0 1; fi
}
e2e_run local
e2e_run redis E2E_REDIS=1 E2E_LEGACY=0

# --- 5. browser ---------------------------------------------------------------------------
log "e2e/browser (headless Chromium)"
cargo build --quiet -p sockeye-server
set +e
(cd e2e && timeout 600 node --test --test-reporter=tap browser/*.test.mjs) 2>&1 | tee "$ART/browser.tap"
br_rc="${PIPESTATUS[0]}"
set -e
bp="$({ grep -E '^# pass [0-9]+$' "$ART/browser.tap" || true; } | tail -1 | awk '{print $3}')"
bf="$({ grep -E '^# fail [0-9]+$' "$ART/browser.tap" || true; } | tail -1 | awk '{print $3}')"
if [ -z "$bp" ] || [ -z "$bf" ]; then add 0 1; else add "$bp" "$bf"; fi
if [ "$br_rc" != 0 ] && [ "${bf:-0}" = 0 ]; then add 0 1; fi

log "e2e/metrics (the binary's --metrics and --log-format json)"
set +e
(cd e2e && timeout 300 node --test --test-reporter=tap metrics/*.test.mjs) 2>&1 | tee "$ART/metrics.tap"
mt_rc="${PIPESTATUS[0]}"
set -e
mp="$({ grep -E '^# pass [0-9]+$' "$ART/metrics.tap" || true; } | tail -1 | awk '{print $3}')"
mf="$({ grep -E '^# fail [0-9]+$' "$ART/metrics.tap" || true; } | tail -1 | awk '{print $3}')"
if [ -z "$mp" ] || [ -z "$mf" ]; then add 0 1; else add "$mp" "$mf"; fi
if [ "$mt_rc" != 0 ] && [ "${mf:-0}" = 0 ]; then add 0 1; fi

# --- 5b. ops: admin UI, publish API, stock ticker -----------------------------------------
log "e2e/ops/run.sh (admin UI, publish API, stock ticker)"
set +e
bash e2e/ops/run.sh 2>&1 | tee "$ART/ops.txt"
ops_rc="${PIPESTATUS[0]}"
set -e
line="$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$ART/ops.txt" | tail -1 || true)"
if [ -n "$line" ]; then
  add "$(echo "$line" | awk '{print $1}')" "$(echo "$line" | awk '{print $3}')"
else
  add 0 1
fi
if [ "$ops_rc" != 0 ] && [ -n "$line" ] && [ "$(echo "$line" | awk '{print $3}')" = 0 ]; then add 0 1; fi

# --- 6. cluster ---------------------------------------------------------------------------
# Three runs: Node's cluster (the reference: it proves the tests assert Node's behaviour),
# three Sockeye nodes beside a Node node (Rust -> Node, Node -> Rust, Rust -> Rust, with
# Node's emitter), and the Rust emitter into that mixed cluster (the emitter cases only).
cluster_run() { # cluster_run NAME NODES EMITTER [FILES...]
  local name="$1" nodes="$2" emitter="$3"
  shift 3
  log "e2e/cluster/run.sh: $name (nodes: $nodes; emitter: $emitter)"
  set +e
  E2E_CLUSTER_NODES="$nodes" E2E_CLUSTER_EMITTER="$emitter" bash e2e/cluster/run.sh "$@" 2>&1 |
    tee "$ART/cluster-$name.txt"
  local rc="${PIPESTATUS[0]}"
  set -e
  local line
  line="$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$ART/cluster-$name.txt" | tail -1 || true)"
  if [ -n "$line" ]; then
    add "$(echo "$line" | awk '{print $1}')" "$(echo "$line" | awk '{print $3}')"
  else
    add 0 1
  fi
  if [ "$rc" != 0 ] && [ -n "$line" ] && [ "$(echo "$line" | awk '{print $3}')" = 0 ]; then add 0 1; fi
}
if [ -n "${E2E_CLUSTER_NODES:-}" ]; then
  cluster_run custom "$E2E_CLUSTER_NODES" "${E2E_CLUSTER_EMITTER:-node}"
else
  cluster_run node "node node node node" node
  cluster_run mixed "sockeye sockeye sockeye node" node
  cluster_run rust-emitter "sockeye sockeye sockeye node" sockeye e2e/cluster/classic.test.mjs
fi

# --- 7. WebSocket conformance (Autobahn) --------------------------------------------------
log "e2e/autobahn/run.sh (the Autobahn fuzzingclient, permessage-deflate cases included)"
set +e
bash e2e/autobahn/run.sh 2>&1 | tee "$ART/autobahn.txt"
ab_rc="${PIPESTATUS[0]}"
set -e
line="$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$ART/autobahn.txt" | tail -1 || true)"
if [ -n "$line" ]; then
  add "$(echo "$line" | awk '{print $1}')" "$(echo "$line" | awk '{print $3}')"
else
  add 0 1
fi
if [ "$ab_rc" != 0 ] && [ -n "$line" ] && [ "$(echo "$line" | awk '{print $3}')" = 0 ]; then add 0 1; fi

# --- 8. fuzzing ---------------------------------------------------------------------------
log "scripts/fuzz.sh ${FUZZ_SECONDS:-10} (every decoder, AddressSanitizer)"
if bash scripts/fuzz.sh "${FUZZ_SECONDS:-10}" >"$ART/fuzz.txt" 2>&1; then
  add 1 0
else
  add 0 1
  tail -40 "$ART/fuzz.txt" >&2
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
