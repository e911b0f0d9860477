"""Session timers (server/timers.py): each window locks once at its time, and
a conversation with no window left (ended) is forgotten, so a node's memory
does not keep every conversation of the last 24 hours."""

from __future__ import annotations

import asyncio
import time

from protocol import messages as p
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
