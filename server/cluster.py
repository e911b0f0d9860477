"""Cluster mode: what a node uses instead of its single-node parts when
``server.redis_url`` is set (``switchboard serve --redis redis://…`` or
SWITCHBOARD_REDIS_URL): the Redis store, the Redis broker and the Redis
due-set timers, wired to the node's hub, readiness and clients.

Kept apart from node.py so the node's own wiring stays one line per part.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from protocol import errors
from server.cluster_timers import ClusterTimers
from server.core import session
from server.redis_broker import RedisBroker
from server.store.redis import RedisStore

if TYPE_CHECKING:
    from server.config import Config
    from server.metrics import Metrics
    from server.node import Node

log = logging.getLogger(__name__)


def make_store(config: Config, metrics: Metrics) -> RedisStore:
    return RedisStore(config.server.redis_url, windows=config.windows, metrics=metrics)


def make_broker(config: Config, node: Node) -> RedisBroker:
    """The broker, wired to the node: the hub's first/last listener of a
    stream (un)subscribes it, ``/readyz`` follows the broker's health, and a
    resync closes the affected sockets (1001: they reconnect, resume, and get
    ``resync`` plus a fresh snapshot)."""
    s = config.server
    broker = RedisBroker(
        s.redis_url,
        node_id=node.node_id,
        history_size=s.history_size,
        publish_timeout=s.publish_timeout_seconds,
        metrics=node.metrics,
    )

    def health(ok: bool) -> None:
        node.ready = ok and node.ws_server is not None

    def resync(streams: set[str] | None, reason: str) -> None:
        for client in list(node.hub.clients):
            if streams is None or client.streams & streams:
                asyncio.ensure_future(client.ws.close(errors.CLOSE_GOING_AWAY, f"resync: {reason}"))

    broker.on_health = health
    broker.on_resync = resync
    return broker


def wire_hub(node: Node) -> None:
    """Called once the hub exists (it is made after the broker)."""
    broker = node.broker
    if isinstance(broker, RedisBroker):
        node.hub.on_first_listener = broker.listen
        node.hub.on_last_listener = broker.unlisten


def make_timers(config: Config, node: Node) -> ClusterTimers:
    app = node.app

    async def rewatch(conv_id: str) -> None:
        conv = await node.store.get_conversation(conv_id)
        if conv is not None and conv.is_open and not conv.session_locked:
            due = session.expires_at(conv, app.catalog.policy(conv.channel))
            if due is not None:
                timers.rearm(conv_id, due)

    # The Redis store's commits add and remove the entries (windows=...).
    timers = ClusterTimers(
        config.server.redis_url, app.intake.expire, app.clock, rewatch=rewatch, metrics=node.metrics, store_writes=True
    )
    return timers
