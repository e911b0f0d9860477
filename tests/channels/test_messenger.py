"""The Messenger Platform parser and request builder, fed Meta's documented shapes."""

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.channels import events as ev
from server.channels import messenger
from server.channels.errors import BadPayload, Unsendable
from server.core.model import Message
from tests.channels import payloads as pl
from tests.channels.test_whatsapp import JSON


def parse(*messaging: dict[str, Any]) -> list[ev.Event]:
    return messenger.parse(msgspec.json.encode(pl.fb_envelope(*messaging))).events


def test_text_message() -> None:
    item = pl.fb_text("hello, world!", id="m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P")
    [event] = parse(item)
    assert event == ev.InboundMessage(
        channel="messenger",
        touchpoint=pl.PAGE_ID,
        address=pl.PSID,
        inbound=event.inbound,
    )
    assert (event.inbound.kind, event.inbound.text, event.inbound.at) == ("text", "hello, world!", item["timestamp"])
    assert event.inbound.channel_message_id == item["message"]["mid"]


@pytest.mark.parametrize(
    ("attachment", "kind", "text", "meta"),
    [
        ({"type": "image", "payload": {"url": "https://cdn.example/i.jpg"}}, "image", "[image]", {"url": "https://cdn.example/i.jpg"}),
        ({"type": "image", "payload": {"url": "https://cdn.example/s.png", "sticker_id": 369239263222822}}, "sticker", "[sticker]", {"sticker_id": "369239263222822"}),
        ({"type": "video", "payload": {"url": "https://cdn.example/v.mp4"}}, "video", "[video]", {}),
        ({"type": "audio", "payload": {"url": "https://cdn.example/a.mp4"}}, "audio", "[audio]", {}),
        ({"type": "file", "payload": {"url": "https://cdn.example/f.pdf"}}, "document", "[file]", {"url": "https://cdn.example/f.pdf"}),
        (
            {"type": "location", "payload": {"coordinates": {"lat": 40.4168, "long": -3.7038}}, "title": "Madrid"},
            "location",
            "[location] Madrid",
            {"latitude": "40.4168", "longitude": "-3.7038"},
        ),
        ({"type": "fallback", "title": "Our sale", "url": "https://shop.example/sale"}, "link", "[link] Our sale", {"url": "https://shop.example/sale"}),
        ({"type": "ig_reel", "payload": {"url": "https://x"}}, "unsupported", "[unsupported message]", {"messenger_type": "ig_reel"}),
    ],
)
def test_attachments_are_kept_with_a_readable_placeholder(
    attachment: dict[str, Any], kind: str, text: str, meta: dict[str, str]
) -> None:
    [event] = parse(pl.fb_message({"mid": "m_att", "attachments": [attachment]}))
    assert isinstance(event, ev.InboundMessage)
    assert (event.inbound.kind, event.inbound.text) == (kind, text)
    assert meta.items() <= event.inbound.meta.items()
    assert event.inbound.channel_message_id == "m_att"


def test_several_attachments_become_several_messages_with_stable_ids() -> None:
    image = {"type": "image", "payload": {"url": "https://cdn.example/1.jpg"}}
    events = parse(pl.fb_message({"mid": "m_multi", "attachments": [image, image, image]}))
    assert [e.inbound.channel_message_id for e in events if isinstance(e, ev.InboundMessage)] == ["m_multi", "m_multi#2", "m_multi#3"]


def test_quick_reply_postback_and_reaction() -> None:
    quick = pl.fb_message({"mid": "m_q", "text": "Red", "quick_reply": {"payload": "COLOR_RED"}})
    postback = {"sender": {"id": pl.PSID}, "recipient": {"id": pl.PAGE_ID}, "timestamp": 1700000000000, "postback": {"title": "Talk to an agent", "payload": "AGENT", "mid": "m_pb"}}
    reaction = {"sender": {"id": pl.PSID}, "recipient": {"id": pl.PAGE_ID}, "timestamp": 1700000000001, "reaction": {"mid": "m_ours", "action": "react", "emoji": "\u2764", "reaction": "love"}}
    q, pb, r = parse(quick, postback, reaction)
    assert isinstance(q, ev.InboundMessage) and (q.inbound.kind, q.inbound.text) == ("interactive", "Red")
    assert q.inbound.meta == {"interactive_type": "quick_reply", "payload": "COLOR_RED"}
    assert isinstance(pb, ev.InboundMessage) and (pb.inbound.text, pb.inbound.channel_message_id) == ("[button] Talk to an agent", "m_pb")
    assert isinstance(r, ev.InboundMessage) and (r.inbound.kind, r.inbound.text, r.reply_to) == ("reaction", "[reaction] \u2764", "m_ours")
    again = parse(reaction)[0]
    assert isinstance(again, ev.InboundMessage)
    assert again.inbound.channel_message_id == r.inbound.channel_message_id  # Meta's retry dedups


