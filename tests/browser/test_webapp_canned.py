"""Canned responses in the web app, in Chromium against a real node: a
supervisor keeps a queue's list, an agent's open screen uses it live."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import OpenAgent, row, shot_path
from tests.browser.test_webapp import claim_from_inbox
from tests.conftest import Running, token


async def save_in_manager(page: Page, shortcut: str, text: str, *, list_id: str | None = None) -> None:
    dialog = page.locator("#canned-dialog")
    if not await dialog.is_visible():
        await page.locator("#canned-button").click()
    if list_id is not None:
        await page.locator("#canned-list").select_option(list_id)
    await page.locator("#canned-shortcut").fill(shortcut)
    await page.locator("#canned-text-input").fill(text)
    await page.locator("#canned-save").click()
    await expect(page.locator("#canned-error")).to_have_text("")
    await expect(page.locator("#canned-rows")).to_contain_text(text)


async def test_a_supervisors_edit_reaches_an_open_screen_which_inserts_it_filled(running: Running, agent_page: OpenAgent) -> None:
    ana = await agent_page("ana")
    sofia = await agent_page("sofia")
    cid = (await running.inbound("Oi, bom dia", address="5511987650001"))["conversation_id"]
    r = await running.http.put(
        f"{running.base}/api/contacts/whatsapp/5511987650001",
        json={"name": "Maria José Pereira"},
        headers={"authorization": f"Bearer {token('sofia')}"},
    )
    assert r.status_code == 200
    await save_in_manager(sofia, "ola", "Olá {{contact.name}}!", list_id="queue:sales")

    await claim_from_inbox(ana, cid)
    await expect(ana.locator("#conv-name")).to_have_text("Maria José Pereira")
    editor = ana.locator("#editor")
    await editor.click()
    await editor.press_sequentially("/OL")  # accent- and case-insensitive
    menu = ana.locator("#canned-menu")
    await expect(menu).to_be_visible()
    await expect(menu.locator("[role=option]")).to_have_count(1)
    await expect(menu).to_contain_text("Olá Maria José Pereira!")

    # The supervisor edits the text while Ana's menu is open: it follows, live.
    await sofia.locator("#canned-rows .canned-edit").first.click()
    await save_in_manager(sofia, "ola", "Bom dia, {{contact.name}}! Aqui é {{agent.name}}.")
    await expect(menu).to_contain_text("Bom dia, Maria José Pereira! Aqui é Ana Souza.")
    await editor.press("Enter")
    await expect(menu).to_be_hidden()
    await expect(editor).to_have_value("Bom dia, Maria José Pereira! Aqui é Ana Souza.")

    # Esc closes the menu, not the conversation; a click inserts as Enter does.
    await editor.press_sequentially(" /o")
    await expect(menu).to_be_visible()
    await editor.press("Escape")
    await expect(menu).to_be_hidden()
    await expect(ana.locator("#conv-view")).to_be_visible()
    await editor.press_sequentially("l")
    await menu.locator("[role=option]").first.click()
    await expect(editor).to_have_value("Bom dia, Maria José Pereira! Aqui é Ana Souza. Bom dia, Maria José Pereira! Aqui é Ana Souza.")


async def test_an_agent_keeps_a_list_of_their_own_and_not_the_queues(running: Running, agent_page: OpenAgent) -> None:
    ana = await agent_page("ana")
    await ana.locator("#canned-button").click()
    options = await ana.locator("#canned-list option").evaluate_all("os => os.map(o => o.value)")
    assert options == ["agent:ana"]  # the queue's list is the supervisors'
    await save_in_manager(ana, "/tchau", "Até logo, {{contact.name}}.")
    await expect(ana.locator("#canned-rows")).to_contain_text("/tchau")
    await ana.locator("#canned-shortcut").fill("TCHAU")
    await ana.locator("#canned-text-input").fill("again")
    await ana.locator("#canned-save").click()
    await expect(ana.locator("#canned-error")).to_contain_text("already used")
    await ana.locator("#canned-rows .canned-delete").first.click()
    await expect(ana.locator("#canned-rows")).not_to_contain_text("/tchau")
    cid = (await running.inbound("Olá"))["conversation_id"]
    await expect(row(ana, cid)).to_be_visible()


async def test_the_slash_list_screenshot(running: Running, agent_page: OpenAgent) -> None:
    """docs/img/webapp-canned.png: the `/` list open over the editor, filtered as typed."""
    sofia = await agent_page("sofia")
    for shortcut, text in (
        ("ola", "Olá {{contact.name}}! Aqui é {{agent.name}}, como posso ajudar?"),
        ("obrigado", "Obrigado pelo contato, {{contact.name}}!"),
        ("horario", "Atendemos de segunda a sexta, das 8h às 18h."),
        ("prazo", "O prazo de entrega é de 3 a 5 dias úteis."),
    ):
        await save_in_manager(sofia, shortcut, text, list_id="queue:sales")
    ana = await agent_page("ana")
    cid = (await running.inbound("Oi, qual o prazo de entrega?", address="5511987650002"))["conversation_id"]
    named = await running.http.put(
        f"{running.base}/api/contacts/whatsapp/5511987650002",
        json={"name": "Maria José"},
        headers={"authorization": f"Bearer {token('sofia')}"},
    )
    assert named.status_code == 200
    await claim_from_inbox(ana, cid)
    editor = ana.locator("#editor")
    await editor.click()
    await editor.press_sequentially("/o")
    menu = ana.locator("#canned-menu")
    await expect(menu.locator("[role=option]")).to_have_count(4)  # starting with "o" first, then holding it
    await expect(menu).to_contain_text("Olá Maria José! Aqui é Ana Souza, como posso ajudar?")
    await ana.screenshot(path=shot_path("webapp-canned"))
