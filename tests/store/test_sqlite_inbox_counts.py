"""The SQLite store's Inbox counts are kept by the commits (issue 18): a
snapshot reads one row per queue instead of counting a 20,000-conversation
Inbox; a file written before the counters existed gets them filled once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from server.core.conversation import Outcome
from server.core.model import Conversation
from server.store.sqlite import SqliteStore


def waiting(n: int, queue: str = "sales") -> Conversation:
    return Conversation(
        id=f"c{n:05d}", version=1, channel="whatsapp", touchpoint_id="wa", queue_id=queue,
        contact_id=f"whatsapp:+55119{n:08d}", created_at=1_000 + n, last_message_at=1_000 + n,
    )


def steps(db: sqlite3.Connection) -> list[int]:
    """Counts SQLite's virtual-machine steps (in hundreds) on ``db``."""
    counted = [0]

    def step() -> int:
        counted[0] += 1
        return 0

    db.set_progress_handler(step, 100)
    return counted


async def test_counting_a_big_inbox_does_not_read_it(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    try:
        await store.commit_many([Outcome(before=None, after=waiting(n)) for n in range(3_000)])
        reader = store._reader
        assert reader is not None
        counted = steps(reader)
        assert await store.inbox_counts("sales") == (3_000, 1_000)
        # COUNT(*) over the partial index stepped through all 3,000 entries (~180 hundred steps).
        assert counted[0] <= 5, f"{counted[0] * 100} steps to count the Inbox"
    finally:
        await store.close()


async def test_counts_follow_claims_ends_and_moves_and_a_reopened_old_file(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = SqliteStore(path)
    try:
        convs = [waiting(n, "sales" if n < 4 else "support") for n in range(6)]
        await store.commit_many([Outcome(before=None, after=c) for c in convs])
        claimed = Conversation(**{**_fields(convs[0]), "version": 2, "assignee_id": "ana"})
        ended = Conversation(**{**_fields(convs[1]), "version": 2, "status": "ended", "ended_at": 5_000})
        moved = Conversation(**{**_fields(convs[2]), "version": 2, "queue_id": "support"})
        for before, after in ((convs[0], claimed), (convs[1], ended), (convs[2], moved)):
            await store.commit(Outcome(before=before, after=after))
        assert await store.inbox_counts("sales") == (1, 1_003)
        assert await store.inbox_counts("support") == (3, 1_002)
        assert await store.inbox_counts("nobody") == (0, None)
    finally:
        await store.close()
    # A file from before the counters: the table is dropped, opening fills it again.
    db = sqlite3.connect(path)
    db.execute("DROP TABLE inbox_counts")
    db.commit()
    db.close()
    again = SqliteStore(path)
    try:
        assert await again.inbox_counts("support") == (3, 1_002)
        assert await again.inbox_counts("sales") == (1, 1_003)
    finally:
        await again.close()


def _fields(conv: Conversation) -> dict[str, object]:
    return {f: getattr(conv, f) for f in conv.__struct_fields__}
