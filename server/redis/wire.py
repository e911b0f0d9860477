"""Commands packed in one C call each: redis-py's connections with a faster
``pack_command``.

redis-py packs a command through hiredis, but first walks its arguments in
Python: per argument a generator step, its ``Encoder.encode`` and three
``isinstance`` checks (about five Python calls). A lock's commit script
carries ~45 arguments and a storm's publish script up to 384, so on Redis
that walk was half of a lock storm's Python calls (``python -m
bench.lockredis``). This connection gives a command whose arguments are
all ``bytes``, ``str`` or ``int`` straight to ``hiredis.pack_command``,
which encodes them as redis-py's default encoder does (str as UTF-8, an int
as its decimal digits), so the store and the broker hand it their keys and
arguments as they are (on a Redis Cluster, whose connections redis-py makes
itself, the store still turns them into bytes first: ``store.as_bytes``). Anything else (a bool, a
float, a memoryview, a first argument of several words such as
``"CLIENT SETNAME"``) goes through redis-py's own packer, unchanged.
"""

from __future__ import annotations

from typing import Any

import hiredis
from redis.asyncio.connection import AbstractConnection, Connection, SSLConnection, UnixDomainSocketConnection

_PLAIN = frozenset((bytes, str, int))
"""Argument types hiredis packs exactly as redis-py's encoder would."""


class _Packing:
    def pack_command(self, *args: Any) -> list[bytes]:
        first = args[0]
        if type(first) is str and " " not in first and _PLAIN.issuperset(map(type, args)):
            return [hiredis.pack_command(args)]
        return super().pack_command(*args)  # type: ignore[misc, no-any-return]


class PackingConnection(_Packing, Connection):
    """A TCP connection (``redis://``)."""


class PackingSSLConnection(_Packing, SSLConnection):
    """A TLS connection (``rediss://``)."""


class PackingUnixConnection(_Packing, UnixDomainSocketConnection):
    """A Unix socket connection (``unix://``)."""


def connection_class(url: str) -> type[AbstractConnection]:
    """The packing connection class for a Redis URL's scheme (what redis-py's
    ``from_url`` would pick, with the faster packer)."""
    scheme = url.partition("://")[0]
    if scheme == "rediss":
        return PackingSSLConnection
    if scheme == "unix":
        return PackingUnixConnection
    return PackingConnection
