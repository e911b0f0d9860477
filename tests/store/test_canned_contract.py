"""The CannedStore contract (server/store/canned.py), run against every
implementation: memory, SQLite, one Redis, a Redis Cluster."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from server.core.canned import CannedList, CannedResponse
from server.store.base import VersionConflict
from server.store.canned import CannedStore, MemoryCanned
from server.store.canned_sqlite import SqliteCanned
from server.store.sqlite import SqliteStore

Factory = Callable[[Path], AbstractAsyncContextManager[CannedStore]]


@asynccontextmanager
async def memory(tmp_path: Path) -> AsyncIterator[CannedStore]:
    yield MemoryCanned()


@asynccontextmanager
async def sqlite(tmp_path: Path) -> AsyncIterator[CannedStore]:
    store = SqliteStore(tmp_path / "s.sqlite3")
    try:
        yield SqliteCanned(store)
    finally:
        await store.close()


def redis(where: str) -> Factory:
    @asynccontextmanager
    async def open_(tmp_path: Path) -> AsyncIterator[CannedStore]:
        from server.redis.canned import RedisCanned
        from tests.cluster.redisproc import shared_redis, shared_redis_cluster

        url = shared_redis().url if where == "redis" else shared_redis_cluster().url
        canned = RedisCanned(url, prefix=f"c:{tmp_path.name}:")
        try:
            yield canned
        finally:
            await canned.close()

    return open_


BACKENDS: dict[str, Factory] = {"memory": memory, "sqlite": sqlite, "redis": redis("redis"), "redis-cluster": redis("cluster")}
DURABLE = {"sqlite", "redis", "redis-cluster"}


@pytest.fixture(params=list(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def canned(backend: str, tmp_path: Path) -> AsyncIterator[CannedStore]:
    async with BACKENDS[backend](tmp_path) as opened:
        yield opened


def a_list(list_id: str, version: int, *shortcuts: str) -> CannedList:
    responses = tuple(
        CannedResponse(id=f"cr-{s}", shortcut=s, text=f"Olá, {{{{contact.name}}}} ({s})", updated_at=version, updated_by="sofia")
        for s in shortcuts
    )
    return CannedList(id=list_id, version=version, responses=responses)


async def test_a_list_never_written_is_left_out(canned: CannedStore) -> None:
    assert await canned.canned_lists(["queue:sales", "agent:ana"]) == []
    assert await canned.canned_lists([]) == []


async def test_put_creates_then_replaces_and_reads_in_the_order_asked(canned: CannedStore) -> None:
    await canned.put_canned_list(a_list("queue:sales", 1, "ola"))
    await canned.put_canned_list(a_list("agent:ana", 1, "bye"))
    await canned.put_canned_list(a_list("queue:sales", 2, "ola", "preço"))
    got = await canned.canned_lists(["agent:ana", "queue:support", "queue:sales"])
    assert got == [a_list("agent:ana", 1, "bye"), a_list("queue:sales", 2, "ola", "preço")]


async def test_put_is_a_compare_and_set_on_the_version(canned: CannedStore) -> None:
    with pytest.raises(VersionConflict):
        await canned.put_canned_list(a_list("queue:sales", 2, "skipped"))  # nothing stored: only version 1 fits
    await canned.put_canned_list(a_list("queue:sales", 1, "ola"))
    with pytest.raises(VersionConflict):
        await canned.put_canned_list(a_list("queue:sales", 1, "again"))
    assert await canned.canned_lists(["queue:sales"]) == [a_list("queue:sales", 1, "ola")]


async def test_of_two_writers_of_one_version_exactly_one_wins(canned: CannedStore) -> None:
    await canned.put_canned_list(a_list("queue:sales", 1, "ola"))
    racing = [a_list("queue:sales", 2, "ola", name) for name in ("a", "b", "c", "d")]
    results = await asyncio.gather(*(canned.put_canned_list(lst) for lst in racing), return_exceptions=True)
    winners = [lst for lst, r in zip(racing, results, strict=True) if r is None]
    assert len(winners) == 1 and all(isinstance(r, VersionConflict) for r in results if r is not None)
    assert await canned.canned_lists(["queue:sales"]) == winners


async def test_a_stored_list_survives_reopening(backend: str, tmp_path: Path) -> None:
    if backend not in DURABLE:
        pytest.skip("kept in the process only")
    async with BACKENDS[backend](tmp_path) as first:
        await first.put_canned_list(a_list("queue:sales", 1, "ola"))
    async with BACKENDS[backend](tmp_path) as second:
        assert await second.canned_lists(["queue:sales"]) == [a_list("queue:sales", 1, "ola")]
