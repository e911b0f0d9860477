"""A desktop notification when the tab is not in front, in real headless
Chromium: the permission granted, the page truly not in front, the real
``Notification`` constructed (counted by a subclass that calls it).

How a page leaves the front in headless Chromium: every page reports
``visibilityState`` "visible" (each is its own window), and Playwright
emulates focus, so ``document.hasFocus()`` is true for all of them. With
focus emulation off (CDP ``Emulation.setFocusEmulationEnabled``), focus is
real: another page brought to the front (``bring_to_front``) takes it, and
the first page's ``hasFocus()`` turns false and it gets ``blur``: what the
app's ``inFront()`` reads."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from tests.conftest import Running, token

COUNT_NOTIFICATIONS = """
(() => {
  const Real = window.Notification;
  if (!Real) return;
  window.__notes = [];
  window.__shown = 0;
  window.Notification = class extends Real {
    constructor(title, options) {
      super(title, options);  // the real one: the browser shows it
      window.__notes.push({ title, body: options && options.body, tag: options && options.tag });
      this.addEventListener("show", () => { window.__shown += 1; });
    }
  };
})();
"""


async def real_focus(page: Page) -> None:
    """Turn Playwright's focus emulation off: the page has focus only when it really does."""
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Emulation.setFocusEmulationEnabled", {"enabled": False})


async def notes(page: Page) -> list[dict[str, str]]:
    found: list[dict[str, str]] = await page.evaluate("window.__notes")
    return found


async def test_a_desktop_notification_is_shown_when_the_tab_is_not_in_front(browser: Browser, running: Running) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    try:
        await context.grant_permissions(["notifications"], origin=running.base)
        await context.add_init_script(f"localStorage.setItem('switchboard.token', {token('ana')!r})")
        await context.add_init_script(COUNT_NOTIFICATIONS)
        page = await context.new_page()
        await page.goto(running.base)
        await expect(page.locator("#conn-state")).to_have_text("Live")
        await real_focus(page)
        await page.locator(".topbar .brand").click()  # a first click: sound allowed (the ring counter)
        assert await page.evaluate("Notification.permission") == "granted"
        cid = (await running.inbound("Hi", address="5511912340000"))["conversation_id"]
        await running.node.app.commands.claim(running.node.app.catalog.agents["ana"], cid)

        # In front: it rings, no notification.
        assert await page.evaluate("document.visibilityState === 'visible' && document.hasFocus()")
        await running.inbound("First question", address="5511912340000")
        await page.wait_for_function("() => Number(document.body.dataset.rings ?? 0) === 1")
        assert await notes(page) == []

        # Another page of the browser comes to the front: this one is not in front any more.
        other = await context.new_page()
        await real_focus(other)
        await other.bring_to_front()
        await page.wait_for_function("() => !document.hasFocus()")
        await running.inbound("Is my order ready?", address="5511912340000")
        await page.wait_for_function("() => window.__notes.length === 1")
        assert await notes(page) == [
            {"title": "New message from +55 11 91234-0000", "body": "Is my order ready?", "tag": cid}
        ]
        await page.wait_for_function("() => window.__shown === 1")  # the browser showed it
        assert await page.evaluate("Number(document.body.dataset.rings ?? 0)") == 2
    finally:
        await context.close()
