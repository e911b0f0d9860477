"""Runs a Switchboard node under cProfile in every thread, for ``bench.calls``.

Usage (the server's tree first on the path, so any commit can be measured):

    CALLPROBE_TREE=TREE python -P bench/callprobe.py OUT.json -m server.cli serve ...

(``-P``: this script's folder is not put on the path, where ``bench/profile.py``
would shadow the standard library's ``profile`` that cProfile imports.)

Every thread's profiler runs from its start (the main thread, the SQLite
writer, executor threads). SIGUSR1 is a cut: the first one only takes a
snapshot of the call counts; each later one writes the calls since the
previous cut to OUT.json.<n> (n = 1, 2, ...), so a driver can charge each
action its own calls. The first SIGUSR2 marks the start of the window (and
writes OUT.json.mark); the second writes everything since the mark to
OUT.json: per function
(``path:qualname``, paths relative to the tree, site-packages or the standard
library, so two trees compare) the number of calls, and per caller → callee
edge the same. This file imports nothing of the project: it runs against any
commit.
"""

from __future__ import annotations

import cProfile
import json
import os
import re
import runpy
import signal
import sys
import sysconfig
import threading
from collections import Counter
from types import CodeType
from typing import Any

_ADDRESS = re.compile(r" at 0x[0-9a-f]+")
_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()
_roots: list[tuple[str, str]] = []


def _roots_init(tree: str) -> None:
    paths = sysconfig.get_paths()
    _roots.extend(
        [
            (os.path.join(paths["purelib"], ""), "site:"),
            (os.path.join(paths["platlib"], ""), "site:"),
            (os.path.join(os.path.realpath(tree), ""), ""),
            (os.path.join(tree, ""), ""),
            (os.path.join(paths["stdlib"], ""), "std:"),
        ]
    )


def _key(code: Any) -> str:
    if isinstance(code, CodeType):
        path = code.co_filename
        for root, label in _roots:
            if path.startswith(root):
                path = label + path[len(root) :]
                break
        return f"{path}:{code.co_qualname}"
    return _ADDRESS.sub("", str(code))


def _snapshot() -> tuple[Counter[str], Counter[str]]:
    calls: Counter[str] = Counter()
    edges: Counter[str] = Counter()
    with _lock:
        profiles = list(_profiles)
    for p in profiles:
        for entry in p.getstats():
            callee = _key(entry.code)
            calls[callee] += entry.callcount
            for sub in entry.calls or ():
                edges[f"{callee} -> {_key(sub.code)}"] += sub.callcount
    return calls, edges


_mark: tuple[Counter[str], Counter[str]] | None = None
_first: bool = True
_last: Counter[str] | None = None
_cuts = 0


def _write(path: str, data: dict[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def _positive(counts: Counter[str]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v > 0}


def _quietly(handler: Any) -> Any:
    """Signal handlers run on the main thread: its profiler is paused while
    they count, so the probe's own calls are never in the figures."""

    def run(signum: int, frame: Any) -> None:
        _main.disable()
        try:
            handler(signum, frame)
        finally:
            _main.enable()

    return run


def _on_cut(signum: int, frame: Any) -> None:
    global _first, _last, _cuts
    calls, _ = _snapshot()
    if _first:
        _first = False
        _write(_out + ".0", {"calls": {}})
    else:
        _cuts += 1
        since = calls.copy()
        since.subtract(_last or Counter())
        _write(f"{_out}.{_cuts}", {"calls": _positive(since)})
    _last = calls


def _on_window(signum: int, frame: Any) -> None:
    global _mark
    calls, edges = _snapshot()
    if _mark is None:
        _mark = (calls, edges)
        _write(_out + ".mark", {})
        return
    c0, e0 = _mark
    _mark = None
    calls.subtract(c0)
    edges.subtract(e0)
    _write(_out, {"calls": _positive(calls), "edges": _positive(edges), "threads": len(_profiles)})


def _wrap_thread_run() -> None:
    run = threading.Thread.run

    def profiled_run(self: threading.Thread) -> None:
        p = cProfile.Profile()
        with _lock:
            _profiles.append(p)
        p.enable()
        try:
            run(self)
        finally:
            p.disable()

    threading.Thread.run = profiled_run  # type: ignore[method-assign]


_out = ""
_main = cProfile.Profile()

if __name__ == "__main__":
    _out = os.path.abspath(sys.argv[1])
    if sys.argv[2] != "-m":
        raise SystemExit("usage: callprobe.py OUT.json -m MODULE ARGS...")
    module = sys.argv[3]
    _roots_init(os.environ.get("CALLPROBE_TREE", os.getcwd()))
    sys.argv = [module, *sys.argv[4:]]
    sys.path.insert(0, os.environ.get("CALLPROBE_TREE", os.getcwd()))
    signal.signal(signal.SIGUSR1, _quietly(_on_cut))
    signal.signal(signal.SIGUSR2, _quietly(_on_window))
    _wrap_thread_run()
    _profiles.append(_main)
    _main.enable()
    runpy.run_module(module, run_name="__main__", alter_sys=True)
