"""The broker and the session timers on a real sharded Redis Cluster (three
primaries): the same guarantees as on one redis-server. The store's contract
suite, the node-level tests (tests/cluster/test_cluster.py) and the timers'
exactly-once test (test_cluster_timers.py) run on a Cluster too."""

from __future__ import annotations

import asyncio

import pytest
from redis.crc import key_slot

from server.redis.broker import RedisBroker
from server.redis.store import RedisStore
from tests.cluster.conftest import wait_until
from tests.cluster.redisproc import RedisClusterProcess, shared_redis_cluster
from tests.cluster.test_redis_broker import Heard, event, make_broker
from tests.store.world import World


@pytest.fixture
def rc() -> RedisClusterProcess:
    c = shared_redis_cluster()
    c.flushall()
    return c


def streams_on_every_primary(rc: RedisClusterProcess) -> list[str]:
    """One queue stream per primary: the publish script of each runs on another shard."""
    found: dict[int, str] = {}
    for n in range(1000):
        stream = f"queue:q{n}"
        node = rc.node_for_slot(key_slot(f"sb:seq:{{{stream}}}".encode()))
        found.setdefault(node.port, stream)
        if len(found) == len(rc.nodes):
            return list(found.values())
    raise AssertionError("no stream for some primary")


async def test_publications_on_every_shard_reach_listeners_and_survive_a_dropped_subscriber(rc: RedisClusterProcess) -> None:
    streams = streams_on_every_primary(rc)
    heard = Heard()
    listener = await make_broker(rc.url, heard)
    publisher = await make_broker(rc.url)
    brokers: list[RedisBroker] = [listener, publisher]
    try:
        for s in streams:
            await listener.subscribe(s)
        for n in range(1, 6):
            for s in streams:
                assert await publisher.publish(s, event(n)) == n
        await wait_until(lambda: all(heard.seqs(s) == [1, 2, 3, 4, 5] for s in streams), 5, "all heard")
        assert listener.epoch == publisher.epoch != ""
        assert await listener.positions(streams) == {s: 5 for s in streams}
        history = await listener.history(streams[1], 2)
        assert history is not None and [seq for seq, _ in history] == [3, 4, 5]

        # Redis drops every subscriber connection (as for its output buffer
        # limit) while publications go on: the listener reconnects and fills
        # the gap from each stream's history, every sequence once, in order.
        async def publish_more() -> None:
            for n in range(6, 41):
                for s in streams:
                    await publisher.publish(s, event(n))
                await asyncio.sleep(0.01)

        more = asyncio.create_task(publish_more())
        # Publications are going on (heard live, not yet all): now drop the subscribers.
        await wait_until(lambda: any(len(heard.seqs(s)) > 7 for s in streams), 5, "the new publications under way")
        for node in rc.nodes:
            node.command("CLIENT", "KILL", "TYPE", "pubsub")
        await more
        await wait_until(lambda: all(heard.seqs(s) == list(range(1, 41)) for s in streams), 10, "gaps filled")
        assert heard.resyncs == []
        assert listener.reconnects.value("connection") + listener.reconnects.value("watchdog") >= 1  # it did reconnect
        assert listener.gap_fills.value() >= 1  # and what it missed came from history
    finally:
        for b in brokers:
            await b.close()



async def test_a_new_client_used_by_many_coroutines_at_once(rc: RedisClusterProcess) -> None:
    """A node's first commands come at once (webhooks, agents reconnecting):
    redis-py's cluster client must learn the layout first, or its first
    connections break (server/store/redis.py: Cluster)."""
    store = RedisStore(rc.url, prefix="fresh:")
    try:
        worlds = [World(store, first_serial=1000 * i) for i in range(16)]
        made = await asyncio.gather(*(w.receive("hello", address=f"55119000{i:05d}") for i, w in enumerate(worlds)))
        assert len({m.after.id for m in made}) == 16
        assert {c.id for c in await store.inbox("sales")} == {m.after.id for m in made}
    finally:
        await store.close()
