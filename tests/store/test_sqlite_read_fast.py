"""Reads by key try the loop's connection directly (``_get_one``,
``agent_totals``: no ``_read`` coroutine around a try that works); a
refused try still goes ``_read``'s way: it waits while SQLite says busy and
then answers what is stored, and a read that keeps failing raises
StoreUnavailable as before."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from server.core.conversation import Outcome
from server.core.fanout import Totals
from server.core.model import Contact, Conversation
from server.store.base import StoreUnavailable
from server.store.sqlite import SqliteStore

CONTACT = Contact(id="whatsapp:1", channel="whatsapp", address="+5521988887777", name="Ana")
HELD = Conversation(
    id="c1", channel="whatsapp", touchpoint_id="tp", queue_id="sales", contact_id=CONTACT.id, created_at=1,
    assignee_id="ana", unread=3,
)


class Refusing:
    """The loop's connection, refusing the first ``busy`` tries as SQLite does while the file is locked
    (``errorcode``: SQLITE_BUSY), or failing for good (``errorcode``: SQLITE_IOERR)."""

    def __init__(self, db: sqlite3.Connection, busy: int, errorcode: int = sqlite3.SQLITE_BUSY) -> None:
        self.db, self.busy, self.errorcode, self.tries = db, busy, errorcode, 0

    def execute(self, sql: str, args: Any = ()) -> sqlite3.Cursor:
        self.tries += 1
        if self.busy > 0:
            self.busy -= 1
            e = sqlite3.OperationalError("database is locked")
            e.sqlite_errorcode = self.errorcode  # type: ignore[attr-defined]
            raise e
        return self.db.execute(sql, args)


async def test_reads_that_work_do_not_go_through_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    try:
        await store.put_contact(CONTACT)
        await store.commit(Outcome(before=None, after=HELD))

        async def no_read(fn: Any) -> Any:
            raise AssertionError("the fast try worked: _read is not needed")

        monkeypatch.setattr(store, "_read", no_read)
        assert await store.get_contact(CONTACT.id) == CONTACT
        assert await store.get_contact("whatsapp:nobody") is None
        assert await store.get_conversation("c1") == HELD
        assert await store.agent_totals("ana") == Totals(1, 3)
        assert await store.agent_totals("bruno") == Totals(0, 0)
    finally:
        await store.close()


@pytest.mark.parametrize("busy", [1, 3])
async def test_a_refused_read_waits_and_answers_what_is_stored(tmp_path: Path, busy: int) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    try:
        await store.put_contact(CONTACT)
        await store.commit(Outcome(before=None, after=HELD))
        real = store._reader
        assert real is not None
        refusing = Refusing(real, busy)
        store._reader = refusing  # type: ignore[assignment]
        assert await store.get_contact(CONTACT.id) == CONTACT
        assert refusing.tries == busy + 1
        refusing.busy = busy
        assert await store.agent_totals("ana") == Totals(1, 3)
        refusing.busy = busy
        assert await store.get_contact("whatsapp:nobody") is None
        store._reader = real
    finally:
        await store.close()


async def test_a_read_that_keeps_failing_raises_store_unavailable(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3", timeout=0.05)
    try:
        await store.put_contact(CONTACT)
        real = store._reader
        assert real is not None
        store._reader = Refusing(real, 10**6)  # type: ignore[assignment]
        with pytest.raises(StoreUnavailable):
            await store.get_contact(CONTACT.id)
        store._reader = Refusing(real, 10**6)  # type: ignore[assignment]
        with pytest.raises(StoreUnavailable):
            await store.agent_totals("ana")
        failing = Refusing(real, 1, errorcode=sqlite3.SQLITE_IOERR)
        store._reader = failing  # type: ignore[assignment]
        with pytest.raises(StoreUnavailable):  # not busy: raised at once, not tried again (as _read does)
            await store.get_contact(CONTACT.id)
        assert failing.tries == 1
        store._reader = real
    finally:
        await store.close()
