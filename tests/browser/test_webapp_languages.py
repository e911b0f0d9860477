"""The web app in Spanish and Brazilian Portuguese: the browser's language by
default, a switch that is remembered, `<html lang>` following it, and no
English left on the screen (every visible text and label is a catalog value
of the language, or data: names, messages, numbers)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import OpenAgent, row, shot_path
from tests.conftest import Running

# Everything a person reads on the screen: visible text nodes, the options of
# visible selects, and the title / aria-label / placeholder of visible elements.
SCREEN_TEXTS = """() => {
  const out = [];
  const shown = (el) => el && el.checkVisibility({ visibilityProperty: true });
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const text = n.textContent.trim();
    // initials in avatars are data; a select's options are read below
    if (text && shown(n.parentElement) && !n.parentElement.closest("select, .avatar")) out.push(["text", text]);
  }
  for (const el of document.body.querySelectorAll("*")) {
    if (!shown(el)) continue;
    for (const attr of ["title", "aria-label", "placeholder"]) {
      const value = el.getAttribute(attr);
      if (value && value.trim()) out.push([attr, value.trim()]);
    }
    if (el.tagName === "SELECT" && el.id !== "lang-select" && el.id !== "login-lang-select") {
      for (const o of el.options) out.push(["option", o.textContent.trim()]);
    }
  }
  return out;
}"""


def pattern(entry: str) -> re.Pattern[str]:
    """A catalog entry as a whole-text pattern: its {placeholders} stand for anything."""
    parts = re.split(r"\{\w+\}", entry)
    return re.compile("(?s)" + ".+?".join(re.escape(p.strip() if i in (0, len(parts) - 1) else p) for i, p in enumerate(parts)))


def forms(entry: Any) -> list[str]:
    return list(entry.values()) if isinstance(entry, dict) else [entry]


async def catalogs(page: Page) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = await page.evaluate("import('/js/i18n.js').then((m) => m.CATALOGS)")
    return result


# The words Intl writes in dates of the language (months, weekdays, "de"…).
DATE_WORDS = """(lang) => {
  const words = new Set();
  const add = (s) => s.split(/[^\\p{L}]+/u).forEach((w) => w && words.add(w.toLowerCase()));
  for (let m = 0; m < 12; m++) {
    const d = new Date(Date.UTC(2026, m, 6 + (m % 7), 12));
    for (const o of [{ month: "long" }, { month: "short" }, { weekday: "long" }, { weekday: "short" }])
      add(new Intl.DateTimeFormat(lang, o).format(d));
    add(new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" }).format(d));
    add(new Intl.DateTimeFormat(lang, { weekday: "long", month: "long", day: "numeric" }).format(d));
  }
  return [...words];
}"""


async def english_left(page: Page, lang: str, data: list[str]) -> list[str]:
    """What the screen shows that is not the language's: English catalog
    values (where the language says otherwise), and any text that is neither
    a catalog value of `lang` nor data."""
    cats = await catalogs(page)
    en, target = cats["en"], cats[lang]
    english = [pattern(f) for k, e in en.items() if forms(e) != forms(target[k]) for f in forms(e)]
    ours = [pattern(f) for e in target.values() for f in forms(e)]
    date_words = set(await page.evaluate(DATE_WORDS, lang))
    wrong = []
    for where, text in await page.evaluate(SCREEN_TEXTS):
        words = [w for w in re.findall(r"[^\W\d_]{2,}", text) if w.lower() not in date_words]
        if not words:  # numbers, dates and times through Intl, symbols
            continue
        if any(text == d or (len(d) > 3 and d in text) for d in data):
            continue
        if any(p.fullmatch(text) for p in ours):
            continue
        wrong.append(f"{where}: {text!r}" + (" (English)" if any(p.fullmatch(text) for p in english) else ""))
    return wrong


async def agents_data(running: Running) -> list[str]:
    agents = (await running.http.get(f"{running.base}/api/dev/agents")).json()
    names = [a["name"] for a in agents] + [q for a in agents for q in a["queues"]]
    touchpoints = [t.name for t in running.node.config.touchpoints]
    templates = [f"{t.name} ({t.language})" for t in running.node.config.templates]
    texts = [t.text for t in running.node.config.templates]
    return [*names, *touchpoints, *templates, *texts, *running.node.config.dispositions, "Switchboard", "WhatsApp", "Messenger"]


@pytest.mark.parametrize("lang", ["es", "pt-BR"])
async def test_the_app_speaks_the_browsers_language_with_no_english_left(
    running: Running, agent_page: OpenAgent, lang: str
) -> None:
    data = await agents_data(running)
    # The log-in card, before anyone logs in.
    login = await agent_page(None, locale=lang)
    await expect(login.locator("#demo-login")).to_be_visible()
    assert await login.evaluate("document.documentElement.lang") == lang
    assert await english_left(login, lang, data) == []

    # The working screen: a conversation taken, a reply sent, the notes open.
    customer = "Olá, quero saber do meu pedido"
    made = await running.inbound(customer, address="5511987650001")
    cid = made["conversation_id"]
    page = await agent_page("ana", locale=lang)
    assert await page.evaluate("document.documentElement.lang") == lang
    await row(page, cid).click()
    await page.locator("#claim").click()
    await expect(page.locator("#editor")).to_be_enabled()
    await page.locator("#editor").fill("Un momento, por favor")
    await page.locator("#send").click()
    await expect(page.locator("#thread .message.out")).to_have_count(1)
    await page.locator("#show-notes").click()
    await expect(page.locator("#notes")).to_be_visible()
    data += [customer, "Un momento, por favor", "+55 11 98765-0001", "+5511987650001"]
    assert await english_left(page, lang, data) == []
    await page.screenshot(path=str(shot_path(f"webapp-{lang}")))

    # The new-conversation dialog.
    await page.locator("#new-conversation").click()
    await expect(page.locator("#start-dialog")).to_be_visible()
    assert await english_left(page, lang, data) == []
    await page.locator("#start-cancel").click()

    # The chat ended: the notice and the wrap-up form.
    await page.locator("#end-chat").click()
    await expect(page.locator("#end-dialog")).to_be_visible()
    assert await english_left(page, lang, data) == []  # End Chat's confirmation
    await page.locator("#end-confirm").click()
    await expect(page.locator("#wrapup")).to_be_visible()
    assert await english_left(page, lang, data) == []


async def test_the_language_switch_is_remembered_and_redraws_the_screen(running: Running, agent_page: OpenAgent) -> None:
    cid = (await running.inbound("hola"))["conversation_id"]
    page = await agent_page("ana", locale="pt-BR")
    await expect(page.locator("#claim")).to_be_hidden()
    await row(page, cid).click()
    await expect(page.locator("#claim")).to_have_text("Pegar conversa")
    await expect(page.locator("#conn-state")).to_have_text("Ao vivo")

    await page.locator("#lang-select").select_option("es")
    assert await page.evaluate("document.documentElement.lang") == "es"
    await expect(page.locator("#claim")).to_have_text("Tomar conversación")
    await expect(page.locator("#conv-notice")).to_have_text("En la bandeja de entrada: tómala para responder.")
    await expect(page.locator("#conn-state")).to_have_text("En línea")
    await expect(page.locator("#tab-inbox")).to_contain_text("Bandeja de entrada")

    # What was already drawn follows too: the thread's day and the delivery words.
    await expect(page.locator("#thread .day")).to_have_text(await page.evaluate(
        "new Intl.DateTimeFormat('es', { weekday: 'long', month: 'long', day: 'numeric' }).format(new Date())"
    ))

    await page.reload()  # remembered over the browser's pt-BR
    await expect(page.locator("#conn-state")).to_have_text("En línea")
    assert await page.evaluate("document.documentElement.lang") == "es"
    assert await page.locator("#lang-select").input_value() == "es"


async def test_a_refusal_from_the_server_is_shown_in_the_agents_language(running: Running, agent_page: OpenAgent) -> None:
    page = await agent_page("ana", locale="es")
    await page.locator("#new-conversation").click()
    await page.locator("#start-address").fill("no es un número")
    await page.locator("#start-params input").first.fill("Marta")
    await page.locator("#start-submit").click()
    # invalid_address, in the agent's words (not the server's English message)
    await expect(page.locator("#start-error")).to_have_text(
        "Eso no es un número de teléfono ni un id de usuario al que se pueda enviar un mensaje."
    )
