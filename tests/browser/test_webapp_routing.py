"""Routing in the web app, in real Chromium: the status control, an offer
ringing and accepted, a transfer with a note, the timeline in the thread,
and the supervisor's live floor (two agents and a supervisor)."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from server.config import Config
from tests.browser.conftest import OpenAgent, row, shot_path
from tests.conftest import Running
from tests.server.test_routing import routed_config


@pytest.fixture
def config() -> Config:
    return routed_config(offer_timeout_seconds=60)


async def go_available(page: Page) -> None:
    await expect(page.locator("#status-select")).to_have_value("offline")
    await page.locator("#status-select").select_option("available")
    await expect(page.locator("#status-dot")).to_have_attribute("data-status", "available")


async def test_an_offer_rings_and_is_accepted_with_the_timeline_inline(running: Running, agent_page: OpenAgent) -> None:
    ana = await agent_page("ana")
    await go_available(ana)
    cid = (await running.inbound("Olá, quero saber do meu pedido", address="5511987650001"))["conversation_id"]
    offer = ana.locator(f'.offer[data-conv-id="{cid}"]')
    await expect(offer).to_contain_text("New conversation for you")
    await expect(offer).to_contain_text("+55 11 98765-0001")
    await expect(offer.locator(".offer-countdown")).to_contain_text("seconds left")
    await ana.screenshot(path=shot_path("routing-offer"))
    await offer.locator("button[data-action=accept]").click()
    await expect(offer).to_have_count(0)
    await ana.locator("#tab-assigned").click()
    await row(ana, cid).click()
    entries = ana.locator(".timeline-entry")
    await expect(entries).to_have_count(2)
    await expect(entries.nth(0)).to_contain_text("Offered to Ana Souza")
    await expect(entries.nth(1)).to_contain_text("Ana Souza accepted")


async def test_a_transfer_with_a_note_reaches_the_other_agent(running: Running, agent_page: OpenAgent) -> None:
    ana = await agent_page("ana")
    await go_available(ana)
    cid = (await running.inbound("Preciso de um reembolso", address="5511987650002"))["conversation_id"]
    await ana.locator(f'.offer[data-conv-id="{cid}"] button[data-action=accept]').click()
    bruno = await agent_page("bruno")
    await go_available(bruno)
    await ana.locator("#tab-assigned").click()
    await row(ana, cid).click()
    await ana.locator("#transfer").click()
    await ana.locator("#transfer-target").select_option("agent:bruno")
    await ana.locator("#transfer-note").fill("Wants a refund")
    await ana.locator("#transfer-form button[type=submit]").click()
    offer = bruno.locator(f'.offer[data-conv-id="{cid}"]')
    await expect(offer).to_contain_text("Ana Souza is transferring a conversation to you")
    await expect(offer.locator(".offer-note")).to_have_text("Wants a refund")
    await offer.locator("button[data-action=accept]").click()
    await expect(row(ana, cid)).to_have_count(0)  # gone from Ana's list
    await bruno.locator("#tab-assigned").click()
    await row(bruno, cid).click()
    last = bruno.locator(".timeline-entry").last
    await expect(last).to_contain_text("Bruno Díaz accepted")
    await expect(last.locator(".timeline-note")).to_have_text("Wants a refund")
    await expect(bruno.locator(".timeline-entry", has_text="Ana Souza transferred it to Bruno Díaz")).to_have_count(1)


async def test_the_supervisor_floor_is_live_and_assigns_in_one_click(running: Running, agent_page: OpenAgent) -> None:
    sofia = await agent_page("sofia")
    await sofia.locator("#floor-toggle").click()
    sales = sofia.locator('.floor-queue[data-queue="sales"]')
    await expect(sales.locator(".floor-waiting")).to_have_text("0 waiting")
    cid = (await running.inbound("Alguém aí?", address="5511987650003"))["conversation_id"]
    await expect(sales.locator(".floor-waiting")).to_have_text("1 waiting")  # nobody available: it waits
    await expect(sales.locator('tr[data-agent="ana"]')).to_contain_text("Offline")
    ana = await agent_page("ana")
    await go_available(ana)
    await expect(sales.locator(".floor-ringing")).to_have_text("1 ringing")  # pushed: it rings for Ana
    await expect(sales.locator('tr[data-agent="ana"]')).to_contain_text("20 / 40")
    await ana.locator(f'.offer[data-conv-id="{cid}"] button[data-action=decline]').click()
    await ana.locator("#status-select").select_option("away")
    await expect(sales.locator(".floor-waiting")).to_have_text("1 waiting")
    await sofia.screenshot(path=shot_path("routing-floor"))
    await sales.locator("#floor-assign-sales").select_option("bruno")
    await sales.locator(f'button[data-assign="{cid}"]').click()
    await expect(sales.locator(".floor-waiting")).to_have_text("0 waiting")
