"""The Store contract for routing's indexes (server/store/base.py ``waiting``,
``waiting_counts``, ``ringing``, ``agent_loads``), run against every implementation in
tests/store/conftest.py's ``STORES``: the same behaviour everywhere, and after
any sequence of changes each index equals a recount of the conversations."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from server.core import conversation as rules
from server.core import routing
from server.core.errors import DomainError
from server.core.model import Agent, Conversation, Queue
from server.store.base import Store
from tests.store.conftest import STORES
from tests.store.world import ANA, BRUNO, FB, SOFIA, WA, World, ids

POLICY = routing.Policy()
SALES = Queue(id="sales", name="Sales")
SUPPORT = Queue(id="support", name="Support")


@pytest.fixture
def world(store: Store) -> World:
    return World(store)


def offer(world: World, agent: Agent) -> Callable[[Conversation], rules.Outcome]:
    return lambda c: routing.offer(c, agent.id, policy=POLICY, now=world.tick(), message_id=world.new_id("m", of=c))


def decline(world: World, agent: Agent) -> Callable[[Conversation], rules.Outcome]:
    return lambda c: routing.decline(c, agent, now=world.tick(), message_id=world.new_id("m", of=c))


def accept(world: World, agent: Agent) -> Callable[[Conversation], rules.Outcome]:
    return lambda c: routing.accept(c, agent, now=world.tick(), message_id=world.new_id("m", of=c))


def to_queue(world: World, agent: Agent, queue: Queue) -> Callable[[Conversation], rules.Outcome]:
    return lambda c: routing.transfer_to_queue(c, agent, queue, now=world.tick(), message_id=world.new_id("m", of=c))


async def test_the_waiting_line_is_by_arrival_not_by_activity(store: Store, world: World) -> None:
    c1 = (await world.receive("first", address="5511900000001")).after
    c2 = (await world.receive("second", address="5511900000002")).after
    c3 = (await world.receive("third", address="5511900000003")).after
    await world.receive("first, again", address="5511900000001")  # c1 is now the newest activity
    assert ids(await store.inbox_page("sales", None, 10)) == [c2.id, c3.id, c1.id], "the inbox is by activity"
    assert ids(await store.waiting("sales", None, 10)) == [c1.id, c2.id, c3.id]
    assert ids(await store.waiting("sales", None, 2)) == [c1.id, c2.id]
    assert ids(await store.waiting("sales", routing.arrival(c1), 1)) == [c2.id]
    assert ids(await store.waiting("sales", routing.arrival(c3), 5)) == []
    assert await store.waiting_counts("sales") == (3, routing.arrival(c1)[0])
    assert (await store.waiting("support", None, 10), await store.waiting_counts("support")) == ([], (0, None))


async def test_an_offer_leaves_the_line_for_ringing_and_a_decline_puts_it_back_in_place(store: Store, world: World) -> None:
    c1 = (await world.receive("first", address="5511900000001")).after
    c2 = (await world.receive("second", address="5511900000002")).after
    await world.change(c1.id, offer(world, ANA))
    assert ids(await store.waiting("sales", None, 10)) == [c2.id]
    assert await store.waiting_counts("sales") == (1, routing.arrival(c2)[0])
    assert ids(await store.ringing("sales")) == [c1.id]
    await world.change(c1.id, decline(world, ANA))
    assert ids(await store.waiting("sales", None, 10)) == [c1.id, c2.id], "back at its place: arrival, not now"
    assert await store.ringing("sales") == []
    await world.change(c1.id, offer(world, BRUNO))
    await world.change(c1.id, accept(world, BRUNO))
    assert (ids(await store.waiting("sales", None, 10)), await store.ringing("sales")) == ([c2.id], [])


async def test_transfers_claims_sends_to_inbox_and_ends_move_the_line(store: Store, world: World) -> None:
    c1 = (await world.receive("first", address="5511900000001")).after
    c2 = (await world.receive("second", address="5511900000002")).after
    await world.claim(c1.id, BRUNO)
    assert ids(await store.waiting("sales", None, 10)) == [c2.id]
    moved = await world.change(c1.id, to_queue(world, BRUNO, SUPPORT))
    assert ids(await store.waiting("support", None, 10)) == [c1.id]
    assert await store.waiting_counts("support") == (1, moved.after.waiting_since)
    assert ids(await store.waiting("sales", None, 10)) == [c2.id]
    await world.claim(c1.id, BRUNO)
    await world.change(c1.id, to_queue(world, BRUNO, SALES))
    assert ids(await store.waiting("sales", None, 10)) == [c2.id, c1.id], "a transfer joins the line as of now"
    await world.end(c2.id, SOFIA)
    assert ids(await store.waiting("sales", None, 10)) == [c1.id]
    await world.claim(c1.id, ANA)
    await world.to_inbox(c1.id, ANA)
    assert ids(await store.waiting("sales", None, 10)) == [c1.id]
    assert await store.waiting_counts("support") == (0, None)


def transfer(world: World, actor: Agent, target: Agent) -> Callable[[Conversation], rules.Outcome]:
    room = routing.AgentState(id=target.id, status="available", queues=target.queues, capacity=10**6)
    return lambda c: routing.transfer_to_agent(c, actor, room, policy=POLICY, now=world.tick(), message_id=world.new_id("m", of=c))


async def test_agent_loads_count_what_they_hold_and_what_rings_for_them(store: Store, world: World) -> None:
    everyone = ["ana", "bruno", "sofia"]
    c1 = (await world.receive("wa", address="5511900000001")).after
    c2 = (await world.receive("fb", address="998877001", tp=FB)).after
    assert await store.agent_loads(everyone) == {"ana": {}, "bruno": {}, "sofia": {}}
    await world.change(c1.id, offer(world, ANA))
    await world.change(c2.id, offer(world, ANA))
    assert (await store.agent_loads(["ana"]))["ana"] == {"whatsapp": 1, "messenger": 1}, "an offer reserves its room"
    await world.change(c1.id, accept(world, ANA))
    await world.change(c2.id, decline(world, ANA))
    assert await store.agent_loads(everyone) == {"ana": {"whatsapp": 1}, "bruno": {}, "sofia": {}}
    await world.change(c1.id, transfer(world, ANA, BRUNO))
    assert await store.agent_loads(["ana", "bruno"]) == {"ana": {"whatsapp": 1}, "bruno": {"whatsapp": 1}}, "both, until accepted"
    await world.change(c1.id, accept(world, BRUNO))
    assert await store.agent_loads(["ana", "bruno"]) == {"ana": {}, "bruno": {"whatsapp": 1}}
    await world.claim(c2.id, BRUNO)
    assert (await store.agent_loads(["bruno"]))["bruno"] == {"whatsapp": 1, "messenger": 1}
    await world.to_inbox(c2.id, BRUNO)
    await world.end(c1.id, BRUNO)
    assert await store.agent_loads(everyone) == {"ana": {}, "bruno": {}, "sofia": {}}


# --------------------------------------------------------------------------- any sequence: the index equals a recount

ADDRESSES = (("5511900000001", WA), ("5511900000002", WA), ("998877001", FB))
AGENTS = (ANA, BRUNO)
LOADED = ["ana", "bruno", "sofia"]
Op = tuple[str, int, int]
"""(what, which contact, which agent)"""

operations = st.lists(
    st.tuples(
        st.sampled_from(
            ["receive", "receive", "offer", "offer", "accept", "decline", "time_out", "withdraw", "claim", "assign",
             "to_inbox", "to_sales", "to_support", "transfer", "send", "end"]
        ),
        st.integers(0, len(ADDRESSES) - 1),
        st.integers(0, len(AGENTS) - 1),
    ),
    min_size=4,
    max_size=30,
)


def _decide(world: World, what: str, agent: Agent) -> Callable[[Conversation], rules.Outcome | None]:
    tps = {t.id: t for t in (WA, FB)}
    return {
        "offer": offer(world, agent),
        "accept": accept(world, agent),
        "decline": decline(world, agent),
        "time_out": lambda c: routing.time_out(c, now=world.tick(POLICY.offer_timeout_ms), message_id=world.new_id("m", of=c)),
        "withdraw": lambda c: routing.withdraw(c, agent.id, now=world.tick(), message_id=world.new_id("m", of=c)),
        "claim": lambda c: rules.claim(c, agent),
        "assign": lambda c: rules.assign(c, SOFIA, agent),
        "to_inbox": lambda c: rules.send_to_inbox(c, agent, tps[c.touchpoint_id]),
        "to_sales": to_queue(world, agent, SALES),
        "to_support": to_queue(world, agent, SUPPORT),
        "transfer": lambda c: transfer(world, SOFIA, BRUNO if agent is ANA else ANA)(c),
        "send": lambda c: world.decide_send(c, "hi", agent),
        "end": lambda c: rules.end(c, agent, world.tick()),
    }[what]


async def recount(store: Store, world: World) -> dict[str, object]:
    """Each queue's line, from every conversation there is."""
    everything: list[Conversation] = []
    for address, tp in ADDRESSES:
        contact = await world.contact(address, tp=tp)
        everything.extend(await store.conversations_of_contact(contact.id))
    out: dict[str, object] = {}
    for queue in ("sales", "support"):
        line = sorted((c for c in everything if routing.is_waiting(c) and c.queue_id == queue), key=routing.arrival)
        ringing = sorted((c for c in everything if routing.is_ringing(c) and c.queue_id == queue), key=routing.arrival)
        out[queue] = (ids(line), (len(line), routing.arrival(line[0])[0] if line else None), ids(ringing))
    for agent in LOADED:
        counts: dict[str, int] = {}
        for c in everything:
            if agent in routing.loaded(c):
                counts[c.channel] = counts.get(c.channel, 0) + 1
        out[agent] = counts
    return out


