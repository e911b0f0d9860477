"""In an automatic queue, an offer rings for its agent, not in everyone's
Inbox: an agent of the queue who is not offered hears nothing of the offer
(nor of a decline moving it on), yet sees the customer write, sees the
conversation leave the Inbox when accepted, and reads right counts and rows
after a fresh snapshot. One node, real sockets."""

from __future__ import annotations

import pytest

from protocol import messages as p
from server.config import Config
from tests.conftest import Running
from tests.server.test_routing import available, routed_config, wait_rung
from tests.wsagent import WsAgent


@pytest.fixture
def config() -> Config:
    return routed_config(agents=1)  # sales: ana, bruno, a00


def about(agent_events: list[p.Event], cid: str) -> list[p.EventBody]:
    """The queue-stream events about ``cid`` (what shows in the Inbox)."""
    out: list[p.EventBody] = []
    for e in agent_events:
        if not e.stream.startswith("queue:"):
            continue
        body = e.event
        named = body.conversation.id if isinstance(body, p.InboxAdded | p.InboxUpdated) else getattr(body, "conversation_id", None)
        if named == cid:
            out.append(body)
    return out


async def test_an_offer_rings_only_for_its_agent_and_the_queue_sees_what_matters(running: Running) -> None:
    bruno = await running.agent("bruno")  # in sales, away: he watches the Inbox
    await bruno.call(p.SetStatus, status="away")
    sofia = await running.agent("sofia")
    ana = await available(running, "ana")
    a00 = await available(running, "a00")
    cid = (await running.inbound("Olá"))["conversation_id"]
    added = await bruno.event(p.InboxAdded, lambda e: e.conversation.id == cid)
    assert added.conversation.offer is None

    first_name = await wait_rung(ana, a00)
    first, second = (ana, a00) if first_name == ana.name else (a00, ana)
    await first.call(p.DeclineOffer, conversation_id=cid)
    await second.event(p.OfferRung, lambda e: e.offer.conversation_id == cid)
    await sofia.event(p.FloorUpdated, lambda e: [o.agent_id for o in e.floor.ringing] == [second.name])
    # Rung, declined, rung again: no Inbox row changed, so the queue heard nothing.
    assert [type(e) for e in about(await bruno.barrier(), cid)] == [p.InboxAdded]

    # The customer writes while it rings: that changes the row, and the row shows no offer.
    await running.inbound("Ainda aí?")
    updated = await bruno.event(p.InboxUpdated, lambda e: e.conversation.id == cid)
    assert updated.conversation.preview == "Ainda aí?" and updated.conversation.offer is None

    # A fresh look at the Inbox while it rings: the row (no offer) and the count.
    fresh = await running.agent("bruno")
    assert fresh.snapshot is not None
    rows = [c for c in fresh.snapshot.inbox if c.id == cid]
    assert len(rows) == 1 and rows[0].offer is None and rows[0].preview == "Ainda aí?"
    assert [c.inbox for c in fresh.snapshot.inbox_counts if c.queue_id == "sales"] == [1]
    page = await fresh.call(p.InboxPage, queue_id="sales")
    assert [(c.id, c.offer) for c in page.conversations] == [(cid, None)]

    # Accepted: it leaves every Inbox of the queue, with the counts.
    await second.call(p.AcceptOffer, conversation_id=cid)
    for watcher in (bruno, fresh):
        removed = await watcher.event(p.InboxRemoved, lambda e: e.conversation_id == cid)
        assert removed.agent_id == second.name and removed.counts is not None and removed.counts.inbox == 0
    assert [type(e) for e in about(await bruno.barrier(), cid)] == [p.InboxAdded, p.InboxUpdated, p.InboxRemoved]
    after = await running.agent("bruno")
    assert after.snapshot is not None and after.snapshot.inbox == []
    assert [c.inbox for c in after.snapshot.inbox_counts if c.queue_id == "sales"] == [0]


async def test_a_conversation_ringing_for_someone_can_still_be_claimed_from_the_inbox(running: Running) -> None:
    bruno: WsAgent = await running.agent("bruno")
    await bruno.call(p.SetStatus, status="away")
    ana = await available(running, "ana")
    cid = (await running.inbound("Olá"))["conversation_id"]
    await ana.event(p.OfferRung, lambda e: e.offer.conversation_id == cid)
    row = await bruno.event(p.InboxAdded, lambda e: e.conversation.id == cid)
    assert "claim" in row.conversation.can.get("queue:sales", [])
    result = await bruno.call(p.Claim, conversation_id=cid)
    assert result.conversation.assignee_id == "bruno" and result.conversation.offer is None
    withdrawn = await ana.event(p.OfferWithdrawn, lambda e: e.conversation_id == cid)
    assert withdrawn.reason == "taken"
    removed = await bruno.event(p.InboxRemoved, lambda e: e.conversation_id == cid)
    assert removed.reason == "claimed" and removed.counts is not None and removed.counts.inbox == 0
