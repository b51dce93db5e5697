#!/usr/bin/env bash
# Where the time goes in our server under load: perf samples bench-ours (MemoryStore unless STORE=redis) while wrk
# drives one scenario, and prints the top symbols (self time) and the top source lines of our crate.
#
#   benches/load/profile.sh                 S1 (returning client, /foo) on MemoryStore, 10 s
#   SCENARIO=S2 benches/load/profile.sh     new clients;   SCENARIO=S3: /static;   SCENARIO=S4: 1 KiB session
#   STORE=redis benches/load/profile.sh     on our RedisStore (needs redis-server; starts its own on port 6399)
#
# Run run.sh once first (it builds the binaries). Needs `perf` (Debian: linux-perf); perf.data goes to
# results/profile/.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="${CARGO_TARGET_DIR:-/work/target-bench}/release"
SCENARIO="${SCENARIO:-S1}"
STORE="${STORE:-memory}"
SECONDS_TO_RUN="${DURATION:-10}"
PORT=3900
OUT="$HERE/results/profile"
mkdir -p "$OUT"
command -v perf >/dev/null || { apt-get update -qq && apt-get install -y -qq linux-perf >/dev/null; }
perf stat -e instructions true >/dev/null 2>&1 || echo "!! perf cannot read hardware counters here; sampling falls back to cpu-clock"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
if [ "$STORE" = redis ]; then
  taskset -c 0 redis-server --port 6399 --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
  pids+=($!)
  sleep 0.5
fi
PORT=$PORT STORE=$STORE REDIS_URL=redis://127.0.0.1:6399 taskset -c 0 "$BIN/bench-ours" >/dev/null &
server=$!
pids+=($server)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/static" >/dev/null && break; sleep 0.05; done

case "$SCENARIO" in
  S1) path=/foo;    first=/foo ;;
  S2) path=/foo;    first= ;;
  S3) path=/static; first=/foo ;;
  S4) path=/foo;    first=/fill ;;
  *) echo "unknown SCENARIO $SCENARIO"; exit 1 ;;
esac
header=()
if [ -n "$first" ]; then  # 256 returning clients, each with its own session, as run.sh's scenarios
  : > "$OUT/cookies.txt"
  for _ in $(seq 256); do
    curl -s -D - -o /dev/null "http://127.0.0.1:$PORT$first" | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | head -1 >> "$OUT/cookies.txt"
  done
  header=(-s "$HERE/cookies.lua")
fi
args=("http://127.0.0.1:$PORT$path")
if [ -n "$first" ]; then args+=(-- "$OUT/cookies.txt"); fi
taskset -c 1 wrk -t1 -c32 -d1s "${header[@]}" "${args[@]}" >/dev/null
taskset -c 1 wrk -t1 -c32 -d"$((SECONDS_TO_RUN + 2))"s "${header[@]}" "${args[@]}" > "$OUT/wrk-$SCENARIO-$STORE.txt" &
wrk_pid=$!
sleep 1
perf record -F 1999 -g --call-graph dwarf,16384 -p "$server" -o "$OUT/perf-$SCENARIO-$STORE.data" -- sleep "$SECONDS_TO_RUN" 2>/dev/null
wait "$wrk_pid"
grep -E "Requests/sec" "$OUT/wrk-$SCENARIO-$STORE.txt"
echo "== top symbols, self time"
perf report -i "$OUT/perf-$SCENARIO-$STORE.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null \
  | grep -E '^ +[0-9]' | sed 's/  */ /g' | cut -c1-160 | head -40 | tee "$OUT/top-$SCENARIO-$STORE.txt"
echo "== inclusive time of our crate's functions"
perf report -i "$OUT/perf-$SCENARIO-$STORE.data" --children --sort symbol --stdio -g none 2>/dev/null \
  | grep -E '^ +[0-9]' | grep -E 'express_session::[a-z_:]+(::[A-Za-z_]+)+' | grep -v -E 'inlined|poll<|call<' \
  | sed 's/  */ /g' | cut -c1-160 | head -40 | tee "$OUT/children-$SCENARIO-$STORE.txt"
