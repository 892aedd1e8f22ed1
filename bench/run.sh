#!/usr/bin/env bash
# Runs the Sockeye benchmark: every scenario against every server (Sockeye, its peers and the
# ceiling), N runs each, then writes medians, ratios, CSV/JSON and an SVG chart into
# bench/results/. See bench/README.md.
#
#   bench/run.sh                 # the full table (3 runs each)
#   bench/run.sh --quick         # tiny sizes, 1 run: a smoke test of the whole pipeline
#
# Two configurations of Sockeye and of socketioxide: "sockeye" and "socketioxide" are tuned
# (one current-thread worker pinned to a CPU, fat LTO; Sockeye's heap in huge pages, behind
# sockeye::serve); "sockeye-user" and "socketioxide-user" are what a user gets from each
# README (axum, axum::serve, #[tokio::main]'s multi-thread runtime with one worker per CPU,
# a crate of its own built with plain `cargo build --release`, not pinned). "floor-user" is
# the least any server can do mounted that way (peers/floor-user.rs: axum::serve, the same
# runtime and build, the WebSocket scenarios' frames handled by hand, no Socket.IO): what
# separates the user configuration from the ceiling that is not Sockeye's own work.
#
# The connect-upgrade-10k and storm-10k scenarios connect the way socket.io-client does by
# default (a long-polling handshake, then the WebSocket upgrade); storm-10k restarts the
# server under 10k connected clients and times their reconnection (socket.io-client's
# backoff). Neither runs against the ceiling (WebSocket only).
#
# The xbcast-* scenarios run a cluster: two nodes of one server (Sockeye with sockeye-redis,
# Node with @socket.io/redis-adapter) on a redis-server of their own (started here on a free
# port of 127.0.0.1, no persistence, stopped after each run), the subscribers split over both
# nodes; the server CPU is the sum of both nodes and Redis. Each adds its single-node
# scenario (xbcast-1k-100 adds bcast-1k-100) as the baseline of the "Redis hop".
#
# Options:
#   --quick               tiny sizes (200 clients, 3 s), 1 run unless --runs is given
#   --runs N              runs per (scenario, server) (default 3; medians are reported)
#   --servers "A B ..."   among: sockeye ceiling sockeye-user floor-user
#                         socketioxide-user node socketioxide python (default: all; the
#                         xbcast-* scenarios run sockeye and node only; the ceiling and
#                         floor-user run the WebSocket scenarios only)
#   --scenarios "A B .."  among: connect-10k connect-upgrade-10k storm-10k echo-100
#                         echo-20k bcast-1k-100 bcast-10k-10 bcast-10k-100 echo-polling
#                         xbcast-1k-100 xbcast-10k-10 xbcast-10k-100 bcast-1k-5-deflate
#                         echo-100-msgpack bcast-1k-100-msgpack
#                         (default: all but xbcast-10k-100; bcast-1k-5-deflate: 1 KiB
#                         JSON ticks with permessage-deflate on, Sockeye and Node only;
#                         DEFLATE_MODE=no-context-takeover for the other mode; the
#                         -msgpack ones: echo-100 and bcast-1k-100 with the msgpack parser
#                         on both sides, Sockeye and Node only)
#   --no-baseline         do not add the single-node baseline of an xbcast-* scenario
#   --server-threads N    worker threads for the tuned multi-threaded servers (default 1:
#                         Node and Python are single-threaded, and the load generator
#                         needs the other core); the user configurations keep tokio's
#                         default (one per CPU)
#   --no-pin              do not pin: by default (2+ CPUs and taskset present) the server
#                         (but for the user configurations, never pinned) runs on the last
#                         CPU and the load generator on the others, so the
#                         kernel's TCP work is charged the same way in every run (on one
#                         shared CPU, a sender's system call does the receiver's work too);
#                         in a cluster run both nodes and Redis share the server's CPU(s)
#   --no-install          use what bench/.work already holds; skip servers that are missing
#   --keep-going          (default) a failing install skips that server; --strict aborts
#   --strict              abort when a server cannot be installed or built
#   --publish             also copy the chart to bench/chart.svg and the table to
#                         bench/results-table.md (the files the README shows)
#
# Environment: SOCKETIOXIDE_VERSION (default 0.18.9), LIMIT_SERVER_DIR (default
# ../shared/limit-server beside the repository), CARGO (default cargo), REDIS_SERVER (default
# redis-server; Debian's package is installed when missing).
set -uo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
WORK="$BENCH/.work"
RESULTS="$BENCH/results"
CARGO="${CARGO:-cargo}"
SOCKETIOXIDE_VERSION="${SOCKETIOXIDE_VERSION:-0.18.9}"
LIMIT_SERVER_DIR="${LIMIT_SERVER_DIR:-$ROOT/../shared/limit-server}"