async def indexed(store: Store) -> dict[str, object]:
    out: dict[str, object] = {}
    for queue in ("sales", "support"):
        # Read in pages of one, from cursor to cursor, as the router reads it.
        line: list[Conversation] = []
        while page := await store.waiting(queue, routing.arrival(line[-1]) if line else None, 1):
            line.extend(page)
        out[queue] = (ids(line), await store.waiting_counts(queue), ids(await store.ringing(queue)))
    out.update(await store.agent_loads(LOADED))
    return out


async def _run_and_recount(kind: str, plan: list[Op]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with STORES[kind](Path(tmp)) as store:
            world = World(store)
            for what, who, agent in plan:
                address, tp = ADDRESSES[who]
                if what == "receive":
                    await world.receive("hello", address=address, tp=tp)
                else:
                    contact = await world.contact(address, tp=tp)
                    conv = await store.latest_conversation(contact.id, tp.id)
                    if conv is None:
                        continue
                    try:
                        outcome = _decide(world, what, AGENTS[agent])(conv)
                    except DomainError:
                        continue  # refused by the rules: nothing to store
                    if outcome is None or not rules.changes_something(outcome, conv):
                        continue
                    await store.commit(outcome)
                assert await indexed(store) == await recount(store, world), what


@pytest.mark.parametrize("kind", list(STORES))
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(plan=operations)
@example(plan=[("receive", 0, 0), ("receive", 1, 0), ("receive", 0, 0), ("offer", 0, 0), ("decline", 0, 0)])
@example(plan=[("receive", 2, 0), ("claim", 2, 0), ("transfer", 2, 0), ("accept", 2, 1), ("end", 2, 1)])
def test_the_lines_and_loads_equal_a_recount_after_any_sequence_of_changes(kind: str, plan: list[Op]) -> None:
    asyncio.run(_run_and_recount(kind, plan))


async def test_a_sqlite_file_from_before_the_line_and_loads_gets_them_filled(tmp_path: Path) -> None:
    from server.store.sqlite import SqliteStore

    path = tmp_path / "old.sqlite3"
    store = SqliteStore(path)
    world = World(store)
    c1 = (await world.receive("first", address="5511900000001")).after
    c2 = (await world.receive("second", address="5511900000002")).after
    await world.receive("first, again", address="5511900000001")
    await world.change(c2.id, offer(world, ANA))
    await store.close()
    old = sqlite3.connect(path)
    old.execute("DROP TABLE line")  # as written by a version without the index
    old.execute("DROP TABLE agent_load")  # nor the counters
    old.commit()
    old.close()
    reopened = SqliteStore(path)
    try:
        assert ids(await reopened.waiting("sales", None, 10)) == [c1.id]
        assert ids(await reopened.ringing("sales")) == [c2.id]
        assert await reopened.agent_loads(["ana"]) == {"ana": {"whatsapp": 1}}
    finally:
        await reopened.close()


async def test_a_redis_store_from_before_the_lines_and_loads_gets_them_filled(tmp_path: Path) -> None:
    async with STORES["redis"](tmp_path) as store:
        world = World(store)
        c1 = (await world.receive("first", address="5511900000001")).after
        c2 = (await world.receive("second", address="5511900000002")).after
        await world.change(c2.id, offer(world, ANA))
        client = store.client  # type: ignore[attr-defined]
        prefix = store._p  # type: ignore[attr-defined]
        await world.claim(c1.id, BRUNO)
        gone = [f"{prefix}waiting:sales", f"{prefix}ringing:sales", f"{prefix}load:ana", f"{prefix}load:bruno"]
        await client.delete(*gone, f"{prefix}routing:filled")  # as written before them
        assert await store.agent_loads(["ana"]) == {"ana": {}}
        await store.start()
        assert ids(await store.waiting("sales", None, 10)) == []
        assert ids(await store.ringing("sales")) == [c2.id]
        assert await store.agent_loads(["ana", "bruno"]) == {"ana": {"whatsapp": 1}, "bruno": {"whatsapp": 1}}
