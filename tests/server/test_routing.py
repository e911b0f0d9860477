"""Routing on one node, on real sockets: status, offers ringing and
accepted, declines and timeouts moving on, the waiting line draining oldest
first as agents end chats, transfers with a note, presence's grace period,
and the supervisor's live floor."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from msgspec.structs import replace

from protocol import errors
from protocol import messages as p
from server.config import Config, RoutingSettings
from server.core.model import Agent, Queue
from tests.conftest import Running, make_config, start_node
from tests.wsagent import CommandError, WsAgent

SETTINGS = RoutingSettings(
    capacity=40,  # two WhatsApp conversations of weight 20
    offer_timeout_seconds=0.8,
    timeouts_before_away=2,
    presence_grace_seconds=0.8,
    heartbeat_seconds=0.1,
    sweep_seconds=60,  # the safety net never runs: every test here is event-driven
)


def routed_config(agents: int = 0, **routing: Any) -> Config:
    """``sales`` routes automatically; ``support`` stays manual. ``agents``
    more sales agents named a00, a01…"""
    base = make_config()
    extra = [Agent(id=f"a{i:02}", name=f"Agent {i}", queues=("sales",)) for i in range(agents)]
    return replace(
        base,
        queues=[Queue(id="sales", name="Sales", routing="automatic"), Queue(id="support", name="Support")],
        agents=[*base.agents, *extra],
        routing=replace(SETTINGS, **routing),
    )


@pytest.fixture
def config() -> Config:
    return routed_config()


async def available(running: Running, agent_id: str) -> WsAgent:
    agent = await running.agent(agent_id)
    result = await agent.call(p.SetStatus, status="available")
    assert result.agent.status == "available"
    return agent


def rung(agent: WsAgent) -> list[str]:
    return [e.offer.conversation_id for e in agent.received(p.OfferRung)]


async def test_status_is_set_and_seen_and_starts_offline(running: Running) -> None:
    ana = await running.agent("ana")
    assert ana.snapshot is not None and ana.snapshot.status is not None
    assert ana.snapshot.status.status == "offline"
    result = await ana.call(p.SetStatus, status="available")
    assert result.agent == (await ana.event(p.AgentStatusChanged)).agent
    assert result.agent.capacity == 40 and result.agent.load == 0
    other = await running.agent("ana")
    assert other.snapshot is not None and other.snapshot.status is not None
    assert other.snapshot.status.status == "available"


async def test_a_new_conversation_rings_and_is_accepted_with_a_timeline(running: Running) -> None:
    ana = await available(running, "ana")
    cid = (await running.inbound("Olá"))["conversation_id"]
    offer = await ana.event(p.OfferRung)
    assert offer.offer.conversation_id == cid and offer.offer.agent_id == "ana"
    assert offer.conversation.offer is not None
    alert = await ana.event(p.Alert)  # an offer alerts like a new message (and rings one screen: test_alerts)
    assert alert.reason == "offer" and alert.conversation_id == cid
    result = await ana.call(p.AcceptOffer, conversation_id=cid)
    assert result.conversation.assignee_id == "ana" and result.conversation.offer is None
    await ana.event(p.AssignedAdded, lambda e: e.conversation.id == cid)
    withdrawn = await ana.event(p.OfferWithdrawn)
    assert withdrawn.reason == "accepted"
    thread = await ana.call(p.Open, conversation_id=cid)
    timeline = [m.meta["event"] for m in thread.messages if m.kind == "timeline"]
    assert timeline == ["offered", "accepted"]


async def test_nothing_rings_for_an_agent_who_is_away_or_in_a_manual_queue(running: Running) -> None:
    ana = await running.agent("ana")
    await ana.call(p.SetStatus, status="away")
    carla = await available(running, "carla")  # support: manual
    await running.inbound("Hi", touchpoint="fb", address="77")
    cid = (await running.inbound("Olá"))["conversation_id"]
    sofia = await running.agent("sofia")
    floor = sofia.snapshot.floors[0] if sofia.snapshot else None
    assert floor is not None and floor.waiting == 1 and floor.oldest_waiting_at is not None
    assert await ana.received_by_now(p.OfferRung) == []
    assert await carla.received_by_now(p.OfferRung) == []
    await ana.call(p.SetStatus, status="available")  # room frees: the waiting one rings at once
    assert (await ana.event(p.OfferRung)).offer.conversation_id == cid


async def test_decline_moves_it_to_the_next_agent(running: Running) -> None:
    ana = await available(running, "ana")
    bruno = await available(running, "bruno")
    cid = (await running.inbound("Olá"))["conversation_id"]
    first, second = (ana, bruno) if (await wait_rung(ana, bruno)) == "ana" else (bruno, ana)
    await first.call(p.DeclineOffer, conversation_id=cid)
    assert (await second.event(p.OfferRung)).offer.conversation_id == cid
    with pytest.raises(CommandError) as e:
        await first.call(p.AcceptOffer, conversation_id=cid)
    assert e.value.code == errors.NO_OFFER


async def wait_rung(*agents: WsAgent) -> str:
    def who() -> str | None:
        for a in agents:
            if a.received(p.OfferRung):
                return a.name
        return None

    for _ in range(100):
        found = who()
        if found:
            return found
        await asyncio.wait([asyncio.ensure_future(a.wait_for(lambda a=a: a.received(p.OfferRung), 5)) for a in agents], return_when=asyncio.FIRST_COMPLETED)
    raise AssertionError("nothing rang")


async def test_timeouts_in_a_row_set_the_agent_away(running: Running) -> None:
    ana = await available(running, "ana")
    c1 = (await running.inbound("one", address="5511900000001"))["conversation_id"]
    c2 = (await running.inbound("two", address="5511900000002"))["conversation_id"]
    await ana.wait_for(lambda: len(rung(ana)) == 2)
    timed_out = await ana.wait_for(lambda: len(ana.received(p.OfferWithdrawn, lambda e: e.reason == "timed_out")) == 2, 5)
    assert timed_out
    status = await ana.event(p.AgentStatusChanged, lambda e: e.agent.status == "away")
    assert status.agent.load == 0
    thread = await ana.call(p.Open, conversation_id=c1)
    assert [m.meta["event"] for m in thread.messages if m.kind == "timeline"][:2] == ["offered", "timed_out"]
    assert c2


@pytest.mark.parametrize("config", [routed_config(agents=4)])
async def test_a_burst_waits_in_arrival_order_and_drains_in_order(running: Running) -> None:
    agents = [await available(running, f"a{i:02}") for i in range(4)]  # room for 8
    sent = [(await running.inbound(f"n{i}", address=f"55119000{i:05}"))["conversation_id"] for i in range(20)]
    for a in agents:
        await a.wait_for(lambda a=a: len(rung(a)) == 2)
    order = await arrival_order(running, sent)
    offered = {cid for a in agents for cid in rung(a)}
    assert offered == set(order[:8])  # the eight oldest ring; the rest wait
    for a in agents:
        for cid in rung(a):
            await a.call(p.AcceptOffer, conversation_id=cid)
    # ending one chat frees room: exactly the oldest waiting rings, each time
    for step, expected in enumerate(order[8:14]):
        a = agents[step % 4]
        held = [e.conversation.id for e in a.received(p.AssignedAdded)]
        ended = [e.conversation_id for e in a.received(p.AssignedRemoved)]
        before = len(rung(a))
        await a.call(p.EndChat, conversation_id=next(c for c in held if c not in ended))
        got = await a.wait_for(lambda a=a, n=before: rung(a)[n:] if len(rung(a)) > n else None)
        assert got == [expected]
        await a.call(p.AcceptOffer, conversation_id=expected)
    for a in agents:
        status = (await a.call(p.SetStatus, status="available")).agent
        assert status.load <= status.capacity


async def arrival_order(running: Running, ids: list[str]) -> list[str]:
    convs = [await running.node.store.get_conversation(c) for c in ids]
    return [c.id for c in sorted((c for c in convs if c is not None), key=lambda c: (c.created_at, c.id))]


async def test_transfer_to_an_agent_with_a_note_declined_stays_with_the_sender(running: Running) -> None:
    ana = await available(running, "ana")
    cid = (await running.inbound("Olá"))["conversation_id"]
    await ana.event(p.OfferRung)
    await ana.call(p.AcceptOffer, conversation_id=cid)
    bruno = await available(running, "bruno")
    await ana.call(p.Transfer, conversation_id=cid, agent_id="bruno", note="Wants a refund")
    ring = await bruno.event(p.OfferRung)
    assert ring.offer.by == "ana" and ring.offer.note == "Wants a refund"
    result = await bruno.call(p.DeclineOffer, conversation_id=cid)
    assert result.conversation.assignee_id == "ana" and result.conversation.offer is None
    await ana.call(p.Transfer, conversation_id=cid, agent_id="bruno", note="Please")
    await bruno.wait_for(lambda: len(rung(bruno)) == 2)
    await bruno.call(p.AcceptOffer, conversation_id=cid)
    await ana.event(p.AssignedRemoved, lambda e: e.conversation_id == cid)
    thread = await bruno.call(p.Open, conversation_id=cid)
    entries = [(m.meta["event"], m.meta.get("note", "")) for m in thread.messages if m.kind == "timeline"]
    assert entries[-4:] == [("offered", "Wants a refund"), ("declined", ""), ("offered", "Please"), ("accepted", "Please")]


async def test_transfer_refusals(running: Running) -> None:
    ana = await available(running, "ana")
    cid = (await running.inbound("Olá"))["conversation_id"]
    await ana.event(p.OfferRung)
    await ana.call(p.AcceptOffer, conversation_id=cid)
    await running.agent("bruno")  # offline
    for fields, code in [
        ({"agent_id": "bruno"}, errors.AGENT_UNAVAILABLE),
        ({}, errors.INVALID_ARGUMENT),
        ({"agent_id": "bruno", "queue_id": "sales"}, errors.INVALID_ARGUMENT),
        ({"queue_id": "nope"}, errors.INVALID_ARGUMENT),
    ]:
        with pytest.raises(CommandError) as e:
            await ana.call(p.Transfer, conversation_id=cid, **fields)
        assert e.value.code == code


async def test_transfer_to_a_queue_enters_its_routing(running: Running) -> None:
    carla = await running.agent("carla")
    cid = (await running.inbound("Hi", touchpoint="fb", address="77"))["conversation_id"]
    await carla.call(p.Claim, conversation_id=cid)
    ana = await available(running, "ana")
    await carla.call(p.Transfer, conversation_id=cid, queue_id="sales", note="billing")
    ring = await ana.event(p.OfferRung)
    assert ring.offer.conversation_id == cid and ring.conversation.queue_id == "sales"


async def test_a_screen_gone_less_than_the_grace_keeps_status_and_offers(running: Running) -> None:
    ana = await available(running, "ana")
    cid = (await running.inbound("Olá"))["conversation_id"]
    await ana.event(p.OfferRung)
    await ana.close()
    back = await running.agent("ana")  # well within the grace
    assert back.snapshot is not None and back.snapshot.status is not None
    assert back.snapshot.status.status == "available"
    assert [o.offer.conversation_id for o in back.snapshot.offers] == [cid]
    await back.call(p.AcceptOffer, conversation_id=cid)


@pytest.mark.parametrize("config", [routed_config(offer_timeout_seconds=30)])
async def test_all_screens_gone_past_the_grace_turn_offline_and_the_offer_moves_on(running: Running) -> None:
    ana = await available(running, "ana")
    bruno = await available(running, "bruno")
    cid = (await running.inbound("Olá"))["conversation_id"]
    first = await wait_rung(ana, bruno)
    gone, other = (ana, bruno) if first == "ana" else (bruno, ana)
    await gone.close()
    # long before the 30 s offer timeout: the grace (0.8 s) takes it back
    assert (await other.event(p.OfferRung, timeout=5)).offer.conversation_id == cid
    sofia = await running.agent("sofia")
    floor = sofia.snapshot.floors[0] if sofia.snapshot else None
    assert floor is not None
    assert {a.agent_id: a.status for a in floor.agents}[gone.name] == "offline"


async def test_the_supervisor_floor_is_pushed(running: Running) -> None:
    sofia = await running.agent("sofia")
    assert sofia.snapshot is not None and "floor:sales" in sofia.snapshot.streams
    ana = await running.agent("ana")
    assert "floor:sales" not in (ana.snapshot.streams if ana.snapshot else {})
    await running.inbound("Olá")
    waiting = await sofia.event(p.FloorUpdated, lambda e: e.floor.waiting == 1)
    assert waiting.floor.ringing == []
    await ana.call(p.SetStatus, status="available")
    ringing = await sofia.event(p.FloorUpdated, lambda e: len(e.floor.ringing) == 1)
    assert ringing.floor.waiting == 0
    assert [(a.agent_id, a.status, a.load) for a in ringing.floor.agents if a.agent_id == "ana"] == [("ana", "available", 20)]


async def test_an_offer_and_its_accept_run_no_pass_of_their_own_and_the_floor_still_follows(running: Running) -> None:
    """A pass's own offers and an accept free no room and add no work: the
    arrival runs one pass, the accept only the floor's refresh after it."""
    router = running.node.app.routing
    sofia = await running.agent("sofia")
    ana = await available(running, "ana")
    await sofia.event(p.FloorUpdated, lambda e: [a.status for a in e.floor.agents if a.agent_id == "ana"] == ["available"])
    before = router.passes
    cid = (await running.inbound("Olá"))["conversation_id"]
    await ana.event(p.OfferRung)
    await sofia.event(p.FloorUpdated, lambda e: len(e.floor.ringing) == 1)
    assert router.passes == before + 1
    await ana.call(p.AcceptOffer, conversation_id=cid)
    def held(e: p.FloorUpdated) -> bool:
        return e.floor.ringing == [] and [(a.agent_id, a.load) for a in e.floor.agents if a.agent_id == "ana"] == [("ana", 20)]

    await sofia.event(p.FloorUpdated, held)  # the accept's floor, pushed though no pass ran for it
    assert router.passes == before + 2


