"""One customer, one contact: phone numbers in E.164 whatever way they are
typed or sent, WhatsApp's business-scoped user ids (BSUIDs) and usernames,
number changes, edits, deletions and a chat opened, through the real webhook
and a real agent socket (payloads shaped like Meta's documented examples)."""

from __future__ import annotations

from typing import Any

import pytest

from protocol import messages as p
from tests.channels import payloads as pl
from tests.channels.conftest import Hub
from tests.conftest import token
from tests.wsagent import CommandError

BSUID = "BR.1502576394655843"
NEW_BSUID = "BR.8800112233445566"
NUMBER = "5521988887777"


def auth(agent: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token(agent)}"}


def bsuid_inbound(text: str, *, user_id: str = BSUID, phone: str | None = None, username: str | None = "@rosa_lima", id: str | None = None) -> dict[str, Any]:
    """A message from a user who adopted a username: Meta may withhold the
    number (no ``from``, no ``wa_id``); ``from_user_id`` / ``user_id`` always come."""
    message: dict[str, Any] = {"id": id or pl.wamid(), "timestamp": pl.now_s(), "type": "text", "text": {"body": text}}
    message["from_user_id"] = user_id
    profile: dict[str, Any] = {"name": "Rosa"}
    if username:
        profile["username"] = username
    contact: dict[str, Any] = {"profile": profile, "user_id": user_id}
    if phone:
        message["from"] = phone
        contact["wa_id"] = phone
    value = pl.wa_value()
    value["contacts"] = [contact]
    value["messages"] = [message]
    return pl.wa_envelope(value)


async def _assigned(hub: Hub, agent: Any, message: dict[str, Any], **value: Any) -> p.ConversationSummary:
    """A customer's message (built by the test), taken by the agent with its thread open."""
    assert (await hub.whatsapp(pl.wa_inbound(message, **value))).status_code == 200
    added = await agent.event(p.InboxAdded)
    result = await agent.call(p.Claim, conversation_id=added.conversation.id)
    await agent.call(p.Open, conversation_id=added.conversation.id)
    return result.conversation


async def _start(hub: Hub, agent: Any, address: str) -> p.ConversationSummary:
    template = p.TemplateRef(name="hello", language="en_US", params=["Rosa"])
    result = await agent.call(p.StartConversation, touchpoint_id="wa", address=address, template=template)
    await agent.call(p.Open, conversation_id=result.message.conversation_id)
    return await agent.event(p.AssignedAdded, lambda e: e.conversation.id == result.message.conversation_id)


# --------------------------------------------------------------------------- E.164


async def test_a_number_typed_the_usual_way_meets_the_customers_reply_in_one_conversation(hub: Hub) -> None:
    ana = await hub.agent("ana")
    started = (await _start(hub, ana, "+55 (21) 98888-7777")).conversation
    [sent] = await hub.meta.wait_sent(1)
    assert sent.body["to"] == "+5521988887777"
    assert started.contact.address == "+5521988887777"
    assert started.contact.display_name == "+55 21 98888-7777"
    assert started.session_locked is True  # outbound: only a template until they answer

    # Meta names the customer by digits only.
    assert (await hub.whatsapp(pl.wa_inbound(pl.wa_text("Oi, recebi!", sender=NUMBER), wa_id=NUMBER))).status_code == 200
    added = await ana.event(p.MessageCreated, lambda e: e.message.text == "Oi, recebi!")
    assert added.message.conversation_id == started.id
    assert added.conversation.contact.id == started.contact.id and not added.conversation.session_locked
    await ana.event(p.SessionUnlocked, lambda e: e.conversation_id == started.id)
    assert await ana.received_by_now(p.InboxAdded) == []  # no second conversation


async def test_a_national_number_uses_the_touchpoints_default_region(hub: Hub) -> None:
    ana = await hub.agent("ana")
    started = (await _start(hub, ana, "(21) 98888-7777")).conversation  # tests' "wa" touchpoint: default_region BR
    assert started.contact.address == "+5521988887777"


