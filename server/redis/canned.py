"""Canned responses on Redis (the ``CannedStore`` port).

    sb:canned:<list id>   hash  v = version, b = CannedList blob

One key per list, so one hash slot: a save is one Lua script that checks the
version and writes, alone on its shard (two writers of one list on any nodes
cannot both win). Reading several lists is a pipeline of single-key reads,
which a Redis Cluster serves across slots, sent once more if a pooled
connection fails (a read is safe to repeat; a save is not, and is reported
``StoreUnavailable`` as the store's commit is). The node gives it the store's
client: one pool, one view of Redis's health. The only writer of these keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from server.core.canned import CannedList
from server.redis.store import UNREACHABLE, connect
from server.redis.store import _unavailable as unavailable
from server.store.base import VersionConflict

_encode = msgspec.msgpack.Encoder().encode
_list = msgspec.msgpack.Decoder(CannedList).decode

# KEYS: 1 the list. ARGV: 1 the version expected stored (0: none), 2 the new version, 3 the blob.
PUT = """
local stored = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if stored ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'b', ARGV[3])
return 1
"""


class RedisCanned:
    def __init__(self, url: str, *, prefix: str = "sb:", client: Any = None) -> None:
        self._r = client if client is not None else connect(url)
        self._own = client is None
        self._p = prefix
        self._put = self._r.register_script(PUT)

    def _key(self, list_id: str) -> str:
        return f"{self._p}canned:{list_id}"

    @unavailable
    async def canned_lists(self, list_ids: Sequence[str]) -> list[CannedList]:
        wanted = list(list_ids)
        if not wanted:
            return []
        try:
            blobs = await self._read(wanted)
        except UNREACHABLE:
            # A read may be sent again (unlike the save): a pooled connection
            # to a Redis that restarted fails once, and is replaced.
            blobs = await self._read(wanted)
        return [_list(b) for b in blobs if b is not None]

    async def _read(self, list_ids: list[str]) -> list[bytes | None]:
        pipe = self._r.pipeline(transaction=False)
        for list_id in list_ids:
            pipe.hget(self._key(list_id), "b")
        return list(await pipe.execute())

    @unavailable
    async def put_canned_list(self, lst: CannedList) -> None:
        stored = await self._put(keys=[self._key(lst.id)], args=[lst.version - 1, lst.version, _encode(lst)])
        if not stored:
            raise VersionConflict(lst.id)

    async def close(self) -> None:
        if self._own:
            await self._r.aclose()
