"""The agent web app, as agents use it, in real Chromium against a real node."""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import Page, expect

from tests.browser.conftest import OpenAgent, row, shot_path
from tests.conftest import Running, token


async def claim_from_inbox(page: Page, conv_id: str) -> None:
    await page.locator("#tab-inbox").click()
    await row(page, conv_id).click()
    await page.locator("#claim").click()
    await expect(page.locator("#tab-assigned")).to_have_attribute("aria-selected", "true")
    await expect(row(page, conv_id)).to_be_visible()


async def test_inbound_reaches_both_inboxes_and_a_claim_takes_it_from_the_other(
    running: Running, agent_page: OpenAgent
) -> None:
    ana = await agent_page("ana")
    bruno = await agent_page("bruno")
    made = await running.inbound("Olá, quero saber do meu pedido", address="5511987650001")
    cid = made["conversation_id"]
    for page in (ana, bruno):
        await expect(row(page, cid)).to_contain_text("Olá, quero saber do meu pedido")
        await expect(row(page, cid)).to_contain_text("+55 11 98765-0001")  # unknown contact: the number, for people
        await expect(page.locator("#count-inbox")).to_have_text("1")
        await expect(page.locator(".group.whatsapp")).to_be_visible()

    # The contact becomes known: both screens show the name and initials, live.
    r = await running.http.put(
        f"{running.base}/api/contacts/whatsapp/5511987650001",
        json={"name": "Maria José Pereira"},
        headers={"authorization": f"Bearer {token('sofia')}"},
    )
    assert r.status_code == 200
    for page in (ana, bruno):
        await expect(row(page, cid).locator(".row-name")).to_have_text("Maria José Pereira")
        await expect(row(page, cid).locator(".avatar")).to_have_text("MP")

    await row(bruno, cid).click()  # Bruno is looking at it when Ana takes it
    await expect(bruno.locator("#claim")).to_be_visible()
    await claim_from_inbox(ana, cid)
    await expect(ana.locator("#count-assigned")).to_have_text("1")
    await expect(row(bruno, cid)).to_have_count(0)
    await expect(bruno.locator("#count-inbox")).to_have_text("0")
    await expect(bruno.locator("#conv-notice")).to_contain_text("Ana Souza took this conversation.")
    await expect(bruno.locator("#claim")).to_be_hidden()
    assert (await running.node.store.get_conversation(cid)).assignee_id == "ana"  # type: ignore[union-attr]


async def test_two_agents_claiming_at_once_one_wins_the_other_is_told(running: Running, agent_page: OpenAgent) -> None:
    ana = await agent_page("ana")
    bruno = await agent_page("bruno")
    cid = (await running.inbound("first come, first served"))["conversation_id"]
    for page in (ana, bruno):
        await row(page, cid).click()
        await expect(page.locator("#claim")).to_be_visible()
    # Both click together (dispatched in the page: the loser's button may already be gone).
    click = "document.getElementById('claim').click()"
    await asyncio.gather(ana.evaluate(click), bruno.evaluate(click))
    winner_id = (await running.node.store.get_conversation(cid)).assignee_id  # type: ignore[union-attr]
    winner, loser = (ana, bruno) if winner_id == "ana" else (bruno, ana)
    await expect(row(winner, cid)).to_be_visible()
    await expect(winner.locator("#count-assigned")).to_have_text("1")
    # The other one hears it: a refused claim, or the conversation taken from under them.
    told = loser.locator(".toast.error").or_(loser.locator("#conv-notice"))
    await expect(told.first).to_contain_text(re.compile("already taken|took this conversation"))
    await expect(loser.locator("#count-assigned")).to_have_text("0")


async def test_unread_bubble_rises_and_clears_when_read(running: Running, agent_page: OpenAgent) -> None:
    ana = await agent_page("ana")
    cid = (await running.inbound("hello?"))["conversation_id"]
    await claim_from_inbox(ana, cid)
    await ana.locator("#thread").focus()  # Esc in the editor keeps the conversation; outside it, closes
    await ana.keyboard.press("Escape")  # close the conversation: new messages stay unread
    await expect(ana.locator("#conv-empty")).to_be_visible()
    await expect(row(ana, cid).locator(".unread")).to_have_count(0)

    await running.inbound("are you there?")
    await running.inbound("I need help with my order")
    bubble = row(ana, cid).locator(".unread")
    await expect(bubble).to_have_text("2")
    await expect(row(ana, cid)).to_contain_text("I need help with my order")
    await expect(ana.locator("#unread-total")).to_have_text("2 unread messages")
    assert await bubble.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(255, 212, 59)"  # yellow

    await row(ana, cid).click()
    await expect(bubble).to_have_count(0)
    assert (await running.node.store.get_conversation(cid)).unread == 0  # type: ignore[union-attr]


