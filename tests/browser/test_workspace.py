"""The agent's workspace for a shift (issue 14): Messenger outbound from the
Start dialog, drafts, wrap-up that cannot be lost, losing a conversation,
alerts and accessibility, in real Chromium against a real node."""

from __future__ import annotations

from playwright.async_api import Page, expect

from protocol import messages as p
from tests.browser.conftest import OpenAgent, row
from tests.conftest import Running


async def open_start_dialog(page: Page, touchpoint: str) -> None:
    await page.locator("#new-conversation").click()
    await expect(page.locator("#start-dialog")).to_be_visible()
    await page.locator("#start-touchpoint").select_option(touchpoint)


async def test_messenger_outbound_starts_inside_the_window_and_says_why_not_outside(
    running: Running, agent_page: OpenAgent
) -> None:
    # Rosa wrote to the Page; Bruno's colleague answered and ended it: her window is still open.
    made = await running.inbound("Do you ship to Recife?", touchpoint="fb", address="psid-51", profile_name="Rosa Lima")
    carla = await running.agent("carla")
    await carla.call(p.Claim, conversation_id=made["conversation_id"])
    await carla.call(p.EndChat, conversation_id=made["conversation_id"])

    bruno = await agent_page("bruno")
    await open_start_dialog(bruno, "fb")
    await expect(bruno.locator("#start-template-box")).to_be_hidden()
    await bruno.locator("#start-address").fill("psid-51")
    await bruno.locator("#start-text").fill("Hi Rosa, yes we do!")
    await bruno.locator("#start-submit").click()
    await expect(bruno.locator("#start-dialog")).to_be_hidden()
    await expect(bruno.locator("#conv-name")).to_have_text("Rosa Lima")
    await expect(bruno.locator(".message.out .bubble-text")).to_have_text("Hi Rosa, yes we do!")

    # Someone who never wrote to the Page: refused, and the dialog says why in plain words.
    await open_start_dialog(bruno, "fb")
    await bruno.locator("#start-address").fill("psid-never")
    await bruno.locator("#start-text").fill("Hello?")
    await bruno.locator("#start-submit").click()
    await expect(bruno.locator("#start-error")).to_contain_text("Messenger only lets a business write to people who wrote")
    await expect(bruno.locator("#start-dialog")).to_be_visible()
