"""A customer's edit and deletion (WhatsApp ``edit`` / ``revoke`` webhooks)
change the message on the agent's screen, live: "edited", or "This message
was deleted" in place of its text; neither adds a message."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from msgspec.structs import replace
from playwright.async_api import expect

from server.channels.signature import HEADER, sign
from server.config import Config, MetaSettings
from tests.browser.conftest import OpenAgent, row
from tests.channels import payloads as pl
from tests.conftest import Running, make_config

SECRET = "browser-test-app-secret"


@pytest.fixture
def config() -> Config:
    return replace(make_config(), meta=MetaSettings(app_secret=SECRET, verify_token="v"))


async def post(running: Running, payload: dict[str, Any]) -> None:
    body = msgspec.json.encode(payload)
    r = await running.http.post(
        f"{running.base}/webhooks/whatsapp", content=body, headers={"Content-Type": "application/json", HEADER: sign(SECRET, body)}
    )
    assert r.status_code == 200, r.text


async def test_an_edit_and_a_deletion_show_on_the_open_thread(running: Running, agent_page: OpenAgent) -> None:
    ana = await agent_page("ana")
    first, second = pl.wamid(), pl.wamid()
    await post(running, pl.wa_inbound(pl.wa_text("Quero o azl", id=first), pl.wa_text("meu cpf é 123", id=second)))
    [conv] = await running.node.store.inbox("sales")
    await row(ana, conv.id).click()
    bubbles = ana.locator("#thread .message .bubble-text")
    await expect(bubbles).to_have_text(["Quero o azl", "meu cpf é 123"])

    edit = {"type": "text", "text": {"body": "Quero o azul"}}
    await post(running, pl.wa_inbound(pl.wa_message("edit", {"original_message_id": first, "message": edit})))
    await post(running, pl.wa_inbound(pl.wa_message("revoke", {"original_message_id": second})))
    await expect(bubbles).to_have_text(["Quero o azul", "This message was deleted"])
    await expect(ana.locator("#thread .message .edited")).to_have_count(1)
    await expect(ana.locator("#thread .message")).to_have_count(2)  # no "[unsupported message]", no new bubble