async def test_a_number_that_cannot_be_a_phone_number_is_refused_with_a_reason(hub: Hub) -> None:
    ana = await hub.agent("ana")
    template = p.TemplateRef(name="hello", language="en_US", params=["x"])
    for typed in ("12345", "not a number", "+55 21 98", "+999 123 456 789", ""):
        with pytest.raises(CommandError) as refused:
            await ana.call(p.StartConversation, touchpoint_id="wa", address=typed, template=template)
        assert refused.value.code == "invalid_address", typed
        assert "phone number" in str(refused.value)
    assert hub.meta.sent == []


async def test_the_directory_api_reads_numbers_as_people_type_them(hub: Hub) -> None:
    r = await hub.http.put(
        f"{hub.base}/api/contacts/whatsapp/+55 21 98888-7777", json={"name": "Rosa Lima"}, headers=auth("sofia")
    )
    assert r.status_code == 200, r.text
    assert r.json()["address"] == "+5521988887777"
    ana = await hub.agent("ana")
    assert (await hub.whatsapp(pl.wa_inbound(pl.wa_text("Olá", sender=NUMBER), wa_id=NUMBER))).status_code == 200
    added = await ana.event(p.InboxAdded)
    assert (added.conversation.contact.display_name, added.conversation.contact.known) == ("Rosa Lima", True)
    bad = await hub.http.put(f"{hub.base}/api/contacts/whatsapp/12", json={"name": "X"}, headers=auth("sofia"))
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_address")


# --------------------------------------------------------------------------- BSUIDs and usernames


async def test_a_message_without_a_phone_number_reaches_the_agent_by_bsuid_and_the_reply_uses_recipient(hub: Hub) -> None:
    ana = await hub.agent("ana")
    r = await hub.whatsapp(bsuid_inbound("Hola, soy Rosa"))
    assert r.status_code == 200
    added = await ana.event(p.InboxAdded)
    contact = added.conversation.contact
    assert (contact.display_name, contact.username, contact.address, contact.initials) == ("@rosa_lima", "@rosa_lima", BSUID, None)
    assert hub.counted("whatsapp", "rejected") == 0
    await ana.call(p.Claim, conversation_id=added.conversation.id)
    await ana.call(p.Open, conversation_id=added.conversation.id)
    await ana.call(p.SendMessage, conversation_id=added.conversation.id, text="¡Hola Rosa!")
    [sent] = await hub.meta.wait_sent(1)
    assert sent.body["recipient"] == BSUID and "to" not in sent.body
    # Meta's statuses for a BSUID send name recipient_user_id (no recipient_id).
    status = pl.wa_status(sent.message_id, "delivered")
    del status["recipient_id"]
    status["recipient_user_id"] = BSUID
    assert (await hub.whatsapp(pl.wa_statuses(status))).status_code == 200
    await ana.event(p.MessageUpdated, lambda e: e.message.status == "delivered")


async def test_phone_and_bsuid_seen_together_are_one_contact_and_the_bsuid_alone_finds_it(hub: Hub) -> None:
    ana = await hub.agent("ana")
    started = (await _start(hub, ana, "+55 21 98888-7777")).conversation
    assert (await hub.whatsapp(bsuid_inbound("Sou eu", phone=NUMBER))).status_code == 200
    await ana.event(p.MessageCreated, lambda e: e.message.text == "Sou eu" and e.message.conversation_id == started.id)
    # Later Meta withholds the number: the BSUID alone leads to the same contact and conversation.
    assert (await hub.whatsapp(bsuid_inbound("Ainda eu"))).status_code == 200
    later = await ana.event(p.MessageCreated, lambda e: e.message.text == "Ainda eu")
    assert later.message.conversation_id == started.id
    assert await ana.received_by_now(p.InboxAdded) == []
    shown = await ana.event(p.AssignedUpdated, lambda e: e.conversation.contact.username == "@rosa_lima")
    assert shown.conversation.contact.id == started.contact.id
    assert shown.conversation.contact.display_name == "@rosa_lima"
    assert shown.conversation.contact.address == "+5521988887777"  # the number still wins for sending


