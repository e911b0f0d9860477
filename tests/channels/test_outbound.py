"""Agent messages out through the Graph API stand-in; Meta's reports back in
through the webhooks; what the agent sees on the websocket."""

import asyncio

import pytest

from protocol import messages as p
from server.channels.events import tag
from tests.channels import metastub as stub
from tests.channels import payloads as pl
from tests.channels.conftest import TOKENS, Hub
from tests.wsagent import CommandError, WsAgent


async def updates(agent: WsAgent, message_id: str) -> list[p.MessageView]:
    return [e.message for e in agent.received(p.MessageUpdated, lambda e: e.message.id == message_id)]


async def status_of(agent: WsAgent, message_id: str, status: str) -> p.MessageView:
    event = await agent.event(p.MessageUpdated, lambda e: e.message.id == message_id and e.message.status == status)
    return event.message


# --------------------------------------------------------------------------- sending


async def test_whatsapp_reply_goes_out_in_metas_format_and_shows_sent(hub: Hub) -> None:
    ana = await hub.agent("ana")
    conv = await hub.assigned_whatsapp(ana)
    result = await ana.call(p.SendMessage, conversation_id=conv.id, text="Sí, también en azul.")
    assert result.message.status == "pending"  # stored before it is sent
    [sent] = await hub.meta.wait_sent(1)
    assert sent.path == "/v21.0/100200300/messages" and sent.token == TOKENS["wa"]
    assert sent.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+" + pl.CUSTOMER,  # E.164 (Meta takes it with or without the +)
        "type": "text",
        "text": {"preview_url": False, "body": "Sí, también en azul."},
        "biz_opaque_callback_data": tag(result.message.id),
    }
    shown = await status_of(ana, result.message.id, "sent")
    assert shown.error is None
    stored = await hub.node.store.get_message(result.message.id)
    assert stored is not None and stored.channel_message_id == sent.message_id
    assert hub.counted("whatsapp", "sent") == 1


async def test_outbound_conversation_starts_with_a_template(hub: Hub) -> None:
    ana = await hub.agent("ana")
    template = p.TemplateRef(name="hello", language="en_US", params=["Maria"])
    result = await ana.call(p.StartConversation, touchpoint_id="wa", address="+5511900000077", template=template)
    [sent] = await hub.meta.wait_sent(1)
    assert sent.body["to"] == "+5511900000077" and sent.body["type"] == "template"
    assert sent.body["template"] == {
        "name": "hello",
        "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Maria"}]}],
    }

    async def shown_sent() -> None:
        while (await ana.call(p.Open, conversation_id=result.conversation.id)).messages[-1].status != "sent":
            await asyncio.sleep(0.05)

    await asyncio.wait_for(shown_sent(), 5)


@pytest.mark.parametrize(
    "trouble",
    [
        [stub.SERVER_ERROR, stub.SERVER_ERROR],
        [stub.THROTTLED],
        [stub.Reply(status=502, body={"error": {"message": "Bad gateway", "code": 2}})],
        [stub.Reply(delay=1.5)],  # longer than the 0.5 s timeout: a timeout, then a retry
    ],
    ids=["500 twice", "429", "502", "timeout"],
)
async def test_transient_failures_are_retried_until_meta_takes_it(hub: Hub, trouble: list[stub.Reply]) -> None:
    ana = await hub.agent("ana")
    conv = await hub.assigned_whatsapp(ana)
    hub.meta.then(*trouble)
    result = await ana.call(p.SendMessage, conversation_id=conv.id, text="retry me")
    await status_of(ana, result.message.id, "sent")
    assert len(hub.meta.sent) == len(trouble) + 1
    assert all(s.body == hub.meta.sent[0].body for s in hub.meta.sent)
    assert [m.status for m in await updates(ana, result.message.id)] == ["sent"]  # never shown failed
    assert hub.counted("whatsapp", "send_retry") == len(trouble)


@pytest.mark.parametrize("hub_attempts", [3])
async def test_retries_run_out_and_the_agent_sees_failed(meta: stub.MetaStub, hub_attempts: int) -> None:
    from tests.channels.conftest import channel_config, serve

    async for hub in serve(channel_config(meta, max_attempts=hub_attempts), meta):
        ana = await hub.agent("ana")
        conv = await hub.assigned_whatsapp(ana)
        meta.then(stub.SERVER_ERROR, stub.SERVER_ERROR, stub.SERVER_ERROR)
        result = await ana.call(p.SendMessage, conversation_id=conv.id, text="doomed")
        failed = await status_of(ana, result.message.id, "failed")
        assert failed.error == p.MessageError(code="1", message="An unknown error occurred")
        assert len(meta.sent) == 3


async def test_permanent_error_fails_at_once_with_metas_code_and_text(hub: Hub) -> None:
    ana = await hub.agent("ana")
    conv = await hub.assigned_whatsapp(ana)
    hub.meta.then(stub.BAD_RECIPIENT)
    result = await ana.call(p.SendMessage, conversation_id=conv.id, text="hello?")
    failed = await status_of(ana, result.message.id, "failed")
    assert failed.error is not None and failed.error.code == "131026"
    assert failed.error.message == "(#131026) Message Undeliverable Recipient is not a valid WhatsApp user."
    assert len(hub.meta.sent) == 1
    assert await hub.node.sender.sweep() == 0  # a sweep finds nothing to send: a failed message is never sent again
    assert len(hub.meta.sent) == 1