QUICK=0
RUNS=""
# Neighbours in this order run back to back (the order is reversed every other run): Sockeye
# tuned and the ceiling, the ceiling and Sockeye's user configuration, and both user
# configurations.
SERVERS="sockeye ceiling sockeye-user floor-user socketioxide-user node socketioxide python"
SCENARIOS="connect-10k connect-upgrade-10k storm-10k echo-100 echo-20k bcast-1k-100 bcast-10k-10 bcast-10k-100 echo-polling xbcast-1k-100 xbcast-10k-10 bcast-1k-5-deflate echo-100-msgpack bcast-1k-100-msgpack"
BASELINE=1
REDIS_SERVER="${REDIS_SERVER:-redis-server}"
THREADS=1
PIN=1
INSTALL=1
STRICT=0
PUBLISH=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --runs) RUNS="$2"; shift ;;
    --servers) SERVERS="$2"; shift ;;
    --scenarios) SCENARIOS="$2"; shift ;;
    --no-baseline) BASELINE=0 ;;
    --server-threads) THREADS="$2"; shift ;;
    --no-pin) PIN=0 ;;
    --no-install) INSTALL=0 ;;
    --keep-going) STRICT=0 ;;
    --strict) STRICT=1 ;;
    --publish) PUBLISH=1 ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$RUNS" ] || { [ "$QUICK" = 1 ] && RUNS=1 || RUNS=3; }

# 10k clients and, in a storm, their handshakes in flight: the servers (started from here)
# get this process's open-files soft limit raised to its hard limit (a limit of this process
# tree, not a system-wide setting). The load generator raises its own.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# CPU pinning: the server gets the last CPU (or the last THREADS CPUs), the load generator the
# rest. A cluster run puts both of its nodes and its Redis on the server's CPU(s): the same
# budget as one server, and the loadgen's costs kept apart from the servers' (bench/README.md,
# "Cluster broadcast").
SERVER_PIN=()
LOADGEN_PIN=()
# Every CPU: what an unpinned server gets. Said explicitly where a server is started by the
# pinned load generator (the storm's restart), which would otherwise pass on its own CPU.
FREE_PIN=()
NCPU="$(nproc 2>/dev/null || echo 1)"
if [ "$PIN" = 1 ] && command -v taskset >/dev/null && [ "$NCPU" -ge 2 ]; then
  first_server_cpu=$(( NCPU - THREADS ))
  [ "$first_server_cpu" -ge 1 ] || first_server_cpu=1
  SERVER_PIN=(taskset -c "$first_server_cpu-$(( NCPU - 1 ))")
  LOADGEN_PIN=(taskset -c "0-$(( first_server_cpu - 1 ))")
  FREE_PIN=(taskset -c "0-$(( NCPU - 1 ))")
fi
# The user configurations run as a user runs them: not pinned.
is_user_config() { case "$1" in *-user) return 0 ;; *) return 1 ;; esac; }

log() { printf '\n== %s\n' "$*" >&2; }
skip() { printf 'SKIP %s\n' "$*" >&2; [ "$STRICT" = 0 ] || exit 1; }

# The load-generator arguments of each scenario: full size, and --quick size. A cluster
# scenario (xbcast-*) has the load of its single-node one (bcast-*), so that the two compare.
scenario_args() {
  local id="$1"
  case "$id" in
    xbcast-1k-100|xbcast-10k-10|xbcast-10k-100) scenario_args "${id#x}"; return ;;
    # The same load as the JSON scenario, in msgpack packets.
    *-msgpack) echo "$(scenario_args "${id%-msgpack}") --parser msgpack"; return ;;
  esac
  if [ "$QUICK" = 0 ]; then
    case "$id" in
      connect-10k)   echo "connect --clients 10000 --duration 5" ;;
      connect-upgrade-10k) echo "connect --transport upgrade --clients 10000 --duration 5" ;;
      # 10k clients reconnecting at once hold up to three connections each while they
      # connect: two processes of the load generator keep each under its open-files limit.
      storm-10k)     echo "storm --transport upgrade --clients 10000 --warmup 2 --duration 60 --connect-timeout 20 --shards 2" ;;
      echo-100)      echo "echo --clients 100 --duration 10 --warmup 2" ;;
      echo-20k)      echo "echo --clients 100 --rate 20000 --duration 10 --warmup 2" ;;
      bcast-1k-100)  echo "broadcast --clients 1000 --rate 100 --duration 10 --warmup 2" ;;
      bcast-10k-10)  echo "broadcast --clients 10000 --rate 10 --duration 10 --warmup 2 --drain 10" ;;
      bcast-10k-100) echo "broadcast --clients 10000 --rate 100 --duration 10 --warmup 2 --drain 10" ;;
      echo-polling)  echo "echo --transport polling --clients 50 --duration 10 --warmup 2" ;;
      # 5 ticks/s: at 10, both Sockeye and Node spend all of one CPU compressing (each
      # connection its own compressor), and their figures would be those of a backlog.
      bcast-1k-5-deflate) echo "broadcast --clients 1000 --rate 5 --duration 10 --warmup 2 --tick-size 1024 --deflate" ;;
      *) return 1 ;;
    esac
  else
    case "$id" in
      connect-10k)   echo "connect --clients 200 --duration 2" ;;
      connect-upgrade-10k) echo "connect --transport upgrade --clients 200 --duration 2" ;;
      storm-10k)     echo "storm --transport upgrade --clients 200 --warmup 0.5 --duration 30 --connect-timeout 20" ;;
      echo-100)      echo "echo --clients 20 --duration 3 --warmup 0.5" ;;
      echo-20k)      echo "echo --clients 20 --rate 2000 --duration 3 --warmup 0.5" ;;
      bcast-1k-100)  echo "broadcast --clients 200 --rate 20 --duration 3 --warmup 0.5" ;;
      bcast-10k-10)  echo "broadcast --clients 200 --rate 10 --duration 3 --warmup 0.5" ;;
      bcast-10k-100) echo "broadcast --clients 200 --rate 50 --duration 3 --warmup 0.5" ;;
      echo-polling)  echo "echo --transport polling --clients 10 --duration 3 --warmup 0.5" ;;
      bcast-1k-5-deflate) echo "broadcast --clients 200 --rate 5 --duration 3 --warmup 0.5 --tick-size 1024 --deflate" ;;
      *) return 1 ;;
    esac
  fi
}

