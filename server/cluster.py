"""Cluster mode: what a node uses instead of its single-node parts when
``server.redis_url`` is set (``switchboard serve --redis redis://…`` or
SWITCHBOARD_REDIS_URL): the Redis store, the Redis broker and the Redis
due-set timers. Each is built with what it needs; the node connects their
hooks (server/node.py ``Node._connect``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from server.app.catalog import Catalog
from server.cluster_timers import ClusterTimers
from server.config import Config
from server.core import session
from server.metrics import Metrics
from server.redis_broker import RedisBroker
from server.store.base import Store
from server.store.redis import RedisStore


def make_store(config: Config, metrics: Metrics) -> RedisStore:
    return RedisStore(config.server.redis_url, windows=config.windows, metrics=metrics)


def make_broker(config: Config, node_id: str, metrics: Metrics) -> RedisBroker:
    s = config.server
    return RedisBroker(
        s.redis_url,
        node_id=node_id,
        history_size=s.history_size,
        publish_timeout=s.publish_timeout_seconds,
        metrics=metrics,
    )


def make_timers(
    config: Config,
    store: Store,
    catalog: Catalog,
    expire: Callable[[str], Awaitable[bool]],
    clock: Callable[[], int],
    metrics: Metrics,
) -> ClusterTimers:
    timers: ClusterTimers

    async def rewatch(conv_id: str) -> None:
        conv = await store.get_conversation(conv_id)
        if conv is not None and conv.is_open and not conv.session_locked:
            due = session.expires_at(conv, catalog.policy(conv.channel))
            if due is not None:
                timers.rearm(conv_id, due)

    # The Redis store's commits add and remove the entries (windows=...).
    timers = ClusterTimers(config.server.redis_url, expire, clock, rewatch=rewatch, metrics=metrics, store_writes=True)
    return timers
