"""What the Redis subscriber exports for diagnosing delivery stalls (issue 16,
the soak on 2 nodes): how many pub/sub messages it read, and how long its own
heartbeat took from PUBLISH to being read back (behind whatever the reader
still had to read)."""

from __future__ import annotations

import asyncio
import time

import redis

from server.metrics import Metrics
from server.redis.broker import RedisBroker
from tests.cluster.conftest import wait_until
from tests.cluster.test_redis_broker import STREAM, Heard, event
from tests.server.test_loop_probe import gauges


async def test_every_message_the_subscriber_reads_is_counted(redis_url: str) -> None:
    heard = Heard()
    metrics = Metrics()
    # A heartbeat every 60 s: the session's first one is the only one in the test.
    reader = RedisBroker(redis_url, heartbeat_seconds=60, watchdog_seconds=120, metrics=metrics)
    writer = RedisBroker(redis_url, heartbeat_seconds=60, watchdog_seconds=120)
    reader.on_publication = heard
    try:
        await reader.start()
        await writer.start()
        reader.listen(STREAM)
        await reader.subscribe(STREAM)
        for n in range(1, 4):
            await writer.publish(STREAM, event(n))
        await wait_until(lambda: heard.seqs() == [1, 2, 3], 5, "the reader hears all three")
        # Three publications and the reader's own first heartbeat (subscribe confirmations are not messages).
        assert gauges(metrics.render())["switchboard_redis_messages_total"] == 4
    finally:
        await reader.close()
        await writer.close()


async def test_the_heartbeat_round_trip_includes_the_time_the_reader_could_not_read(redis_url: str) -> None:
    metrics = Metrics()
    broker = RedisBroker(redis_url, heartbeat_seconds=60, watchdog_seconds=120, metrics=metrics)
    try:
        await broker.start()  # returns once the first heartbeat was heard
        first = gauges(metrics.render())
        assert first["switchboard_redis_heartbeat_seconds_count"] == 1
        assert 0 < first["switchboard_redis_heartbeat_max_seconds"] < 1
        # A heartbeat published from outside the loop, then the loop held:
        # it waits in the reader's backlog for those 0.3 s.
        with redis.Redis.from_url(redis_url) as outside:
            outside.publish(broker._hb_channel, repr(time.monotonic()).encode())
        time.sleep(0.3)  # noqa: ASYNC251  the loop held, as by a long callback or a full collection
        await wait_until(lambda: broker.heartbeat_trip_max.value > 0, 5, "the second heartbeat heard")
        seen = gauges(metrics.render())
        assert seen["switchboard_redis_heartbeat_seconds_count"] == 2
        assert seen["switchboard_redis_heartbeat_max_seconds"] >= 0.3
        # The peak is since the previous scrape.
        assert gauges(metrics.render())["switchboard_redis_heartbeat_max_seconds"] == 0
    finally:
        await broker.close()
        await asyncio.sleep(0)


async def test_a_loop_held_longer_than_the_watchdog_is_not_a_deaf_subscriber(redis_url: str) -> None:
    # Seen in the soak on a starved machine: a 3-s full collection, then the
    # subscriber restarted (resubscribe, history replay) though Redis was fine.
    metrics = Metrics()
    broker = RedisBroker(redis_url, heartbeat_seconds=0.2, watchdog_seconds=1.0, metrics=metrics)
    try:
        await broker.start()
        time.sleep(1.5)  # noqa: ASYNC251  the loop held past the watchdog
        heard = sum(broker.heartbeat_trip._counts[()])
        await wait_until(
            lambda: sum(broker.heartbeat_trip._counts[()]) >= heard + 3, 5, "heartbeats heard after the stall"
        )
        assert broker.reconnects.value("watchdog") == 0
    finally:
        await broker.close()
