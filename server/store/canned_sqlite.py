"""Canned responses in the SQLite store's file (the ``CannedStore`` port).

One row per list, the list a msgpack blob beside its version. The calls run
through the ``SqliteStore``'s own paths (``_write``: one writer at a time,
the file's lock waited for off the loop; ``_read``), so they share its
deadlines, its health and its durability setting.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import msgspec

from server.core.canned import CannedList
from server.store.base import VersionConflict
from server.store.sqlite import SqliteStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS canned_lists (
    id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    body BLOB NOT NULL
)
"""

_encode = msgspec.msgpack.Encoder().encode
_list = msgspec.msgpack.Decoder(CannedList).decode


class SqliteCanned:
    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self._ready = False

    async def _schema(self) -> None:
        if not self._ready:
            await self._store._write(lambda db: db.execute(SCHEMA))
            self._ready = True

    async def canned_lists(self, list_ids: Sequence[str]) -> list[CannedList]:
        await self._schema()
        wanted = list(list_ids)
        if not wanted:
            return []

        def read(db: sqlite3.Connection) -> list[bytes]:
            marks = ",".join("?" * len(wanted))
            rows = db.execute(f"SELECT id, body FROM canned_lists WHERE id IN ({marks})", wanted).fetchall()
            by_id = dict(rows)
            return [by_id[i] for i in wanted if i in by_id]

        return [_list(b) for b in await self._store._read(read)]

    async def put_canned_list(self, lst: CannedList) -> None:
        await self._schema()

        def write(db: sqlite3.Connection) -> bool:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT version FROM canned_lists WHERE id = ?", (lst.id,)).fetchone()
                if (row[0] if row else 0) != lst.version - 1:
                    db.execute("ROLLBACK")
                    return False
                db.execute("INSERT OR REPLACE INTO canned_lists VALUES (?, ?, ?)", (lst.id, lst.version, _encode(lst)))
                db.execute("COMMIT")
                return True
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

        if not await self._store._write(write):
            raise VersionConflict(lst.id)

    async def close(self) -> None:
        return None  # the SqliteStore closes the file
