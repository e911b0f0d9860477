"""A snapshot's Inbox window is built once and shared by every agent who
sees the same queues, until a change to those queues moves their streams
(issue 18); and a snapshot takes turns with the rest of the node."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest

from protocol import messages as p
from server.app import App
from server.broker import MemoryBroker
from server.core.model import Conversation, Inbound
from server.metrics import Metrics
from server.node import make_app
from server.store.memory import MemoryStore
from tests.conftest import make_config


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.pages = 0

    async def inbox_page(self, queue_id: str, after: tuple[int, str] | None, limit: int) -> list[Conversation]:
        self.pages += 1
        return await super().inbox_page(queue_id, after, limit)


def build() -> tuple[App, CountingStore]:
    store = CountingStore()
    return make_app(make_config(), store, MemoryBroker(history_size=100, history_bytes=1 << 20), Metrics()), store


async def write(app: App, address: str, text: str, touchpoint: str = "wa") -> str:
    outcome = await app.intake.receive(touchpoint, address, Inbound(kind="text", text=text, at=app.clock()))
    assert outcome is not None
    return outcome.after.id


def rows(snap: p.Snapshot) -> dict[str, tuple[str, str]]:
    return {r.id: (r.preview, r.contact.display_name) for r in snap.inbox}


async def test_one_window_serves_every_agent_of_the_same_queues_until_a_change() -> None:
    app, store = build()
    agents = app.catalog.agents
    first = await write(app, "5511911110001", "oi")
    second = await write(app, "5511911110002", "bom dia")
    await write(app, "psid-1", "hello", touchpoint="fb")

    bruno = await app.reads.snapshot(agents["bruno"])  # sales + support
    store.pages = 0
    sofia = await app.reads.snapshot(agents["sofia"])  # the same queues: the same window, not read again
    assert store.pages == 0
    assert sofia.inbox == bruno.inbox and sofia.inbox_counts == bruno.inbox_counts
    assert [c.inbox for c in sofia.inbox_counts] == [2, 1]

    # A customer writes again: the next snapshot carries the new preview.
    await write(app, "5511911110001", "ainda esperando")
    again = await app.reads.snapshot(agents["sofia"])
    assert store.pages > 0
    assert rows(again)[first][0] == "ainda esperando"

    # Claimed by Ana (another agent, another set of queues): gone from Bruno's window and counts.
    await app.commands.claim(agents["ana"], second)
    after_claim = await app.reads.snapshot(agents["bruno"])
    assert second not in rows(after_claim)
    assert [c.inbox for c in after_claim.inbox_counts] == [1, 1]

    # A contact renamed in the directory: shown by the next snapshot.
    await app.contacts.put(agents["sofia"], "whatsapp", "+55 11 91111-0001", "Maria")
    renamed = await app.reads.snapshot(agents["bruno"])
    assert rows(renamed)[first][1] == "Maria"


async def test_agents_of_other_queues_have_windows_of_their_own() -> None:
    app, _ = build()
    agents = app.catalog.agents
    await write(app, "5511911110001", "oi")
    await write(app, "psid-1", "hello", touchpoint="fb")
    await app.reads.snapshot(agents["bruno"])
    ana = await app.reads.snapshot(agents["ana"])
    carla = await app.reads.snapshot(agents["carla"])
    assert [r.queue_id for r in ana.inbox] == ["sales"] and [r.queue_id for r in carla.inbox] == ["support"]


async def test_a_snapshot_lets_other_work_run_while_it_is_built() -> None:
    app, _ = build()
    await write(app, "5511911110001", "oi")
    ran: list[str] = []

    async def other() -> None:
        ran.append("other")

    task = asyncio.create_task(other())
    await app.reads.snapshot_frame(app.catalog.agents["ana"])
    # On the memory store nothing in a snapshot waits: without a yield of its
    # own the whole build would run before any other task.
    assert ran == ["other"]
    await task


async def loop_turns(work: Awaitable[object]) -> int:
    """How many turns of the loop another task gets while ``work`` runs."""
    turns, done = 0, False

    async def ticker() -> None:
        nonlocal turns
        while not done:
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    turns = 0
    await work
    done = True
    await task
    return turns


async def test_a_window_is_built_in_several_short_turns() -> None:
    """Reading a window's rows, making their summaries, counting and encoding
    them, and the agent's own part each take a turn of the loop: a wave's
    snapshots, built side by side, interleave in short steps (issue 18)."""
    app, _ = build()
    for n in range(30):
        await write(app, f"55119111{n:05}", "oi")
    assert await loop_turns(app.reads.snapshot_frame(app.catalog.agents["ana"])) >= 3


async def test_a_window_over_many_queues_reads_them_over_several_turns(monkeypatch: pytest.MonkeyPatch) -> None:
    """A supervisor's window covers every queue: their first pages and counts
    are read a few queues per loop turn, not all in one (issue 18)."""
    from server.app import reads as reads_module

    app, _ = build()
    await write(app, "5511911110001", "oi")
    await write(app, "psid-1", "hello", touchpoint="fb")

    async def turns_of_a_build() -> int:
        app.reads._windows.clear()
        return await loop_turns(app.reads.snapshot_frame(app.catalog.agents["sofia"]))  # both queues

    whole = await turns_of_a_build()
    monkeypatch.setattr(reads_module, "TURN_QUEUES", 1)
    assert await turns_of_a_build() >= whole + 2  # the second queue's page, then its count, each a turn later