async def test_shift_enter_sends_and_enter_adds_a_line(running: Running, agent_page: OpenAgent) -> None:
    ana = await agent_page("ana")
    cid = (await running.inbound("Can you help?"))["conversation_id"]
    await claim_from_inbox(ana, cid)
    editor = ana.locator("#editor")
    await editor.click()
    await ana.keyboard.type("Sure!")
    await ana.keyboard.press("Enter")  # a new line, not a send
    await ana.keyboard.type("What is your order number?")
    await expect(editor).to_have_value("Sure!\nWhat is your order number?")
    await ana.keyboard.press("Shift+Enter")
    out = ana.locator(".message.out")
    await expect(out).to_have_count(1)
    await expect(out.locator(".bubble-text")).to_have_text("Sure!\nWhat is your order number?")
    await expect(editor).to_have_value("")
    await expect(out.locator(".delivery")).to_have_attribute("data-status", re.compile("pending|sent|delivered|read"))
    messages = await running.node.store.messages(cid, None, 10)
    assert [(m.direction, m.text) for m in messages] == [("in", "Can you help?"), ("out", "Sure!\nWhat is your order number?")]

    await editor.fill("And the Send button works too")
    await ana.locator("#send").click()
    await expect(out).to_have_count(2)

    # The channel reports delivery, then reading: the ticks move on live.
    first_out = messages[1].id
    tick = ana.locator(f'.message[data-message-id="{first_out}"] .delivery')
    await running.node.app.intake.delivery(first_out, "delivered")
    await expect(tick).to_have_attribute("data-status", "delivered")
    await expect(tick).to_have_text("✓✓")
    await running.node.app.intake.delivery(first_out, "read")
    await expect(tick).to_have_attribute("aria-label", "Read")


async def test_search_finds_accented_words_typed_without_accents_and_jumps_to_them(
    running: Running, agent_page: OpenAgent
) -> None:
    ana = await agent_page("ana")
    cid = (await running.inbound("Tive um problema com a instalação do aparelho"))["conversation_id"]
    for i in range(55):  # the match is older than the first page of the thread
        await running.inbound(f"mensagem {i}")
    await claim_from_inbox(ana, cid)
    await expect(ana.locator('#thread .message[data-seq="56"]')).to_have_attribute("aria-setsize", "-1")  # older pages exist
    await expect(ana.locator('.message[data-seq="1"]')).to_have_count(0)

    await ana.locator("#search-input").fill("INSTALACAO")
    mark = ana.locator("#thread mark.current")
    await expect(mark).to_have_text("instalação")
    await expect(ana.locator("#search-count")).to_have_text("1 of 1")
    await expect(mark).to_be_in_viewport()
    await ana.screenshot(path=shot_path("search"))

    await ana.locator("#search-input").fill("mensagem 5")
    await expect(ana.locator("#search-count")).to_have_text(re.compile(r"of 6$"))  # 5, 50…54
    await expect(ana.locator('#thread .message[data-seq="56"] mark.current')).to_have_count(1)  # "mensagem 54", the newest first
    await ana.locator("#search-next").click()  # on from the newest: the oldest, far up the (windowed) thread
    await expect(ana.locator("#search-count")).to_have_text("1 of 6")
    await expect(ana.locator('#thread .message[data-seq="7"] mark.current')).to_have_text("mensagem 5")
    await expect(mark).to_be_in_viewport()


async def test_end_chat_wrap_up_then_a_reply_starts_a_new_conversation(running: Running, agent_page: OpenAgent) -> None:
    ana = await agent_page("ana")
    first = (await running.inbound("Obrigado, era só isso", address="5511911112222"))["conversation_id"]
    await claim_from_inbox(ana, first)
    await ana.locator("#end-chat").click()
    await ana.locator("#end-confirm").click()  # End Chat asks first
    await expect(row(ana, first)).to_have_count(0)
    await expect(ana.locator("#count-assigned")).to_have_text("0")
    await expect(ana.locator("#conv-notice")).to_contain_text("This conversation ended")
    await expect(ana.locator("#wrapup")).to_be_visible()
    await ana.locator("#wrapup-disposition").select_option("Resolved")
    await ana.locator("#wrapup-note").fill("Customer confirmed delivery")
    await ana.locator("#wrapup button[type=submit]").click()
    await expect(ana.locator("#wrapup-done")).to_contain_text("Saved: Resolved")

    second = (await running.inbound("Oi de novo!", address="5511911112222"))["conversation_id"]
    assert second != first
    await ana.locator("#tab-inbox").click()
    await expect(row(ana, second)).to_contain_text("Oi de novo!")
    await expect(row(ana, first)).to_have_count(0)
    old = await running.node.store.get_conversation(first)
    assert old is not None and old.status == "ended" and old.wrap_up is not None


