"""The node: wires store, broker, hub, service and timers, and serves them.

One port, one process, one event loop:

- HTTP (Starlette under uvicorn) on ``port``: webhooks, REST, health, metrics,
  the web app.
- The agent websocket (the ``websockets`` library), path /ws, on the same
  port: uvicorn hands the socket of an upgrade request to a ``websockets``
  connection (server/wsport.py). Served by ``websockets`` directly rather
  than through ASGI so that a publication is written to all its listeners
  with ``broadcast()`` of one pre-encoded frame, without an await per socket
  (measured in bench/: the ASGI path costs about twice the CPU per delivery).
- Optionally (``ws_port`` set), also a listener of its own for /ws.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
from collections.abc import Callable, Coroutine
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from server.app import App
from server.app.canned import CannedResponses
from server.app.catalog import Catalog
from server.app.changes import Changes
from server.app.commands import Commands
from server.app.contacts import Contacts
from server.app.directory import Directory
from server.app.intake import Intake
from server.app.media import Downloads, Housekeeping, MediaFiles
from server.app.media import Settings as MediaDownloadSettings
from server.app.minting import Mint, now_ms
from server.app.reads import Reads
from server.app.routing import Router
from server.app.tokens import Tokens
from server.app.uploads import Uploads
from server.blobs.base import Blobs
from server.blobs.files import FileBlobs
from server.blobs.memory import MemoryBlobs
from server.blobs.s3 import S3Blobs
from server.broker import Broker, MemoryBroker
from server.channels.graph import MediaSource
from server.channels.sender import Sender
from server.channels.webhooks import Inbox
from server.config import Config
from server.core.model import Touchpoint
from server.http import create_app
from server.http.parts import Parts
from server.http_limits import uvicorn_options
from server.loopprobe import LoopProbe
from server.metrics import Metrics
from server.presence import MemoryPresence, Presence
from server.redis.broker import RedisBroker
from server.redis.canned import RedisCanned
from server.redis.fronts import RedisFronts
from server.redis.presence import RedisPresence
from server.redis.store import OFFER_DUE_SET, RedisStore
from server.redis.timers import ClusterTimers
from server.store.base import Store
from server.store.canned import CannedStore, MemoryCanned
from server.store.canned_sqlite import SqliteCanned
from server.store.memory import MemoryStore
from server.store.presence_sqlite import SqlitePresence
from server.store.sqlite import SqliteStore
from server.timers import SessionTimers, Timers
from server.ws.connection import Connection, Edge
from server.ws.hub import Hub
from server.ws.ringing import Ringer
from server.wsport import SharedPort, quiet_connection_log, ws_limits

log = logging.getLogger(__name__)


def make_store(config: Config, metrics: Metrics) -> Store:
    if config.server.redis_url:
        return RedisStore(config.server.redis_url, windows=config.windows, metrics=metrics)
    if config.server.data == ":memory:":
        return MemoryStore()
    s = config.server
    return SqliteStore(s.data, durability=s.durability, timeout=s.store_timeout_seconds, stall_seconds=s.store_stall_seconds)


def make_broker(config: Config, node_id: str, metrics: Metrics) -> Broker:
    s = config.server
    if s.redis_url:
        return RedisBroker(
            s.redis_url, node_id=node_id, history_size=s.history_size, publish_timeout=s.publish_timeout_seconds, metrics=metrics
        )
    return MemoryBroker(history_size=s.history_size, history_bytes=s.history_bytes)


def make_blobs(config: Config) -> Blobs:
    """Files customers send: an S3-compatible bucket (clusters), else files
    under the data folder, else (``data = ":memory:"``) memory."""
    m = config.media
    if m.store == "s3":
        return S3Blobs(
            m.s3_endpoint,
            m.s3_bucket,
            access_key=m.s3_access_key,
            secret_key=m.s3_secret_key,
            region=m.s3_region or None,
            secure=m.s3_secure,
            prefix=m.s3_prefix,
        )
    if m.folder:
        return FileBlobs(m.folder)
    if config.server.data == ":memory:":
        return MemoryBlobs()
    return FileBlobs(Path(config.server.data).parent / "media")


def make_downloads(
    config: Config, app: App, store: Store, blobs: Blobs, metrics: Metrics, housekeeping: Housekeeping
) -> tuple[Downloads, MediaSource]:
    m, meta = config.media, config.meta
    source = MediaSource(meta.graph_api_base, timeout=m.download_timeout_seconds, connect_timeout=meta.connect_timeout_seconds)
    settings = MediaDownloadSettings(
        limits=m.limits,
        attempts=m.download_attempts,
        backoff_seconds=m.backoff_seconds,
        thumbnail_pixels=m.thumbnail_pixels,
        concurrency=m.max_concurrent_downloads,
        timeout_seconds=m.download_timeout_seconds,
    )
    return Downloads(app.catalog, app.changes, store, blobs, source, settings, metrics, app.clock, housekeeping), source


def make_timers(config: Config, app: App, metrics: Metrics) -> Timers:
    if config.server.redis_url:
        # The due-set is written by the store's commits (windows=...), never by the timers.
        return ClusterTimers(
            config.server.redis_url,
            app.intake.expire,
            app.clock,
            metrics=metrics,
            fire_many=app.intake.expire_many,
            prepare=app.intake.warm,
        )
    return SessionTimers(app.intake.expire, app.clock, fire_many=app.intake.expire_many, prepare=app.intake.warm)


def make_ringer(config: Config, hub: Hub, node_id: str, clock: Callable[[], int]) -> Ringer | None:
    """With peers (Redis), one ringing screen per agent across nodes; one
    node needs nothing (its hub rings its best screen)."""
    if not config.server.redis_url:
        return None
    valid_ms = int(3 * config.server.heartbeat_seconds * 1000)
    return Ringer(hub, RedisFronts(config.server.redis_url), node_id, clock, valid_ms=valid_ms)


def make_presence(config: Config, store: Store) -> Presence:
    """Routing's records live beside the conversations: in Redis (shared by
    the nodes), the SQLite file (statuses survive a restart), or memory."""
    if config.server.redis_url:
        return RedisPresence(config.server.redis_url)
    if isinstance(store, SqliteStore):
        return SqlitePresence(store, grace_ms=int(config.routing.presence_grace_seconds * 1000), clock=now_ms)
    return MemoryPresence()


def make_offer_timers(config: Config, app: App) -> Timers:
    """Offers' deadlines: the same due-set machinery as the session locks
    (with Redis, ``sb:routing:{t}:due`` written by the store's commits)."""
    if config.server.redis_url:
        return ClusterTimers(config.server.redis_url, app.routing.timeout, app.clock, due_set=OFFER_DUE_SET, name="routing")
    return SessionTimers(app.routing.timeout, app.clock)


def make_canned(config: Config, store: Store) -> CannedStore:
    """Canned responses live beside the conversations: in the same Redis, the
    same SQLite file, or memory."""
    if isinstance(store, RedisStore):
        return RedisCanned(store.url, client=store.client)
    if isinstance(store, SqliteStore):
        return SqliteCanned(store)
    return MemoryCanned()


def make_app(
    config: Config,
    store: Store,
    broker: Broker,
    metrics: Metrics,
    canned_store: CannedStore | None = None,
    presence: Presence | None = None,
    node_id: str = "",
) -> App:
    """The use cases, each part built once with what it needs."""
    clock = now_ms
    mint = Mint()
    catalog = Catalog(config)
    directory = Directory(store)
    changes = Changes(catalog, store, broker, directory, metrics)
    contacts = Contacts(directory, changes, store)
    canned = CannedResponses(catalog, canned_store or make_canned(config, store), broker, mint.new, clock)
    router = Router(
        catalog, changes, store, presence or MemoryPresence(), broker, config.routing, mint, clock, node_id
    )
    reads = Reads(catalog, store, broker, directory, clock, canned, router)
    return App(
        catalog=catalog,
        directory=directory,
        changes=changes,
        contacts=contacts,
        reads=reads,
        commands=Commands(
            catalog, changes, reads, directory, contacts, mint, clock,
            uploads=Uploads(config.server.token_secret),
            idempotency_ms=config.server.idempotency_key_seconds * 1000,
        ),
        intake=Intake(catalog, changes, store, directory, contacts, metrics, mint, clock),
        tokens=Tokens(config.server.token_secret, config.server.token_ttl_seconds, catalog, store, broker, clock),
        routing=router,
        clock=clock,
        canned=canned,
    )


class Node:
    """Builds every part once, each with what it needs, and connects their
    hooks in one place (``_connect``). Nothing imports this module but the
    CLI, the tests and the benchmarks."""

    def __init__(self, config: Config, *, store: Store | None = None, broker: Broker | None = None) -> None:
        self.config = config
        s = config.server
        self.node_id = s.node_id or f"{socket.gethostname()}-{os.getpid()}"
        self.metrics = Metrics()
        self.store = store if store is not None else make_store(config, self.metrics)
        self.broker = broker if broker is not None else make_broker(config, self.node_id, self.metrics)
        self.hub = Hub(max_buffer=s.outbound_buffer_bytes, metrics=self.metrics, pauses_at=ws_limits(s)["write_limit"])
        self.presence = make_presence(config, self.store)
        self.app = make_app(config, self.store, self.broker, self.metrics, presence=self.presence, node_id=self.node_id)
        self.timers: Timers = make_timers(config, self.app, self.metrics)
        self.ringer = make_ringer(config, self.hub, self.node_id, self.app.clock)
        self.offer_timers: Timers = make_offer_timers(config, self.app)
        """Offers' deadlines. One node: a heap rebuilt at start from the
        offers ringing; with Redis, the due-set the commits write, claimed
        by whichever node polls first."""
        self.blobs = make_blobs(config)
        self.sender = Sender(self.app, self.store, config.meta, self.metrics, node_id=self.node_id, files=self.blobs.get)
        m = config.media
        self.housekeeping = Housekeeping(
            self.blobs, self.metrics, self.app.clock, quota_bytes=m.quota_bytes, retention_days=m.retention_days, every=m.housekeeping_seconds
        )
        self.downloads, self.media_source = make_downloads(config, self.app, self.store, self.blobs, self.metrics, self.housekeeping)
        self.media_files = MediaFiles(
            self.store,
            self.blobs,
            s.token_secret,
            config.media.link_seconds,
            self.app.clock,
            uploads=self.app.commands.uploads,
            limits=config.media.limits,
            thumbnail_pixels=config.media.thumbnail_pixels,
            housekeeping=self.housekeeping,
        )
        self.edge = Edge(app=self.app, hub=self.hub, broker=self.broker, metrics=self.metrics, settings=s, node_id=self.node_id)
        self.ws_server: Server | None = None
        """The agent websocket on the HTTP port (uvicorn's listener)."""
        self.shared_port: SharedPort | None = None
        self.ws_listener: Server | None = None
        """The dedicated websocket port's listener, when ``ws_port`` is set."""
        self.loop_probe = LoopProbe(self.metrics, s.loop_probe_seconds)
        self.ready = False
        self._connect()

    def _connect(self) -> None:
        """Every hook between parts, in one place."""
        self.broker.on_publication = self.hub.deliver
        self.broker.on_publications = self.hub.deliver_many
        self.hub.rings = self.ringer
        self.app.changes.watch = self.timers.watch
        self.app.changes.sent = self.sender.on_sent
        self.app.changes.routed = self.app.routing.on_change
        self.app.routing.watch = self.offer_timers.watch
        if isinstance(self.broker, RedisBroker):
            # The hub's first/last listener of a stream (un)subscribes it;
            # /readyz follows the broker's health; a resync closes the
            # affected sockets (1001: they reconnect, resume, and get
            # ``resync`` plus a fresh snapshot).
            self.hub.on_first_listener = self.broker.listen
            self.hub.on_last_listener = self.broker.unlisten
            self.broker.on_health = self._broker_health
            self.broker.on_resync = lambda streams, reason: self.hub.go_away(streams, f"resync: {reason}")
        self.metrics.gauge("switchboard_connections", "Open agent websockets", lambda: len(self.hub.clients))
        self.metrics.gauge("switchboard_session_timers", "Reply windows being watched", lambda: len(self.timers))
        self.metrics.gauge(
            "switchboard_gc_frozen_objects", "Objects frozen out of garbage collections (gc_settle_seconds)", gc.get_freeze_count
        )

    def _broker_health(self, ok: bool) -> None:
        self.ready = ok and self.ws_server is not None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self.metrics.watch_gc()
        self.loop_probe.start()
        await self.store.start()
        await self.blobs.start()
        await self.broker.start()
        await self._seed_directory()
        unlocked = await self.store.unlocked_open()
        for conv in unlocked:
            self.app.changes.watch_window(conv)
        self.downloads.resume([conv.id for conv in unlocked])
        self.timers.start()
        for queue in self.app.routing.automatic:
            for conv in await self.store.inbox(queue.id):
                if conv.offer is not None:
                    self.offer_timers.watch(conv.id, conv.offer.deadline)
        self.offer_timers.start()
        await self.app.routing.rebuild()
        self.app.routing.start()
        await self.sender.start()
        self.housekeeping.start()
        if self.ringer is not None:
            self.ringer.start()
        s = self.config.server
        quiet_connection_log()
        self.shared_port = SharedPort(self._connection, self._check_request, ws_limits(s))
        self.ws_server = self.shared_port.server
        if s.ws_port:
            self.ws_listener = await serve(
                self._connection, s.host, s.ws_port, process_request=self._check_request, compression=None, **ws_limits(s)
            )
        self.ready = True
        log.info("node %s: agent websocket on ws://%s:%d/ws", self.node_id, s.host, self.config.ws_port)

    async def stop(self) -> None:
        self.ready = False
        servers = [ws for ws in (self.ws_server, self.ws_listener) if ws is not None]
        for ws in servers:
            ws.close()  # 1001 going away: clients reconnect and resume
        for ws in servers:
            await ws.wait_closed()
        await self.timers.stop()
        await self.app.routing.stop()
        await self.offer_timers.stop()
        await self.sender.stop()
        await self.presence.close()
        if self.ringer is not None:
            await self.ringer.stop()
        await self.downloads.stop()
        await self.housekeeping.stop()
        await self.media_source.aclose()
        await self.blobs.close()
        await self.broker.close()
        await self.app.canned.store.close()
        await self.store.close()
        await self.loop_probe.stop()
        self.metrics.watch_gc(False)

    async def _seed_directory(self) -> None:
        """Contacts named in the config join the directory (without erasing
        names added at run time through the API)."""
        for seed in self.config.contacts:
            await self.app.contacts.seed(seed.channel, seed.address, seed.name)

    def http_app(self) -> Starlette:
        healthy = getattr(self.store, "healthy", None)
        parts = Parts(
            app=self.app,
            config=self.config,
            metrics=self.metrics,
            node_id=self.node_id,
            ready=lambda: self.ready,
            store_healthy=healthy if healthy is not None else lambda: True,
            inbox=Inbox(self.app, self.metrics, profiles=self._profile_name, downloads=self.downloads),
            media=self.media_files,
        )
        return create_app(parts)

    async def _profile_name(self, tp: Touchpoint, psid: str) -> str | None:
        """A Messenger user's name from the Graph API, when allowed."""
        graph = self.sender.graph
        if graph is None or not tp.access_token or not self.config.meta.fetch_profiles:
            return None
        return await graph.profile_name(tp, psid)

    @property
    def uvicorn_ws(self) -> type[asyncio.Protocol]:
        """``uvicorn.Config(ws=...)`` for the HTTP port: an upgrade request
        becomes an agent websocket (after ``start()``)."""
        assert self.shared_port is not None, "start() the node first"
        return self.shared_port.uvicorn_ws

    async def serve_forever(self) -> None:
        """The process's node (``switchboard serve``): it owns the interpreter,
        so it also tunes the garbage collector (``settle_heap``)."""
        loop = type(asyncio.get_running_loop())
        log.info("event loop: %s.%s", loop.__module__, loop.__qualname__)
        await self.start()
        s = self.config.server
        server = _StopsNode(
            uvicorn.Config(
                self.http_app(),
                host=s.host,
                port=s.port,
                lifespan="off",
                log_level="info",
                access_log=False,
                ws=self.uvicorn_ws,
                **uvicorn_options(self.config),
            ),
            node=self,
        )
        settling = asyncio.create_task(settle_heap(s.gc_settle_seconds)) if s.gc_settle_seconds > 0 else None
        try:
            await server.serve()
        finally:
            if settling is not None:
                settling.cancel()
            if not server.node_stopped:
                await self.stop()

    # ------------------------------------------------------------------ websocket edge

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Before the upgrade: right path, and a browser Origin we trust."""
        if urlsplit(request.path).path != "/ws":
            return connection.respond(HTTPStatus.NOT_FOUND, "Not found: the agent websocket is /ws\n")
        origin = request.headers.get("Origin")
        if origin is not None and not self._origin_allowed(origin, request.headers):
            return connection.respond(HTTPStatus.FORBIDDEN, "Origin not allowed\n")
        return None

    def _origin_allowed(self, origin: str, headers: Headers) -> bool:
        # Scheme, host and port against allowed_origins, or the web app this
        # node serves; never the request's Host header (DNS rebinding).
        from server.deploy_checks import origin_allowed

        return origin_allowed(origin, self.config.server)

    def _connection(self, ws: ServerConnection) -> Coroutine[Any, Any, None]:
        # The connection's own coroutine, not one awaiting it: one frame less
        # kept per idle agent for the socket's whole life.
        return Connection(ws, self.edge).run()


class _StopsNode(uvicorn.Server):
    """uvicorn, stopping the node at the end of its graceful shutdown. After a
    SIGTERM or SIGINT, uvicorn re-raises the signal as ``serve()`` returns, and
    the process dies of it: code after ``serve()`` never runs, and the agents'
    sockets would be cut (1006) instead of closed with 1001 (going away)."""

    def __init__(self, config: uvicorn.Config, *, node: Node) -> None:
        super().__init__(config)
        self.node = node
        self.node_stopped = False

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        self.node_stopped = True
        await self.node.stop()


async def settle_heap(every: float) -> None:
    """A full collection stops the event loop for as long as it takes to
    scan every object the collector tracks: 100–200 ms at 1,000 agents, every
    ~35 s under load, the only latency spikes of the soak (bench/README.md).
    Most of what it scans lives as long as the process (the imports) or as
    an agent's shift (its socket, tasks, headers). So, now and then, collect
    everything once, then freeze what survived: the collector's own full
    collections in between scan only what is younger. Garbage that involves
    a frozen object waits for the next settle, never longer."""
    while True:
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        await asyncio.sleep(every)


async def run(config: Config) -> None:
    node = Node(config)
    await node.serve_forever()

