"""Messenger replies: the 24-hour window, HUMAN_AGENT up to 7 days, echoes
and delivery/read watermarks (windows shortened to fractions of a second)."""

import asyncio

import pytest

from protocol import messages as p
from server.channels.events import tag
from tests.channels import metastub as stub
from tests.channels import payloads as pl
from tests.channels.conftest import TOKENS, Hub
from tests.channels.test_outbound import status_of, updates
from tests.wsagent import CommandError


async def test_reply_inside_the_window_is_a_plain_response(hub: Hub) -> None:
    carla = await hub.agent("carla")
    conv = await hub.assigned_messenger(carla)
    result = await carla.call(p.SendMessage, conversation_id=conv.id, text="How can I help?")
    [sent] = await hub.meta.wait_sent(1)
    assert sent.path == "/v21.0/me/messages" and sent.token == TOKENS["fb"]
    assert sent.body == {
        "recipient": {"id": pl.PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "How can I help?", "metadata": tag(result.message.id)},
    }
    await status_of(carla, result.message.id, "sent")


@pytest.mark.parametrize("window", [0.4])
async def test_after_24h_replies_carry_human_agent_then_after_7_days_are_refused(hub: Hub, window: float) -> None:
    carla = await hub.agent("carla")
    conv = await hub.assigned_messenger(carla)
    await asyncio.sleep(window + 0.1)  # the standard window passed; the 7-day one (7 × window) runs
    late = await carla.call(p.SendMessage, conversation_id=conv.id, text="Sorry for the delay")
    assert late.message.meta == {"tag": "HUMAN_AGENT"}
    [sent] = await hub.meta.wait_sent(1)
    assert sent.body["messaging_type"] == "MESSAGE_TAG" and sent.body["tag"] == "HUMAN_AGENT"
    await status_of(carla, late.message.id, "sent")
    # Past the extended window the session locks live and replies are refused before any send.
    await carla.event(p.SessionLocked, lambda e: e.conversation_id == conv.id, timeout=7 * window + 2)
    with pytest.raises(CommandError) as refused:
        await carla.call(p.SendMessage, conversation_id=conv.id, text="anyone?")
    assert refused.value.code == "session_locked"
    assert len(hub.meta.sent) == 1


async def test_meta_refusing_outside_the_window_locks_the_session(hub: Hub) -> None:
    carla = await hub.agent("carla")
    conv = await hub.assigned_messenger(carla)
    hub.meta.then(stub.OUTSIDE_WINDOW)
    result = await carla.call(p.SendMessage, conversation_id=conv.id, text="hello?")
    failed = await status_of(carla, result.message.id, "failed")
    assert failed.error is not None and failed.error.code == "10"
    assert "outside of allowed window" in failed.error.message
    await carla.event(p.SessionLocked, lambda e: e.conversation_id == conv.id)


async def test_echo_of_our_send_marks_it_sent_even_before_metas_answer(hub: Hub) -> None:
    carla = await hub.agent("carla")
    conv = await hub.assigned_messenger(carla)
    hub.meta.then(stub.Reply(delay=0.3))
    result = await carla.call(p.SendMessage, conversation_id=conv.id, text="Here is your tracking code")
    [sent] = await hub.meta.wait_sent(1)
    echo = pl.fb_echo("m_echoed_1", "Here is your tracking code", metadata=sent.body["message"]["metadata"])
    r = await hub.messenger(pl.fb_envelope(echo))
    assert r.json()["events"] == {"echo": 1}
    await status_of(carla, result.message.id, "sent")
    stored = await hub.node.store.get_message(result.message.id)
    assert stored is not None and stored.channel_message_id == "m_echoed_1"
    # Echoes never become inbound messages: the thread has the contact's one and ours.
    thread = await carla.call(p.Open, conversation_id=conv.id)
    assert [(m.direction, m.text) for m in thread.messages] == [("in", "Hi there"), ("out", "Here is your tracking code")]


async def test_echoes_of_messages_sent_by_other_tools_are_not_shown(hub: Hub) -> None:
    carla = await hub.agent("carla")
    conv = await hub.assigned_messenger(carla)
    r = await hub.messenger(pl.fb_envelope(pl.fb_echo("m_from_page_inbox", "Answered from Business Suite")))
    assert r.status_code == 200 and r.json()["events"] == {"echo_foreign": 1}
    thread = await carla.call(p.Open, conversation_id=conv.id)
    assert [m.text for m in thread.messages] == ["Hi there"]
    assert await carla.received_by_now(p.MessageCreated, lambda e: e.message.direction == "out") == []


async def test_delivery_and_read_watermarks_move_every_earlier_message(hub: Hub) -> None:
    carla = await hub.agent("carla")
    conv = await hub.assigned_messenger(carla)
    first = await carla.call(p.SendMessage, conversation_id=conv.id, text="one")
    second = await carla.call(p.SendMessage, conversation_id=conv.id, text="two")
    await status_of(carla, second.message.id, "sent")
    await status_of(carla, first.message.id, "sent")
    watermark = pl.now_ms()
    await asyncio.sleep(0.01)
    third = await carla.call(p.SendMessage, conversation_id=conv.id, text="three, after the watermark")
    await status_of(carla, third.message.id, "sent")

    r = await hub.messenger(pl.fb_envelope(pl.fb_delivery(watermark)))
    assert r.json()["events"] == {"watermark": 1}
    await status_of(carla, first.message.id, "delivered")
    await status_of(carla, second.message.id, "delivered")
    await hub.messenger(pl.fb_envelope(pl.fb_read(watermark)))
    await status_of(carla, first.message.id, "read")
    await status_of(carla, second.message.id, "read")
    # A late delivery watermark moves nothing back.
    await hub.messenger(pl.fb_envelope(pl.fb_delivery(watermark)))
    thread = await carla.call(p.Open, conversation_id=conv.id)
    assert [m.status for m in thread.messages] == ["received", "read", "read", "sent"]
    assert [m.status for m in await updates(carla, first.message.id)] == ["sent", "delivered", "read"]
    # A delivery naming the third one by mid moves it too.
    mid = hub.meta.sent[2].message_id
    assert mid is not None
    await hub.messenger(pl.fb_envelope(pl.fb_delivery(watermark, [mid])))
    await status_of(carla, third.message.id, "delivered")
