"""The parts of a snapshot that many agents share, encoded once.

A snapshot frame is mostly made of parts that do not depend on the agent
(the configuration's views) or depend only on the set of queues the agent
sees (the Inbox window and counts, ``reads._Window``). Encoding them into
every snapshot of a reconnect wave was most of the frame's encoding: here
each is encoded once, as ``msgspec.Raw``, and a snapshot frame splices the
bytes in (``msgspec`` writes a ``Raw`` value as it is). The frame's bytes are
exactly those of the snapshot encoded whole (tests/app/test_shared_bytes.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from msgspec import Raw

from protocol import messages as p
from server.app.catalog import Catalog
from server.core.model import Agent

_encode = p.encoder.encode


def raw(value: object) -> Any:
    """``value`` encoded once, to stand in for it in a struct being encoded
    (typed Any: a ``Raw`` sits in a field declared as the value's type)."""
    return cast(Any, Raw(_encode(value)))


@dataclass(frozen=True, slots=True)
class ConfigParts:
    """A snapshot's configuration views, encoded (``Raw`` each)."""

    queues: Any
    agents: Any
    touchpoints: Any
    templates: Any
    dispositions: Any


class EncodedViews:
    """The catalog's views as a snapshot carries them, encoded once per kind
    of agent: a supervisor, or an agent of a given set of queues (what
    ``Catalog.directory`` and ``Catalog.touchpoint_views`` depend on). The
    catalog is read-only after start, so nothing invalidates them."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._shared: tuple[Any, Any, Any] | None = None
        self._parts: dict[tuple[str, ...], ConfigParts] = {}

    def of(self, agent: Agent) -> ConfigParts:
        key = ("*",) if agent.is_supervisor else tuple(sorted(set(agent.queues)))
        parts = self._parts.get(key)
        if parts is None:
            catalog = self.catalog
            if self._shared is None:
                self._shared = (raw(catalog.queue_views), raw(catalog.template_views), raw(catalog.dispositions))
            queues, templates, dispositions = self._shared
            parts = self._parts[key] = ConfigParts(
                queues=queues,
                agents=raw(catalog.directory(agent)),
                touchpoints=raw(catalog.touchpoint_views(agent)),
                templates=templates,
                dispositions=dispositions,
            )
        return parts
