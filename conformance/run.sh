#!/usr/bin/env bash
# Differential conformance run: the Node twin (side A) against the Rust
# conformance server (side B), once per store. See conformance/README.md.
#
#   RUST_SERVER_CMD     command that starts side B (default: the debug build
#                       target/debug/conformance-server, relative to the repo
#                       root); "node conformance/twin/server.js" self-tests
#                       the harness
#   CONFORMANCE_STORES  stores to run (default "memory redis postgres")
#   REDIS_URL, DATABASE_URL  passed through to both servers
#
# Extra arguments go to the runner, e.g. conformance/run.sh --filter cookie/
# The last line is the total over all stores: "N passed, M failed".
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

if [ -z "${RUST_SERVER_CMD:-}" ]; then
  RUST_SERVER_CMD=target/debug/conformance-server
  if [ ! -x "$RUST_SERVER_CMD" ]; then
    echo "conformance/run.sh: $RUST_SERVER_CMD does not exist yet." >&2
    echo "Build the Rust conformance server first (cargo build), or set RUST_SERVER_CMD to the command that starts it." >&2
    echo "RUST_SERVER_CMD=\"node $twin/server.js\" conformance/run.sh runs the Node twin against itself." >&2
    exit 2
  fi
fi

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
for store in ${CONFORMANCE_STORES:-memory redis postgres}; do
  node conformance/runner/run.js --a "node $twin/server.js" --b "$RUST_SERVER_CMD" --store "$store" "$@" | tee "$log" || status=1
  totals="$(tail -n 1 "$log")"
  if [[ "$totals" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    passed=$((passed + BASH_REMATCH[1]))
    failed=$((failed + BASH_REMATCH[2]))
  else
    echo "# the runner stopped without totals for store $store" >&2
    status=1
  fi
done

echo "$passed passed, $failed failed"
exit "$status"
