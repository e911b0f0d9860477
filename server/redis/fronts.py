"""Fronts (server/ringing.py) in Redis: one hash per agent, one field per
node holding a screen of theirs.

    sb:fronts:<agent>     hash   node → "<in front 0/1>:<came to the front, ms>:<valid until, ms>"
    sb:rang:<alert>       string the node that rings the alert (SET NX PX): at most one

Written only by this module (each node its own fields); a hash nobody
writes expires (PEXPIRE); an entry counts only until its own "valid until"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.redis.store import connect
from server.ringing import Rank, best

KEEP_MS = 3_600_000
"""A hash not written for this long is gone (entries are renewed far more often)."""


def _value(rank: Rank, until: int) -> str:
    return f"{int(rank[0])}:{rank[1]}:{until}"


def _parse(raw: bytes) -> tuple[Rank, int] | None:
    try:
        front, at, until = raw.decode().split(":")
        return (front == "1", int(at)), int(until)
    except ValueError:
        return None


class RedisFronts:
    def __init__(self, url: str, *, prefix: str = "sb:", client: Any = None) -> None:
        self._r = client if client is not None else connect(url, max_connections=16)
        self._p = prefix

    def _key(self, agent_id: str) -> str:
        return f"{self._p}fronts:{agent_id}"

    async def put(self, agent_id: str, node: str, rank: Rank | None, until: int) -> None:
        key = self._key(agent_id)
        if rank is None:
            await self._r.hdel(key, node)
            return
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.hset(key, node, _value(rank, until))
            pipe.pexpire(key, KEEP_MS)
            await pipe.execute()

    async def put_many(self, node: str, ranks: Mapping[str, Rank], until: int) -> None:
        if not ranks:
            return
        async with self._r.pipeline(transaction=False) as pipe:
            for agent_id, rank in ranks.items():
                pipe.hset(self._key(agent_id), node, _value(rank, until))
                pipe.pexpire(self._key(agent_id), KEEP_MS)
            await pipe.execute()

    async def winner(self, agent_id: str, now: int) -> str | None:
        raw: dict[bytes, bytes] = await self._r.hgetall(self._key(agent_id))
        entries = {n.decode(): parsed for n, v in raw.items() if (parsed := _parse(v)) is not None}
        return best(entries, now)

    async def claim(self, key: str, ttl_ms: int) -> bool:
        return bool(await self._r.set(f"{self._p}rang:{key}", "1", nx=True, px=max(1, ttl_ms)))

    async def close(self) -> None:
        await self._r.aclose()
