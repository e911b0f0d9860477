"""One ``store`` fixture, run once per Store implementation.

Each implementation is a *factory*: ``factory(tmp_path)`` returns an async
context manager that yields a ready, empty store and closes it on exit. To run
the whole contract suite against another implementation, append one entry to
``STORES``; a factory that needs a service (a running redis-server) starts it
or connects in ``__aenter__``, cleans up in ``__aexit__``, and may call
``pytest.skip`` when the service is not installed. Add its name to
``DURABLE`` when opening it again with the same ``tmp_path`` (after closing
the first one) must show everything committed before.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from server.store.base import Store
from server.store.memory import MemoryStore
from server.store.sqlite import SqliteStore

StoreFactory = Callable[[Path], AbstractAsyncContextManager[Store]]


@asynccontextmanager
async def memory_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = MemoryStore()
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = SqliteStore(tmp_path / "s.sqlite3")
    try:
        yield store
    finally:
        await store.close()


def redis_factory(where: str, prefix: str, **options: object) -> StoreFactory:
    """A RedisStore on the session's shared redis-server (``where="redis"``)
    or shared 3-primary Redis Cluster (``"cluster"``); each test's keys live
    under its own prefix."""

    @asynccontextmanager
    async def open_(tmp_path: Path) -> AsyncIterator[Store]:
        from server.redis.store import RedisStore
        from tests.cluster.redisproc import shared_redis, shared_redis_cluster

        url = shared_redis().url if where == "redis" else shared_redis_cluster().url
        store = RedisStore(url, prefix=f"{prefix}:{tmp_path.name}:", **options)  # type: ignore[arg-type]
        try:
            yield store
        finally:
            await store.close()

    return open_


STORES: dict[str, StoreFactory] = {
    "memory": memory_store,
    "sqlite": sqlite_store,
    "redis": redis_factory("redis", "t"),
    # One Redis, with the indexes applied through the outbox, as on a Cluster.
    "redis-outbox": redis_factory("redis", "o", inline_indexes=False),
    # A real sharded Redis Cluster of three primaries.
    "redis-cluster": redis_factory("cluster", "k"),
}

DURABLE: set[str] = {"sqlite", "redis", "redis-outbox", "redis-cluster"}
"""Factories whose second ``open(tmp_path)`` sees the first one's commits."""


@pytest.fixture(params=list(STORES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with STORES[request.param](tmp_path) as opened:
        yield opened
