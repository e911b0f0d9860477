"""The web app in real headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright's Python package; never `playwright install`), against a real node.

scripts/ensure-chromium.sh (run by `make test`) installs the browser. Without
it these tests skip, except under CI, where a missing browser is a failure."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.conftest import Running, token

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"

from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

expect.set_options(timeout=10_000)

OpenAgent = Callable[..., Awaitable[Page]]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: scripts/ensure-chromium.sh should have installed it")
        pytest.skip(f"{CHROMIUM} is not installed (run scripts/ensure-chromium.sh)")
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        await b.close()


@pytest.fixture
async def agent_page(browser: Browser, running: Running) -> AsyncIterator[OpenAgent]:
    """Open the web app as an agent, in a browser context of their own (their
    own storage, as two people on two machines)."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    async def open_agent(
        agent_id: str | None, *, fragment: str = "", locale: str = "en-US", width: int = 1360, height: int = 820
    ) -> Page:
        context = await browser.new_context(viewport={"width": width, "height": height}, locale=locale)
        contexts.append(context)
        if agent_id is not None:
            await context.add_init_script(f"localStorage.setItem('switchboard.token', {token(agent_id)!r})")
        page = await context.new_page()
        page.on("pageerror", lambda e: errors.append(f"{agent_id}: {e}"))
        # Whatever the Content-Security-Policy blocks is a bug of the app (or the policy).
        page.on("console", lambda m: "Content Security Policy" in m.text and errors.append(f"{agent_id}: {m.text}"))
        await page.goto(f"{running.base}/{fragment}")
        if agent_id is not None:
            await expect(page.locator("#conn-state[data-state=live]")).to_be_visible()
        return page

    yield open_agent
    for context in contexts:
        await context.close()
    assert not errors, errors


def shot_path(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{name}.png"


def row(page: Page, conv_id: str):  # type: ignore[no-untyped-def]
    return page.locator(f'#list li[data-conv-id="{conv_id}"]')
