"""The Redis subscriber takes the pub/sub messages hiredis has parsed
already straight from its reader (``RedisBroker._read_run``), without
redis-py's per-message layers: a storm's burst is read whole, once each, in
order, with a subscription confirmed in the middle of it handled as
redis-py would, and far fewer ``get_message`` calls than messages."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio.client import PubSub

from server.redis.broker import RedisBroker
from tests.cluster.conftest import wait_until
from tests.cluster.test_redis_broker import STREAM, Heard, event

N = 600
OTHER = "queue:support"


async def test_a_burst_is_read_from_the_parsed_replies_whole_and_in_order(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = [0]
    get_message = PubSub.get_message

    async def counted(self: PubSub, *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return await get_message(self, *args, **kwargs)

    monkeypatch.setattr(PubSub, "get_message", counted)
    heard = Heard()
    runs: list[int] = []
    reader = RedisBroker(redis_url, heartbeat_seconds=60, watchdog_seconds=120)
    writer = RedisBroker(redis_url, heartbeat_seconds=60, watchdog_seconds=120)

    def on_publications(run: list[tuple[str, int, str, bytes]]) -> None:
        runs.append(len(run))
        for publication in run:
            heard(*publication)

    reader.on_publications = on_publications
    try:
        await reader.start()
        await writer.start()
        reader.listen(STREAM)
        await reader.subscribe(STREAM)
        before = calls[0]
        await writer.publish_many([(STREAM, event(n)) for n in range(1, N // 2 + 1)])
        reader.listen(OTHER)  # its confirmation arrives among the burst's messages
        await reader.subscribe(OTHER)
        await writer.publish_many([(s, event(n)) for n in range(N // 2 + 1, N + 1) for s in (STREAM, OTHER)])
        await wait_until(lambda: len(heard.seqs()) >= N, 10, "the reader hears the whole burst")
        assert heard.seqs() == list(range(1, N + 1))  # every one, once, in order
        assert heard.seqs(OTHER) == list(range(1, N // 2 + 1))  # from its subscription on, none lost
        read = calls[0] - before
        assert read < N / 4, f"{read} get_message calls for {N * 3 // 2} messages"
        assert max(runs) > 1  # handed over in runs
    finally:
        await reader.close()
        await writer.close()