async def test_lost_connection_shows_a_banner_then_resumes_by_itself(running: Running, agent_page: OpenAgent) -> None:
    ana = await agent_page("ana")
    banner = ana.locator("#conn-banner")
    await expect(banner).to_be_hidden()
    await ana.context.set_offline(True)  # reconnection attempts fail until the network is back
    for client in list(running.node.hub.clients):
        client.ws.transport.abort()
    await expect(banner).to_be_visible()
    await expect(ana.locator("#conn-state")).to_have_text("Reconnecting…")
    await ana.screenshot(path=shot_path("connection-lost"))

    missed = (await running.inbound("sent while you were away"))["conversation_id"]
    await ana.context.set_offline(False)
    await ana.evaluate("window.dispatchEvent(new Event('online'))")
    await expect(banner).to_be_hidden()
    await expect(row(ana, missed)).to_contain_text("sent while you were away")
    assert await ana.evaluate("1") == 1  # same page: nothing was reloaded


async def test_outbound_with_a_template_notes_and_snapshot(running: Running, agent_page: OpenAgent) -> None:
    ana = await agent_page("ana")
    await ana.locator("#new-conversation").click()
    dialog = ana.locator("#start-dialog")
    await expect(dialog).to_be_visible()
    await dialog.locator("#start-address").fill("12345")
    await expect(dialog.locator("#start-template-box")).to_be_visible()  # WhatsApp: template only
    await dialog.locator("#start-params input").fill("Marta")
    await expect(dialog.locator("#start-preview")).to_have_text("Hello Marta, how can we help?")
    await dialog.locator("#start-submit").click()
    await expect(dialog.locator("#start-error")).to_contain_text("phone number")  # invalid_address, with its reason
    await expect(dialog).to_be_visible()
    await dialog.locator("#start-address").fill("+55 (11) 95555-4444")  # typed the usual way: stored in E.164
    await dialog.locator("#start-submit").click()
    await expect(dialog).to_be_hidden()
    await expect(ana.locator(".message.out .bubble-text")).to_have_text("Hello Marta, how can we help?")
    await expect(ana.locator(".message.out .kind-tag")).to_have_text("Template")
    await expect(ana.locator("#lock-banner")).to_be_visible()  # no session until Marta answers
    await expect(ana.locator("#editor")).to_be_disabled()
    await expect(ana.locator("#count-assigned")).to_have_text("1")

    await ana.locator("#show-notes").click()
    await ana.locator("#note-input").fill("Asked about the blue model")
    await ana.locator("#note-form button").click()
    await expect(ana.locator("#notes-list")).to_contain_text("Asked about the blue model")
    await ana.locator("#show-snapshot").click()
    await expect(ana.locator("#snapshot-body")).to_contain_text("+55 11 95555-4444")
    await expect(ana.locator("#snapshot-body")).to_contain_text("Conversations (1)")

    await running.inbound("Oi! Quero o modelo azul", address="5511955554444")
    await expect(ana.locator("#lock-banner")).to_be_hidden()
    await expect(ana.locator("#editor")).to_be_enabled()


async def test_supervisor_assigns_a_conversation_to_an_agent(running: Running, agent_page: OpenAgent) -> None:
    sofia = await agent_page("sofia")
    carla = await agent_page("carla")
    cid = (await running.inbound("Hi from Messenger", touchpoint="fb", address="psid-9", profile_name="Rosa Lima"))[
        "conversation_id"
    ]
    await expect(row(sofia, cid)).to_contain_text("Rosa Lima")
    await expect(row(sofia, cid).locator(".avatar")).to_have_text("RL")
    await expect(sofia.locator(".group.messenger")).to_be_visible()
    await row(sofia, cid).click()
    await sofia.locator("#assign-select").select_option("carla")
    await sofia.locator("#assign").click()
    await carla.locator("#tab-assigned").click()
    await expect(row(carla, cid)).to_contain_text("Hi from Messenger")
    await expect(sofia.locator("#conv-notice")).to_contain_text("Assigned to Carla Méndez")


