"""Customer text never steers the server, on one node (memory broker): see
tests/customer_text.py. A message whose text is an event name used to make the
hub assert on it: the webhook answered 503 and Meta's retry was dropped as a
duplicate, so the message was lost."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from msgspec.structs import replace

from protocol import messages as p
from server.broker import frame_bytes
from server.config import MetaSettings
from server.ws.hub import Hub
from tests import customer_text as ct
from tests.conftest import make_config, start_node, token

ADDRESS = "5511977770001"


class One:
    def __init__(self, post: ct.Post, agent: ct.Watcher, cid: str) -> None:
        self.post, self.agent, self.cid = post, agent, cid


@pytest.fixture
async def one() -> AsyncIterator[One]:
    config = make_config(commands_per_second=1e6, command_burst=10**6)
    config = replace(config, meta=MetaSettings(app_secret=ct.APP_SECRET, verify_token="v"))
    node, server, task = await start_node(config)
    url = f"http://127.0.0.1:{config.server.port}/webhooks/whatsapp"
    async with httpx.AsyncClient() as http:

        async def post(body: bytes) -> int:
            return (await http.post(url, content=body, headers=ct.signed(body))).status_code

        agent = await ct.Watcher.connect(f"ws://127.0.0.1:{config.ws_port}/ws", token("ana"), name="ana")
        try:
            yield One(post, agent, await ct.open_thread(post, agent, ADDRESS))
        finally:
            await agent.close()
            server.should_exit = True
            await task
            await node.stop()


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(carrier=ct.carriers, word=ct.words)
@example(carrier="text", word="access.revoked")  # the report's cases, always tried
@example(carrier="note", word="conversation.updated")
async def test_protocol_words_from_a_customer_reach_the_thread_as_text(one: One, carrier: str, word: str) -> None:
    await ct.assert_shown_as_text(one.post, one.agent, one.cid, ADDRESS, carrier, word)


async def test_every_word_by_every_carrier(one: One) -> None:
    """Each word of the protocol alone, by each carrier: the exact case of the
    report (a text that is just ``access.revoked``), which random draws could miss.
    Fragments and mixes are the property test's."""
    for carrier in ("text", "caption", "profile_name", "note"):
        for word in ct.WORDS:
            await ct.assert_shown_as_text(one.post, one.agent, one.cid, ADDRESS, carrier, word)


def test_a_frame_that_does_not_hold_the_event_its_kind_names_is_not_acted_on(caplog: pytest.LogCaptureFixture) -> None:
    """The hub decodes a frame only when its kind says it must act, and then
    checks what it decoded: a mismatch or unreadable bytes are logged, never
    raised into the publisher (a webhook would answer 503)."""
    note = p.NoteAdded(note=p.NoteView(id="n1", conversation_id="c1", author_id="ana", text="access.revoked", at=1))
    revoked = p.AccessRevoked(token_id="t1")
    assert Hub._body(frame_bytes("agent:ana", 1, p.encoder.encode(note)), p.AccessRevoked) is None
    assert Hub._body(b'{"type":"event","stream":"agent:ana"', p.AccessRevoked) is None
    assert Hub._body(frame_bytes("agent:ana", 2, p.encoder.encode(revoked)), p.AccessRevoked) == revoked
    assert [r.levelname for r in caplog.records] == ["ERROR", "ERROR"]