def test_echoes_delivery_and_read() -> None:
    ours = pl.fb_echo("m_echo1", "Hello from us", metadata="switchboard:m_42")
    other = pl.fb_echo("m_echo2", "Sent from the Page inbox")
    tool = pl.fb_echo("m_echo3", "Sent by a bot", metadata="bot-state-7")
    delivery = pl.fb_delivery(1458668856253, ["m_echo1"])
    read = pl.fb_read(1458668856463)
    e1, e2, e3, d, r = parse(ours, other, tool, delivery, read)
    assert e1 == ev.Echo(channel="messenger", touchpoint=pl.PAGE_ID, address=pl.PSID, channel_message_id="m_echo1", our_id="m_42", text="Hello from us")
    assert isinstance(e2, ev.Echo) and e2.our_id is None
    assert isinstance(e3, ev.Echo) and e3.our_id is None
    assert d == ev.Watermark(channel="messenger", touchpoint=pl.PAGE_ID, address=pl.PSID, status="delivered", watermark=1458668856253, mids=("m_echo1",))
    assert r == ev.Watermark(channel="messenger", touchpoint=pl.PAGE_ID, address=pl.PSID, status="read", watermark=1458668856463)


def test_one_bad_item_never_costs_the_good_ones() -> None:
    payload = pl.fb_envelope(pl.fb_text("first"), {"sender": {}, "message": {"mid": "m_x"}}, pl.fb_text("second"))
    payload["entry"].append({"time": 1})  # no Page id
    payload["entry"].append(pl.fb_envelope(pl.fb_text("third"))["entry"][0] | {"standby": [{"sender": {"id": "1"}}]})
    events = messenger.parse(msgspec.json.encode(payload)).events
    assert [e.inbound.text for e in events if isinstance(e, ev.InboundMessage)] == ["first", "second", "third"]
    assert len([e for e in events if isinstance(e, ev.Rejected)]) == 2
    assert [e.what for e in events if isinstance(e, ev.Ignored)] == ["1 standby items"]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"nope", "Not a Messenger"),
        (b'{"object": "instagram", "entry": []}', "expected 'page'"),
        (b'{"object": "page"}', "Not a Messenger"),
    ],
)
def test_not_an_envelope_is_a_bad_payload(body: bytes, why: str) -> None:
    with pytest.raises(BadPayload, match=why):
        messenger.parse(body)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "object": st.just("page"),
            "entry": st.lists(
                st.fixed_dictionaries({"id": st.text(max_size=3) | st.integers(), "messaging": st.lists(JSON | st.fixed_dictionaries({"sender": JSON, "recipient": JSON, "message": JSON, "delivery": JSON}), max_size=3)})
                | JSON,
                max_size=3,
            ),
        }
    )
    | JSON
)
def test_parsing_raises_nothing_but_bad_payload(doc: Any) -> None:
    try:
        batch = messenger.parse(msgspec.json.encode(doc))
    except BadPayload:
        return
    assert all(isinstance(e, (ev.InboundMessage, ev.Echo, ev.Watermark, ev.Rejected, ev.Ignored)) for e in batch.events)


def _message(**kw: Any) -> Message:
    fields: dict[str, Any] = dict(id="m_7", conversation_id="c_1", seq=2, direction="out", kind="text", text="On it!", at=1, status="pending")
    return Message(**(fields | kw))


def test_reply_inside_the_window_is_a_response() -> None:
    path, body = messenger.send_request(pl.PSID, _message())
    assert path == "/me/messages"
    assert body == {
        "recipient": {"id": pl.PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "On it!", "metadata": "switchboard:m_7"},
    }


def test_reply_after_the_window_carries_the_human_agent_tag() -> None:
    _, body = messenger.send_request(pl.PSID, _message(meta={"tag": "HUMAN_AGENT"}))
    assert body["messaging_type"] == "MESSAGE_TAG" and body["tag"] == "HUMAN_AGENT"


def test_templates_are_not_sent_on_messenger() -> None:
    with pytest.raises(Unsendable):
        messenger.send_request(pl.PSID, _message(kind="template"))
