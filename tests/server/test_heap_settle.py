"""``settle_heap``: long-lived objects are frozen out of the garbage
collector's scans, and garbage that involves them is still collected, at the
next settle."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from server.node import settle_heap


class Cell:
    """Any object that can sit in a reference cycle and be weakly referenced."""

    other: Cell | None = None


@pytest.fixture
def thawed() -> Iterator[None]:
    """The test process must not stay frozen: every later test's garbage
    would sit next to a permanent generation."""
    gc.unfreeze()
    yield
    gc.unfreeze()


async def settle_once(every: float) -> asyncio.Task[None]:
    task = asyncio.create_task(settle_heap(every))
    await asyncio.sleep(0)  # its first settle runs right away
    return task


async def test_what_survives_a_settle_is_no_longer_scanned(thawed: None) -> None:
    scanned_before = len(gc.get_objects())
    task = await settle_once(3600)
    try:
        assert gc.get_freeze_count() >= scanned_before // 2
        assert len(gc.get_objects()) < scanned_before // 10
    finally:
        task.cancel()


async def test_a_cycle_through_frozen_objects_is_collected_at_the_next_settle(thawed: None) -> None:
    a, b = Cell(), Cell()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    task = await settle_once(0.2)
    try:
        del a, b  # now garbage, but frozen with everything else
        gc.collect()
        assert gone() is not None, "a frozen cycle survives the collector's own collections"

        async def collected() -> None:
            while gone() is not None:
                await asyncio.sleep(0.02)

        await asyncio.wait_for(collected(), 5)  # by the next settle (every 0.2 s)
    finally:
        task.cancel()