async def test_keyboard_moves_through_the_list_and_opens_with_enter(running: Running, agent_page: OpenAgent) -> None:
    ana = await agent_page("ana")
    first = (await running.inbound("older", address="5511900000101"))["conversation_id"]
    second = (await running.inbound("newer", address="5511900000102"))["conversation_id"]
    await expect(row(ana, second)).to_be_visible()
    await row(ana, first).focus()  # the Inbox: oldest waiting first
    await ana.keyboard.press("ArrowDown")
    await expect(row(ana, second)).to_be_focused()
    await ana.keyboard.press("Enter")
    await expect(ana.locator("#conv-name")).to_have_text("+55 11 90000-0102")
    assert ana.url.endswith(f"#/c/{second}")
    for control in ("#editor", "#search-input", "#token-input"):
        assert await ana.locator(f"label[for='{control[1:]}']").count() == 1, control


async def test_demo_login_a_link_to_a_conversation_and_screenshots(running: Running, agent_page: OpenAgent) -> None:
    sofia_token = token("sofia")
    await running.http.put(
        f"{running.base}/api/contacts/whatsapp/5511987654321",
        json={"name": "João Conceição"},
        headers={"authorization": f"Bearer {sofia_token}"},
    )
    known = (await running.inbound("Olá! Meu pedido ainda não chegou, podem verificar?", address="5511987654321"))[
        "conversation_id"
    ]
    lisbon = (await running.inbound("Hi, do you ship to Lisbon?", address="5511900000002"))["conversation_id"]
    rosa = (
        await running.inbound("Hello, is the store open on Sunday?", touchpoint="fb", address="psid-77", profile_name="Rosa Lima")
    )["conversation_id"]

    page = await agent_page(None, fragment=f"#/c/{known}")  # e.g. opened from the desktop widget
    await expect(page.locator("#login")).to_be_visible()
    await expect(page.locator("button[data-agent=bruno]")).to_be_visible()
    await page.screenshot(path=shot_path("login"))
    await page.locator("button[data-agent=bruno]").click()
    await expect(page.locator("#conn-state")).to_have_text("Live")
    await expect(page.locator("#conv-name")).to_have_text("João Conceição")  # the link's conversation
    await expect(row(page, known).locator(".avatar")).to_have_text("JC")
    await page.locator("#claim").click()
    await page.locator("#editor").fill("Olá João! Vou verificar agora mesmo.")
    await page.locator("#send").click()
    await running.inbound("Obrigado! O número é 4471.", address="5511987654321")
    await expect(page.locator(".message")).to_have_count(3)
    await page.locator("#show-snapshot").click()
    await expect(page.locator(".card-name")).to_have_text("João Conceição")

    # Two more of Bruno's, with messages he has not read; a newcomer in the Inbox.
    bruno = running.node.app.catalog.agents["bruno"]
    for cid in (lisbon, rosa):
        await running.node.app.commands.claim(bruno, cid)
    await running.inbound("We are in Porto, actually.", address="5511900000002")
    await running.inbound("And on holidays?", touchpoint="fb", address="psid-77")
    await running.inbound("Boa tarde! Vocês têm a camiseta azul em M?", address="5511900000004")
    await expect(row(page, lisbon).locator(".unread")).to_have_text("2")
    await expect(row(page, rosa).locator(".unread")).to_have_text("2")
    await expect(page.locator("#count-inbox")).to_have_text("1")
    await page.screenshot(path=shot_path("conversation"))
    await page.keyboard.press("Escape")
    await page.locator("#tab-inbox").click()
    await page.screenshot(path=shot_path("inbox"))


async def test_log_out_revokes_the_token_and_returns_to_the_log_in(running: Running, agent_page: OpenAgent) -> None:
    ana = await agent_page("ana")
    used = await ana.evaluate("localStorage.getItem('switchboard.token')")
    await ana.locator("#logout").click()
    await expect(ana.locator("#login")).to_be_visible()
    assert await ana.evaluate("localStorage.getItem('switchboard.token')") is None
    r = await running.http.get(f"{running.base}/api/contacts", headers={"authorization": f"Bearer {used}"})
    assert r.status_code == 401 and r.json()["code"] == "token_revoked"
