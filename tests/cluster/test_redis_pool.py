"""A node's Redis client holds at most ``max_connections`` connections, and a
command that finds them all busy waits for one instead of failing: 1,000
agents connecting at once read Redis for each hello, and with redis-py's
default pool every read past the 64th failed ("Too many connections"), its
agent refused ``unavailable`` (``server/redis/store.py:connect``)."""

from __future__ import annotations

import asyncio

from server.redis.store import connect

MAX = 8
AT_ONCE = 300


async def test_commands_beyond_the_pool_wait_for_a_connection_instead_of_failing(redis_url: str) -> None:
    client = connect(redis_url, max_connections=MAX)
    try:
        await client.set("k", "v")
        others = len(await client.client_list()) - 1  # the server's other clients (this one holds one connection now)
        answers = await asyncio.gather(*(client.get("k") for _ in range(AT_ONCE)), return_exceptions=True)
        assert [a for a in answers if isinstance(a, BaseException)] == []
        assert answers == [b"v"] * AT_ONCE
        assert len(await client.client_list()) - others <= MAX  # the pool's connections, and none beyond
    finally:
        await client.aclose()
