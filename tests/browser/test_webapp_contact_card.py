"""The WhatsApp Snapshot card shows the contact's address as the server sends
it: an E.164 number already carries its "+" (no "++55…")."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import OpenAgent, row
from tests.conftest import Running


async def test_the_snapshot_card_shows_the_e164_number_once_prefixed(running: Running, agent_page: OpenAgent) -> None:
    ana = await agent_page("ana")
    cid = (await running.inbound("oi", address="5511955554444"))["conversation_id"]
    await row(ana, cid).click()
    await ana.locator("#show-snapshot").click()
    await expect(ana.locator("#snapshot-body dd")).to_have_text("+5511955554444")
