"""The broker and the session timers on a real sharded Redis Cluster (three
primaries): the same guarantees as on one redis-server. The store's contract
suite and the node-level tests (tests/cluster/test_cluster.py) run on a
Cluster too."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
from redis.crc import key_slot

from server.cluster_timers import ClusterTimers
from server.redis_broker import RedisBroker
from tests.cluster.conftest import wait_until
from tests.cluster.redisproc import RedisClusterProcess, shared_redis_cluster
from tests.cluster.test_redis_broker import Heard, event, make_broker


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
        await asyncio.sleep(0.1)
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


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def test_three_nodes_on_a_cluster_fire_each_due_entry_once(rc: RedisClusterProcess) -> None:
    fired: Counter[str] = Counter()

    async def fire(conv_id: str) -> bool:
        fired[conv_id] += 1
        await asyncio.sleep(0.01)
        return True

    nodes = [ClusterTimers(rc.url, fire, now_ms, poll_seconds=0.05) for _ in range(3)]
    for t in nodes:
        t.start()
    try:
        due = now_ms() + 300
        for i in range(60):
            for t in nodes:
                t.watch(f"c{i}", due + i)
        await wait_until(lambda: len(fired) == 60, 10, "all fired")
        await asyncio.sleep(0.3)
        assert set(fired.values()) == {1}
    finally:
        for t in nodes:
            await t.stop()
