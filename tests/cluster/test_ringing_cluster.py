"""One ringing screen per agent across nodes: two screens of one agent on
two nodes (one real Redis), one alert, exactly one ``ring`` frame in all;
the screen in front wins; the other takes over when it closes."""

from __future__ import annotations

import httpx
import redis.asyncio as redis

from protocol import messages as p
from tests.cluster.conftest import Cluster, wait_until
from tests.wsagent import WsAgent


def rings(agent: WsAgent) -> list[int]:
    return [f.seq for f in agent.others if isinstance(f, p.Ring)]


def alerts(agent: WsAgent) -> list[int]:
    return [e.seq for e in agent.events if isinstance(e.event, p.Alert)]


async def test_one_screen_rings_across_nodes_the_front_one_then_the_other(cluster: Cluster, http: httpx.AsyncClient) -> None:
    n1, n2 = await cluster.start(http, 2)
    here = await cluster.agent(n1, "ana")
    there = await cluster.agent(n2, "ana")
    assert (await n1.inbound(http, "Oi")).status_code == 200
    cid = (await here.event(p.InboxAdded, timeout=10)).conversation.id
    await here.call(p.Claim, conversation_id=cid)
    await here.call(p.Screen, front=True)

    # The screen in front (on n1) rings; the one on n2 hears the alert only.
    assert (await n2.inbound(http, "Are you there?")).status_code == 200
    await here.wait_for(lambda: rings(here), timeout=10)
    await there.wait_for(lambda: alerts(there), timeout=10)
    first = alerts(here)[0]
    assert rings(here) == [first] and alerts(there) == [first]

    # The screen on n2 comes to the front: it rings the next one, and (the
    # later ring is the barrier) never rang the first.
    await there.call(p.Screen, front=True)
    assert (await n1.inbound(http, "Hello??")).status_code == 200
    await there.wait_for(lambda: rings(there), timeout=10)
    second = alerts(there)[-1]
    assert rings(there) == [second] and second != first
    await here.wait_for(lambda: len(alerts(here)) == 2, timeout=10)
    await here.barrier()
    assert rings(here) == [first], "one ring per alert in total"

    # The front screen closes: the other (on n1) takes over.
    await there.close()
    client = redis.Redis.from_url(cluster.redis.url)
    try:
        await wait_until(lambda: _gone(client, "n2"), 10, "n2's screen to leave the fronts")
    finally:
        await client.aclose()
    assert (await n2.inbound(http, "Anyone?")).status_code == 200
    await here.wait_for(lambda: len(rings(here)) == 2, timeout=10)
    assert rings(here) == [first, alerts(here)[-1]]


async def _gone(client: redis.Redis, node: str) -> bool:
    return not await client.hexists("sb:fronts:ana", node)
