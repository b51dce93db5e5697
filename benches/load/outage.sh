#!/usr/bin/env bash
# The outage benchmark (BENCHMARKS.md, "Store outages"): the view counter on the Redis store (bench-ours) under
# 32 keep-alive connections, each its own client with its own session, while Redis is killed (SIGKILL) for 5 s
# and then started again on the same port, and while it is hung (SIGSTOP) for 3 s and for 8 s and then resumed
# (SIGCONT). (The Redis store's own timeout is 3 s, so a 3 s hang ends just as the first calls time out.)
# Prints one JSON line per scenario: requests/s, 200s, 503s, p50/p99/max latency before, during and after the
# fault, the time from the end of the fault to the first 200, and (kill) how long redis-server took to start again
# and answer PING, which that time includes. About 40 s of machine time per server binary.
#
# Usage: benches/load/outage.sh BIN_DIR [LABEL]
#   BIN_DIR  holds bench-ours (and bench-outage, unless OUTAGE_CLIENT names it), built with
#            `cargo build --release -p bench-ours -p bench-outage` in benches/load/apps
#   LABEL    a name for the binary in the output (default: BIN_DIR)
# The Redis server is the script's own (redis-server on a free port, no persistence), stopped by PID at the end;
# the server runs on CPU 0 and the client on CPU 1 when taskset is there, as in run.sh.
set -euo pipefail

BIN=${1:?usage: outage.sh BIN_DIR [LABEL]}
LABEL=${2:-$BIN}
CLIENT=${OUTAGE_CLIENT:-$BIN/bench-outage}
CONNECTIONS=32
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
REDIS_PORT=$(free_port)
SERVER_PORT=$(free_port)
PIN_SERVER=(); PIN_CLIENT=()
if command -v taskset >/dev/null; then PIN_SERVER=(taskset -c 0); PIN_CLIENT=(taskset -c 1); fi
REDIS_PID=""; SERVER_PID=""; RESTART_MS=0

cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
    if [ -n "$REDIS_PID" ]; then kill -CONT "$REDIS_PID" 2>/dev/null || true; kill -9 "$REDIS_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

start_redis() {
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
        --protected-mode no >/dev/null 2>&1 &
    REDIS_PID=$!
    for _ in $(seq 100); do
        [ "$(redis-cli -p "$REDIS_PORT" PING 2>/dev/null)" = PONG ] && return 0
        sleep 0.05
    done
    echo "redis-server did not start" >&2; exit 1
}

start_server() {
    STORE=redis REDIS_URL="redis://127.0.0.1:$REDIS_PORT" PORT=$SERVER_PORT "${PIN_SERVER[@]}" "$BIN/bench-ours" \
        >/dev/null 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$SERVER_PORT/static" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "bench-ours did not start" >&2; exit 1
}

# scenario kill|stop, seconds before the fault, its length, seconds after it
run() {
    local scenario=$1 at=$2 length=$3 after=$4
    start_redis
    start_server
    local out; out=$(mktemp)
    "${PIN_CLIENT[@]}" "$CLIENT" "$SERVER_PORT" /foo "$CONNECTIONS" "$((at + length + after))" "$at" "$length" >"$out" &
    local client=$!
    sleep "$at"
    if [ "$scenario" = kill ]; then
        kill -9 "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true
        sleep "$length"
        local t0; t0=$(date +%s%N)
        start_redis
        RESTART_MS=$((($(date +%s%N) - t0) / 1000000))
    else
        kill -STOP "$REDIS_PID"
        sleep "$length"
        kill -CONT "$REDIS_PID"
    fi
    wait "$client"
    printf '{"binary":"%s","scenario":"%s","fault_s":%s,"connections":%s,"redis_restart_ms":%s,"result":%s}\n' \
        "$LABEL" "$scenario" "$length" "$CONNECTIONS" "$RESTART_MS" "$(cat "$out")"
    RESTART_MS=0
    rm -f "$out"
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
    kill -9 "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; REDIS_PID=""
}

run kill 2 5 5
run stop 2 3 5
run stop 2 8 5