port_of() {
  case "$1" in
    ceiling) echo 3010 ;; node) echo 3011 ;; socketioxide) echo 3012 ;;
    python) echo 3013 ;; sockeye) echo 3014 ;; sockeye-user) echo 3015 ;;
    socketioxide-user) echo 3016 ;; floor-user) echo 3017 ;;
  esac
}
# The second node of a cluster listens 10 above the first.
CLUSTER_PORT_STEP=10

is_cluster() { case "$1" in xbcast-*) return 0 ;; *) return 1 ;; esac; }

# The `-deflate` scenarios run the servers that speak permessage-deflate with it on
# (PER_MESSAGE_DEFLATE, read by the Sockeye bench server and the Node peer; `on` is Node's
# `perMessageDeflate: true`, DEFLATE_MODE=no-context-takeover the other mode).
deflate_env() {
  case "$1" in
    *-deflate) echo "${DEFLATE_MODE:-on}" ;;
    *) echo off ;;
  esac
}
speaks_deflate() { [ "$1" = sockeye ] || [ "$1" = node ]; }
# The `-msgpack` scenarios run the servers that have the msgpack parser with it (PARSER, read
# by the Sockeye bench server and the Node peer).
parser_env() { case "$1" in *-msgpack) echo msgpack ;; *) echo json ;; esac; }
speaks_msgpack() { [ "$1" = sockeye ] || [ "$1" = node ]; }
# The scenarios that need long-polling, which the ceiling and the floor do not speak.
needs_polling() { case "$1" in echo-polling|connect-upgrade-10k|storm-10k) return 0 ;; *) return 1 ;; esac; }
is_storm() { case "$1" in storm-*) return 0 ;; *) return 1 ;; esac; }
has_cluster_mode() { case "$1" in sockeye|node) return 0 ;; *) return 1 ;; esac; }

for id in $SCENARIOS; do
  scenario_args "$id" >/dev/null || { echo "run.sh: unknown scenario $id" >&2; exit 2; }
done
# Each cluster scenario needs its single-node one in the same run: the "Redis hop" is the p99
# of the cluster minus the p99 of one server at the same load, on the same machine state.
if [ "$BASELINE" = 1 ]; then
  WITH=""
  for id in $SCENARIOS; do
    if is_cluster "$id"; then
      case " $SCENARIOS $WITH " in
        *" ${id#x} "*) ;;
        *) echo "run.sh: adding ${id#x}, the baseline of $id (--no-baseline: do not)" >&2
           WITH="$WITH ${id#x}" ;;
      esac
    fi
    WITH="$WITH $id"
  done
  SCENARIOS="${WITH# }"
fi
NEED_REDIS=0
for id in $SCENARIOS; do is_cluster "$id" && NEED_REDIS=1; done
case " $SERVERS " in *" sockeye "*|*" node "*) ;; *) NEED_REDIS=0 ;; esac
mkdir -p "$WORK" "$RESULTS/logs"
TARGET_DIR="$("$CARGO" metadata --format-version 1 --no-deps --manifest-path "$ROOT/Cargo.toml" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"

# ---------------------------------------------------------------- build and install
log "building the load generator"
"$CARGO" build --release --manifest-path "$ROOT/Cargo.toml" -p sockeye-bench --bin sockeye-loadgen >&2 \
  || { echo "run.sh: the load generator does not build" >&2; exit 1; }
