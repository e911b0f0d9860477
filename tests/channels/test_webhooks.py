"""Meta's webhooks through a running node's real HTTP port; what agents see
on real websockets."""

from typing import Any

import msgspec
import pytest

from protocol import messages as p
from server.channels.signature import sign
from server.store.base import StoreUnavailable
from tests.channels import payloads as pl
from tests.channels.conftest import APP_SECRET, VERIFY_TOKEN, Hub

# --------------------------------------------------------------------------- handshake


@pytest.mark.parametrize("channel", ["whatsapp", "messenger"])
async def test_handshake_echoes_the_challenge_only_for_our_token(hub: Hub, channel: str) -> None:
    url = f"{hub.base}/webhooks/{channel}"
    good = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    r = await hub.http.get(url, params=good)
    assert (r.status_code, r.text) == (200, "1158201444")
    for bad in ({**good, "hub.verify_token": "guess"}, {**good, "hub.mode": "unsubscribe"}, {"hub.challenge": "1"}):
        r = await hub.http.get(url, params=bad)
        assert r.status_code == 403 and "1158201444" not in r.text


# --------------------------------------------------------------------------- signatures


async def test_signed_text_message_reaches_the_queue_live(hub: Hub) -> None:
    ana = await hub.agent("ana")
    carla = await hub.agent("carla")
    message = pl.wa_text("Does it come in another color?")
    r = await hub.whatsapp(pl.wa_inbound(message, name="Sheena Nelson"))
    assert r.status_code == 200
    added = await ana.event(p.InboxAdded)
    conv = added.conversation
    assert (conv.channel, conv.touchpoint_id, conv.preview) == ("whatsapp", "wa", "Does it come in another color?")
    assert conv.contact.address == "+" + pl.CUSTOMER and conv.contact.display_name == "+55 11 98765-0001"
    assert conv.session_locked is False and conv.session_expires_at is not None
    thread = await ana.call(p.Open, conversation_id=conv.id)
    [shown] = thread.messages
    assert (shown.direction, shown.kind, shown.text, shown.status) == ("in", "text", "Does it come in another color?", "received")
    assert await carla.received_by_now(p.InboxAdded) == []  # another queue
    contact = await hub.node.store.get_contact(f"whatsapp:+{pl.CUSTOMER}")  # E.164
    assert contact is not None and contact.profile_name == "Sheena Nelson"


@pytest.mark.parametrize("how", ["missing", "wrong secret", "not sha256", "one byte changed"])
async def test_unsigned_or_tampered_posts_are_refused_and_nothing_is_stored(hub: Hub, how: str) -> None:
    ana = await hub.agent("ana")
    body = msgspec.json.encode(pl.wa_inbound(pl.wa_text("let me in")))
    if how == "missing":
        r = await hub.whatsapp(body, signature="")
    elif how == "wrong secret":
        r = await hub.whatsapp(body, secret="not-the-app-secret")
    elif how == "not sha256":
        r = await hub.whatsapp(body, signature="sha1=" + "0" * 40)
    else:
        tampered = body.replace(b"let me in", b"let me In")
        assert len(tampered) == len(body)
        r = await hub.whatsapp(tampered, signature=sign(APP_SECRET, body))
    assert r.status_code == 401 and r.json()["error"]
    assert await hub.node.store.inbox("sales") == []
    assert hub.counted("whatsapp", "webhook_401") == 1
    # The same body, signed, is then accepted: the refusal was the signature.
    assert (await hub.whatsapp(body)).status_code == 200
    await ana.event(p.InboxAdded)


@pytest.mark.parametrize(
    ("channel", "body", "reason"),
    [
        ("whatsapp", b"{", "Not a WhatsApp webhook envelope"),
        ("whatsapp", b'{"object": "page", "entry": []}', "expected 'whatsapp_business_account'"),
        ("messenger", b'{"object": "page", "entry": "x"}', "Not a Messenger webhook envelope"),
        ("messenger", b"[1, 2]", "Not a Messenger webhook envelope"),
    ],
)
async def test_malformed_bodies_are_400_with_a_reason(hub: Hub, channel: str, body: bytes, reason: str) -> None:
    r = await hub.post(channel, body)
    assert r.status_code == 400 and reason in r.json()["error"]


