"""Routing on three nodes sharing a real Redis: a burst into an automatic
queue is offered within capacity and oldest first, waits in arrival order
and drains in order as agents end chats; an offer whose agent's node dies
moves on after its deadline.

The burst's size is a parameter: ``ROUTING_BURST=1000x50`` (conversations
x agents, room for 2 each here) runs the issue's full size; ``make test``
runs 60 x 10."""

from __future__ import annotations

import asyncio
import os

import httpx

from protocol import messages as p
from tests.cluster.conftest import RACERS, Cluster, wait_until
from tests.wsagent import CommandError, WsAgent

ROUTING = "\n".join(
    [
        "capacity = 40",  # two WhatsApp conversations each
        "offer_timeout_seconds = 30.0",
        "presence_grace_seconds = 30.0",
        "heartbeat_seconds = 0.5",
        "sweep_seconds = 60.0",  # the safety net stays out of the way: routing here is event-driven
    ]
)
CONVERSATIONS, AGENTS = (int(n) for n in os.environ.get("ROUTING_BURST", "60x10").split("x"))


def rung(agent: WsAgent) -> list[p.OfferRung]:
    return agent.received(p.OfferRung)


async def test_a_burst_on_three_nodes_is_offered_within_capacity_and_drains_in_order(
    cluster: Cluster, http: httpx.AsyncClient
) -> None:
    # Offers ring long enough that none times out on a busy machine: the order checked here is the line's.
    nodes = await cluster.start(http, 3, routing=ROUTING.replace("offer_timeout_seconds = 30.0", "offer_timeout_seconds = 600.0"))
    agents = [await cluster.agent(nodes[i % 3], RACERS[i]) for i in range(AGENTS)]
    for a in agents:
        await a.call(p.SetStatus, status="available")
    sem = asyncio.Semaphore(16)

    async def send(i: int) -> str:
        async with sem:
            r = await nodes[i % 3].inbound(http, f"n{i}", address=f"55119{i:06}")
            assert r.status_code == 200, r.text
            return str(r.json()["conversation_id"])

    sent = await asyncio.gather(*(send(i) for i in range(CONVERSATIONS)))
    room = min(CONVERSATIONS, 2 * AGENTS)
    await wait_until(lambda: sum(len(rung(a)) for a in agents) >= room, 60, "the offers")
    sofia = await cluster.agent(nodes[0], "sofia")
    assert sofia.snapshot is not None
    floor = sofia.snapshot.floors[0]
    assert len(floor.ringing) == room and floor.waiting == CONVERSATIONS - room
    assert all(a.load <= a.capacity for a in floor.agents)
    offers = [e for a in agents for e in rung(a)]
    assert len({o.offer.conversation_id for o in offers}) == len(offers) == room  # one offer each, no agent twice over
    assert all(len(rung(a)) == 2 for a in agents)
    # the oldest rang: nobody waiting arrived before any that rang
    waiting = (await sofia.call(p.InboxPage, queue_id="sales", limit=500)).conversations
    ringing = {o.conversation_id for o in floor.ringing}  # Inbox rows carry no offer: the floor says what rings
    waiting = [c for c in waiting if c.id not in ringing]
    assert len(waiting) == CONVERSATIONS - room
    offered_last = max((o.conversation.created_at, o.conversation.id) for o in offers)
    assert all((c.created_at, c.id) > offered_last for c in waiting)
    assert len(set(sent)) == CONVERSATIONS

    for a in agents:
        for o in rung(a):
            await a.call(p.AcceptOffer, conversation_id=o.offer.conversation_id)
    # each End Chat rings the oldest waiting one, on whichever node routes it
    line = sorted(waiting, key=lambda c: (c.created_at, c.id))
    for step, expected in enumerate(line[: min(6, len(line))]):
        a = agents[step % len(agents)]
        held = [e.conversation.id for e in a.received(p.AssignedAdded)]
        ended = {e.conversation_id for e in a.received(p.AssignedRemoved)}
        before = len(rung(a))
        await a.call(p.EndChat, conversation_id=next(c for c in held if c not in ended))
        await a.wait_for(lambda a=a, n=before: len(rung(a)) > n, 10)
        got = rung(a)[before].offer.conversation_id
        # (An agent read emptier than they were, once, rang the oldest elsewhere: see Router._held.)
        assert got == expected.id, f"{a.name} was offered {got}, not the oldest waiting {expected.id}"
        await a.call(p.AcceptOffer, conversation_id=expected.id)
    after = await cluster.agent(nodes[1], "sofia")
    assert after.snapshot is not None
    assert all(x.load <= x.capacity for x in after.snapshot.floors[0].agents), after.snapshot.floors[0]


