#!/usr/bin/env bash
# Instructions per request, noise-free: runs one server under valgrind's callgrind, sends it exactly N requests of
# one scenario (32 connections, bench-hammer), and prints the program's instruction total divided by N plus our
# crate's functions by inclusive cost per request. Used for the profile in BENCHMARKS.md; works on a busy machine.
#
#   benches/load/callgrind.sh [SYSTEM] [SCENARIO] [N]     SYSTEM: ours|plain|tower (STORE=memory|redis), default ours S1 5000
#                                                         ours-actix (STORE=memory|redis), actix (STORE=cookie|redis|none)
#   BIN=/path/to/bench-ours benches/load/callgrind.sh     measure another build (e.g. a patched scratch copy)
#
# CG_PORT / CG_REDIS_PORT: the server's and its Redis' ports (default 3950 / 6398), when another run holds them.
# SESSIONS=32: each connection its own session (made by its own first request) instead of all 32 on one; WORKERS=2:
# the Rust apps' runtime with two worker threads (the multi-thread row); CG_OPTS: more valgrind options, e.g.
# --separate-threads=yes (one output file per thread, FILE-01, FILE-02, ...; the total still covers them all).
# Run run.sh once first (it builds the binaries). Output: results/profile/callgrind-SYSTEM-STORE-SCENARIO.out.
# Note: valgrind hides SHA-NI, so SHA-256 (the cookie's HMAC) counts as the slower portable code here.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SYSTEM="${1:-ours}"
SCENARIO="${2:-S1}"
N="${3:-5000}"
STORE="${STORE:-memory}"
REL="${CARGO_TARGET_DIR:-/work/target-bench}/release"
BIN="${BIN:-$REL/bench-$SYSTEM}"
PORT="${CG_PORT:-3950}"
REDIS_PORT="${CG_REDIS_PORT:-6398}"
OUT="$HERE/results/profile"
mkdir -p "$OUT"
SESSIONS="${SESSIONS:-1}"
TAG="$SYSTEM-$STORE-$SCENARIO"
[ -z "${WORKERS:-}" ] || TAG="$TAG-w$WORKERS"
[ "$SESSIONS" = 1 ] || TAG="$TAG-s$SESSIONS"
FILE="$OUT/callgrind-$TAG.out"
rm -f "$FILE" "$FILE"-*
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
if [ "$STORE" = redis ]; then
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
  pids+=($!)
  sleep 0.5
fi
if curl -s "http://127.0.0.1:$PORT/" >/dev/null 2>&1; then echo "port $PORT is busy"; exit 1; fi
PORT=$PORT STORE=$STORE REDIS_URL="redis://127.0.0.1:$REDIS_PORT" valgrind --tool=callgrind --callgrind-out-file="$FILE" ${CG_OPTS:-} \
  "$BIN" >/dev/null 2>"$OUT/callgrind.log" &
server=$!
pids+=($server)
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$PORT/static" >/dev/null && break; sleep 0.1; done
case "$SCENARIO" in
  S1) path=/foo;    first=/foo ;;
  S2) path=/foo;    first= ;;
  S3) path=/static; first=/foo ;;
  S4) path=/foo;    first=/fill ;;
  *) echo "unknown SCENARIO $SCENARIO"; exit 1 ;;
esac
cookie="connect.sid=s%3A$(printf 'A%.0s' $(seq 32)).$(printf 'B%.0s' $(seq 43))"
new_cookie() {
  got="$(curl -s -D - -o /dev/null "http://127.0.0.1:$PORT$first" | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | tr -d '\r' | head -1)"
  echo "${got:-$cookie}"
}
if [ -n "$first" ]; then cookie="$(new_cookie)"; fi
if [ -n "$first" ] && [ "$SESSIONS" != 1 ]; then
  for _ in $(seq "$SESSIONS"); do new_cookie; done >"$OUT/cookies-$TAG.txt"
  cookie="@$OUT/cookies-$TAG.txt"
fi
if [ -z "$first" ]; then cookie="other=1"; fi  # S2: no session cookie
"$REL/bench-hammer" $PORT "$path" "$cookie" 32 "$N"
kill -0 "$server" 2>/dev/null || { echo "the server died; see $OUT/callgrind.log"; exit 1; }
kill -TERM "$server"; wait "$server" 2>/dev/null || true
if [ ! -s "$FILE" ]; then  # --separate-threads=yes: one file per thread (and an empty FILE)
  total=0
  for f in "$FILE"-*; do
    t=$(callgrind_annotate "$f" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
    echo "   thread ${f##*-}: $((${t:-0} / N)) instructions per request"
    total=$((total + ${t:-0}))
  done
  FILE="$(ls -S "$FILE"-* | head -1)"  # the functions below: the busiest thread's
else
  total=$(callgrind_annotate "$FILE" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
fi
echo "== $TAG: $((total / N)) instructions per request (whole process, start-up included)"
callgrind_annotate --inclusive=yes "$FILE" 2>/dev/null \
  | grep -v "=>" | grep -E "^ *[0-9,]+ .*/crates/express-session[a-z-]*/src/[a-z/_]+\.rs:[^ ]" \
  | awk -v n="$N" '{c=$1; gsub(",","",c); $1=""; $2=""; sub(/^ +/,""); sub(/ \[.*/,""); if (!seen[$0]++) printf "%8.0f  %s\n", c/n, $0}' \
  | sed 's/^\( *[0-9]*\)  [0-9.%)]* */\1  /' | head -"${TOP:-30}"
