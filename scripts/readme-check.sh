#!/usr/bin/env bash
# Compiles the README's library code exactly as a reader pastes it.
#
#   bash scripts/readme-check.sh
#
# Every fenced block of README.md preceded by a line `<!-- check: PATH -->` is written to PATH
# in a new crate `echo` (blocks with the same PATH are joined, in order; `Cargo.toml` blocks
# follow the [package] section `cargo new echo` writes). The crate is made next to a link
# named `sockeye` to this checkout, as the README tells the reader to do, so its path
# dependencies resolve as written. Then `cargo check --all-targets` on it. It shares this
# workspace's target/ folder and Cargo.lock, so only the crate itself is built.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
ln -s "$ROOT" "$TMP/sockeye"
mkdir -p "$TMP/echo"

python3 - "$ROOT/README.md" "$TMP/echo" <<'PY'
import os
import re
import sys

readme, crate = sys.argv[1], sys.argv[2]
lines = open(readme, encoding="utf-8").read().split("\n")
files = {}
i = 0
while i < len(lines):
    m = re.fullmatch(r"<!-- check: (\S+) -->", lines[i].strip())
    if not m:
        i += 1
        continue
    path = m.group(1)
    i += 1
    if i >= len(lines) or not lines[i].startswith("```"):
        sys.exit(f"README.md:{i}: `<!-- check: {path} -->` is not followed by a code block")
    fence = lines[i][: len(lines[i]) - len(lines[i].lstrip("`"))]
    i += 1
    start = i
    while i < len(lines) and lines[i].strip() != fence:
        i += 1
    if i >= len(lines):
        sys.exit(f"README.md:{start}: unterminated code block")
    files.setdefault(path, []).append("\n".join(lines[start:i]) + "\n")
    i += 1
if "Cargo.toml" not in files or "src/main.rs" not in files:
    sys.exit("README.md has no checked Cargo.toml or src/main.rs block")
package = '[package]\nname = "echo"\nversion = "0.1.0"\nedition = "2021"\n\n'
files["Cargo.toml"].insert(0, package)
for path, parts in files.items():
    dest = os.path.join(crate, path)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with open(dest, "w", encoding="utf-8") as f:
        f.write("\n".join(parts))
    print(f"[readme-check] {path}: {len(parts)} block(s)", file=sys.stderr)
PY

cp "$ROOT/Cargo.lock" "$TMP/echo/Cargo.lock"
CARGO_TARGET_DIR="$ROOT/target" cargo check --quiet --all-targets --manifest-path "$TMP/echo/Cargo.toml"
echo "[readme-check] the README's crate compiles" >&2
