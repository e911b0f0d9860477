"""The Start-conversation and template dialogs when the server's answer is
lost: the page sends the same command again with the same idempotency key
once its connection is back, and the contact gets one message, not two (as
the composer's send, tests/browser/test_workspace.py). Real Chromium, a real
node; the ack dropped on the wire with Playwright's ``route_web_socket``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from playwright.async_api import Page, WebSocketRoute, expect

from tests.browser.conftest import OpenAgent, row
from tests.conftest import Running


class DropFirstAck:
    """Routes the page's socket; the first answer to a command of ``kind``
    never arrives (the socket is closed instead)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.sent: list[dict[str, Any]] = []
        self.acks: list[dict[str, Any]] = []
        self._closing: list[asyncio.Future[None]] = []

    def __call__(self, ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        ids: set[str] = set()

        def from_page(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame.get("type") == self.kind:
                self.sent.append(frame)
                ids.add(frame["id"])
            server.send(message)

        def from_server(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame.get("type") in ("ack", "error") and frame.get("id") in ids:
                self.acks.append(frame)
                if len(self.acks) == 1:
                    self._closing.append(asyncio.ensure_future(ws.close(code=1011, reason="lost")))
                    return
            ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)

    async def install(self, page: Page) -> None:
        await page.route_web_socket("**/ws", self)
        await page.reload()  # the page's socket now goes through the route
        await expect(page.locator("#conn-state")).to_have_text("Live")


async def test_a_start_whose_answer_is_lost_goes_again_with_its_key_and_starts_once(
    running: Running, agent_page: OpenAgent
) -> None:
    ana = await agent_page("ana")
    drop = DropFirstAck("start")
    await drop.install(ana)
    await ana.locator("#new-conversation").click()
    dialog = ana.locator("#start-dialog")
    await expect(dialog).to_be_visible()
    await dialog.locator("#start-address").fill("+55 11 95555-4444")
    await dialog.locator("#start-params input").fill("Marta")
    await dialog.locator("#start-submit").click()
    await expect(dialog).to_be_hidden()
    await expect(ana.locator(".message.out .bubble-text")).to_have_text("Hello Marta, how can we help?")
    assert len(drop.sent) == 2, "started again after the lost answer"
    assert drop.sent[0]["idempotency_key"] and drop.sent[0]["idempotency_key"] == drop.sent[1]["idempotency_key"]
    assert [a["type"] for a in drop.acks] == ["ack", "ack"]
    first, second = (a["result"]["conversation"]["id"] for a in drop.acks)
    assert first == second  # the repeat answered the first start's conversation
    outbound = [m.text for m in await running.node.store.messages(first, None, 10) if m.direction == "out"]
    assert outbound == ["Hello Marta, how can we help?"]  # once
    await expect(ana.locator("#count-assigned")).to_have_text("1")


async def test_a_template_whose_answer_is_lost_goes_again_with_its_key_and_out_once(
    running: Running, agent_page: OpenAgent
) -> None:
    ana = await agent_page("ana")
    cid = (await running.inbound("Oi", address="5511955550000"))["conversation_id"]
    await running.node.app.commands.claim(running.node.app.catalog.agents["ana"], cid)
    drop = DropFirstAck("send_template")
    await drop.install(ana)
    await ana.locator("#tab-assigned").click()
    await row(ana, cid).click()
    await ana.locator("#template-button").click()
    dialog = ana.locator("#template-dialog")
    await expect(dialog).to_be_visible()
    await dialog.locator("#template-params input").fill("Marta")
    await dialog.locator("button[type=submit]").click()
    await expect(dialog).to_be_hidden()
    await expect(ana.locator(".message.out .bubble-text")).to_have_text("Hello Marta, how can we help?")
    assert len(drop.sent) == 2 and drop.sent[0]["idempotency_key"] == drop.sent[1]["idempotency_key"]
    assert drop.sent[0]["idempotency_key"] and drop.sent[0]["id"] != drop.sent[1]["id"]
    outbound = [m.text for m in await running.node.store.messages(cid, None, 10) if m.direction == "out"]
    assert outbound == ["Hello Marta, how can we help?"]  # once