async def test_routing_events_reach_only_their_agent_and_the_floor_only_supervisors(running: Running) -> None:
    carla = await available(running, "carla")  # support only
    bruno = await running.agent("bruno")  # sales, away: nothing rings for him
    await bruno.call(p.SetStatus, status="away")
    ana = await available(running, "ana")
    sofia = await running.agent("sofia")
    cid = (await running.inbound("Olá"))["conversation_id"]
    await ana.event(p.OfferRung)
    await sofia.event(p.FloorUpdated, lambda e: len(e.floor.ringing) == 1)
    for other in (carla, bruno):
        heard = [e for e in await other.barrier() if cid in p.encoder.encode(e).decode() and not isinstance(e.event, p.InboxAdded | p.InboxUpdated)]
        assert heard == [], f"{other.name} heard {heard}"
        assert not [e for e in other.arrived if isinstance(e.event, p.FloorUpdated | p.OfferRung)]


async def test_claim_assign_send_back_and_end_in_an_automatic_queue_are_on_the_timeline(running: Running) -> None:
    ana = await running.agent("ana")  # offline: nothing rings, she claims from the inbox
    sofia = await running.agent("sofia")
    cid = (await running.inbound("Olá"))["conversation_id"]
    await ana.call(p.Claim, conversation_id=cid)
    await ana.call(p.SendToInbox, conversation_id=cid)
    await sofia.call(p.Assign, conversation_id=cid, agent_id="ana")
    await ana.call(p.EndChat, conversation_id=cid)
    thread = await ana.call(p.Open, conversation_id=cid)
    entries = [(m.meta["event"], m.meta.get("agent_id"), m.meta.get("by")) for m in thread.messages if m.kind == "timeline"]
    assert entries == [("claimed", "ana", None), ("sent_to_inbox", None, "ana"), ("assigned", "ana", "sofia"), ("ended", None, "ana")]


