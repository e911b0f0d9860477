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


async def test_publish_many_numbers_frames_and_keeps_history_as_publish_one_by_one() -> None:
    """A batch hands on the same (stream, seq,
    kind, frame) in the batch's order, and leaves the same histories, bounds
    and recency, as the same publications one at a time."""
    shared = event(99)
    batch = [(f"conv:{i % 3}", event(i)) for i in range(8)] + [("queue:a", shared), ("conv:1", shared)]
    batch += [("queue:a", event(i)) for i in range(10, 16)]
    one, many = MemoryBroker(history_size=4), MemoryBroker(history_size=4)
    heard_one: list[tuple[str, int, str, bytes]] = []
    heard_many: list[tuple[str, int, str, bytes]] = []
    one.on_publication = lambda *pub: heard_one.append(pub)
    many.on_publications = heard_many.extend
    for broker in (one, many):
        await broker.publish("conv:1", event(-1))
    heard_one.clear()
    for stream, ev in batch:
        await one.publish(stream, ev)
    await many.publish_many(batch)
    assert heard_many == heard_one
    for stream in ("conv:0", "conv:1", "conv:2", "queue:a"):
        assert await many.history(stream, 0) == await one.history(stream, 0)
        assert await many.positions([stream]) == await one.positions([stream])
    assert [(s, list(h)) for s, h in many._history.items()] == [(s, list(h)) for s, h in one._history.items()]  # and recency
    assert many._bytes == one._bytes


async def test_frames_are_the_event_frame_encoded_whole() -> None:
    """``_append`` fills ``frame_bytes``' template in place: the frames heard
    and kept are exactly ``encoder.encode(Event(...))``, one by one and in a batch."""
    from server.broker import frame_bytes

    frames: list[bytes] = []
    broker = MemoryBroker()
    broker.on_publication = lambda stream, seq, kind, data: frames.append(data)
    odd = p.Alert(reason="message", conversation_id='c"\\1', contact_name="Zoë \u2028 😀", preview="<b>\"x\"</b>")
    await broker.publish("conv:a", event(1))
    await broker.publish('agent:"quoted"', odd)
    await broker.publish_many([("conv:a", event(2)), ("queue:q", odd)])
    want = [
        p.encoder.encode(p.Event(stream="conv:a", seq=1, event=event(1))),
        p.encoder.encode(p.Event(stream='agent:"quoted"', seq=1, event=odd)),
        p.encoder.encode(p.Event(stream="conv:a", seq=2, event=event(2))),
        p.encoder.encode(p.Event(stream="queue:q", seq=1, event=odd)),
    ]
    assert frames == want
    assert [d for _, d in await broker.history("conv:a", 0) or []] == [want[0], want[2]]
    assert frame_bytes("conv:a", 2, p.encoder.encode(event(2))) == want[2]
