"""A node wired to a local stand-in for Meta: webhooks go in through the
node's real HTTP port, sends come out to ``MetaStub``, agents watch on real
websockets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec
import pytest
from msgspec.structs import replace

from protocol import messages as p
from server.channels.signature import HEADER, sign
from server.config import Config, MetaSettings
from tests.channels import payloads as pl
from tests.channels.metastub import MetaStub
from tests.conftest import Running, make_config, start_node
from tests.wsagent import WsAgent

APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
TOKENS = {"wa": "EAAtoken-wa", "fb": "EAAtoken-fb"}


def channel_config(stub: MetaStub, *, window: float = 3600, data: str = ":memory:", **meta: Any) -> Config:
    """tests/conftest.py's contact center, pointed at the stand-in, with short
    timeouts and backoff so retries take milliseconds."""
    config = make_config(window=window, data=data)
    settings = dict(
        app_secret=APP_SECRET,
        verify_token=VERIFY_TOKEN,
        graph_api_base=stub.base,
        timeout_seconds=0.5,
        connect_timeout_seconds=0.5,
        backoff_seconds=0.02,
        backoff_max_seconds=0.1,
        lease_seconds=1.5,
        sweep_seconds=0.2,
    )
    settings.update(meta)
    touchpoints = [replace(tp, access_token=TOKENS.get(tp.id, "")) for tp in config.touchpoints]
    return replace(config, meta=MetaSettings(**settings), touchpoints=touchpoints)  # type: ignore[arg-type]


class Hub(Running):
    """A running node plus Meta's two sides: webhooks in, the Graph API stand-in out."""

    def __init__(self, running: Running, meta: MetaStub) -> None:
        super().__init__(running.node, running.http)
        self.meta = meta

    async def post(self, channel: str, payload: dict[str, Any] | bytes, *, signature: str | None = None, secret: str = APP_SECRET) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else msgspec.json.encode(payload)
        headers = {"Content-Type": "application/json"}
        if signature is None:
            headers[HEADER] = sign(secret, body)
        elif signature:
            headers[HEADER] = signature
        return await self.http.post(f"{self.base}/webhooks/{channel}", content=body, headers=headers)

    async def whatsapp(self, payload: dict[str, Any] | bytes, **kw: Any) -> httpx.Response:
        return await self.post("whatsapp", payload, **kw)

    async def messenger(self, payload: dict[str, Any] | bytes, **kw: Any) -> httpx.Response:
        return await self.post("messenger", payload, **kw)

    def counted(self, channel: str, event: str) -> float:
        return self.node.metrics.channel.value(channel, event)

    async def assigned_whatsapp(self, agent: WsAgent, text: str = "Hola", **kw: Any) -> p.ConversationSummary:
        """A customer writes on WhatsApp; the agent takes the conversation and opens the thread."""
        assert (await self.whatsapp(pl.wa_inbound(pl.wa_text(text), **kw))).status_code == 200
        added = await agent.event(p.InboxAdded, lambda e: e.conversation.preview == text)
        result = await agent.call(p.Claim, conversation_id=added.conversation.id)
        await agent.call(p.Open, conversation_id=added.conversation.id)  # thread events: conv:<id>
        return result.conversation

    async def assigned_messenger(self, agent: WsAgent, text: str = "Hi there", **kw: Any) -> p.ConversationSummary:
        assert (await self.messenger(pl.fb_envelope(pl.fb_text(text, **kw)))).status_code == 200
        added = await agent.event(p.InboxAdded, lambda e: e.conversation.preview == text)
        result = await agent.call(p.Claim, conversation_id=added.conversation.id)
        await agent.call(p.Open, conversation_id=added.conversation.id)  # thread events: conv:<id>
        return result.conversation


async def serve(config: Config, meta: MetaStub) -> AsyncIterator[Hub]:
    node, server, task = await start_node(config)
    async with httpx.AsyncClient() as http:
        hub = Hub(Running(node, http), meta)
        try:
            yield hub
        finally:
            for a in hub.agents:
                await a.close()
            server.should_exit = True
            await task
            await node.stop()


@pytest.fixture
async def meta() -> AsyncIterator[MetaStub]:
    stub = MetaStub(tokens={"100200300": TOKENS["wa"], "me": TOKENS["fb"]})
    await stub.start()
    yield stub
    await stub.stop()


@pytest.fixture
def window() -> float:
    return 3600


@pytest.fixture
async def hub(meta: MetaStub, window: float) -> AsyncIterator[Hub]:
    async for h in serve(channel_config(meta, window=window), meta):
        yield h
