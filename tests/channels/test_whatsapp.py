"""The WhatsApp Cloud API parser and request builder, fed Meta's documented shapes."""

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.channels import events as ev
from server.channels import whatsapp
from server.channels.errors import BadPayload, Unsendable
from server.core.model import Message
from tests.channels import payloads as pl


def parse(payload: dict[str, Any]) -> list[ev.Event]:
    return whatsapp.parse(msgspec.json.encode(payload)).events


def test_text_message_from_metas_example() -> None:
    # The example of Meta's "messages webhook reference", verbatim apart from ids.
    body = b"""{
      "object": "whatsapp_business_account",
      "entry": [{"id": "102290129340398", "changes": [{"value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
        "messages": [{"from": "16505551234", "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                      "timestamp": "1749416383", "type": "text", "text": {"body": "Does it come in another color?"}}]
      }, "field": "messages"}]}]
    }"""
    [event] = whatsapp.parse(body).events
    assert isinstance(event, ev.InboundMessage)
    assert event.touchpoint == "106540352242922"
    assert event.address == "16505551234"
    assert event.profile_name == "Sheena Nelson"
    assert event.inbound.kind == "text"
    assert event.inbound.text == "Does it come in another color?"
    assert event.inbound.at == 1749416383000
    assert event.inbound.channel_message_id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="


MEDIA_ID = "1013859600285441"
CASES: list[tuple[str, Any, str, str, dict[str, str]]] = [
    (
        "image",
        {"caption": "My new couch", "mime_type": "image/jpeg", "sha256": "abc=", "id": MEDIA_ID},
        "image",
        "[image] My new couch",
        {"media_id": MEDIA_ID, "mime_type": "image/jpeg", "caption": "My new couch"},
    ),
    ("video", {"mime_type": "video/mp4", "sha256": "x", "id": MEDIA_ID}, "video", "[video]", {"mime_type": "video/mp4"}),
    (
        "audio",
        {"mime_type": "audio/ogg; codecs=opus", "sha256": "x", "id": MEDIA_ID, "voice": True},
        "audio",
        "[voice message]",
        {"media_id": MEDIA_ID, "voice": "true"},
    ),
    (
        "document",
        {"caption": "Invoice", "filename": "invoice-42.pdf", "mime_type": "application/pdf", "sha256": "x", "id": MEDIA_ID},
        "document",
        "[document] invoice-42.pdf — Invoice",
        {"filename": "invoice-42.pdf", "mime_type": "application/pdf"},
    ),
    (
        "sticker",
        {"mime_type": "image/webp", "sha256": "x", "id": MEDIA_ID, "animated": False},
        "sticker",
        "[sticker]",
        {"media_id": MEDIA_ID, "mime_type": "image/webp"},
    ),
    (
        "location",
        {"latitude": -23.5505, "longitude": -46.6333, "name": "Loja Centro", "address": "Praça da Sé, São Paulo"},
        "location",
        "[location] Loja Centro, Praça da Sé, São Paulo",
        {"latitude": "-23.5505", "longitude": "-46.6333", "name": "Loja Centro"},
    ),
    ("location", {"latitude": 1.5, "longitude": 2.25}, "location", "[location] 1.5, 2.25", {"latitude": "1.5"}),
    (
        "reaction",
        {"message_id": "wamid.OURS=", "emoji": "\U0001f44d"},
        "reaction",
        "[reaction] \U0001f44d",
        {"reacted_to": "wamid.OURS=", "emoji": "\U0001f44d"},
    ),
    ("reaction", {"message_id": "wamid.OURS="}, "reaction", "[reaction removed]", {"reacted_to": "wamid.OURS="}),
    (
        "interactive",
        {"type": "button_reply", "button_reply": {"id": "yes-1", "title": "Yes, please"}},
        "interactive",
        "[button] Yes, please",
        {"interactive_type": "button_reply", "reply_id": "yes-1", "reply_title": "Yes, please"},
    ),
    (
        "interactive",
        {"type": "list_reply", "list_reply": {"id": "s-2", "title": "Shipping", "description": "Where is my order"}},
        "interactive",
        "[list] Shipping — Where is my order",
        {"interactive_type": "list_reply", "reply_id": "s-2", "reply_description": "Where is my order"},
    ),
    (
        "button",
        {"payload": "STOP_PROMOS", "text": "Stop promotions"},
        "button",
        "[button] Stop promotions",
        {"interactive_type": "quick_reply", "payload": "STOP_PROMOS"},
    ),
    (
        "contacts",
        [{"name": {"formatted_name": "Maria Silva", "first_name": "Maria"}, "phones": [{"phone": "+55 11 5555-0101", "type": "CELL"}]}],
        "contacts",
        "[contact] Maria Silva (+55 11 5555-0101)",
        {"count": "1"},
    ),
]


