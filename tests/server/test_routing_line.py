"""The waiting line as the router reads it (one node, real sockets): by
arrival, never by activity, and only as much of it as the pass can offer;
agents weighed by the store's load counters."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from protocol import messages as p
from server.config import Config
from server.core.model import Conversation
from tests.conftest import Running
from tests.server.test_routing import available, routed_config, rung


@pytest.fixture
def config() -> Config:
    return routed_config()


async def test_the_oldest_arrival_rings_first_not_the_oldest_activity(running: Running) -> None:
    sofia = await running.agent("sofia")
    sent = [(await running.inbound(f"n{i}", address=f"55119000{i:05}"))["conversation_id"] for i in range(4)]
    await sofia.event(p.FloorUpdated, lambda e: e.floor.waiting == 4)
    # The two oldest write again: by activity they are now the youngest.
    await running.inbound("again", address="5511900000000")
    await running.inbound("again", address="5511900000001")
    ana = await available(running, "ana")  # room for two
    await ana.wait_for(lambda: len(rung(ana)) == 2)
    assert rung(ana) == sent[:2]
    floor = (await sofia.event(p.FloorUpdated, lambda e: e.floor.waiting == 2 and len(e.floor.ringing) == 2)).floor
    third = await running.node.store.get_conversation(sent[2])
    assert third is not None and floor.oldest_waiting_at == third.created_at


async def test_a_pass_reads_only_as_much_of_the_line_as_it_can_offer(running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    sofia = await running.agent("sofia")
    for i in range(30):
        await running.inbound(f"n{i}", address=f"55119000{i:05}")
    await sofia.event(p.FloorUpdated, lambda e: e.floor.waiting == 30)
    store = running.node.store
    read: list[int] = []
    original: Callable[..., Coroutine[Any, Any, list[Conversation]]] = store.waiting

    async def counted(queue_id: str, after: tuple[int, str] | None, limit: int) -> list[Conversation]:
        rows = await original(queue_id, after, limit)
        read.append(len(rows))
        return rows

    monkeypatch.setattr(store, "waiting", counted)
    ana = await available(running, "ana")  # room for two of thirty
    await ana.wait_for(lambda: len(rung(ana)) == 2)
    await sofia.event(p.FloorUpdated, lambda e: e.floor.waiting == 28 and len(e.floor.ringing) == 2)
    assert read and max(read) <= 2, read


async def test_a_pass_weighs_agents_by_the_stores_counters_not_their_conversations(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    sofia = await running.agent("sofia")
    ana = await available(running, "ana")  # room for two
    first = (await running.inbound("one", address="5511900000001"))["conversation_id"]
    await ana.wait_for(lambda: rung(ana) == [first])
    await ana.call(p.AcceptOffer, conversation_id=first)
    store = running.node.store
    listed: list[str] = []
    for name in ("assigned", "assigned_many"):
        original = getattr(store, name)

        def spy(*args: Any, _name: str = name, _original: Any = original) -> Any:
            listed.append(_name)
            return _original(*args)

        monkeypatch.setattr(store, name, spy)
    second = (await running.inbound("two", address="5511900000002"))["conversation_id"]
    await ana.wait_for(lambda: rung(ana) == [first, second])
    await running.inbound("three", address="5511900000003")
    floor = (await sofia.event(p.FloorUpdated, lambda e: e.floor.waiting == 1)).floor
    assert [(a.load, a.capacity) for a in floor.agents if a.agent_id == "ana"] == [(40, 40)], "full: one held, one ringing"
    assert listed == [], "no agent's conversations are read to weigh them"


async def test_a_pass_that_read_its_whole_line_counts_what_waits_without_asking_the_store(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    sofia = await running.agent("sofia")
    ana = await available(running, "ana")  # room for two
    store = running.node.store
    asked: list[str] = []
    original = store.waiting_counts

    async def counted(queue_id: str) -> tuple[int, int | None]:
        asked.append(queue_id)
        return await original(queue_id)

    monkeypatch.setattr(store, "waiting_counts", counted)
    first = (await running.inbound("one", address="5511900000001"))["conversation_id"]
    await ana.wait_for(lambda: rung(ana) == [first])
    await sofia.event(p.FloorUpdated, lambda e: e.floor.waiting == 0 and len(e.floor.ringing) == 1)
    assert asked == []  # the pass read the line to its end: one conversation, offered
    second = (await running.inbound("two", address="5511900000002"))["conversation_id"]
    third = (await running.inbound("three", address="5511900000003"))["conversation_id"]
    await ana.wait_for(lambda: rung(ana) == [first, second])
    floor = (await sofia.event(p.FloorUpdated, lambda e: e.floor.waiting == 1 and len(e.floor.ringing) == 2)).floor
    assert asked  # ana is full: the pass read none of the line, the store counted it
    waiting = await original("sales")
    conv = await store.get_conversation(third)
    assert conv is not None and (floor.waiting, floor.oldest_waiting_at) == waiting == (1, conv.created_at)
