"""Python calls per lock in a storm on Redis, counted in-process (no sockets
to agents): ``Intake.expire_many`` over N windows passing together on the
Redis store and broker, and a second broker listening to the queues' streams
as another node would (its reader's work is counted too: the same loop).

    python -m bench.lockredis [--conversations 2000] [--tree DIR] [--out FILE]

Starts a redis-server on a free loopback port, seeds N conversations through
``Intake.receive`` in the inbox of 20 queues, warms their summaries (as the
timers' ``prepare`` does ahead of a storm), jumps the clock a day and fires
them all in one ``expire_many`` under cProfile, then waits until the
listening broker has heard every queue publication. Reports Python calls per
lock (every call cProfile sees on the loop, coroutine resumptions included),
by top-level module and the top functions. Counts do not move with the
machine's load, so a before/after pair needs no interleaving; ``--tree``
runs the server code from another checkout (e.g. a worktree of the commit
before a change)."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

DAY_MS = 25 * 3600 * 1000


def _where(filename: str) -> str:
    """A profile entry's module, short: ``redis/asyncio``, ``asyncio``, ``server/redis``, ``~`` (C)."""
    path = filename.split("site-packages/")[-1].split("/lib/python3.11/")[-1]
    for root in sys.path:
        if root and path.startswith(root.rstrip("/") + "/"):
            path = path[len(root.rstrip("/")) + 1 :]
    parts = path.split("/")
    return "/".join(parts[:2]) if parts[0] in ("redis", "server") and len(parts) > 2 else parts[0]


async def one(n: int, workdir: Path) -> dict[str, Any]:
    from bench.center import Center
    from bench.lockprofile import open_windows
    from bench.procs import Redis
    from server import config as config_mod
    from server.metrics import Metrics
    from server.node import make_app
    from server.redis.broker import RedisBroker
    from server.redis.store import RedisStore

    redis = Redis(workdir / "redis.log").start()
    try:
        center = Center(200, 20, window_seconds=3600)
        cfg = config_mod.load(center.write(workdir / "center.toml"), data=str(workdir / "unused.sqlite3"))
        store = RedisStore(redis.url, windows=cfg.windows)
        broker, other = RedisBroker(redis.url), RedisBroker(redis.url)
        heard: list[Any] = []
        other.on_publication = lambda *publication: heard.append(publication)
        other.on_publications = heard.extend  # where the tree has it
        await broker.start()
        await other.start()
        for q in range(center.q):
            await other.subscribe(f"queue:q{q}")
        app = make_app(cfg, store, broker, Metrics())
        start, ids = await open_windows(app, cfg, n)
        await app.intake.warm(ids)
        await asyncio.sleep(1.0)
        heard.clear()
        app.intake.clock = lambda: start + DAY_MS
        prof = cProfile.Profile()
        prof.enable()
        failed = await app.intake.expire_many(ids)
        deadline = time.monotonic() + 60
        while len(heard) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        prof.disable()
        assert failed == [] and len(heard) >= n, (len(failed), len(heard))
        stats = pstats.Stats(prof)
        by_module: Counter[str] = Counter()
        by_function: Counter[str] = Counter()
        for (filename, _line, name), (_cc, calls, *_rest) in stats.stats.items():  # type: ignore[attr-defined]
            by_module[_where(filename)] += calls
            by_function[f"{_where(filename)}:{name}" if filename != "~" else name] += calls
        await broker.close()
        await other.close()
        await store.close()
        return {
            "conversations": n,
            "queue_publications_heard": len(heard),
            "python_calls_per_lock": round(stats.total_calls / n, 1),  # type: ignore[attr-defined]
            "by_module_per_lock": {k: round(v / n, 1) for k, v in by_module.most_common(12)},
            "top_functions_per_lock": {k: round(v / n, 1) for k, v in by_function.most_common(25)},
        }
    finally:
        redis.stop()


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.lockredis")
    ap.add_argument("--conversations", type=int, default=2000)
    ap.add_argument("--tree", type=Path, default=None, help="run the server code from this checkout")
    ap.add_argument("--out", type=Path, default=None)
    opts = ap.parse_args()
    if opts.tree is not None:
        sys.path.insert(0, str(opts.tree.resolve()))
        for name in [m for m in sys.modules if m == "server" or m.startswith("server.")]:
            del sys.modules[name]
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(one(opts.conversations, Path(tmp)))
    result["tree"] = str(opts.tree) if opts.tree else "."
    print(json.dumps(result, indent=2))
    if opts.out:
        opts.out.parent.mkdir(parents=True, exist_ok=True)
        opts.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
