"""The web app keeps the Inbox as a window (issue 18): the first 100 waiting
read (and only those in view drawn), the count from the server's counts, the
next page read when the agent scrolls near the end, a live row added."""

from __future__ import annotations

import re

from playwright.async_api import expect

from server.app.reads import INBOX_WINDOW
from tests.browser.conftest import OpenAgent, row
from tests.conftest import Running

N = INBOX_WINDOW + 20


async def test_scrolling_reads_the_next_page_and_live_rows_keep_coming(running: Running, agent_page: OpenAgent) -> None:
    made = [(await running.inbound(f"hi {n}", address=f"5511900{n:06}"))["conversation_id"] for n in range(N)]
    ana = await agent_page("ana")
    rows = ana.locator("#list li[data-conv-id]")
    await expect(row(ana, made[0])).to_be_visible()
    await expect(ana.locator("#list .group-count")).to_have_text(str(INBOX_WINDOW))  # the window, not the Inbox
    await expect(ana.locator("#count-inbox")).to_have_text(str(N))  # the Inbox, from the counts
    assert await rows.count() < 40, "only the rows in view are drawn"
    await expect(rows.first).to_have_attribute("aria-setsize", "-1")  # more pages exist: size unknown
    await expect(row(ana, made[-1])).to_have_count(0)

    await ana.locator("#list").evaluate("el => { el.scrollTop = el.scrollHeight; }")
    await expect(ana.locator("#list .group-count")).to_have_text(str(N))
    await ana.locator("#list").evaluate("el => { el.scrollTop = el.scrollHeight; }")
    await expect(row(ana, made[-1])).to_be_attached()
    await expect(row(ana, made[-1])).to_have_attribute("aria-setsize", str(N))  # the window is whole
    # The last in line is the last row (made[-1], unless the one before it
    # arrived in the same millisecond: a tie in line goes by id, random then).
    await expect(ana.locator(f'#list li[aria-posinset="{N}"]')).to_have_attribute(
        "data-conv-id", re.compile("^(" + "|".join(map(re.escape, made[-2:])) + ")$")
    )
    assert await ana.locator("#list").evaluate("el => el.scrollTop > 0"), "the scroll position stays"

    late = (await running.inbound("late", address="5511999999999"))["conversation_id"]
    await expect(row(ana, late)).to_be_attached()  # the window reaches the end: a new row joins it
    await expect(ana.locator("#count-inbox")).to_have_text(str(N + 1))
