"""A lock storm on two nodes sharing Redis (issue 16): the node that claimed
a batch dies in the middle of its commit; the survivor locks the rest once
the claim's lease runs out. No window is left unlocked, none is locked twice
(one ``locked`` timeline entry each: it is written in the lock's own commit),
and every lock the survivor commits is published by it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from server.broker import MemoryBroker
from server.core.model import Inbound
from server.core.routing import TIMELINE
from server.metrics import Metrics
from server.node import make_app
from server.redis.store import RedisStore
from server.redis.timers import ClusterTimers
from server.store.base import StoreError
from tests.cluster.conftest import wait_until
from tests.conftest import make_config

DAY_MS = 25 * 3600 * 1000
N = 40


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def test_a_node_dying_mid_batch_leaves_the_rest_to_another_and_locks_none_twice(redis_url: str) -> None:
    config = make_config(window=3600)
    stores = [RedisStore(redis_url, windows=config.windows) for _ in range(2)]
    brokers = [MemoryBroker(), MemoryBroker()]
    doomed, survivor = (make_app(config, s, b, Metrics()) for s, b in zip(stores, brokers, strict=True))
    start = now_ms()
    convs = []
    for n in range(N):
        made = await survivor.intake.receive("wa", f"55119000{n:04d}", Inbound(kind="text", text="oi", at=start))
        assert made is not None
        convs.append(made.after.id)
    for app in (doomed, survivor):
        app.intake.clock = lambda: now_ms() + DAY_MS  # a day later: every window passed
    heard: list[list[str]] = [[], []]
    for i, broker in enumerate(brokers):
        broker.on_publication = lambda stream, seq, kind, data, i=i: heard[i].append(kind)

    # The doomed node commits half of its batch, then never returns (as if killed).
    committing = asyncio.Event()
    real_commit_many = stores[0].commit_many

    async def dying(outcomes: Sequence[object]) -> list[StoreError | None]:
        await real_commit_many(outcomes[: len(outcomes) // 2])  # type: ignore[arg-type]
        committing.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    stores[0].commit_many = dying  # type: ignore[method-assign]
    timers = [
        ClusterTimers(redis_url, app.intake.expire, app.intake.clock, fire_many=app.intake.expire_many, poll_seconds=0.05, lease_ms=500)
        for app in (doomed, survivor)
    ]
    timers[0].start()
    try:
        await asyncio.wait_for(committing.wait(), 5)
        timers[1].start()

        async def all_locked() -> bool:
            found = await stores[1].get_conversations(convs)
            return all(c.session_locked for c in found.values())

        for _ in range(100):
            if await all_locked():
                break
            await asyncio.sleep(0.1)
        assert await all_locked()
        for conv_id in convs:
            entries = [m for m in await stores[1].messages(conv_id) if m.kind == TIMELINE]
            assert [m.meta["event"] for m in entries] == ["locked"], conv_id
        await wait_until(lambda: heard[1].count("session.locked") == 2 * (N - N // 2), 5, "the survivor publishes its locks")
        assert heard[0] == []  # the doomed node died before publishing (see bench/README.md: lock storm)
    finally:
        for t in timers:
            await t.stop()
        for s in stores:
            await s.close()
