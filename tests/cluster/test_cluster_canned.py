"""Canned responses on a cluster: kept in the shared Redis, an edit on one
node reaches the screens on the others live."""

from __future__ import annotations

import httpx

from protocol import messages as p
from tests.cluster.conftest import Cluster


async def test_an_edit_on_one_node_reaches_agents_on_another_and_stays(cluster: Cluster, http: httpx.AsyncClient) -> None:
    n1, n2 = await cluster.start(http, 2)
    sofia = await cluster.agent(n1, "sofia")
    ana = await cluster.agent(n2, "ana")
    saved = await sofia.call(p.SaveCanned, list_id="queue:sales", shortcut="ola", text="Olá {{contact.name}}!")
    heard = await ana.event(p.CannedUpdated)
    assert heard.canned == saved.canned
    edited = await sofia.call(
        p.SaveCanned, list_id="queue:sales", response_id=saved.canned.responses[0].id, shortcut="ola", text="Bom dia!"
    )
    assert (await ana.event(p.CannedUpdated, lambda e: e.canned.version == 2)).canned == edited.canned
    # Another node reads the same list from Redis.
    bruno = await cluster.agent(n1, "bruno")
    assert bruno.snapshot is not None
    assert [c for c in bruno.snapshot.canned if c.list_id == "queue:sales"] == [edited.canned]
