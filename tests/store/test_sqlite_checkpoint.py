"""The SQLite store's WAL checkpoints run on the writer thread, never inside
a commit on the event loop: one copies the WAL's pages back into the file
and fsyncs both (~60 page writes, two ``fdatasync``), 4-11 ms of the loop
each in the compare bench (bench/README.md, "Issue 16: fan-out to 1,000
sockets counted beside the floor")."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest

from server.store import sqlite as sqlite_mod
from server.store.sqlite import CHECKPOINT_EVERY, SqliteStore
from tests.store.world import World

AUTOCHECKPOINT = 1000
"""SQLite's default: the commit that takes the WAL past 1,000 pages checkpoints."""


def _wal_frames(path: Path) -> int:
    """The most frames the WAL held since the store opened: a WAL restarted
    after a checkpoint is written again from its start, the file never shrinks."""
    size = os.path.getsize(f"{path}-wal")
    return (size - 32) // (4096 + 24) if size else 0


async def test_loop_commits_never_checkpoint_the_writer_thread_does(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = SqliteStore(path)
    gate = threading.Event()
    try:
        world = World(store)
        # Keep the writer thread busy: what is handed to it waits behind this.
        store._writer.pool.submit(gate.wait, 30)
        n = 0
        while _wal_frames(path) < 2 * AUTOCHECKPOINT:
            await world.receive("hi", address=f"55119000{n:05d}")  # each a new conversation, committed on the loop
            n += 1
            assert n < 1000
        # Past twice SQLite's threshold and the WAL never restarted: no commit on the loop checkpointed.
        assert n > CHECKPOINT_EVERY
        job = store.checkpointing
        assert job is not None and not job.done()  # handed to the writer thread, waiting there
        frames = _wal_frames(path)
        gate.set()
        result = await job
        assert result is not None
        busy, logged, copied = result
        assert (busy, logged, copied) == (0, frames, frames)  # all of it copied back, by the writer thread
        assert store.checkpointing is None
    finally:
        gate.set()
        await store.close()


async def test_a_wal_past_its_limit_is_restarted_and_cut_back_with_every_write_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under writes with no pause a passive checkpoint never lets the WAL
    start over (a commit always lands while it copies): past
    ``WAL_LIMIT_FRAMES`` a RESTART checkpoint follows it, with the loop's
    writes queued behind it on the writer thread, and the next write starts
    the WAL over, cut back to the limit (bench: ``python -m bench.sqlite_wal``)."""
    limit = 200
    monkeypatch.setattr(sqlite_mod, "WAL_LIMIT_FRAMES", limit)
    path = tmp_path / "s.sqlite3"
    store = SqliteStore(path)
    gate = threading.Event()
    try:
        world = World(store)
        store._writer.pool.submit(gate.wait, 30)  # the first passive checkpoint waits behind this
        n = 0
        while _wal_frames(path) < 3 * limit:
            await world.receive("hi", address=f"55119000{n:05d}")
            n += 1
            assert n < 1000
        passive = store.checkpointing
        assert passive is not None
        gate.set()
        result = await passive
        assert result is not None
        busy, logged, copied = result
        assert busy == 0 and logged == copied >= 3 * limit  # past the limit
        restart = store.checkpointing  # handed over as the passive one ended
        assert restart is not None and restart is not passive
        # This write is made while the restart runs or is queued: it goes to
        # the writer thread, after it, and starts the WAL over.
        await world.receive("after the restart", address="5511900099999")
        assert store.checkpointing is None  # the restart ended, nothing after it (no restart of a restart)
        assert await restart == (0, logged, logged)  # what the passive one copied, the whole WAL: now restartable
        assert _wal_size(path) <= limit * (4096 + 24) + 32  # cut back to journal_size_limit
        assert _wal_size(path) < logged * (4096 + 24)
        # Nothing lost: every message written, from before and after the restart.
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT count(*) FROM messages").fetchone() == (n + 1,)
        # The loop writes on its own connection again.
        await world.receive("and then", address="5511900099998")
        assert store._queued == 0
    finally:
        gate.set()
        await store.close()


def _wal_size(path: Path) -> int:
    return os.path.getsize(f"{path}-wal")
