"""Configuration: one TOML file, then ``SWITCHBOARD_*`` environment overrides.

The file declares the contact center (queues, agents, touchpoints, templates,
dispositions, reply-window policies, the contacts directory seed) and the
node's settings. See server/demo.toml and docs/OPERATIONS.md.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import phonenumbers
from msgspec import Meta, Struct, field

from server.core import identity, routing
from server.core.media import Limits as MediaLimits
from server.core.model import Agent, Queue, Template, Touchpoint, WindowPolicy


class ContactSeed(Struct, frozen=True, kw_only=True):
    channel: Literal["whatsapp", "messenger"]
    address: str
    name: str


class ServerSettings(Struct, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 8000
    ws_port: int = 0
    """0 (the default): the agent websocket (/ws) is on ``port`` only. Set,
    /ws is also served on a listener of its own on this port."""
    node_id: str = ""
    data: str = "data/switchboard.sqlite3"
    """SQLite file; ":memory:" keeps nothing across restarts."""
    durability: Literal["normal", "full"] = "normal"
    store_timeout_seconds: float = 5.0
    """SQLite: how long one store call may wait (queued, or for the file's
    lock held by another process) before it fails: a webhook then answers 503
    (Meta retries), a command ``unavailable``."""
    store_stall_seconds: float = 2.0
    """SQLite: /readyz answers 503 while a store call has been waiting longer
    than this (and after 3 failed calls in a row, until one succeeds)."""
    token_secret: str = ""
    token_ttl_seconds: int = 12 * 3600
    dev_endpoints: bool = False
    """Enables POST /api/dev/inbound (inject a contact's message). Never in production."""
    max_message_bytes: int = 64 * 1024
    outbound_buffer_bytes: int = 1024 * 1024
    heartbeat_seconds: float = 20.0
    hello_timeout_seconds: float = 10.0
    close_timeout_seconds: float = 3.0
    """How long a closing handshake may take before the TCP connection is cut."""
    history_size: int = 1000
    history_bytes: int = 64 * 2**20
    """Single node: memory for resume history, all streams together."""
    commands_per_second: float = 20.0
    """Per connection, sustained; bursts up to ``command_burst`` are fine."""
    command_burst: int = 40
    max_connections_per_agent: int = 10
    allowed_origins: list[str] = field(default_factory=list)
    """Origins (scheme://host[:port]) allowed to open /ws from a browser;
    empty: the web app this node serves (http, its HTTP port, a host it
    answers to). See server/deploy_checks.py."""
    allowed_hosts: list[str] = field(default_factory=list)
    """Host header values HTTP answers (``*.example.com`` patterns allowed);
    others get 400. Empty: the loopback names on a loopback bind, otherwise any."""
    gc_settle_seconds: float = 300.0
    """``switchboard serve``: this often, the garbage collector's long-lived
    objects (the imports, the connected agents' sockets) are collected once in
    full, then frozen out of every later collection (0: never; see
    docs/OPERATIONS.md)."""
    loop_probe_seconds: float = 0.05
    """How often the loop probe wakes to measure the event loop's lateness
    (``switchboard_loop_lag_seconds``): a stall shows within this long of
    its length. 0: no probe."""
    http_header_timeout_seconds: float = 10.0
    """An HTTP connection must send its complete request headers within this
    long of being accepted (or of its last response), or it is closed."""
    http_keep_alive_seconds: float = 5.0
    """An idle HTTP keep-alive connection is closed after this long."""
    http_max_connections: int = 1000
    """Open HTTP connections (not agent websockets) at most: at the limit
    requests are answered 503, beyond it new connections are closed at once."""
    http_max_header_bytes: int = 16 * 1024
    """A request whose headers are bigger is answered 400."""
    redis_url: str = ""
    idempotency_key_seconds: Annotated[int, Meta(ge=1, le=30 * 24 * 3600)] = 24 * 3600
    """How long a send's ``idempotency_key`` is kept (stored with its message):
    the same key again within this long answers the first send, never a second."""
    event_loop: Literal["asyncio", "uvloop"] = "asyncio"
    """The event loop ``switchboard serve`` runs on: the standard library's,
    or uvloop's (libuv underneath: its loop, transports and timers are C; a
    dependency, installed with Switchboard). Measured side by side in
    bench/README.md (``bench compare --servers switchboard,switchboard-uvloop,floor``):
    slower for fan-out on our test machine, hence not the default."""
    publish_timeout_seconds: float = 10.0
    """Cluster: how long a publication retries while Redis is unreachable
    before it is given up (and every client is made to reload)."""


class MetaSettings(Struct, kw_only=True):
    """Meta's channels: webhooks in (WhatsApp Cloud API, Messenger Platform),
    Graph API send calls out. Access tokens are per touchpoint. See docs/CHANNELS.md."""

    app_secret: str = ""
    """The Meta app's secret: every webhook POST must be signed with it
    (X-Hub-Signature-256). Empty: every webhook POST is refused (401)."""
    verify_token: str = ""
    """Echoed back in the subscription handshake. Empty: handshakes are refused."""
    graph_api_base: str = "https://graph.facebook.com/v21.0"
    connect_timeout_seconds: float = 5.0
    timeout_seconds: float = 15.0
    """Per send call (connect, write, read)."""
    max_attempts: int = 6
    """Send attempts per message on transient errors (5xx, 429, timeouts) before it is failed."""
    backoff_seconds: float = 0.5
    """First pause between attempts; doubles each time (with jitter), capped below."""
    backoff_max_seconds: float = 30.0
    lease_seconds: float = 120.0
    """How long a send attempt holds a message. A sender that dies mid-send
    leaves its lease to run out before any sender may try again (time for
    Meta's status webhook to tell us it arrived). Must exceed
    timeout_seconds + backoff_max_seconds."""
    sweep_seconds: float = 30.0
    """How often stored pending messages are looked for (after a restart, or
    left by a sender that died)."""
    max_concurrent_sends: int = 16
    fetch_profiles: bool = True
    """Ask the Graph API for a new Messenger contact's profile name."""
    keep_deleted_text: bool = False
    """When a WhatsApp customer deletes a message, keep its text in the store
    for the audit trail (never shown in the thread). Off: the text is dropped."""
    max_body_bytes: int = 2 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.lease_seconds <= self.timeout_seconds + self.backoff_max_seconds:
            raise ValueError("meta.lease_seconds must exceed timeout_seconds + backoff_max_seconds")
        if self.max_attempts < 1:
            raise ValueError("meta.max_attempts must be at least 1")


class RoutingSettings(Struct, kw_only=True):
    """Automatic queues (``routing = "automatic"`` on a queue) and presence."""

    capacity: int = 100
    """The load an agent holds at most (an agent's own ``capacity`` overrides it)."""
    weights: dict[str, int] = field(default_factory=lambda: {"whatsapp": 20, "messenger": 20})
    """The load one conversation of each channel adds."""
    offer_timeout_seconds: float = 30.0
    """How long an offer rings before it moves to the next agent."""
    timeouts_before_away: int = 3
    """Offers in a row an agent lets time out before they are set away (0: never)."""
    presence_grace_seconds: float = 60.0
    """How long an agent keeps their status and offers with no screen open
    (a phone changing network is not a logout); then they are offline."""
    heartbeat_seconds: float = 0.0
    """How often a node renews its screens' presence (0: a third of the grace)."""
    sweep_seconds: float = 5.0
    """The safety net: this often a node routes every automatic queue and
    expires presence, in case the event that should have done it was lost
    with a node."""

    def __post_init__(self) -> None:
        if self.capacity < 0 or any(w <= 0 for w in self.weights.values()):
            raise ValueError("routing: capacity must be >= 0 and every weight > 0")
        if self.offer_timeout_seconds <= 0 or self.presence_grace_seconds <= 0 or self.sweep_seconds <= 0:
            raise ValueError("routing: offer_timeout_seconds, presence_grace_seconds and sweep_seconds must be > 0")

    @property
    def policy(self) -> routing.Policy:
        return routing.Policy(
            capacity=self.capacity,
            weights=dict(self.weights),
            offer_timeout_ms=int(self.offer_timeout_seconds * 1000),
            timeouts_before_away=self.timeouts_before_away,
        )

    @property
    def heartbeat_ms(self) -> int:
        return int((self.heartbeat_seconds or self.presence_grace_seconds / 3) * 1000)
class MediaSettings(Struct, kw_only=True):
    """What customers send: where the files go, how they are fetched and
    served (docs/OPERATIONS.md, "Media")."""

    store: Literal["files", "s3"] = "files"
    """``files``: under ``folder`` (one node). ``s3``: an S3-compatible
    bucket every node shares (a cluster)."""
    folder: str = ""
    """``files``: the folder; empty: ``media/`` beside the SQLite file (with
    ``data = ":memory:"``, files are kept in memory)."""
    s3_endpoint: str = ""
    """host:port of the object store (``s3.amazonaws.com``, ``minio:9000``)."""
    s3_bucket: str = "switchboard-media"
    s3_region: str = ""
    s3_secure: bool = True
    s3_access_key: str = ""
    """Secret: prefer SWITCHBOARD_S3_ACCESS_KEY / SWITCHBOARD_S3_SECRET_KEY."""
    s3_secret_key: str = ""
    s3_prefix: str = "media/"
    limits: MediaLimits = field(default_factory=MediaLimits)
    """Largest file per kind, bytes (defaults: Meta's limits)."""
    download_attempts: int = 3
    """A file that fails this many downloads shows as failed, with the reason."""
    backoff_seconds: float = 1.0
    """Pause before the second download attempt; doubled each time after."""
    download_timeout_seconds: float = 60.0
    max_concurrent_downloads: int = 4
    thumbnail_pixels: int = 320
    """Longest side of an image's thumbnail."""
    link_seconds: int = 300
    """How long a signed media link (``/api/media/...?sig=``) works."""
    quota_bytes: int = 0
    """All media together; 0: no quota. From 90 % a warning is logged at
    each measure; at 100 % downloads fail ("quota reached") and uploads are
    refused. ``switchboard_media_bytes`` / ``switchboard_media_quota_ratio``."""
    retention_days: float = 0
    """Delete files first stored this many days ago; 0: keep them for ever."""
    housekeeping_seconds: float = 300.0
    """How often each node measures the media stored and applies the retention rule."""

    def __post_init__(self) -> None:
        if self.download_attempts < 1:
            raise ValueError("media.download_attempts must be at least 1")
        if self.store == "s3" and not self.s3_endpoint:
            raise ValueError('media.store = "s3" needs media.s3_endpoint')


class Config(Struct, kw_only=True):
    server: ServerSettings = field(default_factory=ServerSettings)
    meta: MetaSettings = field(default_factory=MetaSettings)
    routing: RoutingSettings = field(default_factory=RoutingSettings)
    media: MediaSettings = field(default_factory=MediaSettings)
    queues: list[Queue] = field(default_factory=list)
    agents: list[Agent] = field(default_factory=list)
    touchpoints: list[Touchpoint] = field(default_factory=list)
    templates: list[Template] = field(default_factory=list)
    dispositions: list[str] = field(default_factory=list)
    windows: dict[str, WindowPolicy] = field(
        default_factory=lambda: {
            "whatsapp": WindowPolicy(window_seconds=24 * 3600, templates=True),
            "messenger": WindowPolicy(window_seconds=24 * 3600, extended_seconds=7 * 24 * 3600),
        }
    )
    contacts: list[ContactSeed] = field(default_factory=list)

    def __post_init__(self) -> None:
        queues = {q.id for q in self.queues}
        for agent in self.agents:
            missing = set(agent.queues) - queues
            if missing:
                raise ValueError(f"agent {agent.id}: unknown queues {sorted(missing)}")
        for tp in self.touchpoints:
            if tp.queue_id not in queues:
                raise ValueError(f"touchpoint {tp.id}: unknown queue {tp.queue_id}")
            if tp.channel not in self.windows:
                raise ValueError(f"touchpoint {tp.id}: no window policy for channel {tp.channel}")
            if tp.default_region and tp.default_region not in phonenumbers.SUPPORTED_REGIONS:
                raise ValueError(f"touchpoint {tp.id}: default_region {tp.default_region!r} is not a country code")
        for seed in self.contacts:
            try:
                identity.typed_address(seed.channel, seed.address)
            except identity.InvalidAddress as e:
                raise ValueError(f"contact {seed.name!r}: {e.message}") from None

    @property
    def ws_port(self) -> int:
        """The port agents are told to connect to (GET /api/config)."""
        return self.server.ws_port or self.server.port


def _comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


ENV: dict[str, tuple[str, Callable[[str], object]]] = {
    "SWITCHBOARD_HOST": ("host", str),
    "SWITCHBOARD_PORT": ("port", int),
    "SWITCHBOARD_WS_PORT": ("ws_port", int),
    "SWITCHBOARD_NODE_ID": ("node_id", str),
    "SWITCHBOARD_DATA": ("data", str),
    "SWITCHBOARD_TOKEN_SECRET": ("token_secret", str),
    "SWITCHBOARD_DEV_ENDPOINTS": ("dev_endpoints", lambda v: v.lower() in ("1", "true", "yes")),
    "SWITCHBOARD_REDIS_URL": ("redis_url", str),
    "SWITCHBOARD_ALLOWED_HOSTS": ("allowed_hosts", _comma_list),
    "SWITCHBOARD_ALLOWED_ORIGINS": ("allowed_origins", _comma_list),
    "SWITCHBOARD_HTTP_HEADER_TIMEOUT_SECONDS": ("http_header_timeout_seconds", float),
    "SWITCHBOARD_HTTP_KEEP_ALIVE_SECONDS": ("http_keep_alive_seconds", float),
    "SWITCHBOARD_HTTP_MAX_CONNECTIONS": ("http_max_connections", int),
    "SWITCHBOARD_HTTP_MAX_HEADER_BYTES": ("http_max_header_bytes", int),
    "SWITCHBOARD_EVENT_LOOP": ("event_loop", str),
}


def load(path: str | Path | None, env: dict[str, str] | None = None, **overrides: object) -> Config:
    raw: dict[str, Any] = {}  # TOML as parsed; msgspec.convert checks it below
    if path is not None:
        raw = tomllib.loads(Path(path).read_text())
    _rename(raw)
    settings = dict(raw.get("server", {}))
    for var, (key, convert) in ENV.items():
        value = (os.environ if env is None else env).get(var)
        if value:
            settings[key] = convert(value)
    settings.update({k: v for k, v in overrides.items() if v is not None})
    raw["server"] = settings
    _meta_env(raw, os.environ if env is None else env)
    _media_env(raw, os.environ if env is None else env)
    return msgspec.convert(raw, Config)


META_ENV = {
    "SWITCHBOARD_META_APP_SECRET": "app_secret",
    "SWITCHBOARD_META_VERIFY_TOKEN": "verify_token",
    "SWITCHBOARD_GRAPH_API_BASE": "graph_api_base",
}


def access_token_var(touchpoint_id: str) -> str:
    """SWITCHBOARD_ACCESS_TOKEN_<TOUCHPOINT ID>: 'wa-main' → SWITCHBOARD_ACCESS_TOKEN_WA_MAIN."""
    return "SWITCHBOARD_ACCESS_TOKEN_" + "".join(c if c.isalnum() else "_" for c in touchpoint_id.upper())


def _meta_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    """Secrets belong in the environment: Meta settings and per-touchpoint tokens."""
    meta = dict(raw.get("meta", {}))
    meta.update({key: env[var] for var, key in META_ENV.items() if env.get(var)})
    raw["meta"] = meta
    for tp in raw.get("touchpoints", []):
        token = env.get(access_token_var(str(tp.get("id", ""))))
        if token:
            tp["access_token"] = token


MEDIA_ENV = {
    "SWITCHBOARD_S3_ACCESS_KEY": "s3_access_key",
    "SWITCHBOARD_S3_SECRET_KEY": "s3_secret_key",
    "SWITCHBOARD_S3_ENDPOINT": "s3_endpoint",
}


def _media_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    media = dict(raw.get("media", {}))
    media.update({key: env[var] for var, key in MEDIA_ENV.items() if env.get(var)})
    raw["media"] = media


def _rename(raw: dict[str, Any]) -> None:
    """TOML says ``queue = "sales"`` on a touchpoint; the model says queue_id."""
    for tp in raw.get("touchpoints", []):
        if "queue" in tp:
            tp["queue_id"] = tp.pop("queue")
