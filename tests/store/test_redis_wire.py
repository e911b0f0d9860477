"""The Redis connections pack a command of bytes, str and int arguments in
one C call (``server/redis/wire.py``), the same bytes redis-py's own packer
writes; anything else still goes through redis-py's packer."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio.connection import AbstractConnection, Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import DataError

from server.redis import wire
from server.redis.store import connect

PLAIN = [
    ("EVALSHA", b"0123abcd", 3, b"k1", "k2:{conv:c1}", "é 漢字 🙂", b"", "", 0, -7, 2**70, b"\x00\xff\r\n"),
    ("PUBLISH", "ch", b'{"type":"event"}'),
    ("GET", "x"),
]
OTHERS = [
    ("CLIENT SETNAME", "node-1"),  # several words: redis-py splits the first argument
    ("SET", "x", 1.5),
    ("SET", "x", memoryview(b"abc")),
    ("SET", "x", bytearray(b"abc")),
]


class _Refused:
    def pack(self, *args: Any) -> list[bytes]:
        raise AssertionError(f"redis-py's packer used for {args!r}")


@pytest.mark.parametrize("args", PLAIN + OTHERS, ids=lambda a: a[0])
def test_packs_what_redis_py_packs(args: tuple[Any, ...]) -> None:
    ours, theirs = wire.PackingConnection(), Connection()
    assert b"".join(ours.pack_command(*args)) == b"".join(theirs.pack_command(*args))


@pytest.mark.parametrize("args", PLAIN, ids=lambda a: a[0])
def test_plain_arguments_skip_redis_py_packer(args: tuple[Any, ...]) -> None:
    conn = wire.PackingConnection()
    conn._command_packer = _Refused()
    assert b"".join(conn.pack_command(*args)) == b"".join(Connection().pack_command(*args))


@pytest.mark.parametrize("args", OTHERS, ids=lambda a: a[0])
def test_other_arguments_go_through_redis_py_packer(args: tuple[Any, ...]) -> None:
    conn = wire.PackingConnection()
    conn._command_packer = _Refused()
    with pytest.raises(AssertionError, match="redis-py's packer"):
        conn.pack_command(*args)


def test_a_bool_is_refused_as_redis_py_refuses_it() -> None:
    with pytest.raises(DataError):
        wire.PackingConnection().pack_command("SET", "x", True)


@pytest.mark.parametrize(
    ("url", "base"),
    [("redis://127.0.0.1:6379/0", Connection), ("rediss://127.0.0.1:6380/0", SSLConnection), ("unix:///tmp/r.sock", UnixDomainSocketConnection)],
)
def test_every_client_of_a_url_packs_with_its_scheme_kept(url: str, base: type[AbstractConnection]) -> None:
    client = connect(url)
    cls = client.connection_pool.connection_class
    assert issubclass(cls, wire._Packing) and issubclass(cls, base)
