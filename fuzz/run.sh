#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer's coverage instrumentation (on the stable toolchain: the flags
# `cargo fuzz build --sanitizer none` passes) and runs each for a bounded time, starting from the committed
# seed corpus. Usage: fuzz/run.sh [seconds per target, default 60]. A crash, a timeout (quadratic input) or an
# allocation over the limit fails the run; the reproducer is left in fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/target}"
export RUSTFLAGS="--cfg fuzzing -Cdebug-assertions -Coverflow-checks -Cpasses=sancov-module \
  -Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
  -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares"
# An explicit --target keeps the instrumentation off build scripts and proc macros, as cargo-fuzz does.
triple="$(rustc -vV | sed -n 's/^host: //p')"
cargo build --release --bins --target "$triple"
mkdir -p artifacts
for target in cookie_header set_cookie record; do
    work="$(mktemp -d)"
    cp corpus/"$target"/* "$work"/
    echo "fuzzing $target for ${seconds}s"
    status=0
    "$CARGO_TARGET_DIR/$triple/release/$target" "$work" -max_total_time="$seconds" -timeout=2 -rss_limit_mb=1024 \
        -malloc_limit_mb=128 -max_len=8192 -artifact_prefix="artifacts/$target-" -print_final_stats=1 \
        >"$work.log" 2>&1 || status=$?
    grep -E "^stat::number_of_executed_units|ERROR|SUMMARY|panicked" "$work.log" || true
    if [ "$status" -ne 0 ]; then tail -n 40 "$work.log" >&2; fi
    rm -f "$work.log"
    rm -rf "$work"
    if [ "$status" -ne 0 ]; then
        echo "fuzz target $target failed (exit $status); see fuzz/artifacts/" >&2
        exit 1
    fi
done
echo "fuzzing: 3 targets ran ${seconds}s each without a finding"
