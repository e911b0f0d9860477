"""The authorization matrix (tests/authz.py) across two nodes sharing Redis:
the actors on one node, the agents who must hear nothing on the other."""

from __future__ import annotations

from typing import Any

import httpx

from tests import authz
from tests.cluster.conftest import Cluster
from tests.conftest import token
from tests.wsagent import WsAgent


class TwoNodes:
    def __init__(self, cluster: Cluster, http: httpx.AsyncClient) -> None:
        self.cluster = cluster
        self.http = http

    async def agent(self, agent_id: str, node: int, *, tok: str | None = None) -> WsAgent:
        a = await WsAgent.connect(self.cluster.nodes[node].ws_url, tok or token(agent_id), name=f"{agent_id}@{node}")
        self.cluster.agents.append(a)
        return a

    async def inbound(self, text: str, *, address: str, touchpoint: str = "wa", node: int = 0) -> dict[str, Any]:
        r = await self.cluster.nodes[node].inbound(self.http, text, address=address, touchpoint=touchpoint)
        assert r.status_code == 200, r.text
        return r.json()

    def base(self, node: int) -> str:
        return self.cluster.nodes[node].base


async def test_commands_matrix_across_nodes(cluster: Cluster, http: httpx.AsyncClient) -> None:
    await cluster.start(http, 2, whatsapp_window=authz.WINDOW)
    t = TwoNodes(cluster, http)
    await authz.check_commands(t, await authz.setup(t))


async def test_events_matrix_across_nodes(cluster: Cluster, http: httpx.AsyncClient) -> None:
    await cluster.start(http, 2, whatsapp_window=authz.WINDOW)
    t = TwoNodes(cluster, http)
    kinds = await authz.check_events(t, await authz.setup(t))
    # Delivery reports need a channel (tests/channels); every other kind crossed the nodes here.
    assert kinds == authz.ALL_KINDS - {"message.updated"}, f"not exercised: {authz.ALL_KINDS - kinds}"