async def test_re_engagement_error_fails_the_message_and_locks_the_session_live(hub: Hub) -> None:
    ana = await hub.agent("ana")
    conv = await hub.assigned_whatsapp(ana)
    hub.meta.then(stub.RE_ENGAGEMENT)
    result = await ana.call(p.SendMessage, conversation_id=conv.id, text="still there?")
    failed = await status_of(ana, result.message.id, "failed")
    assert failed.error is not None and failed.error.code == "131047"
    locked = await ana.event(p.SessionLocked, lambda e: e.conversation_id == conv.id)
    assert locked.conversation_id == conv.id
    with pytest.raises(CommandError) as refused:
        await ana.call(p.SendMessage, conversation_id=conv.id, text="and now?")
    assert refused.value.code == "session_locked"
    assert len(hub.meta.sent) == 1
    # A template is still allowed, and goes out.
    await ana.call(p.SendTemplate, conversation_id=conv.id, template=p.TemplateRef(name="hello", params=["Sheena"]))
    await hub.meta.wait_sent(2)
    # The contact writes again: the window reopens, live.
    await hub.whatsapp(pl.wa_inbound(pl.wa_text("I'm back")))
    await ana.event(p.SessionUnlocked, lambda e: e.conversation_id == conv.id)


async def test_a_retried_message_is_never_overtaken_by_the_next_one(hub: Hub) -> None:
    ana = await hub.agent("ana")
    conv = await hub.assigned_whatsapp(ana)
    hub.meta.then(stub.SERVER_ERROR, stub.SERVER_ERROR)
    first = await ana.call(p.SendMessage, conversation_id=conv.id, text="first")
    second = await ana.call(p.SendMessage, conversation_id=conv.id, text="second")
    await status_of(ana, second.message.id, "sent")
    await status_of(ana, first.message.id, "sent")
    assert [s.body["text"]["body"] for s in hub.meta.sent] == ["first", "first", "first", "second"]


# --------------------------------------------------------------------------- statuses in


async def test_statuses_only_move_forward(hub: Hub) -> None:
    ana = await hub.agent("ana")
    conv = await hub.assigned_whatsapp(ana)
    result = await ana.call(p.SendMessage, conversation_id=conv.id, text="tracking")
    await status_of(ana, result.message.id, "sent")
    wamid = hub.meta.sent[0].message_id
    assert wamid is not None
    # read arrives before delivered (Meta skips or reorders): read wins.
    r = await hub.whatsapp(pl.wa_statuses(pl.wa_status(wamid, "read")))
    assert r.json()["events"] == {"status": 1}
    await status_of(ana, result.message.id, "read")
    for late in ("delivered", "sent", "delivered"):
        r = await hub.whatsapp(pl.wa_statuses(pl.wa_status(wamid, late)))
        assert r.status_code == 200 and r.json()["events"] == {"status_stale": 1}
    failed_late = pl.wa_status(wamid, "failed", errors=[pl.wa_error(131026, "Message undeliverable", "x")])
    assert (await hub.whatsapp(pl.wa_statuses(failed_late))).json()["events"] == {"status_stale": 1}
    assert [m.status for m in await updates(ana, result.message.id)] == ["sent", "read"]
    thread = await ana.call(p.Open, conversation_id=conv.id)
    assert thread.messages[-1].status == "read"


async def test_a_failed_status_shows_metas_error_and_131047_locks(hub: Hub) -> None:
    ana = await hub.agent("ana")
    conv = await hub.assigned_whatsapp(ana)
    result = await ana.call(p.SendMessage, conversation_id=conv.id, text="will fail later")
    await status_of(ana, result.message.id, "sent")
    wamid = hub.meta.sent[0].message_id
    assert wamid is not None
    await hub.whatsapp(pl.wa_statuses(pl.wa_status(wamid, "failed", errors=[pl.RE_ENGAGEMENT_ERROR])))
    failed = await status_of(ana, result.message.id, "failed")
    assert failed.error is not None and failed.error.code == "131047"
    assert failed.error.message.startswith("Re-engagement message: Message failed to send because more than 24 hours")
    await ana.event(p.SessionLocked, lambda e: e.conversation_id == conv.id)


async def test_status_for_a_wamid_we_never_recorded_finds_our_message_by_our_id(hub: Hub) -> None:
    """Meta's webhook can beat Meta's answer (or the answer can be lost):
    the id we sent along in biz_opaque_callback_data still finds the message."""
    ana = await hub.agent("ana")
    conv = await hub.assigned_whatsapp(ana)
    hub.meta.then(stub.Reply(delay=0.3))
    result = await ana.call(p.SendMessage, conversation_id=conv.id, text="race")
    [sent] = await hub.meta.wait_sent(1)
    assert sent.message_id is not None
    r = await hub.whatsapp(pl.wa_statuses(pl.wa_status(sent.message_id, "delivered", callback=sent.body["biz_opaque_callback_data"])))
    assert r.json()["events"] == {"status": 1}
    await status_of(ana, result.message.id, "delivered")
    # The late answer does not move it back. A barrier, not a pause: the
    # conversation's next message goes out only after that answer was
    # handled (one sender per conversation, in order), and its update comes
    # after any update of this one on the same stream.
    following = await ana.call(p.SendMessage, conversation_id=conv.id, text="after the race")
    await status_of(ana, following.message.id, "sent")
    assert [m.status for m in await updates(ana, result.message.id)] == ["delivered"]
    stored = await hub.node.store.get_message(result.message.id)
    assert stored is not None and stored.status == "delivered" and stored.channel_message_id == sent.message_id


async def test_statuses_of_messages_sent_by_other_tools_are_ignored(hub: Hub) -> None:
    r = await hub.whatsapp(pl.wa_statuses(pl.wa_status("wamid.FROM_ANOTHER_TOOL=", "delivered")))
    assert r.status_code == 200 and r.json()["events"] == {"status_unknown_message": 1}
