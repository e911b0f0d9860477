"""``python -m bench.sqlite_wal`` (not a benchmark here): every write is in the
file at the end, and the WAL of back-to-back writes stays far smaller with
the store's limit than without (tests/store/test_sqlite_checkpoint.py proves
the restart itself)."""

from __future__ import annotations

import json
from pathlib import Path

from bench import sqlite_wal
from server.store import sqlite as sqlite_mod


async def test_back_to_back_writes_are_all_kept_and_the_limit_bounds_the_wal(tmp_path: Path) -> None:
    (tmp_path / "none").mkdir()
    (tmp_path / "limit").mkdir()
    unbounded = await sqlite_wal.run(rate=0, seconds=1.5, limit=0, folder=tmp_path / "none")
    bounded = await sqlite_wal.run(rate=0, seconds=1.5, limit=64, folder=tmp_path / "limit")
    for r in (unbounded, bounded):
        assert r["writes"] > 200 and r["messages_stored"] == r["writes"]
        assert 0 < r["write_ms"]["p50"] <= r["write_ms"]["p99"] <= r["write_ms"]["max"]
    assert bounded["wal_max_mb"] * 2 < unbounded["wal_max_mb"]
    assert sqlite_mod.WAL_LIMIT_FRAMES == sqlite_wal.DEFAULT  # put back

    files = []
    for name, r in (("a.json", unbounded), ("b.json", bounded), ("c.json", {**bounded, "messages_stored": 1})):
        (tmp_path / name).write_text(json.dumps(r))
        files.append(tmp_path / name)
    groups = sqlite_wal.merge(files)["groups"]
    assert list(groups) == ["rate 0/s, limit none", "rate 0/s, limit 64"]
    assert groups["rate 0/s, limit 64"]["writes"]["n"] == 2
    assert groups["rate 0/s, limit 64"]["lost"] == bounded["writes"] - 1 and groups["rate 0/s, limit none"]["lost"] == 0
