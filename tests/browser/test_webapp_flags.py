"""The buttons follow what the server says each agent may do (the summary's
``can`` grants, server/core/permissions.py): the web app holds no rule."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import OpenAgent, row
from tests.conftest import Running

ACTIONS = ("#claim", "#assign-box", "#to-inbox", "#end-chat")


async def shown(page: Page) -> list[str]:
    """The conversation's action buttons on screen, after the pane settled."""
    await expect(page.locator("#conv-name")).not_to_have_text("Loading…")
    return [a for a in ACTIONS if await page.locator(a).is_visible()]


async def test_one_conversation_offers_each_agent_what_the_server_grants_them(
    running: Running, agent_page: OpenAgent
) -> None:
    ana = await agent_page("ana")
    bruno = await agent_page("bruno")
    sofia = await agent_page("sofia")
    cid = (await running.inbound("Preciso trocar o endereço", address="5511900000301"))["conversation_id"]
    for page in (ana, bruno, sofia):
        await row(page, cid).click()
    # In the Inbox: the queue's agents may take it; a supervisor may also
    # assign, end or answer it (server/core/conversation.py lets supervisors act on any).
    await expect(ana.locator("#claim")).to_be_visible()
    assert await shown(ana) == ["#claim"]
    await expect(ana.locator("#editor")).to_be_disabled()
    assert await shown(sofia) == ["#claim", "#assign-box", "#end-chat"]
    await expect(sofia.locator("#editor")).to_be_enabled()

    await ana.locator("#claim").click()
    await expect(ana.locator("#to-inbox")).to_be_visible()
    assert await shown(ana) == ["#to-inbox", "#end-chat"]
    await expect(ana.locator("#editor")).to_be_enabled()
    # Bruno lost it; Sofia keeps it open: she may still reply, hand it back,
    # end it or reassign it (the server grants supervisors that), and she is told whose it is.
    await expect(bruno.locator("#conv-notice")).to_contain_text("Ana Souza took this conversation.")
    for action in ACTIONS:
        await expect(bruno.locator(action)).to_be_hidden()
    await expect(sofia.locator("#conv-notice")).to_contain_text("Assigned to Ana Souza")
    await expect(sofia.locator("#to-inbox")).to_be_visible()
    assert await shown(sofia) == ["#assign-box", "#to-inbox", "#end-chat"]
    await expect(sofia.locator("#editor")).to_be_enabled()
    # The choices of an assignment are the server's list for the queue, less its holder.
    options = await sofia.locator("#assign-select option").evaluate_all("os => os.map(o => o.value)")
    assert options == ["bruno", "sofia"]

    # Ended: nothing left to do but the wrap-up, for Ana (and a supervisor).
    await ana.locator("#end-chat").click()
    await ana.locator("#end-confirm").click()
    await expect(ana.locator("#wrapup")).to_be_visible()
    assert await shown(ana) == []
    await expect(ana.locator("#editor")).to_be_disabled()
