#!/usr/bin/env bash
# Installs the official Socket.IO admin UI (@socket.io/admin-ui 0.5.1) and the fonts its page
# otherwise loads from CDNs (@fontsource/roboto, @mdi/font) into admin-ui/node_modules, from
# the committed lock file (npm ci). The `sockeye` binary's --admin-ui serves the UI's files
# (ui/dist) from there at /admin/; e2e/ops/admin-reference.js takes its server side from there.
# Nothing it installs is committed. Runs again only when the lock file changed.
#
#   bash scripts/admin-ui.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/admin-ui"
if [ -f "$DIR/node_modules/.package-lock.json" ] &&
  [ ! "$DIR/package-lock.json" -nt "$DIR/node_modules/.package-lock.json" ] &&
  [ -f "$DIR/node_modules/@socket.io/admin-ui/ui/dist/index.html" ]; then
  echo "[admin-ui] up to date: $DIR/node_modules" >&2
  exit 0
fi
command -v npm >/dev/null || {
  echo "[admin-ui] npm is needed (Node.js 20 or newer)" >&2
  exit 1
}
echo "[admin-ui] npm ci in $DIR" >&2
(cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error)
echo "[admin-ui] installed: $DIR/node_modules/@socket.io/admin-ui/ui/dist" >&2
