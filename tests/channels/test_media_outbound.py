"""Agents send files: upload over HTTP with the agent's token (checked
against the conversation's channel: the type its bytes show, its size),
then ``send_media`` with the upload id; the node uploads it to WhatsApp's
media endpoint and sends the message that names it, or sends it to
Messenger as an attachment. Real bytes arrive at the Graph API stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from msgspec.structs import replace

from protocol import errors
from protocol import messages as p
from server.config import MediaSettings
from server.core.media import Limits
from tests.channels.conftest import Hub, channel_config, serve
from tests.channels.metastub import MetaStub
from tests.conftest import token
from tests.fixtures import media as files
from tests.wsagent import CommandError, WsAgent


@pytest.fixture
async def hub(meta: MetaStub) -> AsyncIterator[Hub]:
    config = replace(channel_config(meta), media=MediaSettings(limits=Limits(image=200_000), thumbnail_pixels=64))
    async for h in serve(config, meta):
        yield h


async def upload(hub: Hub, agent: str, conv_id: str, data: bytes, filename: str) -> httpx.Response:
    return await hub.http.post(
        f"{hub.base}/api/media/uploads",
        params={"conversation_id": conv_id, "filename": filename},
        content=data,
        headers={"Authorization": f"Bearer {token(agent)}", "Content-Type": "application/octet-stream"},
    )


async def sent_ok(ana: WsAgent, message_id: str) -> None:
    await ana.event(p.MessageUpdated, lambda e: e.message.id == message_id and e.message.status == "sent")


async def test_an_image_goes_to_whatsapps_media_endpoint_then_out_with_its_caption(hub: Hub, meta: MetaStub) -> None:
    ana = await hub.agent("ana")
    conv = await hub.assigned_whatsapp(ana)
    photo = files.jpeg()
    made = await upload(hub, "ana", conv.id, photo, "C:\\fotos\\produto.jpg")
    assert made.status_code == 201, made.text
    answer = made.json()
    assert (answer["kind"], answer["mime_type"], answer["size"], answer["filename"]) == ("image", "image/jpeg", len(photo), "produto.jpg")
    result = await ana.call(p.SendMedia, conversation_id=conv.id, upload_id=answer["upload_id"], caption="Este aqui?")
    message = result.message
    assert message.kind == "image" and message.media.state == "ready" and message.media.thumbnail
    assert message.meta["caption"] == "Este aqui?" and result.conversation.preview_kind == "image"
    await sent_ok(ana, message.id)
    [(media_id, uploaded)] = meta.uploaded.items()
    assert (uploaded.data, uploaded.mime_type) == (photo, "image/jpeg")
    [sent] = meta.accepted
    assert sent.body["type"] == "image" and sent.body["image"] == {"id": media_id, "caption": "Este aqui?"}
    assert sent.token == "EAAtoken-wa"


async def test_a_pdf_goes_as_a_document_with_its_name(hub: Hub, meta: MetaStub) -> None:
    ana = await hub.agent("ana")
    conv = await hub.assigned_whatsapp(ana)
    answer = (await upload(hub, "ana", conv.id, files.PDF, "fatura.pdf")).json()
    assert (answer["kind"], answer["mime_type"]) == ("document", "application/pdf")
    result = await ana.call(p.SendMedia, conversation_id=conv.id, upload_id=answer["upload_id"])
    await sent_ok(ana, result.message.id)
    [uploaded] = meta.uploaded.values()
    assert (uploaded.data, uploaded.mime_type, uploaded.filename) == (files.PDF, "application/pdf", "fatura.pdf")
    assert meta.accepted[0].body["document"]["filename"] == "fatura.pdf"


async def test_sending_the_same_upload_again_is_the_same_message(hub: Hub, meta: MetaStub) -> None:
    ana = await hub.agent("ana")
    conv = await hub.assigned_whatsapp(ana)
    upload_id = (await upload(hub, "ana", conv.id, files.PDF, "a.pdf")).json()["upload_id"]
    first = await ana.call(p.SendMedia, conversation_id=conv.id, upload_id=upload_id)
    again = await ana.call(p.SendMedia, conversation_id=conv.id, upload_id=upload_id)  # the ack was lost: retry
    assert again.message.id == first.message.id
    await sent_ok(ana, first.message.id)
    thread = await ana.call(p.Open, conversation_id=conv.id)
    assert [m.kind for m in thread.messages] == ["text", "document"]
    assert len(await meta.wait_sent(1)) == 1 and len(meta.uploaded) == 1


@pytest.mark.parametrize(
    ("data", "name", "why"),
    [
        (b"<html><script>alert(1)</script></html>", "photo.jpg", "does not take"),
        (files.webp_sticker(), "sticker.webp", "does not take image/webp"),
        (files.noisy_jpeg(250_000), "big.jpg", "over the"),
        (b"", "empty.pdf", "empty"),
    ],
)
async def test_a_file_the_channel_cannot_carry_is_refused_before_it_is_kept(hub: Hub, data: bytes, name: str, why: str) -> None:
    ana = await hub.agent("ana")
    conv = await hub.assigned_whatsapp(ana)
    refused = await upload(hub, "ana", conv.id, data, name)
    assert refused.status_code == 400 and refused.json()["code"] == errors.MEDIA_REFUSED and why in refused.json()["message"]
    assert await hub.node.blobs.usage() == 0


async def test_only_the_one_who_may_send_uploads_and_sends(hub: Hub) -> None:
    ana = await hub.agent("ana")
    bruno = await hub.agent("bruno")
    conv = await hub.assigned_whatsapp(ana)
    assert (await upload(hub, "bruno", conv.id, files.PDF, "a.pdf")).json()["code"] == errors.NOT_ASSIGNEE
    assert (await upload(hub, "carla", conv.id, files.PDF, "a.pdf")).status_code == 404
    upload_id = (await upload(hub, "ana", conv.id, files.PDF, "a.pdf")).json()["upload_id"]
    with pytest.raises(CommandError) as theirs:
        await bruno.call(p.SendMedia, conversation_id=conv.id, upload_id=upload_id)
    assert theirs.value.code == errors.FORBIDDEN
    forged = upload_id[:-4] + ("0000" if not upload_id.endswith("0000") else "1111")
    with pytest.raises(CommandError) as bad:
        await ana.call(p.SendMedia, conversation_id=conv.id, upload_id=forged)
    assert bad.value.code == errors.INVALID_ARGUMENT
    with pytest.raises(CommandError) as audio_caption:
        note = (await upload(hub, "ana", conv.id, files.ogg_opus(1.0), "n.ogg")).json()["upload_id"]
        await ana.call(p.SendMedia, conversation_id=conv.id, upload_id=note, caption="hi")
    assert audio_caption.value.code == errors.MEDIA_REFUSED


async def test_a_messenger_image_goes_as_an_attachment_without_caption(hub: Hub, meta: MetaStub) -> None:
    bruno = await hub.agent("bruno")
    conv = await hub.assigned_messenger(bruno)
    photo = files.jpeg(320, 240)
    upload_id = (await upload(hub, "bruno", conv.id, photo, "foto.jpg")).json()["upload_id"]
    with pytest.raises(CommandError) as captioned:
        await bruno.call(p.SendMedia, conversation_id=conv.id, upload_id=upload_id, caption="look")
    assert captioned.value.code == errors.MEDIA_REFUSED
    result = await bruno.call(p.SendMedia, conversation_id=conv.id, upload_id=upload_id)
    await bruno.event(p.MessageUpdated, lambda e: e.message.id == result.message.id and e.message.status == "sent")
    [sent] = meta.accepted
    assert sent.path.endswith("/me/messages") and sent.file is not None
    assert (sent.file.data, sent.file.mime_type) == (photo, "image/jpeg")
    message: dict[str, Any] = sent.body["message"]
    assert message["attachment"]["type"] == "image" and message["metadata"] == f"switchboard:{result.message.id}"