@pytest.mark.parametrize(("kind", "body", "want_kind", "want_text", "want_meta"), CASES)
def test_every_inbound_type_is_kept_with_a_readable_placeholder(
    kind: str, body: Any, want_kind: str, want_text: str, want_meta: dict[str, str]
) -> None:
    [event] = parse(pl.wa_inbound(pl.wa_message(kind, body)))
    assert isinstance(event, ev.InboundMessage)
    assert (event.inbound.kind, event.inbound.text) == (want_kind, want_text)
    assert want_meta.items() <= event.inbound.meta.items()


def test_unsupported_and_unknown_types_are_kept_not_dropped() -> None:
    unsupported = {
        "from": pl.CUSTOMER,
        "id": "wamid.U1=",
        "timestamp": pl.now_s(),
        "type": "unsupported",
        "errors": [{"code": 131051, "title": "Message type unknown", "message": "Message type unknown"}],
    }
    future = {"from": pl.CUSTOMER, "id": "wamid.U2=", "timestamp": pl.now_s(), "type": "hologram", "hologram": {}}
    first, second = parse(pl.wa_inbound(unsupported, future))
    assert isinstance(first, ev.InboundMessage) and isinstance(second, ev.InboundMessage)
    assert (first.inbound.kind, first.inbound.text) == ("unsupported", "[unsupported message] (Message type unknown)")
    assert first.inbound.meta["error_code"] == "131051"
    assert second.inbound.kind == "unsupported" and second.inbound.meta["wa_type"] == "hologram"


def test_a_reply_names_the_message_it_answers() -> None:
    [event] = parse(pl.wa_inbound(pl.wa_text("this one", context={"from": "15550783881", "id": "wamid.OURS="})))
    assert isinstance(event, ev.InboundMessage) and event.reply_to == "wamid.OURS="


def test_statuses_with_errors_and_our_id() -> None:
    events = parse(
        pl.wa_statuses(
            pl.wa_status("wamid.A=", "sent", callback="switchboard:m_1"),
            pl.wa_status("wamid.A=", "read"),
            pl.wa_status("wamid.B=", "failed", errors=[pl.RE_ENGAGEMENT_ERROR]),
            pl.wa_status("wamid.C=", "failed", errors=[pl.wa_error(131026, "Message undeliverable", "Not on WhatsApp")]),
            pl.wa_status("wamid.D=", "delivered", callback="some other tool's data"),
            pl.wa_status("wamid.E=", "deleted"),
        )
    )
    sent, read, window, undeliverable, other, deleted = events
    assert sent == ev.StatusReport(
        channel="whatsapp", touchpoint=pl.PHONE_NUMBER_ID, channel_message_id="wamid.A=", status="sent", our_id="m_1"
    )
    assert isinstance(read, ev.StatusReport) and read.status == "read" and read.our_id is None
    assert isinstance(window, ev.StatusReport) and window.window_closed
    assert window.error is not None and window.error[0] == "131047" and "24 hours" in window.error[1]
    assert isinstance(undeliverable, ev.StatusReport) and not undeliverable.window_closed
    assert undeliverable.error == ("131026", "Message undeliverable: Not on WhatsApp")
    assert isinstance(other, ev.StatusReport) and other.our_id is None
    assert isinstance(deleted, ev.Ignored)