LOADGEN="$TARGET_DIR/release/sockeye-loadgen"

declare -A CMD   # server -> command line (run with PORT and WORKERS/THREADS set)
has_bin_target() {  # does package sockeye-bench declare binary $1?
  "$CARGO" metadata --format-version 1 --no-deps --manifest-path "$ROOT/Cargo.toml" | python3 -c '
import json, sys
pkgs = json.load(sys.stdin)["packages"]
bins = [t["name"] for p in pkgs if p["name"] == "sockeye-bench" for t in p["targets"] if "bin" in t["kind"]]
sys.exit(0 if sys.argv[1] in bins else 1)' "$1"
}

setup_sockeye() {
  if ! has_bin_target sockeye-bench-server; then
    skip "sockeye: the sockeye-bench crate has no sockeye-bench-server binary yet (bench/src/bin/sockeye-bench-server.rs)"
    return
  fi
  # The `production` profile (fat LTO, one codegen unit), as the ceiling and socketioxide are
  # built here too.
  "$CARGO" build --profile production --manifest-path "$ROOT/Cargo.toml" -p sockeye-bench --bin sockeye-bench-server >&2 \
    || { skip "sockeye: sockeye-bench-server does not build"; return; }
  CMD[sockeye]="$TARGET_DIR/production/sockeye-bench-server --port @PORT@ --workers @THREADS@"
}

setup_ceiling() {
  local bin="$WORK/target/release/limit-server"
  if [ "$INSTALL" = 1 ]; then
    if [ ! -f "$LIMIT_SERVER_DIR/Cargo.toml" ]; then
      skip "ceiling: no limit-server at $LIMIT_SERVER_DIR (set LIMIT_SERVER_DIR)"; return
    fi
    "$CARGO" build --release --manifest-path "$LIMIT_SERVER_DIR/Cargo.toml" --target-dir "$WORK/target" >&2 \
      || { skip "ceiling: limit-server does not build"; return; }
  fi
  [ -x "$bin" ] || { skip "ceiling: $bin missing"; return; }
  CMD[ceiling]="$bin"
}

setup_node() {
  local dir="$WORK/node"
  if [ "$INSTALL" = 1 ]; then
    command -v npm >/dev/null || { skip "node: npm not found"; return; }
    mkdir -p "$dir"
    # From the committed lock file: the same packages in every run (socket.io 4.8.4; for the
    # cluster scenarios @socket.io/redis-adapter 8.3.0 over redis 4.7.1, as e2e/ uses; for
    # the -msgpack ones socket.io-msgpack-parser 3.0.2).
    if ! cmp -s "$BENCH/peers/package.json" "$dir/package.json" \
      || ! cmp -s "$BENCH/peers/package-lock.json" "$dir/package-lock.json" \
      || [ ! -d "$dir/node_modules/socket.io" ]; then
      cp "$BENCH/peers/package.json" "$BENCH/peers/package-lock.json" "$dir/"
      (cd "$dir" && npm ci --no-audit --no-fund --omit=dev --loglevel=error) >&2 \
        || { skip "node: npm ci failed"; return; }
    fi
  fi
  [ -d "$dir/node_modules/socket.io" ] || { skip "node: socket.io not installed in $dir"; return; }
  CMD[node]="env NODE_PATH=$dir/node_modules node $BENCH/peers/node-server.js"
}

# A crate of its own, outside this workspace, as a user makes one: `$WORK/DIR` with SOURCE as
# its main.rs, package PACKAGE, the `[dependencies]` lines read from standard input, the
# workspace's Cargo.lock copied in (so the dependencies are the versions tested here), built
# with plain `cargo build --release` (cargo's default release profile, not the workspace's).
# An unchanged manifest keeps its timestamp, so nothing is rebuilt for nothing.
build_user_crate() { # build_user_crate DIR PACKAGE SOURCE WHAT
  local dir="$WORK/$1" package="$2" source="$3" what="$4"
  mkdir -p "$dir/src"
  cp "$source" "$dir/src/main.rs"
  {
    cat <<EOF
# Generated by bench/run.sh: $what
[package]
name = "$package"
version = "0.0.0"
edition = "2021"
publish = false

# A workspace of its own: cargo's default profiles, not the Sockeye workspace's.
[workspace]

[dependencies]
EOF
    cat
  } > "$dir/Cargo.toml.new"
  cmp -s "$dir/Cargo.toml.new" "$dir/Cargo.toml" || mv "$dir/Cargo.toml.new" "$dir/Cargo.toml"
  rm -f "$dir/Cargo.toml.new"
  cp "$ROOT/Cargo.lock" "$dir/Cargo.lock"
  "$CARGO" build --release --manifest-path "$dir/Cargo.toml" >&2
}