# --------------------------------------------------------------------------- what messages become


async def test_media_and_other_types_become_placeholders_with_metadata(hub: Hub) -> None:
    ana = await hub.agent("ana")
    messages = [
        pl.wa_message("image", {"caption": "Broken part", "mime_type": "image/jpeg", "sha256": "h", "id": "9001"}),
        pl.wa_message("audio", {"mime_type": "audio/ogg; codecs=opus", "sha256": "h", "id": "9002", "voice": True}),
        pl.wa_message("document", {"filename": "receipt.pdf", "mime_type": "application/pdf", "sha256": "h", "id": "9003"}),
        pl.wa_message("location", {"latitude": -23.55, "longitude": -46.63, "name": "Loja Centro"}),
        pl.wa_message("sticker", {"mime_type": "image/webp", "sha256": "h", "id": "9004", "animated": True}),
        pl.wa_message("interactive", {"type": "button_reply", "button_reply": {"id": "agent", "title": "Talk to a person"}}),
        pl.wa_message("contacts", [{"name": {"formatted_name": "Maria Silva"}, "phones": [{"phone": "+55 11 5555-0101"}]}]),
        {"from": pl.CUSTOMER, "id": pl.wamid(), "timestamp": pl.now_s(), "type": "unsupported", "errors": [{"code": 131051, "title": "Message type unknown"}]},
    ]
    assert (await hub.whatsapp(pl.wa_inbound(*messages))).status_code == 200
    conv_id = (await ana.event(p.InboxAdded)).conversation.id
    await ana.event(p.InboxUpdated, lambda e: e.conversation.preview == "[unsupported message] (Message type unknown)")
    thread = await ana.call(p.Open, conversation_id=conv_id)
    shown = [(m.kind, m.text) for m in thread.messages]
    assert shown == [
        ("image", "[image] Broken part"),
        ("audio", "[voice message]"),
        ("document", "[document] receipt.pdf"),
        ("location", "[location] Loja Centro"),
        ("sticker", "[sticker]"),
        ("interactive", "[button] Talk to a person"),
        ("contacts", "[contact] Maria Silva (+55 11 5555-0101)"),
        ("unsupported", "[unsupported message] (Message type unknown)"),
    ]
    image, _, document, location, *_ = thread.messages
    assert image.meta["media_id"] == "9001" and image.meta["mime_type"] == "image/jpeg"
    assert document.meta["filename"] == "receipt.pdf"
    assert (location.meta["latitude"], location.meta["longitude"]) == ("-23.55", "-46.63")


async def test_the_same_wamid_twice_is_stored_once(hub: Hub) -> None:
    ana = await hub.agent("ana")
    payload = pl.wa_inbound(pl.wa_text("only once"))
    first = await hub.whatsapp(payload)
    again = await hub.whatsapp(payload)  # Meta's retry
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["events"] == {"duplicate": 1}
    conv_id = (await ana.event(p.InboxAdded)).conversation.id
    thread = await ana.call(p.Open, conversation_id=conv_id)
    assert [m.text for m in thread.messages] == ["only once"]
    assert await ana.received_by_now(p.InboxUpdated) == []  # no second event for the retry
    assert hub.node.metrics.webhooks.value("duplicate") == 1


async def test_a_batch_with_a_bad_entry_keeps_the_good_ones(hub: Hub) -> None:
    ana = await hub.agent("ana")
    payload = pl.wa_envelope(
        pl.wa_value(messages=[pl.wa_text("from one")], wa_id="5511900000011"),
        pl.wa_value(messages=[{"id": pl.wamid(), "type": "text", "text": {"body": "no sender"}}]),
    )
    second_entry = pl.wa_envelope(pl.wa_value(messages=[pl.wa_text("from two", sender="5511900000022")], wa_id="5511900000022"))
    payload["entry"] += ["garbage", second_entry["entry"][0]]
    r = await hub.whatsapp(payload)
    assert r.status_code == 200 and r.json()["events"] == {"message": 2, "rejected": 2}
    await ana.wait_for(lambda: len(ana.received(p.InboxAdded)) == 2)
    assert sorted(e.conversation.preview for e in ana.received(p.InboxAdded)) == ["from one", "from two"]
    assert hub.counted("whatsapp", "rejected") == 2


