"""The SQLite store commits a batch (a lock storm) grouped (issue 16): each
distinct statement once for all its rows, no savepoint per outcome; when
one of the batch would be refused, the batch is committed again one
savepoint per outcome, so only that one is refused and nothing of it is
written (as ``commit_many`` promises on every store)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from msgspec.structs import replace

from server.core import conversation as rules
from server.core.conversation import Outcome
from server.store.base import VersionConflict
from server.store.sqlite import SqliteStore
from tests.store.world import POLICIES, World

HOUR = 3_600_000


async def _locks(world: World, n: int) -> list[Outcome]:
    convs = [(await world.receive("hi", address=f"55119000{k:05d}")).after for k in range(n)]
    world.now += 8 * HOUR
    outcomes = [rules.expire(c, POLICIES["whatsapp"], world.now, message_id=world.new_id("m", of=c)) for c in convs]
    assert all(o is not None for o in outcomes)
    return [o for o in outcomes if o is not None]


def _traced(store: SqliteStore) -> list[str]:
    seen: list[str] = []
    store._writer.db.set_trace_callback(lambda sql: None if sql.startswith("PRAGMA") else seen.append(sql))
    return seen


async def test_a_batch_of_locks_is_committed_without_a_savepoint_per_lock(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    try:
        world = World(store)
        outcomes = await _locks(world, 30)
        seen = _traced(store)
        assert await store.commit_many(outcomes) == [None] * 30
        assert not [s for s in seen if s.startswith(("SAVEPOINT", "RELEASE", "ROLLBACK"))]
        assert seen[0] == "BEGIN IMMEDIATE" and seen[-1] == "COMMIT"
        # One statement per table for the whole batch (one step of SQLite, not one per row).
        updates = [s for s in seen if s.startswith("UPDATE conversations")]
        assert len(updates) == 1 and updates[0].count("), (") == 29  # 30 rows in one VALUES
        assert [s[:26] for s in seen if s.startswith("INSERT")] == ["INSERT INTO messages VALUE"]
        assert len(seen) == 4
        for o in outcomes:
            assert await store.get_conversation(o.after.id) == o.after
            assert o.message is not None and await store.get_message(o.message.id) == o.message
        assert await store.unlocked_open() == []
    finally:
        await store.close()


async def test_a_refused_lock_in_a_grouped_batch_refuses_only_itself(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    try:
        world = World(store)
        outcomes = await _locks(world, 4)
        # A message id already stored (the lock's entry would replace another's).
        taken = outcomes[1].message
        assert taken is not None and outcomes[2].message is not None
        clash = replace(outcomes[2], message=replace(outcomes[2].message, id=taken.id))
        # A version that moved meanwhile.
        stale = replace(outcomes[3], before=replace(outcomes[3].before, version=outcomes[3].after.version + 5))
        seen = _traced(store)
        results = await store.commit_many([outcomes[0], outcomes[1], clash, stale])
        assert results[:2] == [None, None]
        assert isinstance(results[2], VersionConflict) and isinstance(results[3], VersionConflict)
        assert "ROLLBACK" in seen  # the grouped try wrote nothing before the one-by-one pass
        for o in outcomes[:2]:
            assert await store.get_conversation(o.after.id) == o.after
        for o in outcomes[2:]:
            assert o.before is not None and await store.get_conversation(o.after.id) == o.before
        assert [m.kind for m in await store.messages(outcomes[2].after.id)] == ["text"]
        assert [m.kind for m in await store.messages(outcomes[3].after.id)] == ["text"]
    finally:
        await store.close()


async def test_a_batch_past_sqlites_parameter_limit_is_written_in_as_many_statements_as_it_needs(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    try:
        world = World(store)
        outcomes = await _locks(world, 7)
        # 6 parameters a message row, 5 a lock's conversation row: at most 2 and 3 rows a statement.
        store._writer.db.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 17)
        seen = _traced(store)
        assert await store.commit_many(outcomes) == [None] * 7
        assert len([s for s in seen if s.startswith("UPDATE conversations")]) == 3  # 3 + 3 + 1 rows
        assert len([s for s in seen if s.startswith("INSERT INTO messages")]) == 4  # 2 + 2 + 2 + 1
        for o in outcomes:
            assert await store.get_conversation(o.after.id) == o.after
            assert o.message is not None and await store.get_message(o.message.id) == o.message
        # A version that moved, in the last statement: nothing of the batch is written, only it is refused.
        more = await _locks(world, 4)
        stale = replace(more[3], before=replace(more[3].before, version=more[3].after.version + 5))
        results = await store.commit_many([*more[:3], stale])
        assert results[:3] == [None] * 3 and isinstance(results[3], VersionConflict)
        assert stale.before is not None and await store.get_conversation(stale.after.id) != stale.after
    finally:
        await store.close()
