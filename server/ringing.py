"""The Fronts port: where each agent's front-most screen is, across nodes,
so that one screen of the agent rings for an alert (server/ws/ringing.py)
however many nodes hold their screens. One node needs no port (its hub rings
its best screen); ``MemoryFronts`` here serves tests, ``server/redis/fronts.py``
a cluster.

A screen's *rank* is (in front now, when it last came to the front, ms of the
app's clock): the highest rings. Each node keeps one entry per agent, the
rank of its best screen of the agent.

Guarantees, method by method:

- ``put``: the node's entry for the agent becomes ``rank`` (None: removed,
  no screen of the agent left there), valid until ``until`` (ms); a node that
  dies stops renewing, so its entries stop counting by themselves.
- ``winner``: the node whose valid entry ranks highest (equal ranks: the
  greater node id), or None; every node asking the same state gets the same
  answer.
- ``claim``: true for exactly one caller per ``key`` within ``ttl_ms``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

Rank = tuple[bool, int]


class Fronts(Protocol):
    async def put(self, agent_id: str, node: str, rank: Rank | None, until: int) -> None: ...

    async def put_many(self, node: str, ranks: Mapping[str, Rank], until: int) -> None:
        """``put`` for each agent (the node's heartbeat), in one round trip."""
        ...

    async def winner(self, agent_id: str, now: int) -> str | None: ...

    async def claim(self, key: str, ttl_ms: int) -> bool: ...

    async def close(self) -> None: ...


def best(entries: Mapping[str, tuple[Rank, int]], now: int) -> str | None:
    """The node whose entry ranks highest among those valid at ``now``."""
    valid = [(rank, node) for node, (rank, until) in entries.items() if until > now]
    return max(valid)[1] if valid else None


class MemoryFronts:
    """In this process (tests; several hubs sharing one instance)."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, tuple[Rank, int]]] = {}
        self._claims: set[str] = set()

    async def put(self, agent_id: str, node: str, rank: Rank | None, until: int) -> None:
        entries = self._entries.setdefault(agent_id, {})
        if rank is None:
            entries.pop(node, None)
        else:
            entries[node] = (rank, until)

    async def put_many(self, node: str, ranks: Mapping[str, Rank], until: int) -> None:
        for agent_id, rank in ranks.items():
            await self.put(agent_id, node, rank, until)

    async def winner(self, agent_id: str, now: int) -> str | None:
        return best(self._entries.get(agent_id, {}), now)

    async def claim(self, key: str, ttl_ms: int) -> bool:
        if key in self._claims:
            return False
        self._claims.add(key)  # kept for the process's life: tests only
        return True

    async def close(self) -> None:
        return None
