"""A client that was away gets exactly what it missed, or is told to reload."""

from __future__ import annotations

import pytest

from protocol import messages as p
from server.config import Config
from tests.conftest import Running, make_config


async def test_resume_replays_exactly_the_missed_events(running: Running) -> None:
    made = await running.inbound("one")
    cid = made["conversation_id"]
    ana = await running.agent("ana")
    await ana.call(p.Claim, conversation_id=cid)
    await ana.call(p.Open, conversation_id=cid)
    await ana.event(p.AssignedAdded)
    point = ana.resume_point()
    await ana.close()

    # While away: new messages on her conversation and a new inbox conversation.
    await running.inbound("two")
    await running.inbound("three")
    other = await running.inbound("someone else", address="5511000000009")

    back = await running.agent("ana", resume=point)
    assert back.resumed is not None and back.snapshot is None and not back.resynced
    created = await back.wait_for(lambda: len(back.received(p.MessageCreated)) == 2 and back.received(p.MessageCreated))
    assert [e.message.text for e in created] == ["two", "three"]
    assert (await back.event(p.InboxAdded)).conversation.id == other["conversation_id"]
    updated = back.received(p.AssignedUpdated)
    assert updated[-1].conversation.unread == 3
    # Live events continue the same sequences (WsAgent fails on any gap or repeat).
    await running.inbound("four")
    live = await back.event(p.MessageCreated, lambda e: e.message.text == "four")
    assert live.message.seq == 4
    assert point.streams[f"conv:{cid}"] < back.positions[f"conv:{cid}"]


async def test_resume_from_another_epoch_gets_resync_and_a_snapshot(running: Running) -> None:
    await running.inbound("hello")
    stale = p.Resume(epoch="an-old-epoch", streams={"agent:ana": 5, "queue:sales": 9})
    ana = await running.agent("ana", resume=stale)
    assert ana.resynced and ana.snapshot is not None
    assert len(ana.snapshot.inbox) == 1


async def test_resume_without_a_stream_it_now_needs_gets_resync(running: Running) -> None:
    ana = await running.agent("ana")
    point = ana.resume_point()
    del point.streams["queue:sales"]
    again = await running.agent("ana", resume=point)
    assert again.resynced and again.snapshot is not None


async def test_resumed_streams_echo_the_clients_positions(running: Running) -> None:
    """docs/PROTOCOL.md: `resumed.streams` are the positions the client sent
    (for the streams resumed), not where the server's streams stand now."""
    ana = await running.agent("ana")
    point = ana.resume_point()
    await ana.close()
    await running.inbound("while away")  # queue:sales moves on
    sent = p.Resume(epoch=point.epoch, streams={**point.streams, "queue:support": 0})  # not her queue: ignored
    back = await running.agent("ana", resume=sent)
    assert back.resumed is not None and not back.resynced
    assert back.resumed.streams == point.streams
    await back.event(p.InboxAdded)
    assert back.positions["queue:sales"] == point.streams["queue:sales"] + 1


async def test_resume_ahead_of_the_server_gets_resync(running: Running) -> None:
    ana = await running.agent("ana")
    point = ana.resume_point()
    await ana.close()
    ahead = p.Resume(epoch=point.epoch, streams={**point.streams, "queue:sales": point.streams["queue:sales"] + 50})
    again = await running.agent("ana", resume=ahead)
    assert again.resynced and again.snapshot is not None and again.resumed is None


@pytest.fixture
def config() -> Config:
    return make_config(history_size=5)  # a missed customer message is 2 on the agent's stream (list, alert)


async def test_resume_older_than_the_history_gets_resync_then_live(running: Running) -> None:
    ana = await running.agent("ana")
    point = ana.resume_point()
    await ana.close()
    for i in range(7):  # more than the 5 kept
        await running.inbound(f"m{i}", address=f"55110000000{i}")
    back = await running.agent("ana", resume=point)
    assert back.resynced and back.resumed is None and back.snapshot is not None
    assert len(back.snapshot.inbox) == 7
    await running.inbound("after")
    added = await back.event(p.InboxAdded)
    assert added.conversation.preview == "after"


async def test_resumed_thread_the_agent_lost_meanwhile_is_unsubscribed(running: Running) -> None:
    made = await running.inbound("x")
    cid = made["conversation_id"]
    bruno = await running.agent("bruno")
    await bruno.call(p.Open, conversation_id=cid)
    point = bruno.resume_point()
    await bruno.close()
    ana = await running.agent("ana")
    await ana.call(p.Claim, conversation_id=cid)
    back = await running.agent("bruno", resume=point)
    assert back.resumed is not None
    gone = await back.wait_for(lambda: next((f for f in back.others if isinstance(f, p.Unsubscribed)), None))
    assert gone.stream == f"conv:{cid}"
    removed = await back.event(p.InboxRemoved)
    assert removed.conversation_id == cid and removed.reason == "claimed"
