"""ClusterTimers: one due-set in Redis, each entry fired by exactly one node.

The due-set's only writer is the store's commit; here the tests write it as
a commit would (``commit_window``), and a fire that locks removes the entry
as the lock's commit does."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from server.redis.store import DUE_SET, connect
from server.redis.timers import ClusterTimers
from tests.cluster.conftest import wait_until
from tests.cluster.redisproc import shared_redis, shared_redis_cluster


def now_ms() -> int:
    return time.time_ns() // 1_000_000


KEY = "sb:" + DUE_SET


async def commit_window(url: str, windows: dict[str, int]) -> None:
    """What the store's commit writes when windows open or move (ZADD GT)."""
    r = connect(url)
    try:
        await r.zadd(KEY, windows, gt=True)
    finally:
        await r.aclose()


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
            await r.zrem(KEY, conv_id)  # as the lock's commit does
            return True

        return fire

    r = connect(redis_url)
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
        await commit_window(redis_url, {f"c{i}": due + i for i in range(60)})
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
        await r.aclose()


async def test_three_nodes_fire_a_storm_in_batches_each_entry_once(one_or_sharded: str) -> None:
    """With ``fire_many``: 3,000 windows due in the same second, claimed in
    batches of 200 across three nodes; each fired once, the failed one again
    after its lease."""
    redis_url = one_or_sharded
    fired: Counter[str] = Counter()
    batches: list[int] = []
    failed_once: set[str] = set()
    r = connect(redis_url)

    async def fire(conv_id: str) -> bool:
        raise AssertionError("fire_many is given")

    async def fire_many(conv_ids: list[str]) -> list[str]:
        batches.append(len(conv_ids))
        failed = [c for c in conv_ids if c == "c7" and c not in failed_once]
        failed_once.update(failed)
        done = [c for c in conv_ids if c not in failed]
        fired.update(done)
        if done:
            await r.zrem(KEY, *done)  # as the locks' commits do
        return failed

    nodes = [
        ClusterTimers(redis_url, fire, now_ms, poll_seconds=0.05, batch=200, lease_ms=500, fire_many=fire_many)
        for _ in range(3)
    ]
    for t in nodes:
        t.start()
    try:
        due = now_ms() + 200
        await commit_window(redis_url, {f"c{i}": due for i in range(3000)})
        await wait_until(lambda: len(fired) == 3000, 10, "all fired")
        assert set(fired.values()) == {1}
        assert max(batches) == 200, "claimed in batches, not one by one"
        assert await r.zcard(KEY) == 0
    finally:
        for t in nodes:
            await t.stop()
        await r.aclose()


async def test_a_renewed_window_fires_at_the_later_time(redis_url: str) -> None:
    fired: list[tuple[str, int]] = []

    async def fire(conv_id: str) -> bool:
        fired.append((conv_id, now_ms()))
        return True

    t = ClusterTimers(redis_url, fire, now_ms, poll_seconds=0.05)
    t.start()
    try:
        start = now_ms()
        await commit_window(redis_url, {"c1": start + 200})
        await commit_window(redis_url, {"c1": start + 900})  # the contact wrote again
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
    await commit_window(redis_url, {"c1": now_ms()})
    doomed.start()
    await asyncio.wait_for(hanging.wait(), 5)  # doomed has claimed c1 and hangs in it
    survivor = ClusterTimers(redis_url, fire, now_ms, poll_seconds=0.05, lease_ms=500)
    survivor.start()
    try:
        await wait_until(lambda: fired == ["c1"], 5, "the lease ran out and the survivor fired")
    finally:
        await doomed.stop()
        await survivor.stop()


async def test_the_timers_never_write_the_due_set(one_or_sharded: str) -> None:
    """The commit is the due-set's only writer: a watch writes nothing (a
    watch queued on one node once brought back an entry another node's
    commit had removed), and a fire that did not lock leaves the entry as
    the commits left it, so it fires again."""
    url = one_or_sharded
    fired: list[str] = []

    async def fire(conv_id: str) -> bool:
        fired.append(conv_id)
        return False  # the window had not passed (a renewal still on its way)

    t = ClusterTimers(url, fire, now_ms, poll_seconds=0.05, lease_ms=60_000)
    due = now_ms()
    t.watch("ended", due)  # the commit that ended it removed it: nothing brings it back
    await commit_window(url, {"open": due})
    t.start()
    r = connect(url)
    try:
        await wait_until(lambda: fired.count("open") >= 2, 5, "fired, and again: the entry is still there")
        assert "ended" not in fired
        assert await r.zrange(KEY, 0, -1, withscores=True) == [(b"open", float(due))]
    finally:
        await t.stop()
        await r.aclose()


async def test_a_storm_coming_is_prepared_on_every_node_before_it_fires(one_or_sharded: str) -> None:
    """PREPARE_MIN or more windows due within the lead: each node's ``prepare``
    hears of all of them a few seconds ahead, before any of them fires (the
    warm-up the single node's timers do, e.g. phone numbers formatted ahead)."""
    from server.timers import PREPARE_MIN

    redis_url = one_or_sharded
    r = connect(redis_url)
    prepared: list[tuple[int, int, set[str]]] = []
    fired_at: list[int] = []

    def preparer(node: int):  # type: ignore[no-untyped-def]
        async def prepare(conv_ids: list[str]) -> None:
            prepared.append((node, now_ms(), set(conv_ids)))

        return prepare

    async def fire_many(conv_ids: list[str]) -> list[str]:
        fired_at.append(now_ms())
        await r.zrem(KEY, *conv_ids)  # as the locks' commit does
        return []

    async def fire(conv_id: str) -> bool:
        raise AssertionError("a batch goes through fire_many")

    storm = {f"s{i:04}": now_ms() + 2_500 for i in range(PREPARE_MIN + 50)}
    await commit_window(redis_url, storm)
    nodes = [
        ClusterTimers(redis_url, fire, now_ms, poll_seconds=0.05, fire_many=fire_many, prepare=preparer(i)) for i in range(2)
    ]
    for t in nodes:
        t.start()
    try:
        await wait_until(lambda: len({n for n, _, _ in prepared}) == 2, 5, "both nodes prepared")
        await wait_until(lambda: len(fired_at) >= 1, 10, "the storm fired")
        for _node, at, ids in prepared:
            assert ids == set(storm)
            assert at < min(fired_at) - 500  # well ahead of the first lock
        assert len(prepared) == 2
    finally:
        for t in nodes:
            await t.stop()
        await r.aclose()