async def test_a_supervisor_sets_capacity_live(running: Running) -> None:
    ana = await available(running, "ana")
    sofia = await running.agent("sofia")
    with pytest.raises(CommandError) as e:
        await ana.call(p.SetCapacity, agent_id="ana", capacity=100)
    assert e.value.code == errors.FORBIDDEN
    with pytest.raises(CommandError) as e:
        await sofia.call(p.SetCapacity, agent_id="nobody", capacity=100)
    assert e.value.code == errors.INVALID_ARGUMENT
    await sofia.call(p.SetCapacity, agent_id="ana", capacity=20)  # one conversation
    await ana.event(p.AgentStatusChanged, lambda e: e.agent.capacity == 20)
    c1 = (await running.inbound("one", address="5511900000001"))["conversation_id"]
    c2 = (await running.inbound("two", address="5511900000002"))["conversation_id"]
    assert (await ana.event(p.OfferRung)).offer.conversation_id == c1
    await sofia.event(p.FloorUpdated, lambda e: e.floor.waiting == 1 and len(e.floor.ringing) == 1)  # c2 was routed: it waits
    assert [o.offer.conversation_id for o in await ana.received_by_now(p.OfferRung)] == [c1]
    result = await sofia.call(p.SetCapacity, agent_id="ana", capacity=None)  # back to 40: room for the second
    assert result.agent.capacity == 40
    await ana.wait_for(lambda: rung(ana) == [c1, c2])


