"""The remaining agent commands over a whole node's websocket session (the
in-memory link, tests/memlink.py: sockets add nothing here): outbound start,
templates, send to inbox, WhatsApp-only Notes / Wrap-up / Snapshot card."""

from __future__ import annotations

import pytest

from protocol import errors
from protocol import messages as p
from tests.memlink import Linked
from tests.wsagent import CommandError, WsAgent


async def claimed(linked: Linked, agent: str = "ana", **kw: str) -> tuple[str, WsAgent]:
    made = await linked.inbound("Oi", **kw)
    a = await linked.agent(agent)
    await a.call(p.Claim, conversation_id=made["conversation_id"])
    return made["conversation_id"], a


async def test_outbound_start_with_a_template_is_assigned_to_the_agent(linked: Linked) -> None:
    ana = await linked.agent("ana")
    result = await ana.call(
        p.StartConversation,
        touchpoint_id="wa",
        address="+5511912345678",
        template=p.TemplateRef(name="hello", language="en_US", params=["Rosa"]),
    )
    assert result.message.text == "Hello Rosa, how can we help?" and result.message.kind == "template"
    assert result.conversation.assignee_id == "ana" and result.conversation.session_locked is True
    added = await ana.event(p.AssignedAdded)
    assert added.conversation.id == result.conversation.id and added.count == 1
    assert added.conversation.contact.address == "+5511912345678"  # E.164
    # Without a window, free text is refused; the template was the way in.
    with pytest.raises(CommandError) as e:
        await ana.call(p.SendMessage, conversation_id=result.conversation.id, text="hi")
    assert e.value.code == errors.SESSION_LOCKED
    # The contact answers: same conversation, window open, agent may write.
    back = await linked.inbound("Oi, tudo bem", address="5511912345678")
    assert back["conversation_id"] == result.conversation.id
    await ana.event(p.SessionUnlocked)
    await ana.call(p.SendMessage, conversation_id=result.conversation.id, text="Tudo ótimo!")


async def test_outbound_errors_are_clear(linked: Linked) -> None:
    ana = await linked.agent("ana")
    cases = [
        ({"touchpoint_id": "nope", "address": "1", "text": "x"}, errors.NOT_FOUND),
        ({"touchpoint_id": "fb", "address": "1", "text": "x"}, errors.FORBIDDEN),
        ({"touchpoint_id": "wa", "address": "  ", "text": "x"}, errors.INVALID_ADDRESS),
        ({"touchpoint_id": "wa", "address": "1", "text": "x"}, errors.INVALID_ADDRESS),
        ({"touchpoint_id": "wa", "address": "+55 11 91234-0000", "template": p.TemplateRef(name="nope")}, errors.INVALID_ARGUMENT),
        ({"touchpoint_id": "wa", "address": "+55 11 91234-0000", "text": "x"}, errors.SESSION_LOCKED),
    ]
    for fields, code in cases:
        with pytest.raises(CommandError) as e:
            await ana.call(p.StartConversation, **fields)
        assert e.value.code == code, fields


async def test_template_inside_a_conversation(linked: Linked) -> None:
    cid, ana = await claimed(linked)
    result = await ana.call(
        p.SendTemplate, conversation_id=cid, template=p.TemplateRef(name="hello", language="en_US", params=["Zé"])
    )
    assert result.message.meta["template"] == "hello"


async def test_send_to_inbox_puts_it_back_for_the_queue(linked: Linked) -> None:
    cid, ana = await claimed(linked)
    bruno = await linked.agent("bruno")
    await ana.call(p.SendToInbox, conversation_id=cid)
    removed = await ana.event(p.AssignedRemoved)
    assert removed.reason == "sent_to_inbox" and removed.count == 0
    back = await bruno.event(p.InboxAdded, lambda e: e.conversation.id == cid)
    assert back.conversation.assignee_id is None and back.conversation.queue_id == "sales"
    await bruno.call(p.Claim, conversation_id=cid)


