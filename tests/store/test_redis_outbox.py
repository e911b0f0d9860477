"""The Redis store's outbox (server/store/redis_outbox.py): cross-slot
indexes applied after the commit, in commit order, by exactly one drainer per
shard, and finished by another node when the committing one dies.

Each test runs on a real sharded Redis Cluster (three primaries) and on one
redis-server with the outbox forced on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from msgspec.structs import replace

from server.core import conversation as rules
from server.core.errors import DomainError
from server.core.ids import thread_shard
from server.core.model import Agent
from server.redis import outbox as redis_outbox
from server.redis.store import DUE_SET, RedisStore, WrongShard
from server.store.base import VersionConflict
from tests.cluster.conftest import wait_until
from tests.cluster.redisproc import shared_redis, shared_redis_cluster
from tests.store.world import ANA, BRUNO, POLICIES, WA, WINDOW_MS, World, ids

Opener = Callable[..., RedisStore]


class DiesAfterCommit(RedisStore):
    """A node killed right after its commit script ran: nothing applies its
    outbox entry, and the shard's lease its script took runs out by itself."""

    async def _settle_never(self, shard: str, entry: int, leased: object = None) -> None:
        return None

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.outbox.settle = self._settle_never  # type: ignore[method-assign]


async def members(store: RedisStore, key: str) -> set[str]:
    return {m.decode() for m in await store._r.zrange(key, 0, -1)}


@pytest.fixture(params=["redis-cluster", "redis-outbox"])
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    """Opens stores ("nodes") on one shared Redis, under this test's prefix."""
    url = shared_redis_cluster().url if request.param == "redis-cluster" else shared_redis().url
    inline = None if request.param == "redis-cluster" else False
    opened: list[RedisStore] = []

    def open_(cls: type[RedisStore] = RedisStore, **kw: object) -> RedisStore:
        store = cls(url, prefix=f"ob:{tmp_path.name}:", inline_indexes=inline, **kw)  # type: ignore[arg-type]
        opened.append(store)
        return store

    yield open_
    for store in opened:
        await store.close()


async def test_indexes_a_dead_node_left_behind_are_applied_in_order_by_another(opener: Opener) -> None:
    doomed = World(opener(DiesAfterCommit, outbox_lease_ms=200))
    # Created (inbox), claimed (assigned), sent back (inbox), claimed by Bruno:
    # four entries for one conversation that only make sense in this order.
    conv = (await doomed.receive("hello")).after
    await doomed.claim(conv.id, ANA)
    await doomed.to_inbox(conv.id, ANA)
    await doomed.claim(conv.id, BRUNO)
    other = (await doomed.receive("hi", address="5511900000002")).after  # stays in the inbox

    survivor = opener()
    # The commits are there, the lists are not yet.
    assert (await survivor.get_conversation(conv.id)).assignee_id == BRUNO.id  # type: ignore[union-attr]
    assert await survivor.inbox("sales") == [] and await survivor.assigned("bruno") == []

    # Once the dead node's lease runs out, the survivor's sweeper applies it all.
    swept = 0

    async def sweep() -> bool:  # true once it swept something and then found nothing left
        nonlocal swept
        drained = await survivor.outbox.sweep()
        swept += drained
        return swept >= 1 and drained == 0

    await wait_until(sweep, 5, "the sweeper applied the dead node's entries")
    assert ids(await survivor.assigned("bruno")) == [conv.id]
    assert await survivor.assigned("ana") == []
    assert ids(await survivor.inbox("sales")) == [other.id]
    # Applied in order: the index keys themselves hold no stale member
    # (list reads re-check, so only the raw keys show the order).
    assert await members(survivor, survivor._inbox("sales")) == {other.id}
    assert await members(survivor, survivor._assigned("ana")) == set()
    assert await members(survivor, survivor._assigned("bruno")) == {conv.id}
    assert {c.id for c in await survivor.unlocked_open()} == {conv.id, other.id}
    assert ids(await survivor.conversations_of_contact(conv.contact_id)) == [conv.id]


async def test_a_commit_waits_out_a_dead_drainers_lease_then_applies_its_own(opener: Opener) -> None:
    store = opener(outbox_lease_ms=300)
    world = World(store)
    conv = (await world.receive("hello")).after
    shard = thread_shard(conv.contact_id, conv.touchpoint_id)
    # A node took the shard's lease and died: nobody renews or releases it.
    r = store._r
    await r.set(store.outbox.key(shard, "obl"), "dead-node", px=300)

    claimed = await world.claim(conv.id, ANA)  # returns once its own entry is applied
    assert claimed.after.assignee_id == ANA.id
    assert ids(await store.assigned("ana")) == [conv.id]
    assert await store.inbox("sales") == []
    assert await r.get(store.outbox.key(shard, "obl")) is None  # released by the new drainer


