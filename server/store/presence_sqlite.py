"""Agents' routing records in the SQLite store's file (the ``Presence`` port
on the embedded, single-node server).

What an agent chose (available or away, since when, a capacity a supervisor
set, their timeouts in a row, idle since) survives a restart; the rest is the
node's own and stays in memory as in ``MemoryPresence``: screens (they went
with the old process), the offers index (rebuilt from the store at start:
``Router.rebuild``) and the lease (a lock).

An agent not offline when the records are first read (the router's first
heartbeat, as the node starts serving) counts as present for one grace
period from then (``grace_ms``): their screens reconnect to the new process
within it and they are as they were; past it with no screen, the router's
sweep turns them offline, as for any screen gone.

Records are written through the ``SqliteStore``'s own write path (one writer
at a time, its deadlines and health), one row per agent. ``compare_and_set``
checks and sets in memory (this process is the file's only node) and then
writes; a write that fails puts the record back and raises. Only a change of
status, since or capacity is written: the idle time (set on every offer:
a write per offer cost ~12 % of a routing pass, py-spy at 200/s) and the
timeouts in a row are tie-breaks and counters that may restart from what
the file last held.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable

import msgspec

from server.presence import OFFLINE, AgentRecord, MemoryPresence
from server.store.sqlite import SqliteStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS agent_status (
    agent_id TEXT PRIMARY KEY,
    body BLOB NOT NULL
)
"""

_encode = msgspec.msgpack.Encoder().encode
_record = msgspec.msgpack.Decoder(AgentRecord).decode

RESTARTED = "restarted"
"""The node name the screens of before the restart are touched under."""


def _kept(record: AgentRecord) -> tuple[object, ...]:
    """What the file keeps up to date: what the agent or a supervisor chose."""
    return (record.status, record.since, record.capacity)


class SqlitePresence(MemoryPresence):
    def __init__(self, store: SqliteStore, *, grace_ms: int, clock: Callable[[], int]) -> None:
        super().__init__()
        self._store = store
        self._grace_ms = grace_ms
        self._clock = clock
        self._loaded = False
        self._loading = asyncio.Lock()
        self._writing = asyncio.Lock()

    async def _load(self) -> None:
        if self._loaded:
            return
        async with self._loading:
            if self._loaded:
                return

            def read(db: sqlite3.Connection) -> list[tuple[str, bytes]]:
                db.execute(SCHEMA)
                return [(str(a), bytes(b)) for a, b in db.execute("SELECT agent_id, body FROM agent_status")]

            rows = await self._store._write(read)
            self._records.update((agent_id, _record(body)) for agent_id, body in rows)
            back = [a for a, r in self._records.items() if r.status != "offline"]
            await super().touch(RESTARTED, back, self._clock() + self._grace_ms)
            self._loaded = True

    async def get_many(self, agent_ids: Iterable[str]) -> dict[str, AgentRecord]:
        await self._load()
        return await super().get_many(agent_ids)

    async def compare_and_set(self, agent_id: str, expected: AgentRecord, new: AgentRecord) -> bool:
        await self._load()
        async with self._writing:  # the file gets the records in the order they were set
            before = self._records.get(agent_id, OFFLINE)
            if not await super().compare_and_set(agent_id, expected, new):
                return False
            if _kept(new) == _kept(before):
                return True  # only the idle time or the timeouts in a row moved: not worth a write per offer
            body = _encode(new)

            def write(db: sqlite3.Connection) -> None:
                db.execute("INSERT OR REPLACE INTO agent_status VALUES (?, ?)", (agent_id, body))

            try:
                await self._store._write(write)
            except BaseException:
                self._records[agent_id] = before
                raise
            return True

    async def present(self, agent_ids: Iterable[str], now: int) -> set[str]:
        await self._load()
        return await super().present(agent_ids, now)
