#!/usr/bin/env bash
# Installs what the browser tests need, idempotently: Debian's chromium and chromium-driver (apt, skipped when
# /usr/bin/chromium exists) and the npm packages pinned by e2e/package-lock.json (skipped when node_modules
# matches the lockfile). Never downloads a browser through Playwright: the tests launch /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -x /usr/bin/chromium ]; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then
        if ! command -v sudo >/dev/null; then
            echo "e2e/install.sh: root (or sudo) is needed to apt-get install chromium" >&2
            exit 1
        fi
        sudo="sudo"
    fi
    echo "e2e/install.sh: installing chromium and chromium-driver from apt" >&2
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver
fi

# npm ci when node_modules is missing or older than the lockfile (npm ci writes node_modules/.package-lock.json).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "e2e/install.sh: npm ci" >&2
    npm ci --no-audit --no-fund
fi
