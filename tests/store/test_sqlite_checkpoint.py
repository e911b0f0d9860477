"""The SQLite store's WAL checkpoints run on the writer thread, never inside
a commit on the event loop: one copies the WAL's pages back into the file
and fsyncs both (~60 page writes, two ``fdatasync``), 4-11 ms of the loop
each in the compare bench (bench/README.md, "Issue 16: fan-out to 1,000
sockets counted beside the floor")."""

from __future__ import annotations

import os
import threading
from pathlib import Path

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
