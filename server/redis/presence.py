"""The Presence port on Redis, for a cluster (see server/presence.py).

    sb:presence:agents        hash  agent id → its record (msgspec JSON)
    sb:presence:screens       zset  "<agent>|<node>" → until when (ms) that node's screens count
    sb:presence:offers:<a>    set   conversations that may ring for agent <a> (a superset)
    sb:lease:<name>           string  the lease holder's token, with a TTL

Only this module writes these keys. A node renews its screens every
heartbeat (``touch``); a node that dies stops, and its entries run out by
themselves: other nodes find the agent absent within the grace period.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import msgspec

from server.presence import OFFLINE, AgentRecord
from server.redis.store import connect

CAS = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then cur = ARGV[4] end
if cur == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  return 1
end
return 0
"""

RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(AgentRecord).decode
_FRESH = _encode(OFFLINE)

SCREENS_KEPT_MS = 3_600_000
"""Screen entries older than this are dropped on the next touch."""


class RedisPresence:
    def __init__(self, url: str, *, prefix: str = "sb:", client: Any = None) -> None:
        self._r = client if client is not None else connect(url, max_connections=32)
        self._agents = f"{prefix}presence:agents"
        self._screens = f"{prefix}presence:screens"
        self._offers = f"{prefix}presence:offers:"
        self._lease = f"{prefix}lease:"
        self._cas = self._r.register_script(CAS)
        self._release = self._r.register_script(RELEASE)
        self._renew = self._r.register_script(RENEW)

    async def get_many(self, agent_ids: Iterable[str]) -> dict[str, AgentRecord]:
        ids = list(agent_ids)
        if not ids:
            return {}
        raw = await self._r.hmget(self._agents, ids)
        return {a: _decode(r) if r else OFFLINE for a, r in zip(ids, raw, strict=True)}

    async def compare_and_set(self, agent_id: str, expected: AgentRecord, new: AgentRecord) -> bool:
        done = await self._cas(keys=[self._agents], args=[agent_id, _encode(expected), _encode(new), _FRESH])
        return bool(done)

    async def touch(self, node: str, agent_ids: Iterable[str], until: int) -> None:
        entries = {f"{a}|{node}": until for a in agent_ids}
        if entries:
            pipe = self._r.pipeline(transaction=False)
            pipe.zadd(self._screens, entries)
            pipe.zremrangebyscore(self._screens, "-inf", until - SCREENS_KEPT_MS)
            await pipe.execute()

    async def present(self, agent_ids: Iterable[str], now: int) -> set[str]:
        wanted = set(agent_ids)
        live = await self._r.zrangebyscore(self._screens, f"({now}", "+inf")
        return {a for a in (m.decode().split("|", 1)[0] for m in live) if a in wanted}

    async def add_offer(self, agent_id: str, conv_id: str) -> None:
        await self._r.sadd(self._offers + agent_id, conv_id)

    async def discard_offer(self, agent_id: str, conv_id: str) -> None:
        await self._r.srem(self._offers + agent_id, conv_id)

    async def offers_of(self, agent_id: str) -> set[str]:
        return {m.decode() for m in await self._r.smembers(self._offers + agent_id)}

    async def offers_of_many(self, agent_ids: Iterable[str]) -> dict[str, set[str]]:
        wanted = list(dict.fromkeys(agent_ids))
        if not wanted:
            return {}
        pipe = self._r.pipeline(transaction=False)
        for agent_id in wanted:
            pipe.smembers(self._offers + agent_id)
        found = await pipe.execute()
        return {a: {m.decode() for m in members} for a, members in zip(wanted, found, strict=True)}

    @asynccontextmanager
    async def lease(self, name: str, ttl_ms: int) -> AsyncIterator[None]:
        """Spin (a few ms at a time) until the lease is ours; renewed every
        third of ``ttl_ms`` while held, so a long pass keeps it; it runs out
        by itself ``ttl_ms`` after this node dies holding it."""
        key, token = self._lease + name, secrets.token_hex(8)
        while not await self._r.set(key, token, nx=True, px=ttl_ms):
            await asyncio.sleep(0.005)

        async def renew() -> None:
            while True:
                await asyncio.sleep(ttl_ms / 3000)
                await self._renew(keys=[key], args=[token, ttl_ms])

        renewing = asyncio.create_task(renew())
        try:
            yield
        finally:
            renewing.cancel()
            await self._release(keys=[key], args=[token])

    async def close(self) -> None:
        await self._r.aclose()