async def test_notes_wrap_up_and_contact_card_on_whatsapp(linked: Linked) -> None:
    cid, ana = await claimed(linked, address="5511933332222")
    thread = await ana.call(p.Open, conversation_id=cid)
    assert thread.notes == [] and thread.wrap_up is None
    note = await ana.call(p.AddNote, conversation_id=cid, text="Prefers mornings")
    assert (await ana.event(p.NoteAdded)).note == note.note
    with pytest.raises(CommandError) as e:
        await ana.call(p.WrapUp, conversation_id=cid, disposition="Resolved")
    assert e.value.code == errors.CONVERSATION_OPEN
    await ana.call(p.EndChat, conversation_id=cid)
    with pytest.raises(CommandError) as e:
        await ana.call(p.WrapUp, conversation_id=cid, disposition="Lunch")
    assert e.value.code == errors.INVALID_ARGUMENT
    done = await ana.call(p.WrapUp, conversation_id=cid, disposition="Sale", note="2 units")
    assert (await ana.event(p.WrapUpRecorded)).wrap_up == done.wrap_up
    # The contact writes again: a new conversation; the card shows the earlier one and how it ended.
    again = await linked.inbound("Quero mais", address="5511933332222")
    await ana.call(p.Claim, conversation_id=again["conversation_id"])
    card = (await ana.call(p.GetContactCard, conversation_id=again["conversation_id"])).card
    assert [c.id for c in card.conversations] == [again["conversation_id"], cid]
    assert (card.conversations[1].disposition, card.conversations[1].note) == ("Sale", "2 units")
    reopened = await ana.call(p.Open, conversation_id=cid)
    assert [n.text for n in reopened.notes] == ["Prefers mornings"] and reopened.wrap_up.disposition == "Sale"


async def test_messenger_says_not_supported_for_whatsapp_only_features(linked: Linked) -> None:
    cid, carla = await claimed(linked, agent="carla", touchpoint="fb", address="psid-77")
    for cmd, fields in [
        (p.AddNote, {"text": "x"}),
        (p.GetContactCard, {}),
        (p.SendTemplate, {"template": p.TemplateRef(name="hello", params=["x"])}),
    ]:
        with pytest.raises(CommandError) as e:
            await carla.call(cmd, conversation_id=cid, **fields)
        assert e.value.code == errors.NOT_SUPPORTED_ON_CHANNEL, cmd
    await carla.call(p.EndChat, conversation_id=cid)
    with pytest.raises(CommandError) as e:
        await carla.call(p.WrapUp, conversation_id=cid, disposition="Resolved")
    assert e.value.code == errors.NOT_SUPPORTED_ON_CHANNEL


async def test_history_pages_backwards(linked: Linked) -> None:
    for i in range(5):
        made = await linked.inbound(f"m{i}")
    ana = await linked.agent("ana")
    thread = await ana.call(p.Open, conversation_id=made["conversation_id"], limit=2)
    assert [m.text for m in thread.messages] == ["m3", "m4"] and thread.has_more
    page = await ana.call(p.History, conversation_id=made["conversation_id"], before=thread.messages[0].seq, limit=10)
    assert [m.text for m in page.messages] == ["m0", "m1", "m2"] and not page.has_more


async def test_every_conversation_and_message_id_names_its_threads_shard(linked: Linked) -> None:
    """What lets the Redis store keep a thread in one Cluster slot
    (server/core/ids.py): inbound, agent replies, templates and outbound starts."""
    from server.core.ids import shard_of, thread_shard

    conv_id, ana = await claimed(linked)
    shard = thread_shard("whatsapp:+5511900000001", "wa")  # contact ids are E.164
    assert shard_of(conv_id) == shard
    reply = await ana.call(p.SendMessage, conversation_id=conv_id, text="Olá!")
    template = await ana.call(
        p.SendTemplate, conversation_id=conv_id, template=p.TemplateRef(name="hello", language="en_US", params=["Rosa"])
    )
    thread = await ana.call(p.Open, conversation_id=conv_id)
    assert {shard_of(m.id) for m in thread.messages} == {shard} and len(thread.messages) == 3
    assert shard_of(reply.message.id) == shard_of(template.message.id) == shard
    started = await ana.call(
        p.StartConversation,
        touchpoint_id="wa",
        address="5511912345678",
        template=p.TemplateRef(name="hello", language="en_US", params=["Rosa"]),
    )
    other = thread_shard("whatsapp:+5511912345678", "wa")
    assert other != shard and shard_of(started.conversation.id) == shard_of(started.message.id) == other
