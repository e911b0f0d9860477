"""ClusterTimers: one due-set in Redis, each entry fired by exactly one node."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from server.cluster_timers import ClusterTimers
from tests.cluster.conftest import wait_until
from tests.cluster.redisproc import shared_redis, shared_redis_cluster


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture(params=["redis", "redis-cluster"])
def one_or_sharded(request: pytest.FixtureRequest) -> str:
    """The session's redis-server, or its 3-primary Redis Cluster, emptied."""
    if request.param == "redis":
        r = shared_redis()
        assert r.command("FLUSHALL").startswith(b"+OK")
        return r.url
    c = shared_redis_cluster()
    c.flushall()
    return c.url


async def test_three_nodes_fire_each_due_entry_once(one_or_sharded: str) -> None:
    redis_url = one_or_sharded
    fired: Counter[str] = Counter()
    by_node: dict[int, int] = {}

    def firer(node: int):  # type: ignore[no-untyped-def]
        async def fire(conv_id: str) -> bool:
            fired[conv_id] += 1
            by_node[node] = by_node.get(node, 0) + 1
            await asyncio.sleep(0.01)
            return True

        return fire

    polls = [0, 0, 0]

    def clock(node: int):  # type: ignore[no-untyped-def]
        def now() -> int:
            polls[node] += 1  # a node reads the clock once per poll, as it starts the poll
            return now_ms()

        return now

    nodes = [ClusterTimers(redis_url, firer(i), clock(i), poll_seconds=0.05) for i in range(3)]
    for t in nodes:
        t.start()
    try:
        due = now_ms() + 300
        for i in range(60):
            # Every node is told about every window, as after a restart scan;
            # node 0 also hears a stale, earlier due time that must not win.
            for t in nodes:
                t.watch(f"c{i}", due + i)
            nodes[0].watch(f"c{i}", due - 10_000)
        await wait_until(lambda: len(fired) == 60, 10, "all fired")
        # Room for a second firing, as a barrier: every node starts two more
        # polls, so one whole poll of each ran after all had fired. An entry
        # still (or again) in the due-set was claimed, and fired, by one of them.
        after = list(polls)
        await wait_until(lambda: all(polls[i] >= after[i] + 2 for i in range(3)), 5, "two more polls on every node")
        assert set(fired.values()) == {1}
    finally:
        for t in nodes:
            await t.stop()


async def test_a_renewed_window_fires_at_the_later_time(redis_url: str) -> None:
    fired: list[tuple[str, int]] = []

    async def fire(conv_id: str) -> bool:
        fired.append((conv_id, now_ms()))
        return True

    t = ClusterTimers(redis_url, fire, now_ms, poll_seconds=0.05)
    t.start()
    try:
        start = now_ms()
        t.watch("c1", start + 200)
        t.watch("c1", start + 900)  # the contact wrote again
        await wait_until(lambda: fired, 5, "fired")
        assert fired[0][1] >= start + 900
    finally:
        await t.stop()


async def test_a_node_dying_mid_fire_leaves_it_to_another(redis_url: str) -> None:
    fired: list[str] = []

    hanging = asyncio.Event()

    async def hang(conv_id: str) -> bool:
        hanging.set()
        await asyncio.Event().wait()  # this node never finishes (as if killed)
        return True

    async def fire(conv_id: str) -> bool:
        fired.append(conv_id)
        return True

    doomed = ClusterTimers(redis_url, hang, now_ms, poll_seconds=0.05, lease_ms=500)
    doomed.watch("c1", now_ms())
    doomed.start()
    await asyncio.wait_for(hanging.wait(), 5)  # doomed has claimed c1 and hangs in it
    survivor = ClusterTimers(redis_url, fire, now_ms, poll_seconds=0.05, lease_ms=500)
    survivor.start()
    try:
        await wait_until(lambda: fired == ["c1"], 5, "the lease ran out and the survivor fired")
    finally:
        await doomed.stop()
        await survivor.stop()


async def test_a_queued_watch_never_brings_back_what_a_commit_removed(one_or_sharded: str) -> None:
    """As the nodes run (``store_writes``): the store's commits add and remove
    the entries. A watch queued on this node when another node ended the
    conversation (its commit removed the entry) must not put it back; a
    watch of a conversation still watched moves it later; ``rearm`` (a fire
    that found the window renewed) adds it back."""
    from server.store.redis import DUE_SET, connect

    fired: list[str] = []

    async def fire(conv_id: str) -> bool:
        fired.append(conv_id)
        return True

    r = connect(one_or_sharded)
    key = "sb:" + DUE_SET
    far = now_ms() + 3_600_000
    await r.zadd(key, {"open": far})  # written by its last commit; "ended" was removed by its end
    t = ClusterTimers(one_or_sharded, fire, now_ms, poll_seconds=0.05, store_writes=True)
    t.watch("open", far + 1000)
    t.watch("ended", far + 1000)
    t.rearm("renewed", now_ms() + 100)
    t.start()
    try:
        await wait_until(lambda: fired == ["renewed"], 5, "the re-armed entry fired")
        assert await r.zrange(key, 0, -1, withscores=True) == [(b"open", float(far + 1000))]
    finally:
        await t.stop()
        await r.aclose()
