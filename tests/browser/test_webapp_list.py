"""A long list that stays workable (issue 14 item 9, issue 18): thousands of
waiting conversations draw only a screenful of rows, scrolling and the
keyboard both reach the end, the filter box finds a conversation the window
does not hold (the server's `inbox_page` query, accent-insensitive) and
filters the Assigned list locally, the sort menu reorders, and a phone
number is never cut."""

from __future__ import annotations

import re
import time

import pytest
from playwright.async_api import Page, expect

from protocol import messages as p
from server.app import reads
from server.core.model import Inbound
from tests.browser.conftest import OpenAgent, row
from tests.conftest import Running, token

N = 2500
SCREENFUL = 40  # rows of 64 px in an 820 px window, plus the overscan, with room to spare


def number(n: int) -> str:
    return f"5511{910000000 + n}"


async def backlog(running: Running, n: int) -> list[str]:
    """`n` waiting conversations, oldest first, straight through the intake (no HTTP per row)."""
    intake = running.node.app.intake
    made = []
    base = int(time.time() * 1000) - n * 1000
    for i in range(n):
        outcome = await intake.receive("wa", number(i), Inbound(kind="text", text=f"pedido {i}", at=base + i * 1000))
        assert outcome is not None
        made.append(outcome.after.id)
    return made


async def drawn(page: Page) -> int:
    count: int = await page.locator("#list li[data-conv-id]").count()
    return count


async def loaded(page: Page) -> str:
    text: str = await page.locator("#list .group-count").inner_text()
    return text