async def test_after_a_restart_what_rings_still_counts_against_capacity(tmp_path: Any) -> None:
    config = replace(routed_config(offer_timeout_seconds=60), server=replace(make_config().server, data=str(tmp_path / "s.sqlite3")))
    config = replace(config, agents=[replace(a, capacity=20) if a.id == "ana" else a for a in config.agents])  # one conversation
    node, server, task = await start_node(config)
    async with httpx.AsyncClient() as http:
        r = Running(node, http)
        ana = await available(r, "ana")
        c1 = (await r.inbound("one", address="5511900000001"))["conversation_id"]
        await ana.event(p.OfferRung)
        await ana.close()
    server.should_exit = True
    await task
    await node.stop()

    node, server, task = await start_node(config)  # same file: the offer still rings (60 s)
    async with httpx.AsyncClient() as http:
        r = Running(node, http)
        ana = await available(r, "ana")  # offline after the restart: she comes back
        assert ana.snapshot is not None and [o.offer.conversation_id for o in ana.snapshot.offers] == [c1]
        sofia = await r.agent("sofia")
        await r.inbound("two", address="5511900000002")
        await sofia.event(p.FloorUpdated, lambda e: e.floor.waiting == 1)  # routed, and it waits: she is full
        assert await ana.received_by_now(p.OfferRung) == []
        for a in r.agents:
            await a.close()
    server.should_exit = True
    await task
    await node.stop()


@pytest.mark.parametrize("config", [make_config()])
async def test_with_no_automatic_queue_a_transfer_rings_whatever_the_status(running: Running) -> None:
    ana = await running.agent("ana")
    bruno = await running.agent("bruno")  # never set a status: there is no routing to set it for
    assert bruno.snapshot is not None and bruno.snapshot.status is None
    cid = (await running.inbound("Olá"))["conversation_id"]
    await ana.call(p.Claim, conversation_id=cid)
    await ana.call(p.Transfer, conversation_id=cid, agent_id="bruno", note="VIP")
    assert (await bruno.event(p.OfferRung)).offer.note == "VIP"
    thread = await ana.call(p.Open, conversation_id=cid)
    assert [m.meta["event"] for m in thread.messages if m.kind == "timeline"] == ["offered"]  # transfers are on the timeline
