"""The authorization matrix (tests/authz.py) on one node."""

from __future__ import annotations

from typing import Any

import pytest

from server.config import Config
from tests import authz
from tests.conftest import Running, make_config, token
from tests.wsagent import WsAgent


@pytest.fixture
def config() -> Config:
    return make_config(window=authz.WINDOW)


class OneNode:
    def __init__(self, running: Running) -> None:
        self.running = running
        self.http = running.http

    async def agent(self, agent_id: str, node: int, *, tok: str | None = None) -> WsAgent:
        a = await WsAgent.connect(self.running.ws_url, tok or token(agent_id), name=agent_id)
        self.running.agents.append(a)
        return a

    async def inbound(self, text: str, *, address: str, touchpoint: str = "wa", node: int = 0) -> dict[str, Any]:
        return await self.running.inbound(text, address=address, touchpoint=touchpoint)

    def base(self, node: int) -> str:
        return self.running.base


async def test_commands_matrix(running: Running) -> None:
    t = OneNode(running)
    await authz.check_commands(t, await authz.setup(t))


async def test_events_matrix(running: Running) -> None:
    t = OneNode(running)
    ids = await authz.setup(t)

    async def deliver(message_id: str) -> None:  # what a channel's status report does
        assert await running.node.app.intake.delivery(message_id, "delivered")

    kinds = await authz.check_events(t, ids, deliver=deliver)
    assert kinds == authz.ALL_KINDS, f"not exercised: {authz.ALL_KINDS - kinds}"
