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


@asynccontextmanager
async def redis_store(tmp_path: Path) -> AsyncIterator[Store]:
    from server.store.redis import RedisStore
    from tests.cluster.redisproc import shared_redis

    # One redis-server per session; each test's keys live under its own prefix.
    store = RedisStore(shared_redis().url, prefix=f"t:{tmp_path.name}:")
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def redis_outbox_store(tmp_path: Path) -> AsyncIterator[Store]:
    """One Redis, with the indexes applied through the outbox (as on a Cluster)."""
    from server.store.redis import RedisStore
    from tests.cluster.redisproc import shared_redis

    store = RedisStore(shared_redis().url, prefix=f"o:{tmp_path.name}:", inline_indexes=False)
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def redis_cluster_store(tmp_path: Path) -> AsyncIterator[Store]:
    """A real sharded Redis Cluster of three primaries."""
    from server.store.redis import RedisStore
    from tests.cluster.redisproc import shared_redis_cluster

    store = RedisStore(shared_redis_cluster().url, prefix=f"k:{tmp_path.name}:")
    try:
        yield store
    finally:
        await store.close()


STORES: dict[str, StoreFactory] = {
    "memory": memory_store,
    "sqlite": sqlite_store,
    "redis": redis_store,
    "redis-outbox": redis_outbox_store,
    "redis-cluster": redis_cluster_store,
}

DURABLE: set[str] = {"sqlite", "redis", "redis-outbox", "redis-cluster"}
"""Factories whose second ``open(tmp_path)`` sees the first one's commits."""


@pytest.fixture(params=list(STORES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with STORES[request.param](tmp_path) as opened:
        yield opened
