"""The WhatsApp 24-hour session, shortened to seconds: the lock reaches the
agent's screen live at expiry and lifts live when the contact writes."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from server.config import Config
from tests.browser.conftest import OpenAgent, row, shot_path
from tests.conftest import Running, make_config

WINDOW = 3.0


@pytest.fixture
def config() -> Config:
    return make_config(window=WINDOW)


async def test_lock_banner_appears_at_expiry_and_clears_when_the_contact_writes(
    running: Running, agent_page: OpenAgent
) -> None:
    ana = await agent_page("ana")
    cid = (await running.inbound("Oi, tudo bem?"))["conversation_id"]
    await row(ana, cid).click()
    await ana.locator("#claim").click()
    banner = ana.locator("#lock-banner")
    editor = ana.locator("#editor")
    timer = ana.locator("#session-timer")
    await expect(editor).to_be_enabled()
    await expect(banner).to_be_hidden()
    await expect(timer).to_contain_text("Session closes in 0:00:0")  # a visible countdown

    # Nothing from the contact for WINDOW seconds: the server locks, live.
    await expect(banner).to_be_visible(timeout=WINDOW * 1000 + 10_000)
    await expect(banner).to_contain_text("24-hour session has closed")
    await expect(editor).to_be_disabled()
    await expect(ana.locator("#send")).to_be_disabled()
    await expect(ana.locator("#template-button")).to_be_visible()
    await expect(timer).to_be_hidden()
    await expect(row(ana, cid).locator(".lock-dot")).to_be_visible()
    # The lock is a timeline entry in the thread, live (issue 13).
    locked = ana.locator('.timeline-entry[data-event="locked"]')
    await expect(locked).to_have_count(1)
    await expect(locked).to_contain_text("The reply window closed: only a template can be sent")
    await ana.screenshot(path=shot_path("session-locked"))

    await running.inbound("Ainda estou aqui!")
    await expect(banner).to_be_hidden()
    # The unlock too, just before the message that reopened the window.
    unlocked = ana.locator('.timeline-entry[data-event="unlocked"]')
    await expect(unlocked).to_contain_text("The customer wrote again: the reply window is open")
    assert int(await unlocked.get_attribute("data-seq") or 0) == int(await locked.get_attribute("data-seq") or 0) + 1
    await expect(editor).to_be_enabled()
    await expect(timer).to_be_visible()
    await editor.fill("Que bom! Como posso ajudar?")
    await ana.keyboard.press("Shift+Enter")
    await expect(ana.locator(".message.out")).to_have_count(1)