# The user configuration: the README's library example with the bench's handlers
# (src/bin/sockeye-bench-axum.rs) in a crate of its own with the README's dependencies
# (sockeye by path, axum, tokio, serde_json).
setup_sockeye_user() {
  local dir="$WORK/sockeye-user"
  if [ "$INSTALL" = 1 ]; then
    build_user_crate sockeye-user sockeye-bench-axum "$BENCH/src/bin/sockeye-bench-axum.rs" \
      "Sockeye as a user's crate builds it (the README's dependencies)." <<EOF \
      || { skip "sockeye-user: build failed"; return; }
sockeye = { path = "$ROOT/crates/sockeye" }
axum = { version = "0.8", default-features = false, features = ["tokio", "http1"] }
tokio = { version = "1", features = ["macros", "rt-multi-thread", "net"] }
serde_json = "1"
EOF
  fi
  [ -x "$dir/target/release/sockeye-bench-axum" ] || { skip "sockeye-user: binary missing"; return; }
  CMD[sockeye-user]="$dir/target/release/sockeye-bench-axum --port @PORT@"
}

# The floor of the user configuration (peers/floor-user.rs): not Sockeye, not Socket.IO; a
# crate of its own mounted and built as the user configuration is (axum::serve,
# #[tokio::main], plain `cargo build --release`), with the same Cargo.lock, so that axum,
# hyper and tokio are the versions Sockeye's user configuration gets.
setup_floor_user() {
  local dir="$WORK/floor-user"
  if [ "$INSTALL" = 1 ]; then
    build_user_crate floor-user floor-user "$BENCH/peers/floor-user.rs" \
      "the floor of the user configuration (bench/peers/floor-user.rs)." <<EOF \
      || { skip "floor-user: build failed"; return; }
axum = { version = "0.8", default-features = false, features = ["tokio", "http1"] }
tokio = { version = "1", features = ["macros", "rt-multi-thread", "net", "io-util", "sync"] }
hyper = "1"
hyper-util = { version = "0.1", features = ["tokio", "server-auto"] }
http = "1"
sha1 = "0.10"
base64 = "0.22"
EOF
  fi
  [ -x "$dir/target/release/floor-user" ] || { skip "floor-user: binary missing"; return; }
  CMD[floor-user]="$dir/target/release/floor-user --port @PORT@"
}

# One throwaway crate for both socketioxide configurations: the tuned server
# (peers/socketioxide-server.rs, the `production` profile: fat LTO, one codegen unit, as the
# ceiling and Sockeye are built) and the user's (peers/socketioxide-user.rs, plain
# `--release`: cargo's default release profile).
socketioxide_crate() {
  local dir="$WORK/socketioxide"
  mkdir -p "$dir/src/bin"
  cp "$BENCH/peers/socketioxide-server.rs" "$dir/src/main.rs"
  cp "$BENCH/peers/socketioxide-user.rs" "$dir/src/bin/socketioxide-bench-user.rs"
  cat > "$dir/Cargo.toml.new" <<EOF
# Generated by bench/run.sh: the socketioxide peer of the Sockeye benchmark.
[package]
name = "socketioxide-bench-server"
version = "0.0.0"
edition = "2021"
publish = false

# A workspace of its own: not part of the Sockeye workspace.
[workspace]

[dependencies]
socketioxide = "=$SOCKETIOXIDE_VERSION"
axum = { version = "0.8", default-features = false, features = ["tokio", "http1"] }
tokio = { version = "1", features = ["rt-multi-thread", "net", "macros"] }
serde_json = "1"

# The tuned server is built as the ceiling and Sockeye are: fat LTO, one codegen unit. The
# user configuration takes cargo's default release profile.
[profile.production]
inherits = "release"
lto = "fat"
codegen-units = 1
EOF
  cmp -s "$dir/Cargo.toml.new" "$dir/Cargo.toml" || mv "$dir/Cargo.toml.new" "$dir/Cargo.toml"
  rm -f "$dir/Cargo.toml.new"
}

setup_socketioxide() {
  local dir="$WORK/socketioxide"
  if [ "$INSTALL" = 1 ]; then
    socketioxide_crate
    "$CARGO" build --profile production --bin socketioxide-bench-server --manifest-path "$dir/Cargo.toml" >&2 \
      || { skip "socketioxide: build failed"; return; }
  fi
  [ -x "$dir/target/production/socketioxide-bench-server" ] || { skip "socketioxide: binary missing"; return; }
  CMD[socketioxide]="$dir/target/production/socketioxide-bench-server"
}

