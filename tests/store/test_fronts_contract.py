"""The Fronts port's contract (server/ringing.py): which node rings an
agent's alert, run against the memory and the Redis implementation alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.ringing import Fronts, MemoryFronts


@pytest.fixture(params=["memory", "redis"])
async def fronts(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Fronts]:
    if request.param == "memory":
        yield MemoryFronts()
        return
    from server.redis.fronts import RedisFronts
    from tests.cluster.redisproc import redis_binary, shared_redis

    if redis_binary() is None:
        pytest.skip("no redis-server")
    f = RedisFronts(shared_redis().url, prefix=f"f:{tmp_path.name}:")
    try:
        yield f
    finally:
        await f.close()


async def test_the_node_of_the_best_screen_wins(fronts: Fronts) -> None:
    assert await fronts.winner("ana", 1000) is None
    await fronts.put("ana", "n1", (False, 900), 5000)
    await fronts.put("ana", "n2", (False, 950), 5000)
    assert await fronts.winner("ana", 1000) == "n2", "most recently in front"
    await fronts.put("ana", "n1", (True, 800), 5000)
    assert await fronts.winner("ana", 1000) == "n1", "in front beats most recently in front"
    await fronts.put("ana", "n2", (True, 800), 5000)
    assert await fronts.winner("ana", 1000) == "n2", "equal ranks: the greater node id"
    assert await fronts.winner("bruno", 1000) is None


async def test_a_removed_or_expired_entry_stops_counting(fronts: Fronts) -> None:
    await fronts.put("ana", "n1", (True, 900), 5000)
    await fronts.put("ana", "n2", (False, 100), 9000)
    await fronts.put("ana", "n1", None, 5000)
    assert await fronts.winner("ana", 1000) == "n2"
    await fronts.put_many("n1", {"ana": (True, 950), "bruno": (False, 1)}, 2000)
    assert await fronts.winner("ana", 1999) == "n1"
    assert await fronts.winner("ana", 2000) == "n2", "n1 stopped renewing (a dead node)"
    assert await fronts.winner("bruno", 1999) == "n1"


async def test_one_claim_per_alert(fronts: Fronts) -> None:
    won = await asyncio.gather(*(fronts.claim("agent:ana:7", 60_000) for _ in range(10)))
    assert sum(won) == 1
    assert await fronts.claim("agent:ana:8", 60_000)
