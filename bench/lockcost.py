"""What one lock costs the node, in-process (no sockets): CPU of
``Intake.expire_many`` over N windows passing together on the SQLite store,
with and without the lock's timeline entry (issue 13), interleaved A/B.

    python -m bench.lockcost [--conversations 2000] [--repeat 3]

Each round builds a fresh app on a fresh SQLite file, creates N
conversations in the inbox of 20 queues, jumps the clock a day and fires
them all in one ``expire_many``; ``time.process_time`` around that call (the
writer thread's CPU included). Without the entry: the rule's outcome with its
message dropped (the lock exactly as before issue 13). Publications go to a
memory broker with nobody listening (the hub's socket writes are not in it:
the entry goes to the thread's stream, which nobody watches in the storm)."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from msgspec.structs import replace

from bench.center import Center
from bench.lockprofile import open_windows
from server import config as config_mod
from server.app import intake as intake_mod
from server.broker import MemoryBroker
from server.core import conversation as rules
from server.metrics import Metrics
from server.node import make_app
from server.store.sqlite import SqliteStore

DAY_MS = 25 * 3600 * 1000


def _no_entry(conv: Any, policy: Any, now: int, *, message_id: str) -> rules.Outcome | None:
    out = rules.expire(conv, policy, now, message_id=message_id)
    if out is None:
        return None
    return replace(out, message=None, after=replace(out.after, message_count=conv.message_count))


async def one(n: int, with_entry: bool, workdir: Path) -> float:
    center = Center(200, 20, window_seconds=3600)
    cfg = config_mod.load(center.write(workdir / "center.toml"), data=str(workdir / f"s{time.time_ns()}.sqlite3"))
    store = SqliteStore(Path(cfg.server.data))
    app = make_app(cfg, store, MemoryBroker(), Metrics())
    start, ids = await open_windows(app, cfg, n)
    app.intake.clock = lambda: start + DAY_MS
    intake_mod.rules = rules if with_entry else _Rules()  # type: ignore[assignment]
    try:
        t0 = time.process_time()
        failed = await app.intake.expire_many(ids)
        cpu = time.process_time() - t0
    finally:
        intake_mod.rules = rules
    assert failed == []
    assert all(c.session_locked for c in (await store.get_conversations(ids)).values())
    await store.close()
    return cpu


class _Rules:
    """``conversation`` with ``expire`` writing no timeline entry."""

    def __getattr__(self, name: str) -> Any:
        return _no_entry if name == "expire" else getattr(rules, name)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.lockcost")
    ap.add_argument("--conversations", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    opts = ap.parse_args()
    rows: dict[str, list[float]] = {"with_entry": [], "without_entry": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(opts.repeat):
            for key, flag in (("without_entry", False), ("with_entry", True)):
                rows[key].append(asyncio.run(one(opts.conversations, flag, Path(tmp))))
    ratios = [a / b for a, b in zip(rows["with_entry"], rows["without_entry"], strict=True)]
    result = {
        "conversations": opts.conversations,
        "cpu_s": {k: [round(v, 3) for v in vs] for k, vs in rows.items()},
        "us_per_lock_median": {k: round(statistics.median(vs) / opts.conversations * 1e6, 1) for k, vs in rows.items()},
        "ratio_with_to_without": {"median": round(statistics.median(ratios), 3), "min": round(min(ratios), 3), "max": round(max(ratios), 3)},
        "loadavg": __import__("os").getloadavg(),
    }
    print(json.dumps(result, indent=2))
    if opts.out:
        opts.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