setup_socketioxide_user() {
  local dir="$WORK/socketioxide"
  if [ "$INSTALL" = 1 ]; then
    socketioxide_crate
    "$CARGO" build --release --bin socketioxide-bench-user --manifest-path "$dir/Cargo.toml" >&2 \
      || { skip "socketioxide-user: build failed"; return; }
  fi
  [ -x "$dir/target/release/socketioxide-bench-user" ] || { skip "socketioxide-user: binary missing"; return; }
  CMD[socketioxide-user]="$dir/target/release/socketioxide-bench-user"
}

setup_python() {
  local venv="$WORK/venv"
  if [ "$INSTALL" = 1 ]; then
    if [ ! -x "$venv/bin/python" ]; then
      python3 -m venv "$venv" >&2 || { skip "python: cannot create a venv"; return; }
    fi
    if ! cmp -s "$BENCH/peers/requirements.txt" "$venv/requirements.txt"; then
      "$venv/bin/pip" install -q -r "$BENCH/peers/requirements.txt" >&2 \
        || { skip "python: pip install failed"; return; }
      cp "$BENCH/peers/requirements.txt" "$venv/requirements.txt"
    fi
  fi
  "$venv/bin/python" -c 'import socketio, aiohttp' 2>/dev/null \
    || { skip "python: python-socketio/aiohttp not installed in $venv"; return; }
  CMD[python]="$venv/bin/python $BENCH/peers/python_server.py"
}

# Debian's redis-server for the cluster scenarios, installed when missing (its own service
# is not started: a policy-rc.d that refuses every start, for the time of the install).
REDIS_OK=0
setup_redis() {
  if ! command -v "$REDIS_SERVER" >/dev/null && [ "$INSTALL" = 1 ]; then
    local sudo="" policy=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    log "apt-get install redis-server"
    $sudo apt-get update -qq >&2
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      policy=/usr/sbin/policy-rc.d
      printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
      $sudo chmod +x "$policy"
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends redis-server >&2
    [ -z "$policy" ] || $sudo rm -f "$policy"
  fi
  if command -v "$REDIS_SERVER" >/dev/null; then
    REDIS_OK=1
    log "redis: $("$REDIS_SERVER" --version)"
  else
    skip "the xbcast scenarios: no $REDIS_SERVER (apt-get install redis-server)"
  fi
}

ACTIVE=""
[ "$NEED_REDIS" = 0 ] || setup_redis
for s in $SERVERS; do
  case "$s" in
    sockeye|ceiling|sockeye-user|floor-user|socketioxide-user|node|socketioxide|python) ;;
    *) echo "run.sh: unknown server $s" >&2; exit 2 ;;
  esac
  log "preparing $s"
  "setup_${s//-/_}"
  [ -n "${CMD[$s]:-}" ] && ACTIVE="$ACTIVE $s"
done
[ -n "$ACTIVE" ] || { echo "run.sh: no server to benchmark" >&2; exit 1; }

# ---------------------------------------------------------------- runs
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RAW="$RESULTS/raw-$STAMP.jsonl"
: > "$RAW"
PIDS=()        # the processes of the current run: the server, or a cluster's nodes and Redis
REDIS_DIR=""

# alive PID: some thread of the process exists and is not a zombie (a server restarted by the
# storm's load generator is not this shell's child: once it exits, nothing here can collect
# it). Every thread: a multi-threaded server's first thread is a zombie as soon as it exits
# itself, while the others may still hold the listening socket the next run binds.
alive() {
  local st t
  for t in /proc/"$1"/task/*/stat; do
    st="$(cat "$t" 2>/dev/null)" || continue
    st="${st##*) }"
    case "${st%% *}" in Z|X) ;; *) return 0 ;; esac
  done
  return 1
}

stop_servers() {  # the nodes first, then Redis (the last one started first)
  local i pid
  for (( i = ${#PIDS[@]} - 1; i >= 0; i-- )); do
    pid="${PIDS[$i]}"
    kill "$pid" 2>/dev/null
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  PIDS=()
  if [ -n "$REDIS_DIR" ]; then rm -rf "$REDIS_DIR"; REDIS_DIR=""; fi
}
trap 'stop_servers' EXIT
trap 'stop_servers; exit 130' INT TERM

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# launch LOG PORT CMD...: starts a process pinned as PIN_NOW says (a server's pinning, or none
# for a user configuration), appends its pid to PIDS, and waits (at most 30 s) until it
# listens on PORT; returns 1 when it does not.
PIN_NOW=("${SERVER_PIN[@]}")
launch() {
  local logf="$1" port="$2" pid
  shift 2
  "${PIN_NOW[@]}" "$@" >>"$logf" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 300); do
    listening "$port" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_redis: a fresh redis-server for one cluster run, on a free port of 127.0.0.1, no
# persistence (no RDB snapshots, no AOF) in a throwaway folder; sets REDIS_URL.
start_redis() {
  local port
  port="$(free_port)" || return 1
  REDIS_DIR="$(mktemp -d "${TMPDIR:-/tmp}/sockeye-bench-redis.XXXXXX")" || return 1
  launch "$RESULTS/logs/redis-$STAMP.log" "$port" "$REDIS_SERVER" --bind 127.0.0.1 \
    --port "$port" --save "" --appendonly no --dir "$REDIS_DIR" --daemonize no || return 1
  REDIS_URL="redis://127.0.0.1:$port"
  REDIS_PORT="$port"
}

# redis_publishes: how many PUBLISH commands the run's Redis executed (empty without
# redis-cli): one per tick when a broadcast crosses Redis once, whatever the subscribers.
redis_publishes() {
  command -v redis-cli >/dev/null || return 0
  timeout 5 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" INFO commandstats 2>/dev/null \
    | sed -n 's/^cmdstat_publish:calls=\([0-9]*\).*/\1/p'
}

