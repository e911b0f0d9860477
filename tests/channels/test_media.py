"""What customers send, end to end: a webhook names a file, the node fetches
it from the Graph API stand-in (real bytes over real HTTP, the touchpoint's
token checked), stores it, and the agent's thread hears the message change
from ``loading`` to ``ready`` (or ``failed``, with the reason)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from msgspec.structs import replace

from protocol import messages as p
from server.config import MediaSettings
from server.core.media import Limits
from tests.channels import payloads as pl
from tests.channels.conftest import TOKENS, Hub, channel_config, serve
from tests.channels.metastub import MetaStub, StubMedia
from tests.fixtures import media as files
from tests.wsagent import WsAgent

SMALL_LIMITS = Limits(image=200_000, document=50_000)


@pytest.fixture
async def hub(meta: MetaStub) -> AsyncIterator[Hub]:
    config = channel_config(meta)
    config = replace(config, media=MediaSettings(backoff_seconds=0.01, limits=SMALL_LIMITS, thumbnail_pixels=64))
    async for h in serve(config, meta):
        yield h


def wa_file(meta: MetaStub, media_id: str, data: bytes, mime: str, **kw: Any) -> StubMedia:
    held = StubMedia(data=data, mime_type=mime, token=TOKENS["wa"], **kw)
    meta.media[media_id] = held
    return held


async def receive(hub: Hub, ana: WsAgent, message: dict[str, Any]) -> tuple[str, p.MessageView]:
    """The customer's message arrives; Ana claims and opens the conversation:
    (its id, the message as the thread first showed it)."""
    assert (await hub.whatsapp(pl.wa_inbound(message))).status_code == 200
    added = await ana.event(p.InboxAdded)
    conv_id = added.conversation.id
    await ana.call(p.Claim, conversation_id=conv_id)
    thread = await ana.call(p.Open, conversation_id=conv_id)
    return conv_id, thread.messages[-1]


async def settled(ana: WsAgent, message_id: str) -> p.MessageView:
    """The message once its file is stored or has failed (the thread's live update)."""
    event = await ana.event(
        p.MessageUpdated, lambda e: e.message.id == message_id and e.message.media.state != "loading"
    )
    view: p.MessageView = event.message
    return view


async def test_a_photo_shows_at_once_then_arrives_with_its_thumbnail(hub: Hub, meta: MetaStub) -> None:
    photo = files.jpeg()
    wa_file(meta, "7001", photo, "image/jpeg")
    ana = await hub.agent("ana")
    body = {"id": "7001", "mime_type": "image/jpeg", "sha256": hashlib.sha256(photo).hexdigest(), "caption": "Broken part"}
    conv_id, first = await receive(hub, ana, pl.wa_message("image", body))
    assert first.media is not None and first.media.kind == "image" and first.text == "[image] Broken part"
    ready = await settled(ana, first.id)
    assert ready.media is not None
    assert (ready.media.state, ready.media.mime_type, ready.media.size) == ("ready", "image/jpeg", len(photo))
    assert (ready.media.width, ready.media.height, ready.media.thumbnail) == (640, 480, True)
    assert meta.downloads == ["7001"]
    stored = await hub.node.blobs.get(hashlib.sha256(photo).hexdigest())
    assert stored == photo
    # The list says what it is, for the agent's language to name it.
    summary = (await ana.call(p.Open, conversation_id=conv_id)).conversation
    assert summary.preview_kind == "image"


async def test_a_voice_note_gets_its_length_in_the_thread_and_the_list(hub: Hub, meta: MetaStub) -> None:
    note = files.ogg_opus(14.0)
    wa_file(meta, "7002", note, "audio/ogg; codecs=opus")
    ana = await hub.agent("ana")
    body = {"id": "7002", "mime_type": "audio/ogg; codecs=opus", "sha256": hashlib.sha256(note).hexdigest(), "voice": True}
    conv_id, first = await receive(hub, ana, pl.wa_message("audio", body))
    assert first.media is not None and first.media.voice
    ready = await settled(ana, first.id)
    assert ready.media is not None and (ready.media.mime_type, ready.media.duration_ms) == ("audio/ogg", 14_000)
    summary = (await ana.call(p.Open, conversation_id=conv_id)).conversation
    assert (summary.preview_kind, summary.preview_duration_ms) == ("voice", 14_000)


async def test_a_document_is_typed_by_its_bytes_not_its_name(hub: Hub, meta: MetaStub) -> None:
    wa_file(meta, "7003", files.PDF, "application/pdf")
    ana = await hub.agent("ana")
    body = {"id": "7003", "mime_type": "image/png", "filename": "invoice.png.exe", "sha256": ""}
    _, first = await receive(hub, ana, pl.wa_message("document", body))
    ready = await settled(ana, first.id)
    assert ready.media is not None
    assert (ready.media.state, ready.media.mime_type, ready.media.filename) == ("ready", "application/pdf", "invoice.png.exe")
    assert ready.media.thumbnail is False


async def test_a_download_that_fails_three_times_shows_failed_with_the_reason(hub: Hub, meta: MetaStub) -> None:
    wa_file(meta, "7004", files.jpeg(), "image/jpeg", failures=5)
    ana = await hub.agent("ana")
    _, first = await receive(hub, ana, pl.wa_message("image", {"id": "7004", "mime_type": "image/jpeg"}))
    failed = await settled(ana, first.id)
    assert failed.media is not None and failed.media.state == "failed"
    assert "HTTP 500" in failed.media.error
    assert meta.downloads == ["7004"] * 3


async def test_a_download_that_fails_twice_then_works_is_ready(hub: Hub, meta: MetaStub) -> None:
    wa_file(meta, "7005", files.jpeg(), "image/jpeg", failures=2)
    ana = await hub.agent("ana")
    _, first = await receive(hub, ana, pl.wa_message("image", {"id": "7005", "mime_type": "image/jpeg"}))
    ready = await settled(ana, first.id)
    assert ready.media is not None and ready.media.state == "ready"
    assert meta.downloads == ["7005"] * 3


async def test_a_wrong_sha256_is_refused(hub: Hub, meta: MetaStub) -> None:
    wa_file(meta, "7006", files.jpeg(), "image/jpeg", sha256=hashlib.sha256(b"another file").hexdigest())
    ana = await hub.agent("ana")
    _, first = await receive(hub, ana, pl.wa_message("image", {"id": "7006", "mime_type": "image/jpeg"}))
    failed = await settled(ana, first.id)
    assert failed.media is not None and failed.media.state == "failed" and "SHA-256" in failed.media.error
    assert meta.downloads == ["7006"]  # not tried again: the same bytes would come
    assert await hub.node.blobs.usage() == 0


async def test_an_oversized_file_is_refused_before_download_when_meta_states_its_size(hub: Hub, meta: MetaStub) -> None:
    wa_file(meta, "7007", files.PDF, "application/pdf", file_size=60 * 1024 * 1024)
    ana = await hub.agent("ana")
    _, first = await receive(hub, ana, pl.wa_message("document", {"id": "7007", "mime_type": "application/pdf", "filename": "big.pdf"}))
    failed = await settled(ana, first.id)
    assert failed.media is not None and failed.media.state == "failed" and "limit" in failed.media.error
    assert meta.downloads == []


async def test_an_oversized_file_meta_did_not_size_is_cut_off_while_downloading(hub: Hub, meta: MetaStub) -> None:
    wa_file(meta, "7008", files.noisy_jpeg(250_000), "image/jpeg", file_size=None)
    ana = await hub.agent("ana")
    _, first = await receive(hub, ana, pl.wa_message("image", {"id": "7008", "mime_type": "image/jpeg"}))
    failed = await settled(ana, first.id)
    assert failed.media is not None and failed.media.state == "failed" and "limit" in failed.media.error
    assert meta.downloads == ["7008"]


async def test_a_server_that_drips_the_bytes_cannot_hold_a_download_past_its_deadline(meta: MetaStub) -> None:
    config = replace(channel_config(meta), media=MediaSettings(backoff_seconds=0.01, download_timeout_seconds=0.5, download_attempts=2))
    wa_file(meta, "7010", files.jpeg(), "image/jpeg", drip=0.15)  # each chunk in time, the whole 1.5 s
    async for hub in serve(config, meta):
        ana = await hub.agent("ana")
        _, first = await receive(hub, ana, pl.wa_message("image", {"id": "7010", "mime_type": "image/jpeg"}))
        failed = await settled(ana, first.id)
        assert failed.media is not None and failed.media.state == "failed" and "longer than 0.5 s" in failed.media.error
        assert meta.downloads == ["7010"] * 2


async def test_a_sticker_is_stored_with_a_transparent_thumbnail(hub: Hub, meta: MetaStub) -> None:
    sticker = files.webp_sticker()
    wa_file(meta, "7009", sticker, "image/webp")
    ana = await hub.agent("ana")
    _, first = await receive(hub, ana, pl.wa_message("sticker", {"id": "7009", "mime_type": "image/webp"}))
    ready = await settled(ana, first.id)
    assert ready.media is not None and (ready.media.kind, ready.media.mime_type, ready.media.thumbnail) == ("sticker", "image/webp", True)


async def test_a_messenger_image_is_fetched_from_its_attachment_url(hub: Hub, meta: MetaStub) -> None:
    photo = files.jpeg(320, 240)
    meta.media["cdn-1.jpg"] = StubMedia(data=photo, mime_type="image/jpeg")
    ana = await hub.agent("bruno")
    attachment = {"type": "image", "payload": {"url": meta.media_url("cdn-1.jpg")}}
    message = pl.fb_message({"mid": pl.mid(), "attachments": [attachment]})
    assert (await hub.messenger(pl.fb_envelope(message))).status_code == 200
    conv_id = (await ana.event(p.InboxAdded)).conversation.id
    await ana.call(p.Claim, conversation_id=conv_id)
    first = (await ana.call(p.Open, conversation_id=conv_id)).messages[-1]
    ready = await settled(ana, first.id)
    assert ready.media is not None and (ready.media.state, ready.media.width) == ("ready", 320)
    assert "url" not in p.encoder.encode(ready.media).decode()  # where it came from is not shown


async def test_a_reaction_goes_on_the_message_it_reacts_to(hub: Hub) -> None:
    ana = await hub.agent("ana")
    target = pl.wamid()
    conv_id, first = await receive(hub, ana, pl.wa_text("Is it in stock?", id=target))
    react = pl.wa_message("reaction", {"message_id": target, "emoji": "👍"})
    assert (await hub.whatsapp(pl.wa_inbound(react))).status_code == 200
    liked = await ana.event(p.MessageUpdated, lambda e: e.message.id == first.id and e.message.reaction == "👍")
    assert liked.message.text == "Is it in stock?"
    changed = pl.wa_message("reaction", {"message_id": target, "emoji": "❤️"})
    removed = pl.wa_message("reaction", {"message_id": target})
    assert (await hub.whatsapp(pl.wa_inbound(changed))).status_code == 200
    await ana.event(p.MessageUpdated, lambda e: e.message.id == first.id and e.message.reaction == "❤️")
    assert (await hub.whatsapp(pl.wa_inbound(removed))).status_code == 200
    await ana.event(p.MessageUpdated, lambda e: e.message.id == first.id and e.message.reaction is None and len(ana.received(p.MessageUpdated)) == 3)
    thread = await ana.call(p.Open, conversation_id=conv_id)
    assert [(m.text, m.reaction) for m in thread.messages] == [("Is it in stock?", None)]
    assert await ana.received_by_now(p.MessageCreated) == []


async def test_a_reply_carries_the_message_it_quotes(hub: Hub) -> None:
    ana = await hub.agent("ana")
    target = pl.wamid()
    _, first = await receive(hub, ana, pl.wa_text("The blue one", id=target))
    reply = pl.wa_text("Actually, the red one", context={"from": pl.CUSTOMER, "id": target})
    assert (await hub.whatsapp(pl.wa_inbound(reply))).status_code == 200
    created = await ana.event(p.MessageCreated, lambda e: e.message.text == "Actually, the red one")
    quoted = created.message.reply_to
    assert quoted is not None and (quoted.id, quoted.text, quoted.direction) == (first.id, "The blue one", "in")


async def test_a_location_has_a_map_link_and_a_contact_card_its_phones(hub: Hub) -> None:
    ana = await hub.agent("ana")
    place = pl.wa_message("location", {"latitude": -23.55052, "longitude": -46.633308, "name": "Loja Centro", "address": "Praça da Sé"})
    card = pl.wa_message("contacts", [{"name": {"formatted_name": "Maria Silva"}, "phones": [{"phone": "+55 11 5555-0101", "wa_id": "551155550101"}]}])
    _, location = await receive(hub, ana, place)
    assert location.location is not None
    assert (location.location.name, location.location.address) == ("Loja Centro", "Praça da Sé")
    assert location.location.map_url == "https://www.openstreetmap.org/?mlat=-23.550520&mlon=-46.633308#map=17/-23.550520/-46.633308"
    assert (await hub.whatsapp(pl.wa_inbound(card))).status_code == 200
    created = await ana.event(p.MessageCreated, lambda e: e.message.kind == "contacts")
    assert [(c.name, c.phones) for c in created.message.contacts] == [("Maria Silva", ["+55 11 5555-0101"])]
    summary = created.conversation
    assert summary.preview_kind == "contacts"


# --------------------------------------------------------------------------- serving


async def ready_file(hub: Hub, meta: MetaStub, ana: WsAgent, kind: str, data: bytes, mime: str, **body: Any) -> p.MessageView:
    media_id = f"80{len(meta.media):02d}"
    wa_file(meta, media_id, data, mime)
    _, first = await receive(hub, ana, pl.wa_message(kind, {"id": media_id, "mime_type": mime, **body}))
    ready = await settled(ana, first.id)
    assert ready.media is not None and ready.media.state == "ready"
    return ready


async def link(hub: Hub, agent: str, message_id: str, variant: str = "file") -> Any:
    from tests.conftest import token

    return await hub.http.get(
        f"{hub.base}/api/media/{message_id}/link", params={"variant": variant}, headers={"Authorization": f"Bearer {token(agent)}"}
    )


async def test_the_assignee_gets_the_photo_and_its_thumbnail_through_signed_links(hub: Hub, meta: MetaStub) -> None:
    from PIL import Image

    photo = files.jpeg()
    ana = await hub.agent("ana")
    message = await ready_file(hub, meta, ana, "image", photo, "image/jpeg")
    made = await link(hub, "ana", message.id)
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    url = made.json()["url"]
    assert url.startswith(f"/api/media/{message.id}?") and made.json()["expires_at"] > pl.now_ms()
    got = await hub.http.get(hub.base + url)  # no token: the link is the permission
    assert got.status_code == 200 and got.content == photo
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"] == "inline"
    assert "sandbox" in got.headers["content-security-policy"]
    thumb_url = (await link(hub, "ana", message.id, "thumbnail")).json()["url"]
    thumb = await hub.http.get(hub.base + thumb_url)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg" and len(thumb.content) < len(photo)
    import io

    assert max(Image.open(io.BytesIO(thumb.content)).size) == 64


async def test_another_queues_agent_gets_404_and_a_borrowed_or_expired_link_403(hub: Hub, meta: MetaStub) -> None:
    ana = await hub.agent("ana")
    message = await ready_file(hub, meta, ana, "image", files.jpeg(), "image/jpeg")
    assert (await link(hub, "carla", message.id)).status_code == 404  # support only: not her conversation
    assert (await link(hub, "bruno", message.id)).status_code == 404  # same queue, but Ana's now
    assert (await link(hub, "sofia", message.id)).status_code == 200  # a supervisor sees everything
    url = (await link(hub, "ana", message.id)).json()["url"]
    borrowed = url.replace("agent=ana", "agent=carla")
    assert (await hub.http.get(hub.base + borrowed)).status_code == 403
    tampered = url.replace("exp=", "exp=9")
    assert (await hub.http.get(hub.base + tampered)).status_code == 403
    files_ = hub.node.media_files
    real = files_.clock
    files_.clock = lambda: real() + 301_000  # link_seconds (300) later
    try:
        expired = await hub.http.get(hub.base + url)
    finally:
        files_.clock = real
    assert expired.status_code == 403 and "expired" in expired.json()["message"]
    assert (await hub.http.get(hub.base + url)).status_code == 200


async def test_a_link_stops_working_once_the_agent_loses_the_conversation(hub: Hub, meta: MetaStub) -> None:
    ana = await hub.agent("ana")
    message = await ready_file(hub, meta, ana, "image", files.jpeg(), "image/jpeg")
    url = (await link(hub, "ana", message.id)).json()["url"]
    await ana.call(p.SendToInbox, conversation_id=message.conversation_id)
    carla_like = await hub.http.get(hub.base + url)  # back in the inbox: Ana still sees it (her queue)
    assert carla_like.status_code == 200
    bruno = await hub.agent("bruno")
    await bruno.call(p.Claim, conversation_id=message.conversation_id)
    assert (await hub.http.get(hub.base + url)).status_code == 404


async def test_a_document_downloads_as_an_attachment_typed_by_its_bytes(hub: Hub, meta: MetaStub) -> None:
    ana = await hub.agent("ana")
    message = await ready_file(hub, meta, ana, "document", files.PDF, "text/html", filename="fatura março.pdf")
    got = await hub.http.get(hub.base + (await link(hub, "ana", message.id)).json()["url"])
    assert got.status_code == 200 and got.content == files.PDF
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"] == "attachment; filename=\"fatura_mar_o.pdf\"; filename*=UTF-8''fatura%20mar%C3%A7o.pdf"
    assert (await link(hub, "ana", message.id, "thumbnail")).status_code == 404


async def test_a_voice_note_is_served_in_ranges(hub: Hub, meta: MetaStub) -> None:
    note = files.ogg_opus(14.0)
    ana = await hub.agent("ana")
    message = await ready_file(hub, meta, ana, "audio", note, "audio/ogg", voice=True)
    url = hub.base + (await link(hub, "ana", message.id)).json()["url"]
    part = await hub.http.get(url, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == note[:100]
    assert part.headers["content-range"] == f"bytes 0-99/{len(note)}" and part.headers["content-type"] == "audio/ogg"
    tail = await hub.http.get(url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == note[-10:]
    rest = await hub.http.get(url, headers={"Range": f"bytes={len(note) - 5}-"})
    assert rest.status_code == 206 and rest.content == note[-5:]
    beyond = await hub.http.get(url, headers={"Range": f"bytes={len(note)}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(note)}"
    assert (await hub.http.get(url, headers={"Range": "bytes=0-1,5-9"})).status_code == 416


async def test_a_file_still_loading_has_no_link(hub: Hub, meta: MetaStub) -> None:
    ana = await hub.agent("ana")
    _, first = await receive(hub, ana, pl.wa_message("image", {"id": "no-such-media", "mime_type": "image/jpeg"}))
    assert (await link(hub, "ana", first.id)).status_code == 404
    assert (await link(hub, "ana", "m_nothing")).status_code == 404
    bad = await link(hub, "ana", first.id, "original")
    assert bad.status_code == 400
