#!/usr/bin/env bash
# The end-to-end tests in headless Chromium (e2e/README.md), from a fresh clone:
#
#   1. e2e/install.sh: Debian's chromium and chromium-driver (apt, once), the npm packages of e2e/package-lock.json
#   2. cargo build of the `login`, `redis-login`, `actix-redis-login` and `devices` examples (into
#      $CARGO_TARGET_DIR, default target/)
#   3. node --test: e2e/login.test.js (Test A), e2e/mixed.test.js (Test B, Node + axum on one Redis),
#      e2e/three.test.js (Test C, Node + axum + actix-web on one Redis) and e2e/devices.test.js (Test D, two
#      devices of one user, on MemoryStore and on Redis); each starts and stops its own servers on free ports of
#      127.0.0.1
#
# Screenshots and server logs: target/e2e/ (E2E_ARTIFACTS). Arguments, if any, are the test files to run
# (default: all). Exits non-zero when a test fails; with REQUIRE_SERVICES=1 a missing Redis is a failure, not a
# skip. The whole run is bounded by E2E_TIMEOUT seconds (default 180, builds excluded).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

bash e2e/install.sh

examples=(--example login --example devices)
if [ -f examples/stores/redis-login.rs ]; then
    examples+=(--example redis-login)
else
    echo "e2e/run.sh: no examples/stores/redis-login.rs: tests B and C skip (fail with REQUIRE_SERVICES=1)" >&2
fi
if [ -f examples/actix/redis-login.rs ]; then
    examples+=(--example actix-redis-login)
else
    echo "e2e/run.sh: no examples/actix/redis-login.rs: test C skips (fails with REQUIRE_SERVICES=1)" >&2
fi
# Only these examples and what they depend on, but with the workspace's feature set of `cargo test --workspace
# --all-features` (scripts/test), so that the dependencies it built are reused rather than built again.
cargo build --workspace --all-features "${examples[@]}"

target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$ROOT/$target" ;; esac
export E2E_LOGIN_BIN="$target/debug/examples/login"
export E2E_REDIS_LOGIN_BIN="$target/debug/examples/redis-login"
export E2E_ACTIX_REDIS_LOGIN_BIN="$target/debug/examples/actix-redis-login"
export E2E_DEVICES_BIN="$target/debug/examples/devices"
export E2E_ARTIFACTS="${E2E_ARTIFACTS:-$ROOT/target/e2e}"
mkdir -p "$E2E_ARTIFACTS"

# The tests record the pid of every server they start in E2E_PIDS while it runs; whatever is left there when
# this script exits (a test process killed by the time limit, say) is stopped here, by pid. Browser profiles go
# to E2E_TMP, removed here too (Chromium exits by itself when the test process that drives it dies).
E2E_TMP="$(mktemp -d "${TMPDIR:-/tmp}/e2e.XXXXXX")"
E2E_PIDS="$E2E_TMP/pids"
mkdir "$E2E_PIDS"
export E2E_TMP E2E_PIDS
cleanup() {
    local file pid alive pids=()
    for file in "$E2E_PIDS"/*; do
        [ -e "$file" ] && pids+=("$(basename "$file")")
    done
    if [ "${#pids[@]}" -gt 0 ]; then
        echo "e2e/run.sh: stopping servers left running: ${pids[*]}" >&2
        kill -TERM "${pids[@]}" 2>/dev/null || true
        for _ in $(seq 1 30); do
            alive=0
            for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
            [ "$alive" = 1 ] || break
            sleep 0.1
        done
        kill -KILL "${pids[@]}" 2>/dev/null || true
    fi
    # A Chromium that is still exiting may write to its profile while it is removed: try again for a while.
    for _ in $(seq 1 25); do
        rm -rf "$E2E_TMP" 2>/dev/null && [ ! -e "$E2E_TMP" ] && break
        sleep 0.2
    done
}
trap cleanup EXIT

if [ "$#" -gt 0 ]; then
    tests=("$@")
else
    tests=(e2e/login.test.js e2e/mixed.test.js e2e/three.test.js e2e/devices.test.js)
fi

# In the background, so that an interrupt of this script stops the tests at once (timeout passes it on to them).
timeout --kill-after=10 "${E2E_TIMEOUT:-180}" \
    node --test --test-concurrency=1 --test-timeout=120000 --test-reporter=spec "${tests[@]}" &
runner=$!
trap 'kill -TERM "$runner" 2>/dev/null; wait "$runner"; exit 130' INT
trap 'kill -TERM "$runner" 2>/dev/null; wait "$runner"; exit 143' TERM
status=0
wait "$runner" || status=$?
trap - INT TERM
if [ "$status" = 124 ] || [ "$status" = 137 ]; then
    echo "e2e/run.sh: the tests did not finish within ${E2E_TIMEOUT:-180} s" >&2
fi
echo "e2e/run.sh: screenshots and server logs in ${E2E_ARTIFACTS#"$ROOT"/}/" >&2
exit "$status"
