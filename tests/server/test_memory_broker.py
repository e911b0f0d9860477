"""MemoryBroker: gap-free sequences, bounded history (per stream and in total)."""

from __future__ import annotations

from protocol import messages as p
from server.broker import MemoryBroker


def event(i: int) -> p.AnyEvent:
    return p.SessionLocked(conversation_id=f"c{i}", expires_at=i)


async def test_sequences_history_and_the_per_stream_bound() -> None:
    heard: list[tuple[str, int, str]] = []
    broker = MemoryBroker(history_size=3)
    broker.on_publication = lambda stream, seq, kind, data: heard.append((stream, seq, kind))
    for i in range(5):
        await broker.publish("queue:a", event(i))
    assert heard == [("queue:a", n, "session.locked") for n in range(1, 6)]
    assert await broker.positions(["queue:a", "queue:b"]) == {"queue:a": 5, "queue:b": 0}
    assert [seq for seq, _ in await broker.history("queue:a", 2)] == [3, 4, 5]
    assert await broker.history("queue:a", 1) is None  # seq 2 is gone: resync
    assert await broker.history("queue:a", 5) == []
    assert await broker.history("queue:a", 9) is None  # ahead of us: another epoch


async def test_the_total_budget_drops_the_least_recently_published_streams() -> None:
    frame = len(p.encoder.encode(p.Event(stream="conv:0000", seq=1, event=event(0))))
    broker = MemoryBroker(history_size=100, history_bytes=frame * 10)
    for i in range(10):
        await broker.publish(f"conv:{i:04d}", event(i))  # ten streams, one frame each: at the budget
    await broker.publish("conv:0000", event(99))  # 0000 is the most recent again
    await broker.publish("conv:0010", event(10))  # over budget: the oldest (0001, then 0002) go
    assert await broker.history("conv:0001", 0) is None
    assert await broker.history("conv:0002", 0) is None
    assert [s for s, _ in await broker.history("conv:0000", 0)] == [1, 2]
    assert [s for s, _ in await broker.history("conv:0010", 0)] == [1]
    assert (await broker.positions(["conv:0001"]))["conv:0001"] == 1  # counters are kept
    await broker.publish("conv:0001", event(1))
    assert [s for s, _ in await broker.history("conv:0001", 1)] == [2]
