"""Drafts are pruned (server/static/js/drafts.js): at start and after a
wrap-up, drafts of ended conversations and drafts older than 14 days leave
localStorage; the others stay. Real Chromium, a real node."""

from __future__ import annotations

import json

from playwright.async_api import expect

from tests.browser.conftest import OpenAgent, row
from tests.conftest import Running

DAY_MS = 24 * 3600 * 1000


def key(conv_id: str) -> str:
    return f"switchboard.draft.ana.{conv_id}"


async def test_drafts_of_ended_and_old_conversations_are_pruned_at_start_and_on_wrap_up(
    running: Running, agent_page: OpenAgent
) -> None:
    ana_agent = running.node.app.catalog.agents["ana"]
    commands = running.node.app.commands
    open_id = (await running.inbound("Still there?", address="5511900000201"))["conversation_id"]
    ended_id = (await running.inbound("Thanks, bye", address="5511900000202"))["conversation_id"]
    for cid in (open_id, ended_id):
        await commands.claim(ana_agent, cid)
    await commands.end(ana_agent, ended_id)  # in her To wrap up list

    ana = await agent_page("ana")
    now = await ana.evaluate("Date.now()")
    drafts = {
        key(open_id): {"text": "typing to an open one", "at": now - DAY_MS},
        key(ended_id): {"text": "too late for this one", "at": now - DAY_MS},
        key("c_long_gone"): {"text": "weeks old", "at": now - 15 * DAY_MS},
    }
    await ana.evaluate(
        "drafts => { for (const [k, v] of Object.entries(drafts)) localStorage.setItem(k, JSON.stringify(v)); }", drafts
    )
    await ana.reload()
    await expect(ana.locator("#conn-state")).to_have_text("Live")
    stored = await ana.evaluate("keys => keys.map(k => localStorage.getItem(k))", list(drafts))
    assert [json.loads(s)["text"] if s else None for s in stored] == ["typing to an open one", None, None]

    # The open one ends; its draft stays until the next start or wrap-up.
    await ana.locator("#tab-assigned").click()
    await row(ana, open_id).click()
    await expect(ana.locator("#editor")).to_have_value("typing to an open one")
    await commands.end(ana_agent, open_id)
    await expect(ana.locator("#wrapup")).to_be_visible()
    assert await ana.evaluate("k => localStorage.getItem(k) !== null", key(open_id))
    # Wrapping up the other one prunes it.
    await ana.locator(f'#to-wrap-up-rows [data-conv-id="{ended_id}"]').click()
    await ana.locator("#wrapup-disposition").select_option("Resolved")
    await ana.locator("#wrapup button[type=submit]").click()
    await ana.wait_for_function("k => localStorage.getItem(k) === null", arg=key(open_id))
