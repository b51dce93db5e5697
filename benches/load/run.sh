#!/usr/bin/env bash
# The whole-server load benchmark (issue 8): builds the servers in release mode and runs the view counter on
#   ours on axum (MemoryStore, RedisStore), ours on actix-web (MemoryStore, RedisStore), axum + tower-sessions
#   (MemoryStore, Redis store), actix-web + actix-session (CookieSessionStore, RedisSessionStore), express +
#   express-session (MemoryStore, connect-redis), and the same axum and actix-web apps without sessions (the
#   ceilings); ours, tower-sessions and the axum ceiling again on two worker threads (the multi-thread row),
# side by side, server on core 0 and wrk on core 1 of this machine; then the lost-update check and the hot-session
# row. Writes results/ (raw.jsonl, results.json, results.md, chart.svg); README.md here lists the parts,
# BENCHMARKS.md at the repository root explains the method.
#
#   benches/load/run.sh            full run: 5 repetitions x 4 scenarios x 12 servers (+ 3 two-worker servers on
#                                  S1 and S3) + the lost-update check + the hot-session row (~33 min)
#   QUICK=1 benches/load/run.sh    smoke check: 1 repetition, S1 and S3, 2 s runs (~3 min), into results/quick/
#
# Other knobs (see bench.py): SYSTEMS=ours-memory,ceiling  SCENARIOS=S1,S2  REPS  DURATION  WARMUP  LOST_N  HOT=0
# HOT_N  BENCH_PORT.
# CARGO_TARGET_DIR defaults to /work/target-bench (kept apart from the main workspace's target/).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-bench}"
APT_UPDATED=0

need() { # need COMMAND DEBIAN-PACKAGE: installs the package when the command is missing
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "== installing $2 (for $1)"
  if [ "$APT_UPDATED" = 0 ]; then apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}
need wrk wrk
need taskset util-linux
need redis-server redis-server
need redis-cli redis-tools
need python3 python3
need node nodejs
need npm npm
[ "$(nproc)" -ge 2 ] || { echo "needs 2 cores (server on core 0, wrk on core 1)"; exit 1; }

echo "== building the servers (release, $CARGO_TARGET_DIR)"
cd "$HERE/apps"
cargo build --release --locked -p bench-plain -p bench-tower -p bench-actix -p bench-hammer -p bench-ours-actix
OURS_REDIS=1
if ! cargo build --release --locked -p bench-ours; then
  echo "!! bench-ours with express-session-redis does not build: measuring ours on MemoryStore only (ours-redis left out)"
  OURS_REDIS=0
  cargo build --release --locked -p bench-ours --no-default-features
fi

echo "== installing the Node app (npm ci, exact versions from package-lock.json)"
cd "$HERE/node"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

echo "== machine state before measuring"
uptime
others="$(ps -eo pid,comm,args --no-headers | grep -E ' (rustc|cargo|cc1|ld|node|redis-server) ' | grep -v -E "grep|$$" || true)"
if [ -n "$others" ]; then
  echo "!! other processes that may compete for the cores (CPU-µs/request is the figure that survives this):"
  echo "$others" | cut -c1-160 | head -20
fi

OUT="$HERE/results"
if [ "${QUICK:-0}" = 1 ]; then OUT="$HERE/results/quick"; fi
mkdir -p "$OUT"
BIN_DIR="$CARGO_TARGET_DIR/release" NODE_DIR="$HERE/node" OUT_DIR="$OUT" OURS_REDIS="$OURS_REDIS" \
  python3 "$HERE/bench.py"
python3 "$HERE/report.py" "$OUT"
echo "== results in $OUT (results.md, results.json, chart.svg)"
