"""End to end on one node: real uvicorn + websockets servers on loopback,
several real agent sockets (different queues, one agent on two screens)."""

from __future__ import annotations

import asyncio
import time

import pytest

from protocol import errors
from protocol import messages as p
from server.config import Config
from tests.conftest import Running, make_config
from tests.wsagent import CommandError


@pytest.fixture
def config() -> Config:
    return make_config(window=2.0)  # the "24-hour" window, in seconds


async def test_the_whole_day_of_a_conversation(running: Running) -> None:
    ana = await running.agent("ana")  # sales
    bruno1 = await running.agent("bruno")  # sales + support, first screen
    bruno2 = await running.agent("bruno")  # second screen
    carla = await running.agent("carla")  # support only
    sofia = await running.agent("sofia")  # supervisor

    # Inbound message → inbox event to exactly the agents of the queue (and the supervisor).
    made = await running.inbound("Olá, quero saber da promoção", address="5511988887777")
    cid = made["conversation_id"]
    for a in (ana, bruno1, bruno2, sofia):
        added = await a.event(p.InboxAdded, lambda e: e.conversation.id == cid)
        assert added.conversation.contact.display_name == "+55 11 98888-7777"  # formatted for people
        assert added.conversation.contact.initials is None
        assert added.conversation.preview == "Olá, quero saber da promoção"
        assert added.conversation.session_locked is False
    # Delivered to the others above, so on carla's socket (one node) before the ping's answer, had it been hers.
    assert [e for e in await carla.barrier() if isinstance(e.event, p.InboxAdded)] == []

    # Claim race: one winner, the other is told clearly.
    results = await asyncio.gather(
        ana.call(p.Claim, conversation_id=cid), bruno1.call(p.Claim, conversation_id=cid), return_exceptions=True
    )
    winners = [r for r in results if isinstance(r, p.ConversationResult)]
    losers = [r for r in results if isinstance(r, CommandError)]
    assert len(winners) == 1 and len(losers) == 1 and losers[0].code == errors.ALREADY_ASSIGNED
    winner, loser = (ana, bruno1) if isinstance(results[0], p.ConversationResult) else (bruno1, ana)
    assert winners[0].conversation.assignee_id == winner.name
    removed = await loser.event(p.InboxRemoved, lambda e: e.conversation_id == cid)
    assert removed.reason == "claimed" and removed.agent_id == winner.name

    # Make Bruno the assignee (supervisor assignment) so his two screens are exercised.
    if winner is ana:
        await sofia.call(p.Assign, conversation_id=cid, agent_id="bruno")
        gone = await ana.event(p.AssignedRemoved, lambda e: e.conversation_id == cid)
        assert gone.reason == "reassigned" and gone.count == 0
    for screen in (bruno1, bruno2):
        got = await screen.event(p.AssignedAdded, lambda e: e.conversation.id == cid)
        assert got.count == 1 and got.unread_total == 1

    # Unread counts rise on both screens...
    await running.inbound("Alguém aí?", address="5511988887777")
    for screen in (bruno1, bruno2):
        upd = await screen.event(p.AssignedUpdated, lambda e: e.conversation.unread == 2)
        assert upd.unread_total == 2 and upd.conversation.preview == "Alguém aí?"
    # ...and reading on one screen clears them on both.
    await bruno1.call(p.MarkRead, conversation_id=cid)
    for screen in (bruno1, bruno2):
        cleared = await screen.event(p.AssignedUpdated, lambda e: e.conversation.unread == 0)
        assert cleared.unread_total == 0

    # The agent answers.
    sent = await bruno2.call(p.SendMessage, conversation_id=cid, text="Olá! Como posso ajudar?")
    assert sent.message.status == "pending" and sent.message.direction == "out"

    # The session lock arrives at expiry, by itself, on both screens.
    started = time.monotonic()
    for screen in (bruno1, bruno2):
        locked = await screen.event(p.SessionLocked, lambda e: e.conversation_id == cid, timeout=6)
        assert locked.expires_at is not None
    assert time.monotonic() - started < 5
    with pytest.raises(CommandError) as refused:
        await bruno1.call(p.SendMessage, conversation_id=cid, text="ainda aí?")
    assert refused.value.code == errors.SESSION_LOCKED

    # A new inbound message unlocks it, live.
    await running.inbound("Voltei!", address="5511988887777")
    for screen in (bruno1, bruno2):
        unlocked = await screen.event(p.SessionUnlocked, lambda e: e.conversation_id == cid)
        assert unlocked.expires_at > int(time.time() * 1000)
    await bruno1.call(p.SendMessage, conversation_id=cid, text="Que bom!")

    # End Chat; a reply then creates a new conversation back in the inbox.
    await bruno1.call(p.EndChat, conversation_id=cid)
    for screen in (bruno1, bruno2):
        ended = await screen.event(p.AssignedRemoved, lambda e: e.conversation_id == cid)
        assert ended.reason == "ended" and ended.count == 0
    again = await running.inbound("Mais uma pergunta", address="5511988887777")
    assert again["conversation_id"] != cid
    for a in (ana, bruno1, bruno2, sofia):
        await a.event(p.InboxAdded, lambda e: e.conversation.id == again["conversation_id"])
    heard = await carla.barrier()
    assert not [e for e in heard if isinstance(e.event, (p.InboxAdded, p.InboxRemoved))]


