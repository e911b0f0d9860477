"""A long thread draws only what is seen (issue 18, server/static/js/threadwindow.js):
a 5,000-message conversation keeps the whole app under 2,000 DOM nodes,
scrolling up reads older pages until message 1 without moving what the agent
reads, a new message while scrolled up shows the "new messages" pill and
leaves the view alone, search and quotes reach messages far back, and screen
readers hear each message's place in the thread."""

from __future__ import annotations

import time

from playwright.async_api import Page, expect

from server.core.model import Inbound
from tests.browser.conftest import OpenAgent
from tests.conftest import Running

N = 5000
DOM_LIMIT = 2000  # the whole app's elements, whatever the thread's length
ADDRESS = "5511977770000"

COUNT_NODES = "() => document.getElementsByTagName('*').length"
# Where a message is on screen, relative to the thread's viewport (px), or null when not drawn.
TOP_OF = """seq => {
  const node = document.querySelector(`#thread .message[data-seq="${seq}"]`);
  if (!node) return null;
  return node.getBoundingClientRect().top - document.getElementById('thread').getBoundingClientRect().top;
}"""
# The first message drawn whose top is in view: [seq, top].
FIRST_IN_VIEW = """() => {
  const box = document.getElementById('thread');
  const top = box.getBoundingClientRect().top;
  for (const node of box.querySelectorAll('.message')) {
    const y = node.getBoundingClientRect().top - top;
    if (y >= 0) return [Number(node.dataset.seq), y];
  }
  return null;
}"""


# An older page came (the thread grew from `height`), or message 1 is drawn.
GREW = "height => document.getElementById('thread').scrollHeight > height || !!document.querySelector('#thread .message[data-seq=\"1\"]')"
HEIGHT = "() => document.getElementById('thread').scrollHeight"
FRAMES = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"
LOAD_EARLIER = "async () => (await import('/js/conversation.js')).loadEarlier()"
# The oldest message loaded in the open thread; whether an older one has come since.
OLDEST = "async () => { const { ui } = await import('/js/state.js'); return Math.min(...ui.client.mirror.threads.get(ui.current).messages.keys()); }"
OLDER = "async seq => { const { ui } = await import('/js/state.js'); return Math.min(...ui.client.mirror.threads.get(ui.current).messages.keys()) < seq; }"
# The thread's scrollTop once each Home has been handled (the app's own handler runs before this bubbling one).
WATCH_HOME = """() => {
  window.__home = [];
  document.addEventListener('keydown', e => { if (e.key === 'Home') window.__home.push(document.getElementById('thread').scrollTop); });
}"""


async def long_thread(running: Running, n: int, *, address: str = ADDRESS) -> str:
    """One conversation of `n` inbound messages ("mensagem 1" … "mensagem n"), straight through the intake."""
    intake = running.node.app.intake
    # Half a second apart, all inside the reply window (an hour in tests): an
    # older message would be received already closed, and the thread would
    # hold the lock's and the unlock's timeline entries too.
    base = int(time.time() * 1000) - n * 500
    conv = ""
    for i in range(1, n + 1):
        text = f"mensagem {i}" if i % 7 else f"mensagem {i}\numa segunda linha\ne uma terceira"  # not one height
        outcome = await intake.receive("wa", address, Inbound(kind="text", text=text, at=base + i * 500))
        assert outcome is not None
        conv = outcome.after.id
    return conv


async def nodes(page: Page) -> int:
    count: int = await page.evaluate(COUNT_NODES)
    return count


async def message(page: Page, seq: int):  # type: ignore[no-untyped-def]
    return page.locator(f'#thread .message[data-seq="{seq}"]')