async def test_an_offer_whose_agents_node_dies_moves_on_after_its_deadline(cluster: Cluster, http: httpx.AsyncClient) -> None:
    nodes = await cluster.start(http, 3, routing=ROUTING.replace("offer_timeout_seconds = 30.0", "offer_timeout_seconds = 1.5"))
    ana = await cluster.agent(nodes[0], "ana")
    await ana.call(p.SetStatus, status="available")
    cid = (await nodes[1].inbound(http, "Olá")).json()["conversation_id"]
    await ana.event(p.OfferRung, timeout=10)
    bruno = await cluster.agent(nodes[2], "bruno")
    await bruno.call(p.SetStatus, status="available")
    nodes[0].kill()  # ana's node: her screen is gone, her status stays for the grace (30 s)
    ring = await bruno.event(p.OfferRung, timeout=10)  # the deadline (1.5 s) moved it on
    assert ring.offer.conversation_id == cid
    thread = await bruno.call(p.Open, conversation_id=cid)
    assert [m.meta["event"] for m in thread.messages if m.kind == "timeline"] == ["offered", "timed_out", "offered"]


async def settle(agent: WsAgent) -> None:
    """Accept what rings for this agent (an offer gone meanwhile is fine)."""
    for o in list(agent.received(p.OfferRung)):
        if o.offer.conversation_id in agent.accepted:  # type: ignore[attr-defined]
            continue
        agent.accepted.add(o.offer.conversation_id)  # type: ignore[attr-defined]
        try:
            await agent.call(p.AcceptOffer, conversation_id=o.offer.conversation_id)
        except CommandError:
            pass


async def test_draining_with_a_node_killed_and_agents_flapping_keeps_the_invariants(
    cluster: Cluster, http: httpx.AsyncClient
) -> None:
    routing = ROUTING.replace("offer_timeout_seconds = 30.0", "offer_timeout_seconds = 2.0")
    nodes = await cluster.start(http, 3, routing=routing)
    names = RACERS[:8]
    agents = {n: await cluster.agent(nodes[i % 3], n) for i, n in enumerate(names)}
    for a in agents.values():
        a.accepted = set()  # type: ignore[attr-defined]
        await a.call(p.SetStatus, status="available")
    for i in range(40):
        assert (await nodes[i % 3].inbound(http, f"n{i}", address=f"55118{i:06}")).status_code == 200
    await wait_until(lambda: sum(len(rung(a)) for a in agents.values()) >= 16, 30, "the first offers")
    for round_ in range(6):
        if round_ == 3:
            nodes[2].kill()  # mid-drain: its agents come back on the first node
            for i, n in enumerate(names):
                if i % 3 == 2:
                    agents[n] = await cluster.agent(nodes[0], n)
                    agents[n].accepted = set()  # type: ignore[attr-defined]
        for i, a in enumerate(agents.values()):
            await settle(a)
            if (round_ + i) % 4 == 0:  # flapping
                await a.call(p.SetStatus, status="away")
                await a.call(p.SetStatus, status="available")
            mine = [e.conversation.id for e in a.received(p.AssignedAdded)]
            gone = {e.conversation_id for e in a.received(p.AssignedRemoved)}
            open_ = [c for c in mine if c not in gone]
            if open_:
                try:
                    await a.call(p.EndChat, conversation_id=open_[0])
                except CommandError:
                    pass

    async def quiet() -> bool:
        sofia = await nodes[0].agent("sofia")
        await sofia.close()
        assert sofia.snapshot is not None
        floor = sofia.snapshot.floors[0]
        assert all(a.load <= a.capacity for a in floor.agents), floor  # never over capacity
        room = [a for a in floor.agents if a.status == "available" and a.capacity - a.load >= 20]
        return floor.waiting == 0 or not room  # nobody waits while someone has room

    ended = sum(len(a.received(p.AssignedRemoved, lambda e: e.reason == "ended")) for a in agents.values())
    assert ended >= 12, ended  # the drain did drain
    await wait_until(quiet, 30, "the floor to settle")
    # never two owners: every agent's list, from fresh snapshots, is disjoint from the others'
    seen: dict[str, str] = {}
    for n in names:
        snap = await nodes[0].agent(n)
        assert snap.snapshot is not None
        for c in snap.snapshot.assigned:
            assert c.id not in seen, f"{c.id} is held by {seen[c.id]} and {n}"
            assert c.assignee_id == n
            seen[c.id] = n
        await snap.close()


async def test_a_screen_back_on_another_node_within_the_grace_keeps_status_and_offers(
    cluster: Cluster, http: httpx.AsyncClient
) -> None:
    nodes = await cluster.start(http, 2, routing=ROUTING)
    ana = await cluster.agent(nodes[0], "ana")
    await ana.call(p.SetStatus, status="available")
    cid = (await nodes[1].inbound(http, "Olá")).json()["conversation_id"]
    await ana.event(p.OfferRung, timeout=10)
    nodes[0].kill()  # the node goes, with her screen; the grace is 30 s
    back = await cluster.agent(nodes[1], "ana")
    assert back.snapshot is not None and back.snapshot.status is not None
    assert back.snapshot.status.status == "available"
    assert [o.offer.conversation_id for o in back.snapshot.offers] == [cid]
    assert (await back.call(p.AcceptOffer, conversation_id=cid)).conversation.assignee_id == "ana"
