"""Alerts over real sockets: the ``alert.raised`` event on the agent's stream
(every screen, replayed on resume) and the ``ring`` frame to exactly one
screen of the agent: the one in front, else the one most recently in front."""

from __future__ import annotations

from protocol import messages as p
from tests.conftest import Running
from tests.wsagent import WsAgent


def rings(agent: WsAgent) -> list[p.Ring]:
    return [f for f in agent.others if isinstance(f, p.Ring)]


async def test_one_alert_rings_one_screen_the_one_in_front(running: Running) -> None:
    made = await running.inbound("Oi")
    cid = made["conversation_id"]
    first = await running.agent("ana")
    await first.call(p.Claim, conversation_id=cid)
    second = await running.agent("ana")
    third = await running.agent("ana")
    await second.call(p.Screen, front=True)
    await third.call(p.Screen, front=True)
    await third.call(p.Screen, front=False)  # the agent moved on to the second screen

    await running.inbound("Are you there?")
    for screen in (first, second, third):
        alert = await screen.event(p.Alert)
        assert (alert.reason, alert.conversation_id, alert.preview) == ("message", cid, "Are you there?")
    await second.wait_for(lambda: rings(second))
    assert [len(rings(s)) for s in (first, second, third)] == [0, 1, 0]
    for screen in (first, third):
        await screen.barrier()  # the ring frame would be here by now
        assert not rings(screen)
    ring = rings(second)[0]
    assert ring.stream == "agent:ana" and ring.seq == next(
        e.seq for e in second.events if isinstance(e.event, p.Alert)
    )

    # Nobody in front: the one most recently in front rings (the third, just now).
    await third.call(p.Screen, front=True)
    await third.call(p.Screen, front=False)
    await second.call(p.Screen, front=False)
    await running.inbound("Hello??")
    await third.wait_for(lambda: rings(third))
    for screen in (first, second):
        await screen.barrier()
    assert [len(rings(s)) for s in (first, second, third)] == [0, 1, 1]


async def test_an_assignment_by_someone_else_alerts_the_agent_not_their_own_claim(running: Running) -> None:
    mine = (await running.inbound("first", address="5511900000001"))["conversation_id"]
    given = (await running.inbound("second", address="5511900000002"))["conversation_id"]
    ana = await running.agent("ana")
    sofia = await running.agent("sofia")
    await ana.call(p.Claim, conversation_id=mine)
    await sofia.call(p.Assign, conversation_id=given, agent_id="ana")
    alert = await ana.event(p.Alert)
    assert (alert.reason, alert.conversation_id) == ("assigned", given)
    assert [a.conversation_id for a in await ana.received_by_now(p.Alert)] == [given]


async def test_an_alert_while_away_is_replayed_on_resume(running: Running) -> None:
    cid = (await running.inbound("Oi"))["conversation_id"]
    ana = await running.agent("ana")
    await ana.call(p.Claim, conversation_id=cid)
    resume = ana.resume_point()
    await ana.close()
    await running.inbound("Still there?")
    back = await running.agent("ana", resume=resume)
    alert = await back.event(p.Alert)
    assert (alert.reason, alert.preview) == ("message", "Still there?")
    await back.barrier()
    assert not rings(back)  # counted, not rung: it happened while away