def test_one_bad_item_never_costs_the_good_ones() -> None:
    good = pl.wa_value(messages=[pl.wa_text("first")])
    bad_message = pl.wa_value(messages=[{"id": "wamid.X=", "type": "text"}, pl.wa_text("second")])  # no from/timestamp
    no_metadata = {"messaging_product": "whatsapp", "messages": [pl.wa_text("lost")]}
    payload = pl.wa_envelope(good, bad_message, no_metadata)
    payload["entry"].insert(0, "not an entry")
    payload["entry"].append(pl.wa_envelope(pl.wa_value(statuses=[pl.wa_status("wamid.Z=", "read")]))["entry"][0])
    payload["entry"][1]["changes"].append({"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}})
    events = parse(payload)
    texts = [e.inbound.text for e in events if isinstance(e, ev.InboundMessage)]
    assert texts == ["first", "second"]
    assert [e.channel_message_id for e in events if isinstance(e, ev.StatusReport)] == ["wamid.Z="]
    rejected = [e.reason for e in events if isinstance(e, ev.Rejected)]
    assert len(rejected) == 3
    assert rejected[0].startswith("entry[0]") and "messages[0]" in rejected[1] and "changes[2]" in rejected[2]
    assert [e.what for e in events if isinstance(e, ev.Ignored)] == ["field 'account_update'"]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"", "Not a WhatsApp"),
        (b"{not json", "Not a WhatsApp"),
        (b"[]", "Not a WhatsApp"),
        (b'{"object": "page", "entry": []}', "expected 'whatsapp_business_account'"),
        (b'{"object": "whatsapp_business_account", "entry": {}}', "Not a WhatsApp"),
        (b'{"entry": []}', "Not a WhatsApp"),
    ],
)
def test_not_an_envelope_is_a_bad_payload(body: bytes, why: str) -> None:
    with pytest.raises(BadPayload, match=why) as e:
        whatsapp.parse(body)
    assert e.value.status == 400


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=30,
)
KEYS = st.sampled_from(["object", "entry", "changes", "value", "field", "metadata", "messages", "statuses", "type", "id"])


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "object": st.just("whatsapp_business_account"),
            "entry": st.lists(
                st.fixed_dictionaries(
                    {"changes": st.lists(st.dictionaries(KEYS, JSON, max_size=4) | st.just({"field": "messages", "value": {"metadata": {"phone_number_id": "1"}, "messages": [{}], "statuses": [{"id": "x", "status": "failed", "errors": [{}]}]}}), max_size=3)}
                )
                | JSON,
                max_size=3,
            ),
        }
    )
    | st.dictionaries(KEYS, JSON)
    | JSON
)
def test_parsing_raises_nothing_but_bad_payload(doc: Any) -> None:
    try:
        batch = whatsapp.parse(msgspec.json.encode(doc))
    except BadPayload:
        return
    assert all(isinstance(e, (ev.InboundMessage, ev.StatusReport, ev.Rejected, ev.Ignored)) for e in batch.events)


def _message(**kw: Any) -> Message:
    fields: dict[str, Any] = dict(id="m_1", conversation_id="c_1", seq=2, direction="out", kind="text", text="Olá!", at=1, status="pending")
    return Message(**(fields | kw))


def test_text_send_request() -> None:
    path, body = whatsapp.send_request("100200300", "5511987650001", _message())
    assert path == "/100200300/messages"
    assert body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "5511987650001",
        "type": "text",
        "text": {"preview_url": False, "body": "Olá!"},
        "biz_opaque_callback_data": "switchboard:m_1",
    }


def test_template_send_request_carries_name_language_and_parameters() -> None:
    message = _message(kind="template", text="Hola Ana, tu pedido 42 está en camino.", meta={"template": "order_update", "language": "es_ES", "params": "Ana\x1f42"})
    _, body = whatsapp.send_request("100200300", "5511987650001", message)
    assert body["type"] == "template"
    assert body["template"] == {
        "name": "order_update",
        "language": {"code": "es_ES"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "42"}]}],
    }
    _, bare = whatsapp.send_request("1", "2", _message(kind="template", meta={"template": "hello_world", "language": "en_US", "params": ""}))
    assert "components" not in bare["template"]


def test_kinds_we_never_send_are_unsendable() -> None:
    with pytest.raises(Unsendable):
        whatsapp.send_request("1", "2", _message(kind="image"))