async def test_snapshot_has_inbox_assigned_unread_and_session_expiry(running: Running) -> None:
    a = await running.inbound("one", address="111")
    await running.inbound("two", address="222")
    ana = await running.agent("ana")
    await ana.call(p.Claim, conversation_id=a["conversation_id"])
    await running.inbound("again", address="111")
    await ana.event(p.AssignedUpdated, lambda e: e.conversation.unread == 2)

    fresh = await running.agent("ana")
    snap = fresh.snapshot
    assert snap is not None
    assert [c.contact.address for c in snap.inbox] == ["+222"]  # E.164
    assert [c.id for c in snap.assigned] == [a["conversation_id"]]
    assert snap.assigned[0].unread == 2 and snap.unread_total == 2
    assert snap.assigned[0].session_expires_at is not None
    assert set(snap.streams) == {"agent:ana", "queue:sales"}
    assert {t.id for t in snap.touchpoints} == {"wa"}  # only touchpoints of her queues
    assert snap.dispositions == ["Resolved", "Sale", "Spam"]
    # The directory: colleagues of her queues and the supervisors, not everyone.
    assert {a.id for a in snap.agents} == {"ana", "bruno", "sofia"}
    carla = await running.agent("carla")
    assert {a.id for a in carla.snapshot.agents} == {"bruno", "carla", "sofia"}  # type: ignore[union-attr]
    sofia = await running.agent("sofia")
    assert {a.id for a in sofia.snapshot.agents} == {"ana", "bruno", "carla", "sofia"}  # type: ignore[union-attr]


async def test_contact_rename_updates_every_screen_live(running: Running) -> None:
    made = await running.inbound("oi", address="5511977776666")
    ana = await running.agent("ana")
    sofia = await running.agent("sofia")
    await ana.call(p.Claim, conversation_id=made["conversation_id"])
    await ana.call(p.Open, conversation_id=made["conversation_id"])
    r = await running.http.put(
        f"{running.base}/api/contacts/whatsapp/5511977776666",
        json={"name": "Rosa Lima"},
        headers={"authorization": f"Bearer {sofia_token()}"},
    )
    assert r.status_code == 200 and r.json()["display_name"] == "Rosa Lima"
    upd = await ana.event(p.AssignedUpdated, lambda e: e.conversation.contact.known)
    assert (upd.conversation.contact.display_name, upd.conversation.contact.initials) == ("Rosa Lima", "RL")
    conv_upd = await ana.event(p.ConversationUpdated, lambda e: e.conversation.contact.known)
    assert conv_upd.conversation.contact.display_name == "Rosa Lima"
    assert not [e for e in await sofia.barrier() if isinstance(e.event, p.AssignedUpdated)]  # not hers


def sofia_token() -> str:
    from tests.conftest import token

    return token("sofia")
