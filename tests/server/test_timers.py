"""Session timers (server/timers.py): each window locks once at its time, and
a conversation with no window left (ended) is forgotten, so a node's memory
does not keep every conversation of the last 24 hours."""

from __future__ import annotations

import asyncio
import time

import pytest

from protocol import messages as p
from server import timers as timers_mod
from server.timers import SessionTimers
from tests.conftest import Running


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def test_a_forgotten_window_never_fires_and_the_heap_is_compacted() -> None:
    fired: list[str] = []
    last_fired = asyncio.Event()

    async def fire(conv_id: str) -> None:
        fired.append(conv_id)
        if conv_id == "later":
            last_fired.set()

    timers = SessionTimers(fire, now_ms)
    timers.start()
    try:
        soon = now_ms() + 200
        for i in range(5000):
            timers.watch(f"c{i}", soon + 100_000 + i)  # far away
        timers.watch("kept", soon)
        timers.watch("dropped", soon)
        for i in range(5000):
            timers.watch(f"c{i}", None)  # ended: nothing left to lock
        timers.watch("dropped", None)
        assert len(timers) == 1
        assert len(timers._heap) < 2 * len(timers) + 1024 + 2  # not 5,002 stale entries
        # A barrier instead of a pause: a window due just after those two.
        # Timers fire in due order, so once it fired, so would have "dropped".
        timers.watch("later", soon + 1)
        await asyncio.wait_for(last_fired.wait(), 5)
        assert fired == ["kept", "later"]
    finally:
        await timers.stop()


async def test_end_chat_stops_watching_the_window(running: Running) -> None:
    made = await running.inbound("Oi")
    ana = await running.agent("ana")
    assert len(running.node.timers) == 1
    await ana.call(p.Claim, conversation_id=made["conversation_id"])
    await ana.call(p.EndChat, conversation_id=made["conversation_id"])
    assert len(running.node.timers) == 0
    metrics = (await running.http.get(f"{running.base}/metrics")).text
    assert "switchboard_session_timers 0" in metrics


async def test_windows_due_together_are_fired_in_one_batch_and_failures_retried() -> None:
    batches: list[list[str]] = []
    retried = asyncio.Event()

    async def fire(conv_id: str) -> None:
        raise AssertionError("fire_many is given: every due window goes through it")

    async def fire_many(conv_ids: list[str]) -> list[str]:
        batches.append(sorted(conv_ids))
        if len(batches) == 2:
            retried.set()
        return ["c3"] if len(batches) == 1 else []  # c3 failed the first time

    timers = SessionTimers(fire, now_ms, fire_many=fire_many)
    due = now_ms() + 100
    for i in range(2000):
        timers.watch(f"c{i}", due)
    timers.start()
    try:
        await asyncio.wait_for(retried.wait(), 5)
        assert len(batches[0]) == 2000, "one pass over everything due"
        assert batches[1] == ["c3"], "a failed one is fired again"
        assert len(timers) == 0
    finally:
        await timers.stop()


async def test_a_storm_coming_is_prepared_ahead_and_a_trickle_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    """``prepare`` hears, a lead ahead, of the windows due together when they
    are a storm's worth (PREPARE_MIN); a lone window is not prepared; both
    fire as ever."""
    monkeypatch.setattr(timers_mod, "PREPARE_LEAD_MS", 2000)
    monkeypatch.setattr(timers_mod, "PREPARE_LATEST_MS", 50)
    monkeypatch.setattr(timers_mod, "PREPARE_MIN", 10)
    log: list[tuple[str, list[str]]] = []
    done = asyncio.Event()

    async def fire(conv_id: str) -> None:
        raise AssertionError("fire_many is given")

    async def fire_many(conv_ids: list[str]) -> list[str]:
        log.append(("fire", sorted(conv_ids)))
        if "lone" in conv_ids:
            done.set()
        return []

    async def prepare(conv_ids: list[str]) -> None:
        log.append(("prepare", sorted(conv_ids)))

    timers = SessionTimers(fire, now_ms, fire_many=fire_many, prepare=prepare)
    due = now_ms() + 1500  # well inside the lead, and well past PREPARE_LATEST_MS even on a busy machine
    storm = sorted(f"c{i:02d}" for i in range(12))
    for conv_id in storm:
        timers.watch(conv_id, due)
    timers.watch("lone", due + 1000)  # beyond the first lead: alone when its turn comes
    timers.start()
    try:
        await asyncio.wait_for(done.wait(), 5)
        assert log == [("prepare", storm), ("fire", storm), ("fire", ["lone"])]
    finally:
        await timers.stop()


async def test_forgotten_windows_leave_the_prepare_heap_too() -> None:
    async def fire(conv_id: str) -> None:
        pass

    async def prepare(conv_ids: list[str]) -> None:
        pass

    timers = SessionTimers(fire, now_ms, prepare=prepare)
    far = now_ms() + 100_000
    for i in range(5000):
        timers.watch(f"c{i}", far + i)
    assert len(timers._soon) == 5000
    for i in range(5000):
        timers.watch(f"c{i}", None)
    assert len(timers._soon) < 1024 + 2 and len(timers._heap) < 1024 + 2