# start_servers SERVER CASE: the server of a single-node case, or a cluster's Redis and two
# nodes; sets PORTS (comma-separated) and PIDS, and RESTART_CMD / RESTART_LOG (how the
# storm's load generator starts the server again: the same command line, environment and
# pinning). Returns 1 when something did not start.
start_servers() {
  local s="$1" id="$2" port cmd k nodes=1 logf
  is_cluster "$id" && nodes=2
  PIN_NOW=("${SERVER_PIN[@]}")
  PORTS=""
  for (( k = 0; k < nodes; k++ )); do
    port=$(( $(port_of "$s") + k * CLUSTER_PORT_STEP ))
    # A leftover server on the port (the ceiling uses SO_REUSEPORT) would take part of the
    # load and halve the CPU measured: refuse to run instead.
    if listening "$port"; then
      echo "run.sh: something already listens on 127.0.0.1:$port; stop it first" >&2
      return 1
    fi
    PORTS="${PORTS:+$PORTS,}$port"
  done
  if [ "$nodes" -gt 1 ]; then
    start_redis || { echo "run.sh: redis-server did not start (see $RESULTS/logs/redis-$STAMP.log)" >&2; return 1; }
  fi
  for (( k = 0; k < nodes; k++ )); do
    port=$(( $(port_of "$s") + k * CLUSTER_PORT_STEP ))
    cmd="${CMD[$s]//@PORT@/$port}"
    cmd="${cmd//@THREADS@/$THREADS}"
    [ "$nodes" = 1 ] || cmd="$cmd --redis $REDIS_URL"
    logf="$RESULTS/logs/$s$([ "$k" = 0 ] || echo "-$((k + 1))")-$STAMP.log"
    if is_user_config "$s"; then
      PIN_NOW=()
      RESTART_CMD="${FREE_PIN[*]} $cmd"
    else
      RESTART_CMD="${SERVER_PIN[*]} $cmd"
    fi
    RESTART_CMD="env PORT=$port WORKERS=$THREADS THREADS=$THREADS $RESTART_CMD"
    RESTART_LOG="$logf"
    # The peers read PORT and WORKERS (socketioxide) / THREADS (ceiling) from the environment.
    # shellcheck disable=SC2086 # $cmd is a command line
    PORT="$port" WORKERS="$THREADS" THREADS="$THREADS" PER_MESSAGE_DEFLATE="$(deflate_env "$id")" \
      PARSER="$(parser_env "$id")" launch "$logf" "$port" $cmd || return 1
  done
}

[ "$REDIS_OK" = 1 ] || for id in $SCENARIOS; do
  is_cluster "$id" && echo "run.sh: $id is skipped (no redis-server)" >&2