async def test_a_5000_message_thread_stays_small_and_scrolling_up_reaches_message_one(running: Running, agent_page: OpenAgent) -> None:
    conv = await long_thread(running, N)
    ana = await agent_page("ana", fragment=f"#/c/{conv}")
    newest = await message(ana, N)
    await expect(newest).to_be_in_viewport()  # opens at the end
    await expect(newest).to_have_attribute("role", "article")
    await expect(newest).to_have_attribute("aria-posinset", str(N))
    await expect(newest).to_have_attribute("aria-setsize", "-1")  # older pages exist: size unknown yet
    await expect(newest.locator(".visually-hidden")).to_have_text("+55 11 97777-0000 wrote:")  # who wrote it
    assert await nodes(ana) <= DOM_LIMIT

    # Scrolling up reads older pages until message 1; the DOM stays small all the way.
    first = await message(ana, 1)
    for _ in range(N // 50 + 20):
        if await first.count():
            break
        height = await ana.evaluate(HEIGHT)
        await ana.locator("#thread").evaluate("el => { el.scrollTop = 0; }")
        await ana.wait_for_function(GREW, arg=height)
        assert await nodes(ana) <= DOM_LIMIT
    await expect(first).to_be_attached()
    await ana.locator("#thread").evaluate("el => { el.scrollTop = 0; }")
    await expect(first).to_be_in_viewport()
    await expect(first).to_have_attribute("aria-posinset", "1")
    await expect(first).to_have_attribute("aria-setsize", str(N))  # all read: the size is known
    await expect(ana.locator("#load-earlier")).to_have_count(0)
    assert await nodes(ana) <= DOM_LIMIT
    drawn = await ana.locator("#thread .message").count()
    assert drawn < 100, drawn

    # And back down to the end, the DOM still small.
    await ana.locator("#thread").evaluate("el => { el.scrollTop = el.scrollHeight; }")
    await expect(newest).to_be_in_viewport()
    assert await nodes(ana) <= DOM_LIMIT


async def test_search_finds_message_17_of_5000(running: Running, agent_page: OpenAgent) -> None:
    conv = await long_thread(running, N)
    ana = await agent_page("ana", fragment=f"#/c/{conv}")
    await expect(await message(ana, N)).to_be_in_viewport()
    await ana.locator("#search-input").fill("mensagem 17")  # 17, 170…179, 1700…1799: the oldest is the last match
    await expect(ana.locator("#search-count")).to_have_text("111 of 111")
    await ana.locator("#search-next").click()  # from the newest match, one on wraps to the oldest
    await expect(ana.locator("#search-count")).to_have_text("1 of 111")
    mark = ana.locator("#thread mark.current")
    await expect(mark).to_have_text("mensagem 17")
    await expect(mark).to_be_in_viewport()
    await expect(ana.locator('#thread .message[data-seq="17"] mark.current')).to_have_count(1)
    assert await nodes(ana) <= DOM_LIMIT


async def test_a_new_message_while_scrolled_up_shows_the_pill_and_does_not_move_the_view(running: Running, agent_page: OpenAgent) -> None:
    conv = await long_thread(running, 120)
    ana = await agent_page("ana", fragment=f"#/c/{conv}")
    await expect(await message(ana, 120)).to_be_in_viewport()
    pill = ana.locator("#thread-new")
    await expect(pill).to_be_hidden()

    # At the end: a new message follows into view, no pill.
    await running.inbound("chegou no fim", address=ADDRESS)
    await expect(await message(ana, 121)).to_be_in_viewport()
    await expect(pill).to_be_hidden()

    # Scrolled up: the view stays, the pill counts.
    await ana.locator("#thread").evaluate("el => { el.scrollTop = el.scrollTop - 1200; }")
    await expect(await message(ana, 121)).not_to_be_in_viewport()
    held = await ana.evaluate(FIRST_IN_VIEW)
    assert held is not None
    await running.inbound("e mais uma", address=ADDRESS)
    await expect(pill).to_have_text("1 new message")
    await running.inbound("e outra", address=ADDRESS)
    await expect(pill).to_have_text("2 new messages")
    await expect(await message(ana, 123)).not_to_be_in_viewport()
    assert await ana.evaluate(TOP_OF, held[0]) == held[1]

    await pill.click()
    await expect(await message(ana, 123)).to_be_in_viewport()
    await expect(pill).to_be_hidden()


async def test_an_older_page_arriving_does_not_move_what_the_agent_reads(running: Running, agent_page: OpenAgent) -> None:
    conv = await long_thread(running, 160)
    ana = await agent_page("ana", fragment=f"#/c/{conv}")
    await expect(await message(ana, 160)).to_be_in_viewport()
    await expect(await message(ana, 61)).to_have_count(0)  # the first page: 111…160
    # Halfway up the first page (far from the top: nothing reads on by itself), then an older page comes.
    await ana.locator("#thread").evaluate("el => { el.scrollTop = el.scrollHeight / 2; }")
    await ana.evaluate(FRAMES)
    held = await ana.evaluate(FIRST_IN_VIEW)
    assert held is not None
    height = await ana.locator("#thread").evaluate("el => el.scrollHeight")
    await ana.evaluate(LOAD_EARLIER)  # resolves once the page is in and drawn
    await ana.evaluate(FRAMES)
    assert await ana.locator("#thread").evaluate("el => el.scrollHeight") > height + 50 * 40  # 50 more messages above
    at = await ana.evaluate(TOP_OF, held[0])
    assert at is not None and abs(at - held[1]) <= 1, (held, at)


async def test_the_keyboard_reads_older_pages_with_home(running: Running, agent_page: OpenAgent) -> None:
    conv = await long_thread(running, 160)
    ana = await agent_page("ana", fragment=f"#/c/{conv}")
    await expect(await message(ana, 160)).to_be_in_viewport()
    await ana.locator("#thread").focus()
    await ana.evaluate(WATCH_HOME)
    first = await message(ana, 1)
    # Home goes to the top at once, which reads the next older page; pressed
    # again as soon as that page is drawn (an agent pressing fast), it reads
    # the next one: 111…160 shown, so three presses reach message 1. (The
    # browser's own Home was a smooth scroll, which a page's draw moving the
    # view could cut short or lose: the press did nothing.)
    for press in range(3):
        if await first.count():
            break
        oldest = await ana.evaluate(OLDEST)
        await ana.keyboard.press("Home")
        assert await ana.evaluate("() => window.__home.at(-1)") == 0, press  # at the top as the key is handled
        await ana.wait_for_function(OLDER, arg=oldest)
    await expect(first).to_be_attached()
    await expect(ana.locator("#load-earlier")).to_have_count(0)
    # End goes back to the newest message at once, and new messages follow again.
    await ana.keyboard.press("End")
    await expect(await message(ana, 160)).to_be_in_viewport()
    await running.inbound("depois do fim", address=ADDRESS)
    await expect(await message(ana, 161)).to_be_in_viewport()