async def test_thousands_waiting_draw_a_screenful_and_scrolling_reaches_the_end(running: Running, agent_page: OpenAgent) -> None:
    made = await backlog(running, N)
    ana = await agent_page("ana")
    await expect(ana.locator("#count-inbox")).to_have_text(f"{N:,}")  # the whole Inbox, formatted
    await expect(ana.locator("#inbox-wait")).to_have_text(re.compile(r"^Oldest waiting: 4[12] minutes ago$"))  # N s ago
    await expect(row(ana, made[0])).to_be_visible()
    assert await drawn(ana) <= SCREENFUL
    await expect(row(ana, made[0])).to_have_attribute("aria-posinset", "1")
    await expect(row(ana, made[0])).to_have_attribute("aria-setsize", "-1")  # more pages: size unknown yet

    # The mouse: scroll to the bottom until the Inbox ends; the DOM never grows.
    for _ in range(N // 100 + 5):
        before = await loaded(ana)
        await ana.locator("#list").evaluate("el => { el.scrollTop = el.scrollHeight; }")
        if await row(ana, made[-1]).count():
            break
        if before == f"{N:,}":
            break  # all read: the last row is drawn at the next frame (awaited below)
        await expect(ana.locator("#list .group-count")).not_to_have_text(before)
        assert await drawn(ana) <= SCREENFUL
    await expect(row(ana, made[-1])).to_be_visible()
    await expect(row(ana, made[-1])).to_have_attribute("aria-setsize", str(N))
    await expect(row(ana, made[-1])).to_have_attribute("aria-posinset", str(N))
    assert await drawn(ana) <= SCREENFUL
    height = await ana.locator("#list").evaluate("el => el.scrollHeight")
    assert height >= N * 64, "the scrollbar is the whole list's"

    # A new arrival at the end joins the list where the agent is.
    late = (await running.inbound("late", address="5511999999999"))["conversation_id"]
    await expect(row(ana, late)).to_be_attached()


async def test_the_keyboard_reaches_the_end_of_a_long_list(running: Running, agent_page: OpenAgent) -> None:
    made = await backlog(running, 1200)
    ana = await agent_page("ana")
    await expect(row(ana, made[0])).to_be_visible()
    await row(ana, made[0]).focus()
    for _ in range(5):
        await ana.keyboard.press("ArrowDown")
    await expect(row(ana, made[5])).to_be_focused()
    await ana.keyboard.press("PageDown")
    await expect(row(ana, made[15])).to_be_focused()

    # End: the last row read so far; reading on brings the next page, End again…
    for _ in range(30):
        before = await loaded(ana)
        await ana.keyboard.press("End")
        if await row(ana, made[-1]).count() and await row(ana, made[-1]).evaluate("el => el === document.activeElement"):
            break
        await expect(ana.locator("#list .group-count")).not_to_have_text(before)
        assert await drawn(ana) <= SCREENFUL
    await expect(row(ana, made[-1])).to_be_focused()
    await expect(row(ana, made[-1])).to_be_in_viewport()
    await ana.keyboard.press("Home")
    await expect(row(ana, made[0])).to_be_focused()
    await expect(row(ana, made[0])).to_be_in_viewport()
    assert await drawn(ana) <= SCREENFUL
    await ana.keyboard.press("Enter")
    await expect(ana.locator("#conv-view")).to_be_visible()


async def test_the_filter_finds_beyond_the_window_accents_and_numbers_alike(running: Running, agent_page: OpenAgent) -> None:
    made = await backlog(running, 600)  # the window holds the first 100
    deep = made[450]
    r = await running.http.put(
        f"{running.base}/api/contacts/whatsapp/{number(450)}",
        json={"name": "José Gonçalves"},
        headers={"authorization": f"Bearer {token('sofia')}"},
    )
    assert r.status_code == 200
    ana = await agent_page("ana")
    await expect(row(ana, made[0])).to_be_visible()
    await expect(row(ana, deep)).to_have_count(0)

    box = ana.locator("#list-filter")
    await box.fill("jose goncalves")  # no accents, lower case: the server folds both
    await expect(row(ana, deep)).to_be_visible()
    await expect(ana.locator("#list li[data-conv-id]")).to_have_count(1)
    await expect(row(ana, deep).locator(".row-name")).to_have_text("José Gonçalves")

    await box.fill("91000-0523")  # a number as people type it
    await expect(row(ana, made[523])).to_be_visible()
    await expect(ana.locator("#list li[data-conv-id]")).to_have_count(1)

    await box.fill("ninguém aqui")
    await expect(ana.locator("#list .list-empty")).to_contain_text("No conversation matches")

    await box.press("Escape")  # clears the filter: the window again
    await expect(box).to_have_value("")
    await expect(row(ana, made[0])).to_be_visible()
    await expect(row(ana, deep)).to_have_count(0)


async def test_a_claim_elsewhere_takes_the_row_out_of_a_filtered_inbox(running: Running, agent_page: OpenAgent) -> None:
    made = await backlog(running, 300)
    ana = await agent_page("ana")
    await ana.locator("#list-filter").fill(number(250)[-6:])
    await expect(row(ana, made[250])).to_be_visible()
    bruno = await running.agent("bruno")
    await bruno.call(p.Claim, conversation_id=made[250])
    await expect(row(ana, made[250])).to_have_count(0)  # outside the window, and still gone


async def test_assigned_filters_locally_and_sorts_by_unread(running: Running, agent_page: OpenAgent) -> None:
    ids = []
    for i, name in enumerate(["Ana Lúcia Prado", "Márcio Rocha", "Lucía Fernández"]):
        cid = (await running.inbound(f"oi {i}", address=f"55119870000{i}"))["conversation_id"]
        await running.http.put(
            f"{running.base}/api/contacts/whatsapp/55119870000{i}",
            json={"name": name},
            headers={"authorization": f"Bearer {token('sofia')}"},
        )
        ids.append(cid)
    ana = await agent_page("ana")
    for cid in ids:
        await ana.locator("#tab-inbox").click()
        await row(ana, cid).click()
        await ana.locator("#claim").click()
        await expect(ana.locator("#editor")).to_be_enabled()
    await ana.locator("#close-conv").click()
    # Lucía writes twice, then Márcio three times, then Ana Lúcia once.
    for address, times in (("551198700002", 2), ("551198700001", 3), ("551198700000", 1)):
        for _ in range(times):
            await running.inbound("mais uma", address=address)
    await expect(ana.locator("#unread-total")).to_contain_text("6")

    order = "els => els.map((e) => e.querySelector('.row-name').textContent)"
    rows = ana.locator("#list li[data-conv-id]")
    await expect(rows.first.locator(".row-name")).to_have_text("Ana Lúcia Prado")  # latest activity first
    assert await rows.evaluate_all(order) == ["Ana Lúcia Prado", "Márcio Rocha", "Lucía Fernández"]
    await ana.locator("#list-sort").select_option("unread")
    await expect(rows.first.locator(".row-name")).to_have_text("Márcio Rocha")
    assert await rows.evaluate_all(order) == ["Márcio Rocha", "Lucía Fernández", "Ana Lúcia Prado"]
    await ana.locator("#list-sort").select_option("waiting")
    await expect(rows.first.locator(".row-name")).to_have_text("Lucía Fernández")
    assert await rows.evaluate_all(order) == ["Lucía Fernández", "Márcio Rocha", "Ana Lúcia Prado"]

    await ana.locator("#list-filter").fill("LUCIA")  # both Lúcia and Lucía, accents and case folded
    await expect(rows).to_have_count(2)
    assert sorted(await rows.evaluate_all(order)) == ["Ana Lúcia Prado", "Lucía Fernández"]


async def test_a_phone_number_is_never_cut(running: Running, agent_page: OpenAgent) -> None:
    cid = (await running.inbound("Bom dia, com quem falo? Preciso de ajuda com a entrega", address="5511987654321"))[
        "conversation_id"
    ]
    for width in (768, 400):
        page = await agent_page("ana", width=width, height=900)
        name = row(page, cid).locator(".row-name")
        await expect(name).to_have_text("+55 11 98765-4321")
        assert await name.evaluate("el => el.scrollWidth <= el.clientWidth + 1"), f"cut at {width} px"


async def test_the_filter_reads_on_until_it_finds_a_match_deep_in_the_inbox(
    running: Running, agent_page: OpenAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server looks at a bounded number of conversations per filtered page (SCAN_LIMIT):
    # here 200, so the newest of 2,100 is more than 10 empty pages away, more than one
    # read-on asks (as a 20,000-conversation Inbox is at the real limit of 2,000).
    monkeypatch.setattr(reads, "SCAN_LIMIT", 200)
    made = await backlog(running, 2100)
    ana = await agent_page("ana")
    await expect(row(ana, made[0])).to_be_visible()
    await ana.locator("#list-filter").fill(number(2099)[-6:])
    await expect(row(ana, made[2099])).to_be_visible()
    await expect(ana.locator("#list li[data-conv-id]")).to_have_count(1)