async def test_a_new_username_shows_live(hub: Hub) -> None:
    ana = await hub.agent("ana")
    assert (await hub.whatsapp(bsuid_inbound("Primeiro"))).status_code == 200
    added = await ana.event(p.InboxAdded)
    assert added.conversation.contact.display_name == "@rosa_lima"
    assert (await hub.whatsapp(bsuid_inbound("Segundo", username="rosa.l"))).status_code == 200
    renamed = await ana.event(p.InboxUpdated, lambda e: e.conversation.contact.display_name == "@rosa.l")
    assert renamed.conversation.id == added.conversation.id


async def test_a_number_change_continues_the_contact_and_its_open_conversation(hub: Hub) -> None:
    ana = await hub.agent("ana")
    conv = await _assigned(hub, ana, pl.wa_text("Antes", sender=NUMBER), wa_id=NUMBER)
    new_number = "5521977776666"
    change = {
        "from": NUMBER,
        "id": pl.wamid(),
        "timestamp": pl.now_s(),
        "type": "system",
        "system": {"body": f"User Rosa changed from {NUMBER} to {new_number}", "wa_id": new_number, "type": "user_changed_number"},
    }
    value = pl.wa_value()
    value["messages"] = [change]  # system messages carry no contacts array
    assert (await hub.whatsapp(pl.wa_envelope(value))).status_code == 200
    line = await ana.event(p.MessageCreated, lambda e: e.message.kind == "system")
    assert line.message.conversation_id == conv.id and new_number in line.message.text
    after = await ana.event(p.AssignedUpdated, lambda e: e.conversation.contact.address == "+" + new_number)
    assert after.conversation.unread == conv.unread  # the customer did not write
    assert (await hub.whatsapp(pl.wa_inbound(pl.wa_text("Depois", sender=new_number), wa_id=new_number))).status_code == 200
    later = await ana.event(p.MessageCreated, lambda e: e.message.text == "Depois")
    assert later.message.conversation_id == conv.id
    assert [e for e in ana.received(p.InboxAdded) if e.conversation.id != conv.id] == []


async def test_a_new_bsuid_continues_the_contact(hub: Hub) -> None:
    ana = await hub.agent("ana")
    assert (await hub.whatsapp(bsuid_inbound("Antes"))).status_code == 200
    added = await ana.event(p.InboxAdded)
    update = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": pl.DISPLAY_NUMBER, "phone_number_id": pl.PHONE_NUMBER_ID},
        "user_id_update": [
            {"detail": {"previous": {"user_id": BSUID}, "current": {"user_id": NEW_BSUID}}, "timestamp": pl.now_s()}
        ],
    }
    body = {"object": "whatsapp_business_account", "entry": [{"id": pl.WABA_ID, "changes": [{"value": update, "field": "user_id_update"}]}]}
    assert (await hub.whatsapp(body)).status_code == 200
    assert (await hub.whatsapp(bsuid_inbound("Depois", user_id=NEW_BSUID))).status_code == 200
    later = await ana.event(p.InboxUpdated, lambda e: e.conversation.preview == "Depois")
    assert later.conversation.id == added.conversation.id
    assert len(ana.received(p.InboxAdded)) == 1
    thread = await ana.call(p.Open, conversation_id=added.conversation.id)
    assert [m.kind for m in thread.messages] == ["text", "system", "text"]


# --------------------------------------------------------------------------- edits, deletions, chat opened


async def test_an_edit_changes_the_original_message_and_the_preview(hub: Hub) -> None:
    ana = await hub.agent("ana")
    original = pl.wamid()
    conv = await _assigned(hub, ana, pl.wa_text("Quero o azl", id=original))
    edit = {
        "from": pl.CUSTOMER,
        "id": pl.wamid(),
        "timestamp": pl.now_s(),
        "type": "edit",
        "edit": {"original_message_id": original, "message": {"type": "text", "text": {"body": "Quero o azul"}}},
    }
    assert (await hub.whatsapp(pl.wa_inbound(edit))).status_code == 200
    updated = await ana.event(p.MessageUpdated, lambda e: e.message.text == "Quero o azul")
    assert updated.message.edited_at is not None and updated.message.deleted is False
    assert updated.message.seq == 1
    preview = await ana.event(p.AssignedUpdated, lambda e: e.conversation.preview == "Quero o azul")
    assert preview.conversation.id == conv.id
    thread = await ana.call(p.Open, conversation_id=conv.id)
    assert [m.text for m in thread.messages] == ["Quero o azul"]  # no "[unsupported message]", no second message
    stored = await hub.node.store.get_message(updated.message.id)
    assert stored is not None and stored.previous_texts == ("Quero o azl",)


