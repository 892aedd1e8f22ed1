#!/usr/bin/env bash
# Builds every libFuzzer target in fuzz/ and runs each one, one after the other, for N seconds
# (default 30). Exits non-zero if any target crashes, hangs (10 s per input), or runs out of
# memory; the input that did it is left in fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh [seconds]
#
# Works on the stable toolchain: RUSTC_BOOTSTRAP=1 unlocks -Zsanitizer=address, the only
# nightly flag used. cargo-fuzz is not needed (the flags below are the ones `cargo fuzz build`
# passes); see fuzz/README.md for the interactive commands.
#
# Environment:
#   FUZZ_TARGETS="eio_packet ws_frames"  run a subset
#   FUZZ_SANITIZER=none                   build without AddressSanitizer
#   FUZZ_TARGET_DIR=dir                   where to build (default fuzz/target/script)
#   FUZZ_OPT_LEVEL=3                      optimize more (default 1: the build takes about
#                                         two thirds of the time, for about the same exec/s)
#
# Seeds come from fuzz/corpus/<target>/ and fuzz/regressions/<target>/ (read only); what the
# run discovers goes to a temporary directory, deleted at the end, so the committed corpus
# never grows by itself. An input in fuzz/regressions/ that still crashes fails the run at
# once: that is the point of keeping it there.
set -euo pipefail

secs="${1:-30}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fuzz="$root/fuzz"
triple="$(rustc -vV | sed -n 's/^host: //p')"
target_dir="${FUZZ_TARGET_DIR:-$fuzz/target/script}"
sanitizer="${FUZZ_SANITIZER:-address}"
read -r -a targets <<<"${FUZZ_TARGETS:-eio_packet eio_payload_v4 eio_payload_v3 ws_frames ws_inflate ws_handshake sio_packet value_msgpack sio_msgpack}"

max_len() {
    case "$1" in
        eio_payload_v4 | eio_payload_v3 | sio_packet | value_msgpack | sio_msgpack) echo 65536 ;;
        ws_frames | ws_inflate) echo 16384 ;;
        *) echo 4096 ;;
    esac
}

flags=(
    -Cpasses=sancov-module
    -Cllvm-args=-sanitizer-coverage-level=4
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
    -Cllvm-args=-sanitizer-coverage-pc-table
    -Cllvm-args=-sanitizer-coverage-trace-compares
    -Cllvm-args=-sanitizer-coverage-stack-depth
    -Cllvm-args=-simplifycfg-branch-fold-threshold=0
    --cfg fuzzing
    -Cdebug-assertions
    -Coverflow-checks
    -Ccodegen-units=16
)
if [[ "$sanitizer" == address ]]; then
    flags+=(-Zsanitizer=address)
fi

start=$(date +%s)
echo "fuzz.sh: building ${#targets[@]} targets (sanitizer: $sanitizer) in $target_dir"
bins=()
for t in "${targets[@]}"; do bins+=(--bin "$t"); done
# --target keeps the flags (and the sanitizer) off build scripts and proc macros.
RUSTC_BOOTSTRAP=1 RUSTFLAGS="${flags[*]}" \
    CARGO_PROFILE_RELEASE_OPT_LEVEL="${FUZZ_OPT_LEVEL:-1}" \
    CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
    cargo build --release --quiet \
    --manifest-path "$fuzz/Cargo.toml" --target "$triple" --target-dir "$target_dir" "${bins[@]}"
echo "fuzz.sh: built in $(($(date +%s) - start)) s; running each target for $secs s"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=()
for t in "${targets[@]}"; do
    mkdir -p "$work/$t" "$fuzz/artifacts/$t"
    args=(
        "-max_total_time=$secs"
        -timeout=10
        -rss_limit_mb=2048
        "-max_len=$(max_len "$t")"
        "-artifact_prefix=$fuzz/artifacts/$t/"
        -print_final_stats=1
    )
    if [[ -f "$fuzz/dict/$t.dict" ]]; then args+=("-dict=$fuzz/dict/$t.dict"); fi
    dirs=("$work/$t" "$fuzz/corpus/$t")
    if [[ -d "$fuzz/regressions/$t" ]]; then dirs+=("$fuzz/regressions/$t"); fi
    log="$work/$t.log"
    if "$target_dir/$triple/release/$t" "${args[@]}" "${dirs[@]}" >"$log" 2>&1; then
        runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
        eps="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")"
        cov="$(grep -E '^#[0-9]+' "$log" | tail -n 1 | grep -oE 'cov: [0-9]+ ft: [0-9]+')"
        echo "  ok    $t: $runs runs, $eps exec/s, $cov"
    else
        echo "  CRASH $t (artifacts in fuzz/artifacts/$t/):"
        grep -v -E '^#[0-9]+|^INFO:' "$log" | tail -n 60 | sed 's/^/        /'
        failed+=("$t")
    fi
done

echo "fuzz.sh: finished in $(($(date +%s) - start)) s"
if ((${#failed[@]})); then
    echo "fuzz.sh: crashes in: ${failed[*]}" >&2
    exit 1
fi
