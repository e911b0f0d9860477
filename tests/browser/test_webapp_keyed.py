"""The web app updates only what changed: a list update rebuilds the one row it
touches (the others keep their DOM nodes), and a new message leaves the
thread's earlier messages alone. Checked by tagging nodes in the page and
seeing which tags survive a live update."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import OpenAgent, row
from tests.conftest import Running

TAG = "el => { el.dataset.kept = 'yes'; }"


async def kept(page: Page, selector: str) -> bool:
    return await page.locator(selector).evaluate("el => el.dataset.kept === 'yes'")


async def test_a_list_update_rebuilds_only_its_row(running: Running, agent_page: OpenAgent) -> None:
    ana = await agent_page("ana")
    first = (await running.inbound("first", address="5511900000101"))["conversation_id"]
    second = (await running.inbound("second", address="5511900000102"))["conversation_id"]
    third = (await running.inbound("third", address="5511900000103"))["conversation_id"]
    for cid in (first, second, third):
        await expect(row(ana, cid)).to_be_visible()
        await row(ana, cid).evaluate(TAG)
    await ana.locator("#list section.group.whatsapp").evaluate(TAG)

    await running.inbound("second, again", address="5511900000102")  # waits behind the others now: the end of the Inbox
    await expect(row(ana, second)).to_contain_text("second, again")
    assert await kept(ana, f'#list li[data-conv-id="{first}"]')
    assert await kept(ana, f'#list li[data-conv-id="{third}"]')
    assert not await kept(ana, f'#list li[data-conv-id="{second}"]')  # rebuilt: it shows something new
    assert await kept(ana, "#list section.group.whatsapp")
    order = await ana.locator("#list li[data-conv-id]").evaluate_all("els => els.map(e => e.dataset.convId)")
    assert order == [first, third, second]
    await expect(ana.locator("#list .group-count")).to_have_text("3")


async def test_a_new_message_leaves_the_earlier_ones_alone(running: Running, agent_page: OpenAgent) -> None:
    ana = await agent_page("ana")
    cid = (await running.inbound("one", address="5511900000201"))["conversation_id"]
    await running.inbound("two", address="5511900000201")
    await row(ana, cid).click()
    await expect(ana.locator("#thread .message")).to_have_count(2)
    await ana.locator("#thread .message").first.evaluate(TAG)

    await running.inbound("three", address="5511900000201")
    await expect(ana.locator("#thread .message")).to_have_count(3)
    assert await kept(ana, "#thread .message >> nth=0")
    await expect(ana.locator("#thread .message").last).to_contain_text("three")
