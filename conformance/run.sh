#!/usr/bin/env bash
# Differential conformance run: the Node twin (side A) against each Rust
# conformance server (side B), once per store: the axum server on every
# store, then the actix-web server on every store. See conformance/README.md.
#
#   RUST_SERVER_CMD     command that starts the axum server (default: the
#                       debug build target/debug/conformance-server, relative
#                       to the repo root); "node conformance/twin/server.js"
#                       self-tests the harness
#   ACTIX_SERVER_CMD    command that starts the actix-web server (default:
#                       target/debug/conformance-server-actix)
#   CONFORMANCE_SERVERS servers to run (default "axum actix")
#   CONFORMANCE_STORES  stores to run (default "memory redis postgres")
#   REDIS_URL, DATABASE_URL  passed through to both servers
#
#   CONFORMANCE_CONCURRENCY  0 skips the concurrency cases and hostile cookies
#                       (conformance/concurrency.js), which otherwise run
#                       after the scenarios of each server and store
#
# Extra arguments go to the runner and to concurrency.js, e.g.
# conformance/run.sh --filter cookie/ (a scenario or case name substring:
# --filter concurrency/ runs only the concurrency cases).
# Before the total, one line per server and store: "# <server> <store>: N
# passed, M failed", and "# <server> <store> concurrency: ..." for the
# cases. The last line is the total over all of them: "N passed, M failed".
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
twin=conformance/twin

# npm ci when node_modules is missing or older than the lockfile (npm
# writes node_modules/.package-lock.json on every install).
if [ ! -f "$twin/node_modules/.package-lock.json" ] || [ "$twin/package-lock.json" -nt "$twin/node_modules/.package-lock.json" ]; then
  echo "# npm ci in $twin"
  (cd "$twin" && npm ci --no-audit --no-fund --loglevel=error)
fi

# The command that starts each server: RUST_SERVER_CMD / ACTIX_SERVER_CMD, or the debug build of its binary.
declare -A server_cmd
for server in ${CONFORMANCE_SERVERS:-axum actix}; do
  case "$server" in
    axum) cmd="${RUST_SERVER_CMD:-}" bin=conformance-server var=RUST_SERVER_CMD ;;
    actix) cmd="${ACTIX_SERVER_CMD:-}" bin=conformance-server-actix var=ACTIX_SERVER_CMD ;;
    *)
      echo "conformance/run.sh: unknown server \"$server\" in CONFORMANCE_SERVERS (axum, actix)" >&2
      exit 2
      ;;
  esac
  if [ -z "$cmd" ]; then
    cmd="target/debug/$bin"
    if [ ! -x "$cmd" ]; then
      echo "conformance/run.sh: $cmd does not exist yet." >&2
      echo "Build the Rust conformance servers first (cargo build), or set $var to the command that starts it." >&2
      echo "$var=\"node $twin/server.js\" conformance/run.sh runs the Node twin against itself." >&2
      exit 2
    fi
  fi
  server_cmd[$server]="$cmd"
done

# The harness's own unit tests first: a broken comparison would pass anything.
if ! unit_log="$(node --test conformance/runner/test/ 2>&1)"; then
  echo "$unit_log"
  echo "conformance/run.sh: the harness unit tests fail" >&2
  exit 2
fi

passed=0
failed=0
status=0
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
summary=()
# Adds the totals line of the run just logged to the sums and the summary.
count() {
  local totals
  totals="$(tail -n 1 "$log")"
  if [[ "$totals" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    passed=$((passed + BASH_REMATCH[1]))
    failed=$((failed + BASH_REMATCH[2]))
    summary+=("# $1: $totals")
  else
    echo "# stopped without totals: $1" >&2
    summary+=("# $1: no totals (the run stopped)")
    status=1
  fi
}
for server in ${CONFORMANCE_SERVERS:-axum actix}; do
  for store in ${CONFORMANCE_STORES:-memory redis postgres}; do
    echo "# $server server, store $store: ${server_cmd[$server]}"
    node conformance/runner/run.js --a "node $twin/server.js" --b "${server_cmd[$server]}" --store "$store" "$@" | tee "$log" || status=1
    count "$server $store"
    if [ "${CONFORMANCE_CONCURRENCY:-1}" != 0 ]; then
      echo "# $server server, store $store: concurrency cases and hostile cookies"
      node conformance/concurrency.js --server "${server_cmd[$server]}" --store "$store" --twin "node $twin/server.js" "$@" | tee "$log" || status=1
      count "$server $store concurrency"
    fi
  done
done

printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
exit "$status"
