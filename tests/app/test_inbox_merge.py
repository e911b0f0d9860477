"""The Inbox window merged over many queues (issue 18): read lazily from
each queue, so a window of 100 over 50 queues reads about 100 rows plus a
few per queue, not 100 from every queue; the order and the cursor are those
of one sorted list, whatever the queues hold."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from server.app import App
from server.app.reads import inbox_key
from server.broker import MemoryBroker
from server.core.conversation import Outcome
from server.core.model import Contact, Conversation
from server.metrics import Metrics
from server.node import make_app
from server.store.memory import MemoryStore
from tests.conftest import make_config


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.rows_read = 0
        self.contact_reads = 0

    async def get_contact(self, contact_id: str) -> Contact | None:
        self.contact_reads += 1
        return await super().get_contact(contact_id)

    async def get_contacts(self, contact_ids: Sequence[str]) -> dict[str, Contact]:
        self.contact_reads += 1
        return await super().get_contacts(contact_ids)

    async def inbox_page(self, queue_id: str, after: tuple[int, str] | None, limit: int) -> list[Conversation]:
        rows = await super().inbox_page(queue_id, after, limit)
        self.rows_read += len(rows)
        return rows


async def seeded(layout: list[tuple[str, int]]) -> tuple[App, CountingStore, list[Conversation]]:
    """``layout``: (queue, activity) of each waiting conversation."""
    store = CountingStore()
    app = make_app(make_config(), store, MemoryBroker(history_size=10, history_bytes=1 << 20), Metrics())
    convs = []
    for n, (queue, at) in enumerate(layout):
        conv = Conversation(
            id=f"c{n:05d}", version=1, channel="whatsapp", touchpoint_id="wa", queue_id=queue,
            contact_id=f"whatsapp:+55119{n:08d}", created_at=at, last_message_at=at, message_count=1,
        )
        await store.commit(Outcome(before=None, after=conv))
        convs.append(conv)
    return app, store, sorted(convs, key=inbox_key)


QUEUES = [f"q{n}" for n in range(50)]


async def walk(app: App, queues: list[str], limit: int) -> list[str]:
    rows, cursor = await app.reads._inbox_window(queues, None, limit, None, None)
    ids = [r.id for r in rows]
    while cursor is not None:
        rows, cursor = await app.reads._inbox_window(queues, tuple_of(cursor), limit, None, None)
        ids.extend(r.id for r in rows)
    return ids


def tuple_of(cursor: str) -> tuple[int, str]:
    at, _, conv_id = cursor.partition(":")
    return int(at), conv_id


async def test_a_window_over_50_queues_reads_about_the_window_not_the_inbox() -> None:
    app, store, ordered = await seeded([(QUEUES[n % 50], 1_000 + 7 * n % 3_001) for n in range(2_000)])
    rows, cursor = await app.reads._inbox_window(QUEUES, None, 100, None, None)
    assert [r.id for r in rows] == [c.id for c in ordered[:100]]
    assert cursor is not None
    # Each queue's share of the window (3) plus a page when it runs out;
    # reading 101 from every queue read all 2,000.
    assert store.rows_read <= 100 + 50 * 8, store.rows_read


@pytest.mark.parametrize(
    "layout",
    [
        # one queue holds all the oldest: its pages double instead of 25 reads of 4
        [("q0", n) for n in range(150)] + [(QUEUES[1 + n % 49], 10_000 + n) for n in range(490)],
        # ties on activity across queues: the id decides
        [(QUEUES[n % 50], 5) for n in range(300)],
        # queues that run dry early
        [(QUEUES[n % 3], n) for n in range(250)],
    ],
)
async def test_pages_of_a_merged_inbox_are_one_sorted_list(layout: list[tuple[str, int]]) -> None:
    app, store, ordered = await seeded(layout)
    assert await walk(app, QUEUES, 25) == [c.id for c in ordered]
    store.rows_read = 0
    rows, _ = await app.reads._inbox_window(QUEUES, None, 100, None, None)
    assert [r.id for r in rows] == [c.id for c in ordered[:100]]
    assert store.rows_read <= 2 * 100 + 50 * 8, store.rows_read


async def test_the_last_page_has_no_cursor_and_a_filter_still_walks_in_order() -> None:
    app, _, ordered = await seeded([(QUEUES[n % 50], n) for n in range(120)])
    rows, cursor = await app.reads._inbox_window(QUEUES, tuple_of(f"{ordered[19].last_message_at}:{ordered[19].id}"), 100, None, None)
    assert [r.id for r in rows] == [c.id for c in ordered[20:120]] and cursor is None
    rows, cursor = await app.reads._inbox_window(QUEUES, None, 500, "messenger", None)
    assert rows == [] and cursor is None
    rows, cursor = await app.reads._inbox_window(QUEUES, None, 30, "whatsapp", None)
    assert [r.id for r in rows] == [c.id for c in ordered[:30]] and cursor is not None


async def test_a_window_reads_its_contacts_at_once_following_links() -> None:
    app, store, ordered = await seeded([(QUEUES[n % 50], n) for n in range(150)])
    first = ordered[0]
    await store.put_contact(Contact(id="whatsapp:+5511999990000", channel="whatsapp", address="+5511999990000", name="Maria"))
    await store.put_contact(Contact(id=first.contact_id, channel="whatsapp", address="x", linked_to="whatsapp:+5511999990000"))
    await store.put_contact(Contact(id=ordered[1].contact_id, channel="whatsapp", address="y", name="Bia"))
    store.contact_reads = 0
    rows, _ = await app.reads._inbox_window(QUEUES, None, 100, None, None)
    assert [r.contact.display_name for r in rows[:2]] == ["Maria", "Bia"]
    assert store.contact_reads <= 2, f"{store.contact_reads} contact reads for a window of 100"
