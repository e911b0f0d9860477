#!/usr/bin/env bash
# An nginx binary for the reverse-proxy test (tests/server/test_reverse_proxy.py
# runs docs/nginx.conf.example in front of a real node). Idempotent and quick
# when nginx is already there: Debian's nginx package, as root, with apt-get.
# The test starts its own nginx (own config, pid file and logs in a temp dir,
# on a free loopback port, not as a daemon) and needs no service running.
set -euo pipefail

if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-nginx: nginx missing; run as root: apt-get install -y nginx" >&2
    exit 1
fi

echo "ensure-nginx: installing Debian's nginx"
export DEBIAN_FRONTEND=noninteractive
# Other ensure-*.sh scripts may hold dpkg's lock: wait for it.
apt=(apt-get -o DPkg::Lock::Timeout=600 -y --no-install-recommends)
# A fresh machine has no package lists yet; refresh once when the install
# cannot find the package.
if ! "${apt[@]}" install nginx >/tmp/ensure-nginx.log 2>&1; then
    "${apt[@]}" update -qq >>/tmp/ensure-nginx.log 2>&1
    "${apt[@]}" install nginx >>/tmp/ensure-nginx.log 2>&1 || {
        tail -20 /tmp/ensure-nginx.log >&2
        exit 1
    }
fi
{ command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; } || { echo "ensure-nginx: nginx still missing" >&2; exit 1; }
