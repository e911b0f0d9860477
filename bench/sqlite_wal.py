"""The SQLite WAL under sustained writes: how big it grows, and what each
write costs the loop meanwhile.

Commits new messages through the real ``SqliteStore`` (each a new or a
continued conversation, as webhooks make them: ``tests.store.world``) at
``--rate`` per second (0: back to back, yielding to the loop between two), for
``--seconds``, and samples the WAL file's size. ``--limit FRAMES`` sets
``WAL_LIMIT_FRAMES`` (0: none, the store as it was before the limit: passive
checkpoints only). Reports writes done, the WAL's largest size, and the ms of
each write (its reads and commit on the loop) as p50, p99, max, the process's
CPU per write (both threads), and the messages the file holds at the end (one
per write: nothing lost).

    .venv/bin/python -m bench.sqlite_wal [--rate 0 --seconds 10 --limit 0] [--out FILE]
    .venv/bin/python -m bench.sqlite_wal --merge FILE... --out SUMMARY

``--merge``: runs grouped by rate and limit, each figure's median, min and max.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from server.store import sqlite as sqlite_mod
from tests.store.world import World

NO_LIMIT = 1 << 40
DEFAULT = sqlite_mod.WAL_LIMIT_FRAMES


async def run(rate: float, seconds: float, limit: int, folder: Path) -> dict[str, Any]:
    sqlite_mod.WAL_LIMIT_FRAMES = limit or NO_LIMIT
    path = folder / "wal.sqlite3"
    store = sqlite_mod.SqliteStore(path)
    world = World(store)
    wal = f"{path}-wal"
    took: list[float] = []
    biggest = 0
    t0 = time.monotonic()
    cpu0 = time.process_time()
    try:
        while (now := time.monotonic()) - t0 < seconds:
            n = len(took)
            started = time.perf_counter()
            await world.receive("hello there", address=f"5511{n % 5000:09d}")
            took.append((time.perf_counter() - started) * 1000)
            if n % 10 == 0:
                biggest = max(biggest, os.path.getsize(wal))  # noqa: ASYNC240 (a stat, the measurement itself)
            if rate:
                await asyncio.sleep(max(0.0, t0 + (n + 1) / rate - time.monotonic()))
            else:
                await asyncio.sleep(0)
        biggest = max(biggest, os.path.getsize(wal))  # noqa: ASYNC240
        cpu = time.process_time() - cpu0
    finally:
        await store.close()
        sqlite_mod.WAL_LIMIT_FRAMES = DEFAULT
    with sqlite3.connect(path) as db:
        (stored,) = db.execute("SELECT count(*) FROM messages").fetchone()
    took.sort()
    return {
        "rate": rate,
        "seconds": round(now - t0, 2),
        "limit_frames": limit,
        "writes": len(took),
        "messages_stored": stored,
        "wal_max_mb": round(biggest / 1e6, 1),
        "cpu_us_per_write": round(cpu / len(took) * 1e6, 1),
        "write_ms": {
            "p50": round(statistics.median(took), 3),
            "p99": round(took[int(len(took) * 0.99)], 3),
            "max": round(took[-1], 3),
        },
    }


def merge(paths: list[Path]) -> dict[str, Any]:
    """Runs grouped by (rate, limit): median, min and max of each figure."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for path in paths:
        r = json.loads(path.read_text())
        groups.setdefault(f"rate {r['rate']:g}/s, limit {r['limit_frames'] or 'none'}", []).append(r)

    def spread(values: list[float]) -> dict[str, float]:
        return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}

    return {
        "groups": {
            name: {
                "writes": spread([r["writes"] for r in runs]),
                "lost": sum(r["writes"] - r["messages_stored"] for r in runs),
                "wal_max_mb": spread([r["wal_max_mb"] for r in runs]),
                "cpu_us_per_write": spread([r["cpu_us_per_write"] for r in runs]),
                **{f"write_ms_{k}": spread([r["write_ms"][k] for r in runs]) for k in ("p50", "p99", "max")},
            }
            for name, runs in groups.items()
        },
        "runs": [p.name for p in paths],
    }


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.sqlite_wal", description=__doc__)
    ap.add_argument("--rate", type=float, default=0.0, help="writes per second, 0: back to back")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--limit", type=int, default=DEFAULT, help="WAL_LIMIT_FRAMES; 0: none (passive checkpoints only)")
    ap.add_argument("--merge", type=Path, nargs="+", default=None, help="summarize these runs' files instead")
    ap.add_argument("--out", type=Path, default=None)
    opts = ap.parse_args()
    if opts.merge:
        result = merge(opts.merge)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = asyncio.run(run(opts.rate, opts.seconds, opts.limit, Path(tmp)))
        result["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(result, indent=1)
    print(text)
    if opts.out:
        opts.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