async def test_two_nodes_changing_one_shard_at_once_leave_every_index_right(opener: Opener) -> None:
    """Two nodes claim and send back the same conversations concurrently (each
    commit a compare-and-set); afterwards every index matches every state."""
    nodes = [World(opener()), World(opener(), first_serial=5000)]
    # Contacts chosen in one shard, so every commit contends for one outbox.
    shard = thread_shard("whatsapp:5511900000001", WA.id)
    addresses = [a for a in (f"55119{n:08d}" for n in range(4000)) if thread_shard(f"whatsapp:{a}", WA.id) == shard][:3]
    assert len(addresses) == 3
    convs = [(await nodes[0].receive("hello", address=a)).after.id for a in addresses]

    commits = 0

    async def churn(world: World, agent: Agent, rounds: int) -> None:
        nonlocal commits
        for i in range(rounds):
            conv_id = convs[i % len(convs)]
            for decide in (lambda c: rules.claim(c, agent), lambda c: rules.send_to_inbox(c, agent, WA)):
                try:
                    await world.store.commit(decide(await world.conv(conv_id)))
                    commits += 1
                except (VersionConflict, DomainError):
                    pass  # the other node got there first: that is the race


    await asyncio.gather(churn(nodes[0], ANA, 30), churn(nodes[1], BRUNO, 30))
    assert commits >= 30  # both raced, and changes went through
    store = nodes[0].store
    states = {c: await nodes[0].conv(c) for c in convs}
    inbox = set(ids(await store.inbox("sales")))
    assigned = set(ids(await store.assigned("ana"))) | set(ids(await store.assigned("bruno")))
    for conv_id, conv in states.items():
        assert (conv_id in inbox) == (conv.assignee_id is None), conv
        assert (conv_id in assigned) == (conv.assignee_id is not None), conv
    # The raw index keys hold exactly the members the states say (no stale ones).
    assert isinstance(store, RedisStore)
    assert await members(store, store._inbox("sales")) == {c for c, conv in states.items() if conv.assignee_id is None}
    for agent in ("ana", "bruno"):
        assert await members(store, store._assigned(agent)) == {c for c, conv in states.items() if conv.assignee_id == agent}


async def test_a_command_redis_refuses_does_not_hold_the_shard_back(opener: Opener) -> None:
    store = opener()
    world = World(store)
    conv = (await world.receive("hello")).after
    shard = thread_shard(conv.contact_id, conv.touchpoint_id)
    r = store._r
    # An entry whose command Redis refuses (a set command on a string key), queued before a real change.
    await r.set(f"ob:poison:{{{shard}}}", "a string")
    await r.rpush(store.outbox.key(shard, "ob"), redis_outbox.encode([["SADD", f"ob:poison:{{{shard}}}", "x"]]))
    await r.incr(store.outbox.key(shard, "obn"))
    await world.claim(conv.id, ANA)
    assert ids(await store.assigned("ana")) == [conv.id]
    assert await r.llen(store.outbox.key(shard, "ob")) == 0


async def test_an_id_outside_its_threads_shard_is_refused_and_nothing_is_written(opener: Opener) -> None:
    store = opener()
    world = World(store)
    outcome = await world.decide_receive("hello")
    wrong = outcome.after.id.rsplit(".", 1)[0] + ".000"
    if wrong == outcome.after.id:
        wrong = outcome.after.id.rsplit(".", 1)[0] + ".001"
    with pytest.raises(WrongShard):
        await store.commit(replace(outcome, after=replace(outcome.after, id=wrong)))
    assert await store.get_conversation(wrong) is None
    assert await store.latest_conversation(outcome.after.contact_id, WA.id) is None
    assert await store.get_conversation("c-made-by-hand") is None  # names no shard: not found


async def test_the_due_set_follows_the_window_and_forgets_an_ended_conversation(opener: Opener) -> None:
    store = opener(windows=POLICIES)
    world = World(store)
    due = store._p + DUE_SET  # type: ignore[attr-defined]
    conv = (await world.receive("hello")).after
    assert await store._r.zscore(due, conv.id) == conv.last_inbound_at + WINDOW_MS  # type: ignore[attr-defined]
    await world.claim(conv.id)
    await world.end(conv.id)
    assert await store._r.zscore(due, conv.id) is None  # type: ignore[attr-defined]
