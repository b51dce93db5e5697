#!/usr/bin/env bash
# What a server asks of the kernel per request: runs one server pinned to core 0 (WORKERS=1|2 worker threads for
# the Rust apps), sends it N requests from 32 connections, each with its own session (bench-hammer on core 1), and
# counts with `perf stat` (software events and tracepoints, which work in a VM without hardware counters) the
# server's CPU time, context switches, wake-ups and system calls, divided by N. Used for the multi-thread row of
# BENCHMARKS.md: callgrind counts user-space instructions only, and those do not change with a second worker.
#
#   WORKERS=2 benches/load/sched.sh [SYSTEM] [SCENARIO] [N]   SYSTEM: ours|tower|plain (default ours S1 50000)
#
# SESSIONS=1: all 32 connections on ONE session (the hot-session row) instead of each on its own. PERF_RECORD=1:
# also samples the server (perf record) during the measured requests, into results/profile/sched-perf.data.
# SCHED_PORT: the server's port (default 3960). Run run.sh once first (it builds the binaries).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SYSTEM="${1:-ours}"
SCENARIO="${2:-S1}"
N="${3:-50000}"
REL="${CARGO_TARGET_DIR:-/work/target-bench}/release"
BIN="${BIN:-$REL/bench-$SYSTEM}"
PORT="${SCHED_PORT:-3960}"
OUT="$HERE/results/profile"
mkdir -p "$OUT"
command -v perf >/dev/null || { echo "needs perf (linux-perf)"; exit 1; }
if curl -s "http://127.0.0.1:$PORT/" >/dev/null 2>&1; then echo "port $PORT is busy"; exit 1; fi
PORT=$PORT STORE=memory taskset -c 0 "$BIN" >/dev/null 2>"$OUT/sched.log" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/static" >/dev/null && break; sleep 0.05; done
case "$SCENARIO" in
  S1) path=/foo ;;
  S3) path=/static ;;
  *) echo "unknown SCENARIO $SCENARIO (S1, S3)"; exit 1 ;;
esac
cookies="$OUT/sched-cookies.txt"
for _ in $(seq "${SESSIONS:-32}"); do
  curl -s -D - -o /dev/null "http://127.0.0.1:$PORT/foo" | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | tr -d '\r'
done >"$cookies"
[ -s "$cookies" ] || printf 'connect.sid=s%%3A%s.%s\n' "$(printf 'A%.0s' $(seq 32))" "$(printf 'B%.0s' $(seq 43))" >"$cookies"
taskset -c 1 "$REL/bench-hammer" "$PORT" "$path" "@$cookies" 32 5000 >/dev/null  # warm-up
events=task-clock,context-switches,cpu-migrations,sched:sched_wakeup,raw_syscalls:sys_enter
events+=,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_sched_yield
events+=,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_writev
perf stat -x, -e "$events" -p "$server" -o "$OUT/sched-perf.csv" &
perf=$!
record=
if [ "${PERF_RECORD:-0}" = 1 ]; then
  perf record -q -F 4000 -p "$server" -o "$OUT/sched-perf.data" 2>/dev/null &
  record=$!
fi
sleep 0.3
hammer="$(taskset -c 1 "$REL/bench-hammer" "$PORT" "$path" "@$cookies" 32 "$N")"
kill -INT $perf $record; wait $perf $record || true
echo "== $SYSTEM $SCENARIO WORKERS=${WORKERS:-1} SESSIONS=${SESSIONS:-32}: $hammer"
awk -F, -v n="$N" '/^[0-9]/ { name=$3; v=$1; if (name ~ /task-clock/) printf "%10.2f  CPU µs per request\n", v*1000/n; else printf "%10.3f  %s per request\n", v/n, name }' "$OUT/sched-perf.csv"
