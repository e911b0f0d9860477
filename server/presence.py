"""The Presence port: agents' routing status, their screens' heartbeats,
the index of offers ringing for them, and the lease routing decisions
serialize on. ``MemoryPresence`` here (one node); a Redis implementation
for a cluster belongs in ``server/redis/`` beside the store.

Guarantees, method by method:

- ``get`` / ``get_many``: the last record stored for each agent (a fresh
  ``AgentRecord`` for one never stored: offline).
- ``compare_and_set``: stores ``new`` only if the stored record still equals
  ``expected``; two writers on any node never both win. Records are small
  values (status, since, timeouts in a row, idle since, a capacity override).
- ``touch``: the agent has a screen on ``node`` until ``until`` (ms);
  ``present`` answers which agents have a screen with time left. A node
  that dies stops touching, so its screens expire by themselves.
- ``offers_of`` (``offers_of_many``: for many agents in one read) is a superset of the conversations ringing for the agent:
  ``add_offer`` is called *before* the offer is committed, and readers check
  each conversation (``discard_offer`` only trims it).
- ``lease``: at most one holder at a time for ``ttl_ms`` (a holder that
  dies loses it when it runs out).

Not guaranteed: precision of ``present`` beyond the clocks of the nodes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from msgspec import Struct

from server.core.routing import AgentStatus


class AgentRecord(Struct, frozen=True, kw_only=True):
    status: AgentStatus = "offline"
    since: int = 0
    """When the status last changed (ms)."""
    timeouts: int = 0
    """Offers let time out in a row (reset by an accept or a decline)."""
    idle_since: int = 0
    """When they were last offered or given work."""
    capacity: int | None = None
    """Set live by a supervisor; None: the configured capacity."""


OFFLINE = AgentRecord()
"""The record of an agent never stored (records are frozen: one serves all)."""


class Presence(Protocol):
    async def get_many(self, agent_ids: Iterable[str]) -> dict[str, AgentRecord]: ...

    async def compare_and_set(self, agent_id: str, expected: AgentRecord, new: AgentRecord) -> bool: ...

    async def touch(self, node: str, agent_ids: Iterable[str], until: int) -> None: ...

    async def present(self, agent_ids: Iterable[str], now: int) -> set[str]: ...

    async def add_offer(self, agent_id: str, conv_id: str) -> None: ...

    async def discard_offer(self, agent_id: str, conv_id: str) -> None: ...

    async def offers_of(self, agent_id: str) -> set[str]: ...

    async def offers_of_many(self, agent_ids: Iterable[str]) -> dict[str, set[str]]:
        """``offers_of`` for each agent (every one a key), in one read."""
        ...

    def lease(self, name: str, ttl_ms: int) -> AbstractAsyncContextManager[None]:
        """``async with presence.lease(name, ttl)``: hold the named lease."""
        ...

    async def close(self) -> None: ...


class MemoryPresence:
    """Single node: everything in this process (``lease`` is a lock)."""

    def __init__(self) -> None:
        self._records: dict[str, AgentRecord] = {}
        self._screens: dict[tuple[str, str], int] = {}
        self._offers: dict[str, set[str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get_many(self, agent_ids: Iterable[str]) -> dict[str, AgentRecord]:
        records = self._records
        return {a: records.get(a, OFFLINE) for a in agent_ids}

    async def compare_and_set(self, agent_id: str, expected: AgentRecord, new: AgentRecord) -> bool:
        if self._records.get(agent_id, OFFLINE) != expected:
            return False
        self._records[agent_id] = new
        return True

    async def touch(self, node: str, agent_ids: Iterable[str], until: int) -> None:
        for a in agent_ids:
            self._screens[(a, node)] = until

    async def present(self, agent_ids: Iterable[str], now: int) -> set[str]:
        wanted = set(agent_ids)
        return {a for (a, _), until in self._screens.items() if until > now and a in wanted}

    async def add_offer(self, agent_id: str, conv_id: str) -> None:
        self._offers.setdefault(agent_id, set()).add(conv_id)

    async def discard_offer(self, agent_id: str, conv_id: str) -> None:
        self._offers.get(agent_id, set()).discard(conv_id)

    async def offers_of(self, agent_id: str) -> set[str]:
        return set(self._offers.get(agent_id, ()))

    async def offers_of_many(self, agent_ids: Iterable[str]) -> dict[str, set[str]]:
        return {a: set(self._offers.get(a, ())) for a in agent_ids}

    @asynccontextmanager
    async def lease(self, name: str, ttl_ms: int) -> AsyncIterator[None]:
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            yield

    async def close(self) -> None:
        return None
