"""The gap check, fed frames by hand (no I/O)."""

from __future__ import annotations

import pytest

from clients.switchboard_client.sequencer import Gap, Sequencer
from protocol import messages as p


def ev(stream: str, seq: int) -> p.Event:
    return p.Event(stream=stream, seq=seq, event=p.InboxRemoved(conversation_id=f"c{seq}", queue_id="sales", reason="claimed"))


def snapshot(streams: dict[str, int], epoch: str = "e1") -> p.Snapshot:
    return p.Snapshot(
        epoch=epoch, streams=streams, inbox=[], assigned=[], unread_total=0, queues=[], agents=[],
        touchpoints=[], templates=[], dispositions=[], server_time=0,
    )


def test_in_order_frames_are_delivered_and_advance() -> None:
    s = Sequencer()
    s.load(snapshot({"queue:sales": 4}))
    assert s.accept(ev("queue:sales", 5)) == [ev("queue:sales", 5)]
    assert s.accept(ev("queue:sales", 6)) == [ev("queue:sales", 6)]
    assert s.positions["queue:sales"] == 6


def test_repeats_are_dropped_and_counted() -> None:
    s = Sequencer()
    s.load(snapshot({"queue:sales": 4}))
    assert s.accept(ev("queue:sales", 3)) == []
    assert s.accept(ev("queue:sales", 4)) == []
    assert s.duplicates == 2


def test_a_hole_raises_gap_and_keeps_the_last_position() -> None:
    s = Sequencer()
    s.load(snapshot({"queue:sales": 4}))
    with pytest.raises(Gap) as caught:
        s.accept(ev("queue:sales", 6))
    assert (caught.value.last, caught.value.seq) == (4, 6)
    assert s.resume_point() == p.Resume(epoch="e1", streams={"queue:sales": 4})


def test_thread_frames_before_the_open_answer_wait_for_its_base() -> None:
    s = Sequencer()
    s.load(snapshot({"agent:ana": 0}))
    s.opening("conv:c1")
    assert s.accept(ev("conv:c1", 7)) == []  # already in the page the answer carries
    assert s.accept(ev("conv:c1", 8)) == []
    assert s.opened("conv:c1", 7) == [ev("conv:c1", 8)]
    assert s.accept(ev("conv:c1", 9)) == [ev("conv:c1", 9)]
    assert s.threads() == ["c1"]


def test_frames_of_a_closed_stream_are_ignored() -> None:
    s = Sequencer()
    s.load(snapshot({"agent:ana": 0}))
    s.opening("conv:c1")
    s.opened("conv:c1", 0)
    s.closed("conv:c1")
    assert s.accept(ev("conv:c1", 1)) == []
    assert s.resume_point() == p.Resume(epoch="e1", streams={"agent:ana": 0})


def test_a_snapshot_restarts_positions_and_drops_threads() -> None:
    s = Sequencer()
    s.load(snapshot({"queue:sales": 4}))
    s.opening("conv:c1")
    s.opened("conv:c1", 2)
    s.load(snapshot({"queue:sales": 1}, epoch="e2"))
    assert s.resume_point() == p.Resume(epoch="e2", streams={"queue:sales": 1})
    assert s.threads() == []


def test_no_resume_point_before_the_first_snapshot() -> None:
    assert Sequencer().resume_point() is None
