"""Media quota and retention (server/app/media.py ``Housekeeping``), on the
memory Blobs (the quota as downloads and uploads meet it on a node:
tests/channels/test_media_quota.py)."""

from __future__ import annotations

import logging

import pytest

from server.app.media import Housekeeping
from server.blobs.memory import MemoryBlobs
from server.metrics import Metrics

DAY = 86_400_000


async def test_retention_deletes_what_was_stored_before_the_window() -> None:
    blobs, metrics = MemoryBlobs(), Metrics()
    now = [100 * DAY]
    house = Housekeeping(blobs, metrics, lambda: now[0], quota_bytes=0, retention_days=30, every=60)
    old = await blobs.put(b"an old photo", now=now[0] - 31 * DAY)
    kept = await blobs.put(b"a new photo", now=now[0] - 29 * DAY)
    await house.run_once()
    assert await blobs.get(old.key) is None and await blobs.get(kept.key) == b"a new photo"
    assert house.deleted.value() == 1 and house.used == len(b"a new photo")
    assert "switchboard_media_deleted_total 1" in metrics.render()


async def test_the_quota_warns_near_it_and_refuses_past_it(caplog: pytest.LogCaptureFixture) -> None:
    blobs, metrics = MemoryBlobs(), Metrics()
    house = Housekeeping(blobs, metrics, lambda: 0, quota_bytes=100, retention_days=0, every=60)
    await blobs.put(b"x" * 80, now=0)
    await house.run_once()
    assert house.full(20) is None and house.full(21) is not None
    assert "switchboard_media_quota_ratio 0.8" in metrics.render()
    await blobs.put(b"y" * 12, now=0)
    with caplog.at_level(logging.WARNING, logger="server.app.media"):
        await house.run_once()
    assert "media storage at 92% of its quota" in caplog.text
    house.stored(8)  # stored on this node since the measure
    assert house.full(1) is not None