done
log "servers:$ACTIVE | scenarios: $SCENARIOS | runs: $RUNS | quick: $QUICK | pin: ${SERVER_PIN[*]:-none} / ${LOADGEN_PIN[*]:-none} | results: $RAW"
for run in $(seq "$RUNS"); do
  # Every other run goes through the servers in the reverse order, so that each neighbour
  # (Sockeye and the ceiling run side by side) goes first as often as second: a drift of the
  # machine within a run then favours none of them.
  ORDER="$ACTIVE"
  if [ $((run % 2)) = 0 ]; then
    # shellcheck disable=SC2086 # a list of words
    ORDER="$(printf '%s\n' $ACTIVE | tac | tr '\n' ' ')"
  fi
  for id in $SCENARIOS; do
    for s in $ORDER; do
      if { [ "$s" = ceiling ] || [ "$s" = floor-user ]; } && needs_polling "$id"; then
        continue  # the ceiling and the floor speak WebSocket only
      fi
      if is_cluster "$id" && { ! has_cluster_mode "$s" || [ "$REDIS_OK" = 0 ]; }; then
        continue  # only Sockeye and Node have a cluster mode here
      fi
      if [ "$(deflate_env "$id")" != off ] && ! speaks_deflate "$s"; then
        continue  # compared with compression on only where the server has it
      fi
      if [ "$(parser_env "$id")" != json ] && ! speaks_msgpack "$s"; then
        continue  # compared with the msgpack parser only where the server has it
      fi
      args="$(scenario_args "$id")"
      printf '%s run %s/%s: %-13s %-12s ' "$(date +%H:%M:%S)" "$run" "$RUNS" "$id" "$s" >&2
      if ! start_servers "$s" "$id"; then
        stop_servers
        echo "server did not start (see $RESULTS/logs/)" >&2
        printf '{"ok":false,"server":"%s","case":"%s","run":"%s","error":"server did not start"}\n' \
          "$s" "$id" "$run" >>"$RAW"
        continue
      fi
      sleep 0.3
      # Every process of the run is measured: both nodes and Redis for a cluster (their CPU
      # summed; each one's listed in server_cpu_s_each, in this order).
      pids="$(IFS=,; echo "${PIDS[*]:1}"),${PIDS[0]}"
      [ "${#PIDS[@]}" -gt 1 ] || pids="${PIDS[0]}"
      # The storm's load generator stops the server and starts it again itself (to see the
      # moment it goes), with the command line it was started with; the new pid comes back
      # in a file, so that it is stopped here whatever happens to the load generator.
      restart=()
      pidfile="$RESULTS/logs/restarted-$STAMP.pid"
      rm -f "$pidfile"
      if is_storm "$id"; then
        restart=(--restart-cmd "$RESTART_CMD" --restart-log "$RESTART_LOG" --restart-pidfile "$pidfile")
      fi
      # shellcheck disable=SC2086 # $args is a list of flags
      line="$(timeout --kill-after=10 900 "${LOADGEN_PIN[@]}" "$LOADGEN" $args --port "$PORTS" \
        --server-pid "$pids" "${restart[@]}" --label "$s" --tag "server=$s" --tag "case=$id" --tag "run=$run" --tag "quick=$QUICK" \
        --tag "nodes=$(is_cluster "$id" && echo 2 || echo 1)" 2>>"$RESULTS/logs/loadgen-$STAMP.log" | tail -n 1)"
      if [ -s "$pidfile" ]; then
        PIDS+=("$(cat "$pidfile")")
        rm -f "$pidfile"
      fi
      publishes=""
      ! is_cluster "$id" || publishes="$(redis_publishes)"
      stop_servers
      if [ -z "$line" ]; then
        line="{\"ok\":false,\"server\":\"$s\",\"case\":\"$id\",\"run\":\"$run\",\"error\":\"no output from the load generator\"}"
      fi
      if [ -n "$publishes" ]; then
        line="$(python3 -c 'import json, sys; d = json.loads(sys.argv[1]); d["redis_publishes"] = int(sys.argv[2]); print(json.dumps(d, separators=(",", ":")))' "$line" "$publishes")"
      fi
      echo "$line" >>"$RAW"
      python3 - "$line" >&2 <<'PYEOF'
import json, sys
d = json.loads(sys.argv[1])
lat = d.get("latency_us") or {}
keys = [("ok", d.get("ok")), ("thr/s", d.get("throughput_per_s")), ("cpu%", d.get("server_cpu_pct")),
        ("us/msg", d.get("server_cpu_us_per_msg")), ("user", d.get("server_user_us_per_msg")),
        ("sys", d.get("server_sys_us_per_msg")), ("p99us", lat.get("p99")),
        ("ratio", d.get("delivery_ratio")), ("KiB/conn", d.get("rss_per_conn_kib")),
        ("conn/s", d.get("connects_per_s") if d.get("scenario") == "connect" else None),
        ("all_back_s", d.get("storm_all_back_s")), ("not_back", d.get("not_back")),
        ("refused", d.get("refused")), ("timed_out", d.get("timed_out")),
        ("attempt_errors", d.get("attempt_errors")), ("down_s", d.get("restart_down_s")),
        ("listen_drops", d.get("listen_drops") or None),
        ("cpu_s_each", d.get("server_cpu_s_each")), ("publishes", d.get("redis_publishes")),
        ("p99us_by_node", [(a.get("latency_us") or {}).get("p99") for a in d.get("by_addr") or []] or None),
        ("err", d.get("error") or (list(d.get("errors") or {})[:1] or None))]
print(" ".join(f"{k}={v}".replace(", ", ",") for k, v in keys if v is not None))
PYEOF
      sleep 1
    done
  done
done

log "report"
python3 "$BENCH/report.py" "$RAW" --out "$RESULTS" --stamp "$STAMP" || exit 1
if [ "$PUBLISH" = 1 ]; then
  cp "$RESULTS/chart-$STAMP.svg" "$BENCH/chart.svg"
  cp "$RESULTS/table-$STAMP.md" "$BENCH/results-table.md"
  echo "run.sh: published bench/chart.svg and bench/results-table.md" >&2
fi
