"""Customer text never steers the server, across two nodes sharing Redis
(tests/customer_text.py): the webhook goes in on one node, the agent watches
the thread on the other, so every publication crosses Redis pub/sub with its
kind beside it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from msgspec.structs import replace

from server.config import MetaSettings
from tests import customer_text as ct
from tests.conftest import make_config, start_node, token

ADDRESS = "5511977770002"


class Two:
    def __init__(self, post: ct.Post, agent: ct.Watcher, cid: str) -> None:
        self.post, self.agent, self.cid = post, agent, cid


@pytest.fixture
async def two(redis_url: str) -> AsyncIterator[Two]:
    started = []
    for node_id in ("n1", "n2"):
        config = make_config(redis_url=redis_url, node_id=node_id, commands_per_second=1e6, command_burst=10**6)
        config = replace(config, meta=MetaSettings(app_secret=ct.APP_SECRET, verify_token="v"))
        started.append((config, *await start_node(config)))
    webhook_node, agent_node = started[0][0], started[1][0]
    url = f"http://127.0.0.1:{webhook_node.server.port}/webhooks/whatsapp"
    async with httpx.AsyncClient() as http:

        async def post(body: bytes) -> int:
            return (await http.post(url, content=body, headers=ct.signed(body))).status_code

        agent = await ct.Watcher.connect(f"ws://127.0.0.1:{agent_node.ws_port}/ws", token("ana"), name="ana")
        try:
            yield Two(post, agent, await ct.open_thread(post, agent, ADDRESS))
        finally:
            await agent.close()
            for _, node, server, task in started:
                server.should_exit = True
                await task
                await node.stop()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(carrier=ct.carriers, word=ct.words)
@example(carrier="text", word="access.revoked")  # the report's cases, always tried
@example(carrier="note", word="conversation.updated")
async def test_protocol_words_cross_redis_as_text(two: Two, carrier: str, word: str) -> None:
    await ct.assert_shown_as_text(two.post, two.agent, two.cid, ADDRESS, carrier, word)


async def test_every_word_as_text_and_note_across_redis(two: Two) -> None:
    for carrier in ("text", "note"):
        for word in ct.WORDS:
            await ct.assert_shown_as_text(two.post, two.agent, two.cid, ADDRESS, carrier, word)
    # After every word, across two nodes: the same socket, still on the thread.
    assert two.agent.close_code is None and f"conv:{two.cid}" in two.agent.positions