async def test_unknown_touchpoint_is_counted_not_retried(hub: Hub) -> None:
    r = await hub.whatsapp(pl.wa_inbound(pl.wa_text("wrong number"), phone_number_id="555000999"))
    assert r.status_code == 200  # a retry would not make it known
    assert r.json()["events"] == {"unknown_touchpoint": 1}
    assert await hub.node.store.inbox("sales") == [] and await hub.node.store.inbox("support") == []
    assert hub.node.metrics.webhooks.value("unknown_touchpoint") == 1
    r = await hub.messenger(pl.fb_envelope(pl.fb_text("wrong page", page="1234"), page="1234"))
    assert r.status_code == 200 and r.json()["events"] == {"unknown_touchpoint": 1}
    assert "switchboard_channel_events_total{channel=\"messenger\",event=\"unknown_touchpoint\"} 1" in (
        await hub.http.get(f"{hub.base}/metrics")
    ).text


async def test_storage_down_answers_503_and_metas_retry_stores_it_once(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    ana = await hub.agent("ana")
    payload = pl.wa_inbound(pl.wa_text("please keep me"))
    real_commit = hub.node.store.commit

    async def down(*args: Any, **kw: Any) -> None:
        raise StoreUnavailable("disk on fire")

    monkeypatch.setattr(hub.node.store, "commit", down)
    r = await hub.whatsapp(payload)
    assert r.status_code == 503
    assert await hub.node.store.message_by_channel_id(payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"]) is None
    monkeypatch.setattr(hub.node.store, "commit", real_commit)
    assert (await hub.whatsapp(payload)).status_code == 200
    conv_id = (await ana.event(p.InboxAdded)).conversation.id
    assert [m.text for m in (await ana.call(p.Open, conversation_id=conv_id)).messages] == ["please keep me"]


# --------------------------------------------------------------------------- Messenger in


async def test_messenger_message_shows_the_facebook_profile_name(hub: Hub) -> None:
    hub.meta.profiles[pl.PSID] = {"first_name": "Lucía", "last_name": "Fernández"}
    carla = await hub.agent("carla")
    r = await hub.messenger(pl.fb_envelope(pl.fb_text("¿Tienen envío a Lima?")))
    assert r.status_code == 200
    conv = (await carla.event(p.InboxAdded)).conversation
    assert (conv.channel, conv.touchpoint_id, conv.queue_id) == ("messenger", "fb", "support")
    assert (conv.contact.display_name, conv.contact.initials) == ("Lucía Fernández", "LF")
    # Known now: the next message does not ask Meta again.
    await hub.messenger(pl.fb_envelope(pl.fb_text("Gracias")))
    await carla.event(p.InboxUpdated, lambda e: e.conversation.preview == "Gracias")
    assert hub.meta.profile_requests == [pl.PSID]


async def test_messenger_profile_unavailable_still_stores_the_message(hub: Hub) -> None:
    carla = await hub.agent("carla")
    assert (await hub.messenger(pl.fb_envelope(pl.fb_text("hola")))).status_code == 200
    conv = (await carla.event(p.InboxAdded)).conversation
    assert conv.contact.display_name == pl.PSID and conv.preview == "hola"


async def test_an_oversize_webhook_is_refused_even_without_a_length(hub: Hub) -> None:
    limit = hub.node.config.meta.max_body_bytes

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    r = await hub.http.post(f"{hub.base}/webhooks/whatsapp", content=chunks())
    assert r.status_code == 413
    assert hub.counted("whatsapp", "webhook_too_large") == 1
