"""Where a lock storm's CPU goes, counted per lock, in-process (no sockets):
``Intake.expire_many`` over N windows passing together on the SQLite store,
the path the timers take (read, decide, commit, publish to a memory broker).

    python -m bench.lockprofile [--conversations 20000] [--profile] [--out FILE]

Seeds N conversations through ``Intake.receive`` (the webhook's use case,
without HTTP) in the inbox of 20 queues, jumps the clock a day and fires them
all in one ``expire_many``. Reports, per lock: CPU (``time.process_time``,
the writer thread included) and wall time of the call; SQL statements
(``set_trace_callback`` on every connection: one ``executemany`` counts as
the statements it runs); publications, distinct events encoded and the bytes
of their frames (the broker's history); when the first publication left
(ms after the call began); the garbage collector's collections meanwhile; with ``--profile``, Python calls on
the loop and on the writer thread (cProfile in each; the profile slows the
run ~2×, so CPU is measured in a separate, unprofiled run) and the top
functions by own time."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import os
import pstats
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.center import Center
from server import config as config_mod
from server.broker import MemoryBroker
from server.core.model import Inbound
from server.metrics import Metrics
from server.node import make_app
from server.store.sqlite import SqliteStore

DAY_MS = 25 * 3600 * 1000


class _Counting(MemoryBroker):
    """A memory broker that counts what it is handed."""

    def __init__(self) -> None:
        super().__init__(history_size=10, history_bytes=2**40)
        self.publications = 0
        self.events = 0
        self.frame_bytes = 0
        self.first_at: float | None = None

    async def publish_many(self, publications: Any) -> None:
        if self.first_at is None:
            self.first_at = time.perf_counter()
        self.publications += len(publications)
        self.events += len({id(e) for _, e in publications})
        before = self._bytes
        await super().publish_many(publications)
        self.frame_bytes += self._bytes - before


def _top(prof: cProfile.Profile, n: int) -> tuple[int, list[str]]:
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(n)
    lines = [ln.rstrip() for ln in out.getvalue().splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    return int(stats.total_calls), lines[start : start + n + 1]  # type: ignore[attr-defined]


async def open_windows(app: Any, cfg: Any, n: int) -> tuple[int, list[str]]:
    """N customers write at once, spread over the touchpoints (``Intake.receive``,
    the webhook's use case without HTTP): when their windows opened, and the
    conversations' ids."""
    start: int = app.clock()
    touchpoints = [t.id for t in cfg.touchpoints]
    ids = []
    for k in range(n):
        made = await app.intake.receive(
            touchpoints[k % len(touchpoints)], f"5511{k:09d}", Inbound(kind="text", text="oi", at=start)
        )
        assert made is not None
        ids.append(made.after.id)
        # Let the loop turn, as webhooks arriving over HTTP do: the SQLite
        # store's WAL checkpoints end in a callback on the loop. Without a turn
        # none ended, none was handed over again, and 20,000 customers left a
        # 1.7 GB WAL that the storm's first commit checkpointed (0.75 s).
        await asyncio.sleep(0)
    return start, ids


async def one(n: int, workdir: Path, profile: bool, prepared: bool = False) -> dict[str, Any]:
    center = Center(200, 20, window_seconds=3600)
    cfg = config_mod.load(center.write(workdir / "center.toml"), data=str(workdir / f"s{time.time_ns()}.sqlite3"))
    store = SqliteStore(Path(cfg.server.data))
    broker = _Counting()
    app = make_app(cfg, store, broker, Metrics())
    t0 = time.perf_counter()
    start, ids = await open_windows(app, cfg, n)
    seeded = time.perf_counter() - t0
    # The seeding's WAL (a webhook after another, with no idle moment for a
    # checkpoint to catch up and the WAL to restart: ~170 MB at 20,000) is
    # copied back and emptied, as on a node whose traffic paused a moment, or
    # one started on the file (bench lockstorm --preseed).
    await asyncio.get_running_loop().run_in_executor(
        store._writer.pool, lambda: store._writer.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    )
    warm_cpu = None
    if prepared:  # the timers' prepare, ahead of the storm: not counted in it
        c0 = time.process_time()
        await app.intake.warm(ids)
        warm_cpu = time.process_time() - c0
    app.intake.clock = lambda: start + DAY_MS
    broker.publications = broker.events = broker.frame_bytes = 0
    statements = [0]

    def count(_sql: str) -> None:
        statements[0] += 1

    loop_prof = cProfile.Profile() if profile else None
    writer_prof = cProfile.Profile() if profile else None
    connections: list[sqlite3.Connection] = [c for c in (store._fast, store._reader) if c is not None]
    writer = store._writer
    await asyncio.get_running_loop().run_in_executor(writer.pool, writer.db.set_trace_callback, count)
    if writer_prof is not None:
        await asyncio.get_running_loop().run_in_executor(writer.pool, writer_prof.enable)
    for c in set(connections):
        c.set_trace_callback(count)
    collections = [0]

    def collected(phase: str, _info: dict[str, Any]) -> None:
        collections[0] += phase == "stop"

    gc.callbacks.append(collected)
    broker.first_at = None
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if loop_prof is not None:
        loop_prof.enable()
    failed = await app.intake.expire_many(ids)
    if loop_prof is not None:
        loop_prof.disable()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    gc.callbacks.remove(collected)
    if writer_prof is not None:
        await asyncio.get_running_loop().run_in_executor(writer.pool, writer_prof.disable)
    await asyncio.get_running_loop().run_in_executor(writer.pool, writer.db.set_trace_callback, None)
    for c in set(connections):
        c.set_trace_callback(None)
    assert failed == []
    assert all(c.session_locked for c in (await store.get_conversations(ids)).values())
    await store.close()
    result: dict[str, Any] = {
        "conversations": n,
        "seed_s": round(seeded, 1),
        "cpu_s": round(cpu, 3),
        "wall_s": round(wall, 3),
        "cpu_us_per_lock": round(cpu / n * 1e6, 1),
        "sql_statements_per_lock": round(statements[0] / n, 2),
        "publications_per_lock": round(broker.publications / n, 2),
        "events_encoded_per_lock": round(broker.events / n, 2),
        "frame_bytes_per_lock": round(broker.frame_bytes / n, 1),
        "first_publication_ms": round((broker.first_at - wall0) * 1000, 1) if broker.first_at else None,
        "gc_collections": collections[0],
        "prepared": prepared,
        "warm_cpu_s": round(warm_cpu, 3) if warm_cpu is not None else None,
    }
    if loop_prof is not None and writer_prof is not None:
        loop_calls, loop_top = _top(loop_prof, 25)
        writer_calls, writer_top = _top(writer_prof, 12)
        result["python_calls_per_lock"] = {"loop": round(loop_calls / n, 1), "writer": round(writer_calls / n, 1)}
        result["loop_top"] = loop_top
        result["writer_top"] = writer_top
    return result


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.lockprofile")
    ap.add_argument("--conversations", type=int, default=20000)
    ap.add_argument("--profile", action="store_true", help="also a profiled run (Python calls, top functions)")
    ap.add_argument("--prepared", action="store_true", help="the timers' prepare (Intake.warm) told of the windows first")
    ap.add_argument("--out", type=Path, default=None)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(one(opts.conversations, Path(tmp), False, opts.prepared))
        result["loadavg"] = [round(x, 2) for x in os.getloadavg()]
        if opts.profile:
            result["profiled"] = asyncio.run(one(opts.conversations, Path(tmp), True, opts.prepared))
    print(json.dumps(result, indent=2))
    if opts.out:
        opts.out.parent.mkdir(parents=True, exist_ok=True)
        opts.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
