"""The agent's workspace for a shift (issue 14): Messenger outbound from the
Start dialog, drafts, wrap-up that cannot be lost, losing a conversation,
alerts and accessibility, in real Chromium against a real node."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from playwright.async_api import Browser, Page, WebSocketRoute, expect

from protocol import messages as p
from tests.browser.conftest import OpenAgent, row
from tests.conftest import Running, make_config, start_node, token


async def open_start_dialog(page: Page, touchpoint: str) -> None:
    await page.locator("#new-conversation").click()
    await expect(page.locator("#start-dialog")).to_be_visible()
    await page.locator("#start-touchpoint").select_option(touchpoint)


async def open_mine(page: Page, conv_id: str) -> None:
    await page.locator("#tab-assigned").click()
    await row(page, conv_id).click()


async def test_messenger_outbound_starts_inside_the_window_and_says_why_not_outside(
    running: Running, agent_page: OpenAgent
) -> None:
    # Rosa wrote to the Page; Bruno's colleague answered and ended it: her window is still open.
    made = await running.inbound("Do you ship to Recife?", touchpoint="fb", address="psid-51", profile_name="Rosa Lima")
    carla = await running.agent("carla")
    await carla.call(p.Claim, conversation_id=made["conversation_id"])
    await carla.call(p.EndChat, conversation_id=made["conversation_id"])

    bruno = await agent_page("bruno")
    await open_start_dialog(bruno, "fb")
    await expect(bruno.locator("#start-template-box")).to_be_hidden()
    await bruno.locator("#start-address").fill("psid-51")
    await bruno.locator("#start-text").fill("Hi Rosa, yes we do!")
    await bruno.locator("#start-submit").click()
    await expect(bruno.locator("#start-dialog")).to_be_hidden()
    await expect(bruno.locator("#conv-name")).to_have_text("Rosa Lima")
    await expect(bruno.locator(".message.out .bubble-text")).to_have_text("Hi Rosa, yes we do!")

    # Someone who never wrote to the Page: refused, and the dialog says why in plain words.
    await open_start_dialog(bruno, "fb")
    await bruno.locator("#start-address").fill("psid-never")
    await bruno.locator("#start-text").fill("Hello?")
    await bruno.locator("#start-submit").click()
    await expect(bruno.locator("#start-error")).to_contain_text("Messenger only lets a business write to people who wrote")
    await expect(bruno.locator("#start-dialog")).to_be_visible()


async def test_a_draft_survives_switching_a_reload_and_a_server_restart(browser: Browser, tmp_path: Path) -> None:
    config = make_config(data=str(tmp_path / "switchboard.db"))
    node, server, task = await start_node(config)
    base = f"http://127.0.0.1:{config.server.port}"
    context = await browser.new_context(viewport={"width": 1360, "height": 820}, locale="en-US")
    await context.add_init_script(f"localStorage.setItem('switchboard.token', {token('ana')!r})")
    try:
        async with httpx.AsyncClient() as http:
            ids = []
            for n, text in enumerate(("Where is my order?", "Do you have it in blue?")):
                r = await http.post(
                    f"{base}/api/dev/inbound",
                    json={"touchpoint_id": "wa", "address": f"551190000010{n}", "text": text},
                )
                ids.append(r.json()["conversation_id"])
        for cid in ids:
            await node.app.commands.claim(node.app.catalog.agents["ana"], cid)
        first, second = ids
        page = await context.new_page()
        await page.goto(f"{base}/#/c/{first}")
        editor = page.locator("#editor")
        await expect(editor).to_be_enabled()
        await editor.fill("Your order left the warehouse")
        await page.keyboard.press("Escape")  # Esc in the editor does not close the conversation
        await expect(page.locator("#conv-view")).to_be_visible()

        await row(page, second).click()
        await expect(page.locator("#conv-name")).to_have_text("+55 11 90000-0101")
        await expect(editor).to_have_value("")
        await row(page, first).click()
        await expect(editor).to_have_value("Your order left the warehouse")

        await page.reload()
        await expect(page.locator("#conn-state")).to_have_text("Live")
        await expect(editor).to_have_value("Your order left the warehouse")

        server.should_exit = True
        await task
        await node.stop()
        node, server, task = await start_node(config)
        await page.reload()
        await expect(page.locator("#conn-state")).to_have_text("Live")
        await expect(editor).to_have_value("Your order left the warehouse")

        # Sent: the draft is gone, here and after a reload.
        await page.locator("#send").click()
        await expect(page.locator(".message.out .bubble-text")).to_have_text("Your order left the warehouse")
        await expect(editor).to_have_value("")
        await page.reload()
        await expect(page.locator("#conn-state")).to_have_text("Live")
        await expect(page.locator(".message.out")).to_have_count(1)
        await expect(editor).to_have_value("")
    finally:
        await context.close()
        server.should_exit = True
        await task
        await node.stop()


async def test_a_send_while_disconnected_waits_and_goes_out_once(running: Running, agent_page: OpenAgent) -> None:
    ana = await agent_page("ana")
    cid = (await running.inbound("Hello?"))["conversation_id"]
    await running.node.app.commands.claim(running.node.app.catalog.agents["ana"], cid)
    await open_mine(ana, cid)
    editor = ana.locator("#editor")
    await expect(editor).to_be_enabled()
    # The search box's Esc clears the search, it does not close the conversation either.
    await ana.locator("#search-input").fill("hello")
    await ana.locator("#search-input").press("Escape")
    await expect(ana.locator("#conv-view")).to_be_visible()

    await ana.context.set_offline(True)
    for client in list(running.node.hub.clients):
        client.ws.transport.abort()
    await expect(ana.locator("#conn-state")).to_have_text("Reconnecting…")
    await editor.fill("On my way")
    await ana.keyboard.press("Shift+Enter")
    state = ana.locator("#composer-state")
    await expect(state).to_contain_text("Not connected. Your message will be sent once the connection is back.")
    await expect(editor).to_have_value("On my way")  # still there, held while it waits

    await ana.context.set_offline(False)
    await ana.evaluate("window.dispatchEvent(new Event('online'))")
    await expect(ana.locator(".message.out .bubble-text")).to_have_text("On my way")
    await expect(editor).to_have_value("")
    await expect(state).to_be_hidden()
    await ana.locator("#editor").fill("barrier")
    await ana.locator("#send").click()
    await expect(ana.locator(".message.out")).to_have_count(2)
    outbound = [m.text for m in await running.node.store.messages(cid, None, 10) if m.direction == "out"]
    assert outbound == ["On my way", "barrier"]  # once
    assert not await ana.locator(".toast").count()  # no raw "not connected"


async def test_a_waiting_send_can_be_cancelled_and_stays_in_the_editor(running: Running, agent_page: OpenAgent) -> None:
    ana = await agent_page("ana")
    cid = (await running.inbound("Hello?"))["conversation_id"]
    await running.node.app.commands.claim(running.node.app.catalog.agents["ana"], cid)
    await open_mine(ana, cid)
    await expect(ana.locator("#editor")).to_be_enabled()
    await ana.context.set_offline(True)
    for client in list(running.node.hub.clients):
        client.ws.transport.abort()
    await expect(ana.locator("#conn-state")).to_have_text("Reconnecting…")
    await ana.locator("#editor").fill("Let me check")
    await ana.locator("#send").click()
    await ana.locator("#composer-cancel").click()
    await expect(ana.locator("#composer-state")).to_contain_text("Not sent. Your message is still here.")
    await ana.context.set_offline(False)
    await ana.evaluate("window.dispatchEvent(new Event('online'))")
    await expect(ana.locator("#conn-state")).to_have_text("Live")
    await ana.locator("#editor").fill("Let me check, one moment")
    await ana.locator("#send").click()
    await expect(ana.locator(".message.out .bubble-text")).to_have_text("Let me check, one moment")
    outbound = [m.text for m in await running.node.store.messages(cid, None, 10) if m.direction == "out"]
    assert outbound == ["Let me check, one moment"]


async def test_end_chat_confirms_and_the_wrap_up_waits_on_every_screen_until_recorded(
    running: Running, agent_page: OpenAgent
) -> None:
    ana = await agent_page("ana")
    other_screen = await agent_page("ana")
    cid = (await running.inbound("Thanks, that was all", address="5511933334444"))["conversation_id"]
    await running.node.app.commands.claim(running.node.app.catalog.agents["ana"], cid)
    await open_mine(ana, cid)

    # End Chat asks; keeping it open changes nothing.
    await ana.locator("#end-chat").click()
    await expect(ana.locator("#end-dialog")).to_be_visible()
    await expect(ana.locator("#end-text")).to_contain_text("+55 11 93333-4444")
    await expect(ana.locator("#end-cancel")).to_be_focused()
    await ana.locator("#end-cancel").click()
    await expect(ana.locator("#end-dialog")).to_be_hidden()
    assert (await running.node.store.get_conversation(cid)).status == "open"  # type: ignore[union-attr]

    await ana.locator("#end-chat").click()
    await ana.locator("#end-confirm").click()
    await expect(ana.locator("#wrapup-disposition")).to_be_focused()  # focus goes to the wrap-up, not the body
    for page in (ana, other_screen):
        await expect(page.locator("#to-wrap-up-title")).to_have_text("To wrap up (1)")
        await expect(page.locator(f'#to-wrap-up-rows [data-conv-id="{cid}"]')).to_contain_text("+55 11 93333-4444")

    # Clicking elsewhere does not lose it: close it, reload, it is still there.
    await ana.locator("#close-conv").click()
    await ana.reload()
    await expect(ana.locator("#conn-state")).to_have_text("Live")
    await ana.locator(f'#to-wrap-up-rows [data-conv-id="{cid}"]').click()
    await expect(ana.locator("#wrapup")).to_be_visible()
    await ana.locator("#wrapup-disposition").select_option("Resolved")
    await ana.locator("#wrapup button[type=submit]").click()
    for page in (ana, other_screen):
        await expect(page.locator("#to-wrap-up")).to_be_hidden()
    await ana.reload()
    await expect(ana.locator("#conn-state")).to_have_text("Live")
    await expect(ana.locator("#to-wrap-up")).to_be_hidden()


async def test_losing_a_claim_race_says_who_took_it_and_leaves_a_usable_screen(
    running: Running, agent_page: OpenAgent
) -> None:
    ana = await agent_page("ana")
    bruno = await agent_page("bruno")
    cid = (await running.inbound("Anyone there?", address="5511955556666"))["conversation_id"]
    for page in (ana, bruno):
        await row(page, cid).click()
        await expect(page.locator("#claim")).to_be_visible()
    await bruno.locator("#claim").click()

    await expect(ana.locator("#conv-notice")).to_have_text("Bruno Díaz took this conversation.")
    await expect(ana.locator("#conv-name")).to_have_text("+55 11 95555-6666")  # not "Loading…" forever
    await expect(ana.locator("#thread .message.in .bubble-text")).to_have_text("Anyone there?")  # not blank
    await expect(ana.locator("#claim")).to_be_hidden()
    await ana.locator("#close-conv").click()
    await expect(ana.locator("#conv-empty")).to_be_visible()


async def test_a_reassignment_says_by_whom_and_to_whom_and_keeps_the_draft_to_copy(
    running: Running, agent_page: OpenAgent
) -> None:
    ana = await agent_page("ana")
    sofia = await agent_page("sofia")
    bruno = await agent_page("bruno")
    cid = (await running.inbound("I want to change my order", address="5511977778888"))["conversation_id"]
    await running.node.app.commands.claim(running.node.app.catalog.agents["ana"], cid)
    await open_mine(ana, cid)
    await ana.locator("#editor").fill("Sure, which item would you like to")

    await sofia.goto(f"{running.base}/#/c/{cid}")
    await expect(sofia.locator("#assign-box")).to_be_visible()
    await sofia.locator("#assign-select").select_option("bruno")
    await sofia.locator("#assign").click()

    await expect(ana.locator("#conv-notice")).to_have_text("Sofía Ramos assigned this conversation to Bruno Díaz.")
    await expect(ana.locator("#conv-name")).to_have_text("+55 11 97777-8888")
    await expect(ana.locator("#thread .message.in .bubble-text")).to_have_text("I want to change my order")
    editor = ana.locator("#editor")
    await expect(editor).to_have_value("Sure, which item would you like to")
    await expect(editor).to_be_enabled()  # selectable, not a disabled box
    await expect(editor).not_to_be_editable()
    await expect(ana.locator("#send")).to_be_disabled()
    await ana.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await ana.locator("#copy-draft").click()
    assert await ana.evaluate("navigator.clipboard.readText()") == "Sure, which item would you like to"
    await tab_has(bruno, "assigned", cid)

    await ana.locator("#close-conv").click()
    await expect(ana.locator("#conv-empty")).to_be_visible()
    await expect(row(ana, cid)).to_have_count(0)


async def tab_has(page: Page, tab: str, conv_id: str) -> None:
    await page.locator(f"#tab-{tab}").click()
    await expect(row(page, conv_id)).to_be_visible()


async def rings(page: Page) -> int:
    return int(await page.evaluate("Number(document.body.dataset.rings ?? 0)"))


async def test_one_screen_rings_every_screen_counts_and_the_switch_silences(browser: Browser, running: Running) -> None:
    # Two tabs of one browser (shared storage) and a second browser, all Ana's.
    here = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    there = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    try:
        screens = []
        for context in (here, here, there):
            await context.add_init_script(f"localStorage.setItem('switchboard.token', {token('ana')!r})")
            page = await context.new_page()
            await page.goto(running.base)
            await expect(page.locator("#conn-state")).to_have_text("Live")
            await page.locator(".topbar .brand").click()  # a first click: the browser lets the sound play
            screens.append(page)
        tab1, tab2, other = screens
        cid = (await running.inbound("Hi", address="5511912340000"))["conversation_id"]
        await running.node.app.commands.claim(running.node.app.catalog.agents["ana"], cid)

        await running.inbound("Is my order ready?", address="5511912340000")
        for page in screens:
            await expect(page).to_have_title("(1) Switchboard")
            assert (await page.locator("link[rel=icon]").get_attribute("href") or "").startswith("data:image/png")
            await expect(page.locator("#sound-toggle")).to_be_checked()  # on by default
        await settle(running, screens, 1)
        assert [await rings(page) for page in screens].count(1) == 1  # one alert, one sound

        # Sound off in one tab: its sibling follows; the next alert counts and stays silent.
        await tab1.locator("#sound-toggle").uncheck()
        await expect(tab2.locator("#sound-toggle")).not_to_be_checked()
        await other.locator("#sound-toggle").uncheck()  # another browser: its own switch
        await running.inbound("Hello?", address="5511912340000")
        for page in screens:
            await expect(page).to_have_title("(1) Switchboard")  # one conversation with news
        await tab1.locator("#sound-toggle").check()
        await other.locator("#sound-toggle").check()
        await expect(tab2.locator("#sound-toggle")).to_be_checked()
        await running.inbound("Anyone?", address="5511912340000")
        await settle(running, screens, 2)
        assert await total_rings(screens) == 2  # the silent one never rang

        # Opening it in one tab clears the count in every tab and browser (read everywhere).
        await tab1.bring_to_front()
        await tab1.locator("#tab-assigned").click()
        await row(tab1, cid).click()
        for page in screens:
            await expect(page).to_have_title("Switchboard")
    finally:
        await here.close()
        await there.close()


async def total_rings(screens: list[Page]) -> int:
    return sum([await rings(page) for page in screens])


async def settle(running: Running, screens: list[Page], n: int) -> None:
    """A barrier: a later publication every screen hears (a newcomer in the
    Inbox). A ring is written right after its alert, so once this is on
    every screen, every ring sent before it is there too."""
    await running.inbound("newcomer", address=f"55119876500{n:02d}")
    for page in screens:
        await expect(page.locator("#count-inbox")).to_have_text(str(n))


async def test_an_alert_while_disconnected_counts_when_the_screen_is_back(running: Running, agent_page: OpenAgent) -> None:
    ana = await agent_page("ana")
    cid = (await running.inbound("Hi", address="5511912349999"))["conversation_id"]
    await running.node.app.commands.claim(running.node.app.catalog.agents["ana"], cid)
    await expect(ana).to_have_title("Switchboard")  # assigned by her own claim: no alert
    await ana.context.set_offline(True)
    for client in list(running.node.hub.clients):
        client.ws.transport.abort()
    await expect(ana.locator("#conn-state")).to_have_text("Reconnecting…")
    await running.inbound("Are you there?", address="5511912349999")
    await ana.context.set_offline(False)
    await ana.evaluate("window.dispatchEvent(new Event('online'))")
    await expect(ana.locator("#conn-state")).to_have_text("Live")
    await expect(ana).to_have_title("(1) Switchboard")


async def test_messages_say_who_wrote_them_links_are_safe_and_unread_is_announced(
    running: Running, agent_page: OpenAgent
) -> None:
    ana = await agent_page("ana")
    text = "Track it at https://example.com/t?id=7, not javascript:alert(1) — مرحبا"
    cid = (await running.inbound(text, address="5511912345000"))["conversation_id"]
    await running.node.app.commands.claim(running.node.app.catalog.agents["ana"], cid)
    await open_mine(ana, cid)
    await ana.locator("#editor").fill("Thanks, checking")
    await ana.locator("#send").click()

    incoming = ana.locator(".message.in")
    await expect(incoming.locator(".visually-hidden")).to_have_text("+55 11 91234-5000 wrote:")
    await expect(ana.locator(".message.out .visually-hidden")).to_have_text("You wrote:")
    body = incoming.locator(".bubble-text")
    await expect(body).to_have_attribute("dir", "auto")
    link = body.locator("a")
    await expect(link).to_have_count(1)  # the javascript: text is no link
    await expect(link).to_have_text("https://example.com/t?id=7")
    await expect(link).to_have_attribute("href", "https://example.com/t?id=7")
    await expect(link).to_have_attribute("target", "_blank")
    await expect(link).to_have_attribute("rel", "noopener noreferrer")
    await expect(body).to_contain_text("not javascript:alert(1)")
    await expect(row(ana, cid).locator(".row-preview")).to_have_attribute("dir", "auto")

    # Unread changes are announced politely (the bubble is hidden from screen readers).
    await ana.locator("#close-conv").click()
    await running.inbound("One more thing", address="5511912345000")
    announcer = ana.locator("#announcer")
    await expect(announcer).to_have_attribute("aria-live", "polite")
    await expect(announcer).to_have_text("New message from +55 11 91234-5000. 1 unread message in all.")
    await row(ana, cid).click()
    await expect(announcer).to_have_text("No unread messages.")


async def test_a_send_whose_answer_is_lost_goes_again_with_its_key_and_out_once(
    running: Running, agent_page: OpenAgent
) -> None:
    """The socket drops after the server stored the send but before its ack
    reached the page (the ack is dropped on the wire, then the page's socket
    closed): the page sends the same command again, with the same
    idempotency key, once it is back, and the thread holds it once."""
    ana = await agent_page("ana")
    cid = (await running.inbound("Hello?"))["conversation_id"]
    await running.node.app.commands.claim(running.node.app.catalog.agents["ana"], cid)
    await open_mine(ana, cid)
    await expect(ana.locator("#editor")).to_be_enabled()
    sends: list[dict[str, object]] = []
    closing: list[asyncio.Future[None]] = []

    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        sent_ids: set[str] = set()

        def from_page(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame.get("type") == "send":
                sends.append(frame)
                sent_ids.add(frame["id"])
            server.send(message)

        def from_server(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame.get("type") == "ack" and frame.get("id") in sent_ids and len(sends) == 1:
                closing.append(asyncio.ensure_future(ws.close(code=1011, reason="lost")))  # the ack never arrives
                return
            ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)

    await ana.route_web_socket("**/ws", route)
    await ana.reload()  # the page's socket now goes through the route
    await expect(ana.locator("#conn-state")).to_have_text("Live")
    await ana.locator("#editor").fill("On my way")
    await ana.keyboard.press("Shift+Enter")
    await expect(ana.locator(".message.out .bubble-text")).to_have_text("On my way")
    await expect(ana.locator("#composer-state")).to_be_hidden()
    await expect(ana.locator("#editor")).to_have_value("")
    assert len(sends) == 2, "sent again after the lost answer"
    assert sends[0]["idempotency_key"] and sends[0]["idempotency_key"] == sends[1]["idempotency_key"]
    assert sends[0]["id"] != sends[1]["id"]
    outbound = [m.text for m in await running.node.store.messages(cid, None, 10) if m.direction == "out"]
    assert outbound == ["On my way"]  # once
    assert not await ana.locator(".toast").count()
