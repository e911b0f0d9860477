"""What customers send, in Chromium: a photo and a voice note arrive by
webhook, are fetched from the Graph API stand-in, and show in the open
thread: the thumbnail decoded (``naturalWidth > 0``) and opening full size
from the keyboard (Esc closes it), the voice note's player with its length
read by the browser, the list saying "🎤 Voice message (0:14)"; a location
with its map link and a reaction on the message it reacts to."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from msgspec.structs import replace
from playwright.async_api import expect

from protocol import messages as p
from server.channels.signature import HEADER, sign
from server.config import Config, MediaSettings, MetaSettings
from tests.browser.conftest import OpenAgent, row
from tests.channels import payloads as pl
from tests.channels.metastub import MetaStub, StubMedia
from tests.conftest import Running, make_config
from tests.fixtures import media as files

SECRET = "browser-test-app-secret"
TOKEN = "EAAtoken-browser"


@pytest.fixture
async def stub() -> AsyncIterator[MetaStub]:
    meta = MetaStub()
    await meta.start()
    yield meta
    await meta.stop()


@pytest.fixture
def config(stub: MetaStub) -> Config:
    config = make_config()
    touchpoints = [replace(tp, access_token=TOKEN) if tp.channel == "whatsapp" else tp for tp in config.touchpoints]
    return replace(
        config,
        touchpoints=touchpoints,
        meta=MetaSettings(app_secret=SECRET, verify_token="v", graph_api_base=stub.base),
        media=MediaSettings(backoff_seconds=0.01),
    )


async def post(running: Running, payload: dict[str, Any]) -> None:
    body = msgspec.json.encode(payload)
    r = await running.http.post(
        f"{running.base}/webhooks/whatsapp", content=body, headers={"Content-Type": "application/json", HEADER: sign(SECRET, body)}
    )
    assert r.status_code == 200, r.text


async def test_a_photo_and_a_voice_note_show_in_the_thread(running: Running, stub: MetaStub, agent_page: OpenAgent) -> None:
    photo, note = files.jpeg(), files.ogg_opus(14.0)
    stub.media["5001"] = StubMedia(data=photo, mime_type="image/jpeg", token=TOKEN)
    stub.media["5002"] = StubMedia(data=note, mime_type="audio/ogg; codecs=opus", token=TOKEN)
    ana = await agent_page("ana")
    text_id = pl.wamid()
    await post(
        running,
        pl.wa_inbound(
            pl.wa_text("Olha isso", id=text_id),
            pl.wa_message("image", {"id": "5001", "mime_type": "image/jpeg", "sha256": hashlib.sha256(photo).hexdigest(), "caption": "Peça quebrada"}),
            pl.wa_message("location", {"latitude": -23.55052, "longitude": -46.633308, "name": "Loja Centro"}),
            pl.wa_message("reaction", {"message_id": text_id, "emoji": "👍"}),
            pl.wa_message("audio", {"id": "5002", "mime_type": "audio/ogg; codecs=opus", "voice": True}),
        ),
    )
    [conv] = await running.node.store.inbox("sales")
    await expect(row(ana, conv.id).locator(".row-preview")).to_have_text("🎤 Voice message (0:14)")
    await row(ana, conv.id).click()

    thumb = ana.locator("#thread .media-thumb-img")
    await expect(thumb).to_have_count(1)
    await ana.wait_for_function("() => { const i = document.querySelector('#thread .media-thumb-img'); return i && i.complete && i.naturalWidth > 0; }")
    assert await thumb.evaluate("i => i.naturalWidth") == 320  # the thumbnail, not the 640 px photo
    await expect(ana.locator("#thread .bubble-text", has_text="Peça quebrada")).to_have_count(1)

    audio = ana.locator("#thread audio.media-audio")
    await expect(audio).to_have_count(1)
    await ana.wait_for_function("() => { const a = document.querySelector('#thread audio.media-audio'); return a && Number.isFinite(a.duration) && a.duration > 0; }")
    seconds = await audio.evaluate("a => a.duration")
    assert 13.5 <= seconds <= 14.5, seconds
    await expect(ana.locator("#thread .media-duration")).to_have_text("0:14")

    await expect(ana.locator("#thread .media-map")).to_have_attribute("href", "https://www.openstreetmap.org/?mlat=-23.550520&mlon=-46.633308#map=17/-23.550520/-46.633308")
    await expect(ana.locator("#thread .message:has(.bubble-text:text('Olha isso')) .reaction")).to_have_text("👍")
    await expect(ana.locator("#thread .message")).to_have_count(4)  # the reaction is not a message of its own

    await ana.locator("#thread .media-thumb").focus()
    await ana.keyboard.press("Enter")
    viewer = ana.locator("#media-viewer")
    await expect(viewer).to_be_visible()
    await ana.wait_for_function("() => { const i = document.querySelector('#media-viewer .media-full'); return i && i.complete && i.naturalWidth === 640; }")
    await ana.keyboard.press("Escape")
    await expect(viewer).to_be_hidden()


async def test_an_agent_sends_a_photo_and_a_pdf_and_is_told_why_a_file_cannot_go(
    running: Running, stub: MetaStub, agent_page: OpenAgent
) -> None:
    await post(running, pl.wa_inbound(pl.wa_text("Pode mandar a foto?")))
    [conv] = await running.node.store.inbox("sales")
    other_screen = await running.agent("ana")
    await other_screen.call(p.Claim, conversation_id=conv.id)
    ana = await agent_page("ana", fragment=f"#/c/{conv.id}")
    await expect(ana.locator("#thread .bubble-text")).to_have_text(["Pode mandar a foto?"])
    editor, attach, tray = ana.locator("#editor"), ana.locator("#attach-input"), ana.locator("#attach-tray")

    photo = files.jpeg()
    await attach.set_input_files(files=[{"name": "produto.jpg", "mimeType": "image/jpeg", "buffer": photo}])
    await expect(tray.locator(".attach-ready")).to_be_visible()
    await editor.fill("Este aqui?")
    await ana.locator("#send").click()
    await expect(tray).to_be_hidden()
    await expect(editor).to_have_value("")
    sent = await stub.wait_sent(1)
    assert sent[0].body["type"] == "image" and sent[0].body["image"]["caption"] == "Este aqui?"
    uploaded = stub.uploaded[sent[0].body["image"]["id"]]
    assert (uploaded.data, uploaded.mime_type, uploaded.filename) == (photo, "image/jpeg", "produto.jpg")
    await ana.wait_for_function("() => { const i = document.querySelector('#thread .message.out .media-thumb-img'); return i && i.complete && i.naturalWidth > 0; }")

    await attach.set_input_files(files=[{"name": "fatura.pdf", "mimeType": "application/pdf", "buffer": files.PDF}])
    await expect(tray.locator(".attach-ready")).to_be_visible()
    await ana.locator("#send").click()
    sent = await stub.wait_sent(2)
    assert sent[1].body["type"] == "document" and sent[1].body["document"]["filename"] == "fatura.pdf"
    assert stub.uploaded[sent[1].body["document"]["id"]].data == files.PDF
    await expect(ana.locator("#thread .media-doc-name")).to_have_text(["fatura.pdf"])

    uploads: list[str] = []
    ana.on("request", lambda r: "/api/media/uploads" in r.url and uploads.append(r.url))
    toasts = ana.locator("#toasts")
    await attach.set_input_files(files=[{"name": "big.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8\xff" + bytes(6 * 1024 * 1024)}])
    await expect(toasts).to_contain_text("big.jpg is 6 MB: over the 5 MB limit")
    await attach.set_input_files(files=[{"name": "setup.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ\x90\x00"}])
    await expect(toasts).to_contain_text("setup.exe cannot be sent on WhatsApp")
    assert uploads == [] and await tray.is_hidden()
    # A file whose name and type lie gets past the browser; the server reads its bytes.
    await attach.set_input_files(files=[{"name": "fake.jpg", "mimeType": "image/jpeg", "buffer": b"<html><script>alert(1)</script></html>"}])
    await expect(toasts).to_contain_text("fake.jpg could not be uploaded: WhatsApp does not take")
    assert len(uploads) == 1 and len(stub.uploaded) == 2


async def test_a_quoted_reply_scrolls_to_the_original_loading_older_pages(running: Running, agent_page: OpenAgent) -> None:
    first = pl.wamid()
    older = [pl.wa_text("O primeiro pedido", id=first), *(pl.wa_text(f"mensagem {i}") for i in range(60))]
    await post(running, pl.wa_inbound(*older))
    await post(running, pl.wa_inbound(pl.wa_text("Sobre aquele pedido", context={"from": pl.CUSTOMER, "id": first})))
    original = await running.node.store.message_by_channel_id(first)
    assert original is not None
    ana = await agent_page("ana", fragment=f"#/c/{original.conversation_id}")
    quote = ana.locator("#thread .quote")
    await expect(quote).to_contain_text("O primeiro pedido")
    target = ana.locator(f'[data-message-id="{original.id}"]')
    await expect(target).to_have_count(0)  # not in the first page
    await quote.click()
    await expect(target).to_be_in_viewport()


DROP = """([name, type, bytes, how]) => {
  const data = new DataTransfer();
  data.items.add(new File([new Uint8Array(bytes)], name, { type }));
  if (how === "drop") document.querySelector("#conversation").dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
  else document.querySelector("#editor").dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
}"""


async def test_a_file_dropped_or_pasted_goes_like_a_picked_one_and_cancel_drops_it(
    running: Running, stub: MetaStub, agent_page: OpenAgent
) -> None:
    await post(running, pl.wa_inbound(pl.wa_text("Manda o boleto")))
    [conv] = await running.node.store.inbox("sales")
    await (await running.agent("ana")).call(p.Claim, conversation_id=conv.id)
    ana = await agent_page("ana", fragment=f"#/c/{conv.id}")
    tray = ana.locator("#attach-tray")
    await expect(ana.locator("#thread .bubble-text")).to_have_text(["Manda o boleto"])

    await ana.evaluate(DROP, ["rascunho.pdf", "application/pdf", list(files.PDF), "drop"])
    await expect(tray.locator(".attach-ready")).to_be_visible()
    await tray.locator(".attach-cancel").click()  # changed their mind: nothing goes
    await expect(tray).to_be_hidden()

    await ana.evaluate(DROP, ["boleto.pdf", "application/pdf", list(files.PDF), "paste"])
    await expect(tray.locator(".attach-name")).to_have_text("boleto.pdf")
    await expect(tray.locator(".attach-ready")).to_be_visible()
    await ana.locator("#send").click()
    sent = await stub.wait_sent(1)
    assert len(sent) == 1 and sent[0].body["document"]["filename"] == "boleto.pdf"
