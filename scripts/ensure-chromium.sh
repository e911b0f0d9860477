#!/usr/bin/env bash
# System packages for the client tests, installed idempotently (quick when
# already there):
#   chromium  Debian's browser, driven by Playwright (never `playwright install`)
#   xvfb      a virtual screen for the desktop widget test (screenshots via Pillow)
#   python3-tk only when the venv's Python cannot import tkinter
# Needs root (as on every developer machine and CI here); prints what it does.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON_FOR_TK:-.venv/bin/python}
[ -x "$PY" ] || PY=python3

need=()
[ -x /usr/bin/chromium ] || need+=(chromium fonts-dejavu-core fonts-noto-color-emoji)
command -v Xvfb >/dev/null 2>&1 || need+=(xvfb)
if ! "$PY" -c 'import tkinter' >/dev/null 2>&1; then
    # Debian's python3-tk serves Debian's python3; a pyenv/venv Python built
    # without Tk gets nothing from it, so the widget's window test then skips
    # with its reason. Tk's shared library is needed either way.
    need+=(python3-tk tk)
fi

if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-chromium: missing ${need[*]}; run as root: apt-get install -y ${need[*]}" >&2
    exit 1
fi

echo "ensure-chromium: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
# Other ensure-*.sh scripts may hold dpkg's lock: wait for it.
apt=(apt-get -o DPkg::Lock::Timeout=600 -y --no-install-recommends)
# A fresh machine has no package lists yet; refresh once when the install
# cannot find a package.
if ! "${apt[@]}" install "${need[@]}" >/tmp/ensure-chromium.log 2>&1; then
    "${apt[@]}" update -qq >>/tmp/ensure-chromium.log 2>&1
    "${apt[@]}" install "${need[@]}" >>/tmp/ensure-chromium.log 2>&1 || {
        tail -20 /tmp/ensure-chromium.log >&2
        exit 1
    }
fi
[ -x /usr/bin/chromium ] || { echo "ensure-chromium: /usr/bin/chromium still missing" >&2; exit 1; }
