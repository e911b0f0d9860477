"""The web app on a phone (400 px), a tablet (768 px) and a laptop (1280 px):
measured, not eyeballed. The thread keeps a usable width, no control is cut
off, the header's countdown never covers the touchpoint, a phone shows one
panel at a time (list ⇄ conversation, with a back button), and a phone's
keyboard alone takes a conversation from claim to wrap-up."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import OpenAgent, row, shot_path
from tests.conftest import Running

# Every visible control of the app with its box, and the boxes of the header's parts.
BOXES = """() => {
  const box = (el) => { const r = el.getBoundingClientRect(); return { left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width }; };
  const shown = (el) => el.checkVisibility({ visibilityProperty: true });
  const controls = [...document.querySelectorAll("#app button, #app input, #app select, #app textarea")]
    .filter(shown)
    .map((el) => ({ id: el.id || el.className || el.tagName, ...box(el) }));
  const part = (id) => { const el = document.getElementById(id); return el && shown(el) ? box(el) : null; };
  return {
    width: innerWidth,
    controls,
    thread: part("thread"),
    list: part("list"),
    timer: part("session-timer"),
    touchpoint: part("conv-touchpoint"),
    name: part("conv-name"),
    close: part("close-conv"),
  };
}"""


def overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


@pytest.mark.parametrize(("width", "height"), [(400, 800), (768, 1024), (1280, 800)])
async def test_the_conversation_fits_the_screen(running: Running, agent_page: OpenAgent, width: int, height: int) -> None:
    text = "Bom dia! Preciso trocar o endereço de entrega do pedido 48213, porque vou estar viajando na semana que vem e não vai ter ninguém em casa para receber."
    made = await running.inbound(text, address="5511987650001")
    cid = made["conversation_id"]
    page = await agent_page("ana", width=width, height=height)
    phone = width < 700
    await expect(page.locator("#list")).to_be_visible()
    await row(page, cid).click()
    await page.locator("#claim").click()
    await page.locator("#editor").fill("Claro! Qual é o novo endereço?")
    await page.locator("#send").click()
    await expect(page.locator("#thread .message.out")).to_have_count(1)
    await expect(page.locator("#session-timer")).to_be_visible()

    b = await page.evaluate(BOXES)
    cut = [c for c in b["controls"] if c["left"] < -0.5 or c["right"] > b["width"] + 0.5 or c["width"] < 24]
    assert cut == [], f"controls cut off or squeezed at {width} px"
    assert b["thread"]["width"] >= min(width - 40, 420), b["thread"]
    for part in ("touchpoint", "name", "close"):
        assert not overlap(b["timer"], b[part]), f"the countdown covers the {part} at {width} px"
    assert not overlap(b["close"], b["name"])
    # A long message spreads over most of the thread: lines of words, not a character per line.
    bubble = await page.locator("#thread .message.in .bubble").bounding_box()
    assert bubble is not None and bubble["width"] >= min(280, 0.6 * b["thread"]["width"]), (bubble, b["thread"])

    if phone:  # one panel at a time
        assert b["list"] is None
        await expect(page.locator("#back-to-list")).to_be_visible()
        await page.screenshot(path=str(shot_path("webapp-400-conversation")))
        await page.locator("#back-to-list").click()
        await expect(page.locator("#list")).to_be_visible()
        await expect(page.locator("#conversation")).to_be_hidden()
        await expect(row(page, cid)).to_be_visible()
        await page.screenshot(path=str(shot_path("webapp-400-list")))
    else:
        assert b["list"] is not None and b["list"]["width"] >= 250
        await expect(page.locator("#back-to-list")).to_be_hidden()
        await page.screenshot(path=str(shot_path(f"webapp-{width}")))


async def focused(page: Page) -> str:
    result: str = await page.evaluate("document.activeElement?.id || document.activeElement?.dataset.convId || ''")
    return result


async def tab_to(page: Page, element_id: str, *, back: bool = False, limit: int = 60) -> None:
    """Press Tab (or Shift+Tab) until `element_id` has the focus, as a keyboard user would."""
    for _ in range(limit):
        if await focused(page) == element_id:
            return
        await page.keyboard.press("Shift+Tab" if back else "Tab")
    raise AssertionError(f"#{element_id} cannot be reached with the keyboard (focus on {await focused(page)!r})")


async def test_a_phone_keyboard_takes_a_conversation_from_claim_to_wrap_up(running: Running, agent_page: OpenAgent) -> None:
    cid = (await running.inbound("Olá, alguém aí?", address="5511987650002"))["conversation_id"]
    page = await agent_page("ana", width=400, height=800)
    await expect(row(page, cid)).to_be_visible()

    await tab_to(page, cid)  # the list's row
    await page.keyboard.press("Enter")
    await expect(page.locator("#list")).to_be_hidden()  # the conversation took the screen
    await expect(page.locator("#back-to-list")).to_be_focused()  # and the keyboard with it

    await tab_to(page, "claim")
    await page.keyboard.press("Enter")
    await expect(page.locator("#editor")).to_be_focused()
    await page.keyboard.type("Sim, pode falar!")
    await page.keyboard.press("Shift+Enter")
    await expect(page.locator("#thread .message.out .bubble-text")).to_have_text("Sim, pode falar!")

    await tab_to(page, "end-chat", back=True)
    await page.keyboard.press("Enter")
    await expect(page.locator("#end-cancel")).to_be_focused()  # End Chat asks; the safe answer first
    await tab_to(page, "end-confirm")
    await page.keyboard.press("Enter")
    await expect(page.locator("#wrapup")).to_be_visible()
    await tab_to(page, "wrapup-disposition")
    await page.keyboard.press("ArrowDown")  # the first disposition
    await tab_to(page, "wrapup-note")
    await page.keyboard.type("endereço atualizado")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")  # Save wrap-up
    await expect(page.locator("#wrapup-done")).to_contain_text("Resolved")

    await page.keyboard.press("Escape")  # back to the list, on the row
    await expect(page.locator("#list")).to_be_visible()
    stored = await running.node.store.get_conversation(cid)
    assert stored is not None and stored.status == "ended" and stored.assignee_id == "ana"