async def test_a_deletion_marks_the_original_deleted_and_drops_its_text(hub: Hub) -> None:
    ana = await hub.agent("ana")
    original = pl.wamid()
    conv = await _assigned(hub, ana, pl.wa_text("meu cpf é 123", id=original))
    revoke = {"from": pl.CUSTOMER, "id": pl.wamid(), "timestamp": pl.now_s(), "type": "revoke", "revoke": {"original_message_id": original}}
    assert (await hub.whatsapp(pl.wa_inbound(revoke))).status_code == 200
    updated = await ana.event(p.MessageUpdated, lambda e: e.message.deleted)
    assert updated.message.text == ""
    await ana.event(p.AssignedUpdated, lambda e: e.conversation.id == conv.id and e.conversation.preview == "[message deleted]")
    stored = await hub.node.store.get_message(updated.message.id)
    assert stored is not None and "123" not in stored.text and stored.previous_texts == ()  # keep_deleted_text is off
    thread = await ana.call(p.Open, conversation_id=conv.id)
    assert len(thread.messages) == 1


async def test_chat_opened_records_the_contact_without_an_empty_conversation(hub: Hub) -> None:
    ana = await hub.agent("ana")
    welcome = {"from": NUMBER, "id": pl.wamid(), "timestamp": pl.now_s(), "type": "request_welcome"}
    assert (await hub.whatsapp(pl.wa_inbound(welcome, name="Rosa", wa_id=NUMBER))).status_code == 200
    contact = await hub.node.store.get_contact("whatsapp:+" + NUMBER)
    assert contact is not None and contact.profile_name == "Rosa"
    # Barrier: the next real message is the first conversation the agent ever hears of.
    assert (await hub.whatsapp(pl.wa_inbound(pl.wa_text("Olá", sender=NUMBER), wa_id=NUMBER))).status_code == 200
    added = await ana.event(p.InboxAdded)
    assert added.conversation.preview == "Olá"
    assert len(ana.received(p.InboxAdded)) == 1
    thread = await ana.call(p.Open, conversation_id=added.conversation.id)
    assert [m.text for m in thread.messages] == ["Olá"]


async def test_an_interactive_reply_with_a_meta_error_says_so(hub: Hub) -> None:
    ana = await hub.agent("ana")
    message = pl.wa_message(
        "interactive",
        {"type": "button_reply", "button_reply": {"id": "b1", "title": "Sim"}},
        errors=[{"code": 131051, "title": "Message type unknown", "error_data": {"details": "Unsupported interactive"}}],
    )
    assert (await hub.whatsapp(pl.wa_inbound(message))).status_code == 200
    added = await ana.event(p.InboxAdded)
    assert "131051" in added.conversation.preview


async def test_a_contact_stored_before_e164_is_found_by_its_number(hub: Hub) -> None:
    """Older versions stored Meta's digits as the contact id: no migration, the
    lookup also tries that id when the E.164 one leads nowhere."""
    from server.core.model import Contact

    legacy = Contact(id="whatsapp:" + NUMBER, channel="whatsapp", address=NUMBER, name="Rosa Lima")
    await hub.node.store.put_contact(legacy)
    ana = await hub.agent("ana")
    assert (await hub.whatsapp(pl.wa_inbound(pl.wa_text("Oi", sender=NUMBER), wa_id=NUMBER))).status_code == 200
    added = await ana.event(p.InboxAdded)
    assert (added.conversation.contact.id, added.conversation.contact.display_name) == (legacy.id, "Rosa Lima")
    assert added.conversation.contact.address == "+" + NUMBER  # learned its E.164 form
    link = await hub.node.store.get_contact("whatsapp:+" + NUMBER)
    assert link is not None and link.linked_to == legacy.id
