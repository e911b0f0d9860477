"""Configuration: one TOML file, then ``SWITCHBOARD_*`` environment overrides.

The file declares the contact center (queues, agents, touchpoints, templates,
dispositions, reply-window policies, the contacts directory seed) and the
node's settings. See server/demo.toml and docs/OPERATIONS.md.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

import msgspec
from msgspec import Struct, field

from server.core.model import Agent, Queue, Template, Touchpoint, WindowPolicy


class ContactSeed(Struct, frozen=True, kw_only=True):
    channel: Literal["whatsapp", "messenger"]
    address: str
    name: str


class ServerSettings(Struct, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 8000
    ws_port: int = 0
    """Port of the agent websocket (/ws); 0 means port + 1."""
    node_id: str = ""
    data: str = "data/switchboard.sqlite3"
    """SQLite file; ":memory:" keeps nothing across restarts."""
    durability: Literal["normal", "full"] = "normal"
    token_secret: str = ""
    token_ttl_seconds: int = 12 * 3600
    dev_endpoints: bool = False
    """Enables POST /api/dev/inbound (inject a contact's message). Never in production."""
    max_message_bytes: int = 64 * 1024
    outbound_buffer_bytes: int = 1024 * 1024
    heartbeat_seconds: float = 20.0
    hello_timeout_seconds: float = 10.0
    history_size: int = 1000
    allowed_origins: list[str] = field(default_factory=list)
    """Origins allowed to open /ws from a browser; empty: same host only."""
    redis_url: str = ""


class Config(Struct, kw_only=True):
    server: ServerSettings = field(default_factory=ServerSettings)
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

    @property
    def ws_port(self) -> int:
        return self.server.ws_port or self.server.port + 1


ENV = {
    "SWITCHBOARD_HOST": ("host", str),
    "SWITCHBOARD_PORT": ("port", int),
    "SWITCHBOARD_WS_PORT": ("ws_port", int),
    "SWITCHBOARD_NODE_ID": ("node_id", str),
    "SWITCHBOARD_DATA": ("data", str),
    "SWITCHBOARD_TOKEN_SECRET": ("token_secret", str),
    "SWITCHBOARD_DEV_ENDPOINTS": ("dev_endpoints", lambda v: v.lower() in ("1", "true", "yes")),
    "SWITCHBOARD_REDIS_URL": ("redis_url", str),
}


def load(path: str | Path | None, env: dict[str, str] | None = None, **overrides: object) -> Config:
    raw: dict[str, object] = {}
    if path is not None:
        raw = tomllib.loads(Path(path).read_text())
    _rename(raw)
    settings = dict(raw.get("server", {}))  # type: ignore[call-overload]
    for var, (key, convert) in ENV.items():
        value = (os.environ if env is None else env).get(var)
        if value:
            settings[key] = convert(value)
    settings.update({k: v for k, v in overrides.items() if v is not None})
    raw["server"] = settings
    return msgspec.convert(raw, Config)


def _rename(raw: dict[str, object]) -> None:
    """TOML says ``queue = "sales"`` on a touchpoint; the model says queue_id."""
    for tp in raw.get("touchpoints", []):  # type: ignore[union-attr]
        if "queue" in tp:
            tp["queue_id"] = tp.pop("queue")
