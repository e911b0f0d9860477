"""Authorization boundaries: an agent never receives or changes what is not theirs."""

from __future__ import annotations

import pytest

from protocol import errors
from protocol import messages as p
from server.config import Config
from server.core.model import Touchpoint
from tests.conftest import Running, make_config, token
from tests.wsagent import CommandError


async def refused(call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(CommandError) as e:
        await call
    return e.value.code


async def test_agent_outside_the_queue_can_neither_read_nor_touch_it(running: Running) -> None:
    made = await running.inbound("hello sales")
    cid = made["conversation_id"]
    carla = await running.agent("carla")  # support only
    for cmd, fields in [
        (p.Open, {}),
        (p.History, {"before": 10}),
        (p.Search, {"query": "hello"}),
        (p.Claim, {}),
        (p.SendMessage, {"text": "x"}),
        (p.EndChat, {}),
        (p.SendToInbox, {}),
        (p.MarkRead, {}),
        (p.AddNote, {"text": "x"}),
        (p.GetContactCard, {}),
    ]:
        assert await refused(carla.call(cmd, conversation_id=cid, **fields)) == errors.NOT_FOUND, cmd
    assert await carla.received_by_now(p.InboxAdded) == []


async def test_non_assignee_in_the_queue_cannot_act_on_someone_elses_conversation(running: Running) -> None:
    made = await running.inbound("hello")
    cid = made["conversation_id"]
    ana = await running.agent("ana")
    bruno = await running.agent("bruno")
    await ana.call(p.Claim, conversation_id=cid)
    for cmd, fields in [(p.SendMessage, {"text": "x"}), (p.EndChat, {}), (p.SendToInbox, {}), (p.AddNote, {"text": "x"})]:
        code = await refused(bruno.call(cmd, conversation_id=cid, **fields))
        assert code == errors.NOT_ASSIGNEE, (cmd, code)
    assert await refused(bruno.call(p.Claim, conversation_id=cid)) == errors.ALREADY_ASSIGNED
    assert await refused(bruno.call(p.Open, conversation_id=cid)) == errors.NOT_FOUND
    assert await refused(bruno.call(p.Assign, conversation_id=cid, agent_id="bruno")) == errors.FORBIDDEN


async def test_viewer_loses_the_thread_when_someone_else_takes_it(running: Running) -> None:
    made = await running.inbound("first")
    cid = made["conversation_id"]
    ana = await running.agent("ana")
    bruno = await running.agent("bruno")
    await bruno.call(p.Open, conversation_id=cid)  # looking at it in the inbox
    await ana.call(p.Claim, conversation_id=cid)
    gone = await bruno.wait_for(lambda: next((f for f in bruno.others if isinstance(f, p.Unsubscribed)), None))
    assert gone.stream == f"conv:{cid}" and gone.reason == "no_access"
    await running.inbound("secret follow-up")
    await ana.event(p.AssignedUpdated, lambda e: e.conversation.preview == "secret follow-up")
    heard = await bruno.barrier()  # ana heard it: had bruno's socket been sent it, it came before this answer
    assert not [e for e in heard if e.stream == f"conv:{cid}" and isinstance(e.event, p.MessageCreated)]
    assert not [e for e in heard if isinstance(e.event, p.AssignedUpdated)]


async def test_supervisor_sees_every_queue_and_can_open_any_conversation(running: Running) -> None:
    sales = await running.inbound("sales question")
    support = await running.inbound("support question", touchpoint="fb", address="psid-1")
    sofia = await running.agent("sofia")
    assert {c.id for c in sofia.snapshot.inbox} == {sales["conversation_id"], support["conversation_id"]}  # type: ignore[union-attr]
    ana = await running.agent("ana")
    await ana.call(p.Claim, conversation_id=sales["conversation_id"])
    thread = await sofia.call(p.Open, conversation_id=sales["conversation_id"])
    assert [m.text for m in thread.messages] == ["sales question"]


async def test_rest_api_enforces_the_same_rights(running: Running) -> None:
    made = await running.inbound("hola")
    cid = made["conversation_id"]
    base, http = running.base, running.http

    def auth(agent: str) -> dict[str, str]:
        return {"authorization": f"Bearer {token(agent)}"}

    assert (await http.get(f"{base}/api/queues/sales/inbox")).status_code == 401
    assert (await http.get(f"{base}/api/queues/sales/inbox", headers={"authorization": "Bearer junk"})).status_code == 401
    assert (await http.get(f"{base}/api/queues/sales/inbox", headers=auth("carla"))).status_code == 404
    assert (await http.get(f"{base}/api/conversations/{cid}", headers=auth("carla"))).status_code == 404
    r = await http.get(f"{base}/api/queues/sales/inbox", headers=auth("ana"))
    assert r.status_code == 200 and [c["id"] for c in r.json()] == [cid]
    r = await http.put(f"{base}/api/contacts/whatsapp/123", json={"name": "X"}, headers=auth("ana"))
    assert r.status_code == 403 and r.json()["code"] == errors.FORBIDDEN
    # The whole directory names every queue's customers: supervisors only.
    r = await http.get(f"{base}/api/contacts", headers=auth("ana"))
    assert r.status_code == 403 and r.json()["code"] == errors.FORBIDDEN
    r = await http.get(f"{base}/api/contacts", headers=auth("sofia"))
    assert r.status_code == 200 and [c["address"] for c in r.json()] == ["+5511900000001"]


@pytest.fixture
def config() -> Config:
    """The usual center, plus a second WhatsApp number routed to support:
    one customer can then have conversations in both queues."""
    cfg = make_config()
    cfg.touchpoints.append(
        Touchpoint(id="wa-support", channel="whatsapp", name="+1 555 0199", queue_id="support", address="100200399")
    )
    return cfg


async def test_contact_card_lists_only_conversations_the_agent_may_view(running: Running) -> None:
    address = "5511944443333"
    made = await running.inbound("Meu pedido quebrou", address=address, touchpoint="wa-support")
    support = made["conversation_id"]
    carla = await running.agent("carla")  # support only
    await carla.call(p.Claim, conversation_id=support)
    await carla.call(p.EndChat, conversation_id=support)
    await carla.call(p.WrapUp, conversation_id=support, disposition="Resolved", note="Refund: card ends 4242")
    sales = (await running.inbound("Quero comprar", address=address))["conversation_id"]

    ana = await running.agent("ana")  # sales only: the support conversation is not hers to see
    card = (await ana.call(p.GetContactCard, conversation_id=sales)).card
    assert [c.id for c in card.conversations] == [sales]
    bruno = await running.agent("bruno")  # both queues, but that one was carla's
    assert [c.id for c in (await bruno.call(p.GetContactCard, conversation_id=sales)).card.conversations] == [sales]
    sofia = await running.agent("sofia")  # a supervisor sees everything, notes and dispositions included
    everything = (await sofia.call(p.GetContactCard, conversation_id=sales)).card.conversations
    assert [c.id for c in everything] == [sales, support] and everything[1].note == "Refund: card ends 4242"
    own = (await carla.call(p.GetContactCard, conversation_id=support)).card.conversations
    assert [c.id for c in own] == [support]  # sales' open conversation is not in carla's queues
