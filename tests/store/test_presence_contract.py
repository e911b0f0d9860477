"""The Presence port's contract (server/presence.py), run against the memory,
SQLite and Redis implementations alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.presence import AgentRecord, MemoryPresence, Presence


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def presence(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Presence]:
    if request.param == "memory":
        yield MemoryPresence()
        return
    if request.param == "sqlite":
        from server.store.presence_sqlite import SqlitePresence
        from server.store.sqlite import SqliteStore

        store = SqliteStore(tmp_path / "s.sqlite3")
        try:
            yield SqlitePresence(store, grace_ms=1000, clock=lambda: 0)
        finally:
            await store.close()
        return
    from server.redis.presence import RedisPresence
    from tests.cluster.redisproc import redis_binary, shared_redis

    if redis_binary() is None:
        pytest.skip("no redis-server")
    p = RedisPresence(shared_redis().url, prefix=f"p:{tmp_path.name}:")
    try:
        yield p
    finally:
        await p.close()


async def test_an_agent_never_stored_is_offline(presence: Presence) -> None:
    assert await presence.get_many(["ana"]) == {"ana": AgentRecord()}
    assert AgentRecord().status == "offline"


async def test_compare_and_set_only_from_what_was_read(presence: Presence) -> None:
    fresh = AgentRecord()
    up = AgentRecord(status="available", since=5)
    assert await presence.compare_and_set("ana", fresh, up)
    assert not await presence.compare_and_set("ana", fresh, AgentRecord(status="away"))  # stale read
    assert (await presence.get_many(["ana"]))["ana"] == up


async def test_compare_and_set_racing_writers_one_wins(presence: Presence) -> None:
    fresh = AgentRecord()
    won = await asyncio.gather(
        *(presence.compare_and_set("ana", fresh, AgentRecord(status="available", since=i)) for i in range(10))
    )
    assert sum(won) == 1


async def test_screens_count_until_their_time(presence: Presence) -> None:
    await presence.touch("n1", ["ana", "bruno"], until=1000)
    await presence.touch("n2", ["bruno"], until=3000)
    assert await presence.present(["ana", "bruno", "carla"], now=999) == {"ana", "bruno"}
    assert await presence.present(["ana", "bruno"], now=1000) == {"bruno"}
    assert await presence.present(["ana", "bruno"], now=3000) == set()
    await presence.touch("n1", ["ana"], until=5000)  # a heartbeat renews
    assert await presence.present(["ana"], now=4000) == {"ana"}


async def test_offers_index(presence: Presence) -> None:
    await presence.add_offer("ana", "c1")
    await presence.add_offer("ana", "c2")
    await presence.discard_offer("ana", "c1")
    assert await presence.offers_of("ana") == {"c2"}
    assert await presence.offers_of("bruno") == set()
    await presence.add_offer("carla", "c3")
    await presence.add_offer("carla", "c4")
    assert await presence.offers_of_many(["ana", "bruno", "carla"]) == {"ana": {"c2"}, "bruno": set(), "carla": {"c3", "c4"}}
    assert await presence.offers_of_many([]) == {}


async def test_lease_has_one_holder_at_a_time(presence: Presence) -> None:
    inside = 0
    most = 0

    async def hold() -> None:
        nonlocal inside, most
        async with presence.lease("routing", 5000):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(hold() for _ in range(5)))
    assert most == 1


async def test_a_lease_held_longer_than_its_ttl_stays_held(presence: Presence) -> None:
    order: list[str] = []

    async def long_holder() -> None:
        async with presence.lease("routing", 150):
            order.append("long in")
            await asyncio.sleep(0.5)  # past the ttl: renewed while held
            order.append("long out")

    async def second() -> None:
        await asyncio.sleep(0.05)
        async with presence.lease("routing", 150):
            order.append("second in")

    await asyncio.gather(long_holder(), second())
    assert order == ["long in", "long out", "second in"]


async def test_sqlite_records_survive_reopening_and_count_present_for_the_grace(tmp_path: Path) -> None:
    from server.store.presence_sqlite import SqlitePresence
    from server.store.sqlite import SqliteStore

    up, away = AgentRecord(status="available", since=5, capacity=60), AgentRecord(status="away", since=7)
    store = SqliteStore(tmp_path / "s.sqlite3")
    first = SqlitePresence(store, grace_ms=1000, clock=lambda: 0)
    assert await first.compare_and_set("ana", AgentRecord(), up)
    assert await first.compare_and_set("bruno", AgentRecord(), away)
    await store.close()
    store = SqliteStore(tmp_path / "s.sqlite3")
    try:
        again = SqlitePresence(store, grace_ms=1000, clock=lambda: 50_000)
        assert await again.get_many(["ana", "bruno", "carla"]) == {"ana": up, "bruno": away, "carla": AgentRecord()}
        assert await again.present(["ana", "bruno", "carla"], now=50_999) == {"ana", "bruno"}, "one grace from reopening"
        assert await again.present(["ana", "bruno"], now=51_000) == set()
    finally:
        await store.close()


async def test_sqlite_writes_what_was_chosen_not_every_idle_time(tmp_path: Path) -> None:
    from server.store.presence_sqlite import SqlitePresence
    from server.store.sqlite import SqliteStore

    up = AgentRecord(status="available", since=5)
    store = SqliteStore(tmp_path / "s.sqlite3")
    first = SqlitePresence(store, grace_ms=1000, clock=lambda: 0)
    assert await first.compare_and_set("ana", AgentRecord(), up)
    offered = AgentRecord(status="available", since=5, idle_since=9, timeouts=1)
    assert await first.compare_and_set("ana", up, offered)
    assert (await first.get_many(["ana"]))["ana"] == offered  # this process sees it at once
    await store.close()
    store = SqliteStore(tmp_path / "s.sqlite3")
    try:
        again = SqlitePresence(store, grace_ms=1000, clock=lambda: 0)
        assert (await again.get_many(["ana"]))["ana"] == up, "the file holds the last status written"
    finally:
        await store.close()
