"""Several real node processes sharing one Redis: a real redis-server, and
a real sharded Redis Cluster of three primaries (every test runs on both)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from protocol import messages as p
from tests.cluster.conftest import RACERS, Cluster
from tests.cluster.redisproc import RedisClusterProcess, RedisProcess
from tests.wsagent import CommandError, WsAgent


@pytest.fixture(params=["redis", "redis-cluster"])
async def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Cluster]:
    if request.param == "redis":
        redis: RedisProcess | RedisClusterProcess = RedisProcess(tmp_path / "redis", aof=True).start()
    else:
        redis = RedisClusterProcess(tmp_path / "redis-cluster").start()
    c = Cluster(tmp_path, redis)  # type: ignore[arg-type]
    try:
        yield c
    finally:
        await c.close()
        redis.stop()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def test_an_agent_sees_what_happens_on_other_nodes(cluster: Cluster, http: httpx.AsyncClient) -> None:
    n1, n2, n3 = await cluster.start(http, 3)
    ana = await cluster.agent(n1, "ana")
    sofia = await cluster.agent(n3, "sofia")

    made = (await n2.inbound(http, "Olá, preciso de ajuda")).json()
    conv_id = made["conversation_id"]
    added = await ana.event(p.InboxAdded, lambda e: e.conversation.id == conv_id)
    assert added.conversation.preview == "Olá, preciso de ajuda"
    await sofia.event(p.InboxAdded, lambda e: e.conversation.id == conv_id)

    thread = await sofia.call(p.Open, conversation_id=conv_id)  # a viewer on n3
    assert [m.text for m in thread.messages] == ["Olá, preciso de ajuda"]
    await ana.call(p.Claim, conversation_id=conv_id)  # on n1
    removed = await sofia.event(p.InboxRemoved, lambda e: e.conversation_id == conv_id)
    assert removed.agent_id == "ana" and removed.reason == "claimed"
    await sofia.event(p.ConversationUpdated, lambda e: e.conversation.assignee_id == "ana")

    await ana.call(p.SendMessage, conversation_id=conv_id, text="Oi! Como posso ajudar?")
    created = await sofia.event(p.MessageCreated, lambda e: e.message.direction == "out")
    assert created.message.text == "Oi! Como posso ajudar?" and created.message.author_id == "ana"

    await n3.inbound(http, "Meu pedido atrasou")  # the contact again, through a third node
    got = await ana.event(p.AssignedUpdated, lambda e: e.conversation.preview == "Meu pedido atrasou")
    assert got.unread_total == 1


async def test_fifty_agents_on_three_nodes_race_for_one_conversation(cluster: Cluster, http: httpx.AsyncClient) -> None:
    nodes = await cluster.start(http, 3)
    racers = await asyncio.gather(*(cluster.agent(nodes[i % 3], a) for i, a in enumerate(RACERS)))
    for round_ in range(4):
        made = (await nodes[round_ % 3].inbound(http, f"round {round_}", address=f"55119000010{round_:02d}")).json()
        conv_id = made["conversation_id"]
        await asyncio.gather(*(r.event(p.InboxAdded, lambda e: e.conversation.id == conv_id) for r in racers))

        async def claim(agent: WsAgent) -> str:
            try:
                result = await agent.call(p.Claim, conversation_id=conv_id)
            except CommandError as e:
                return e.code
            assert result.conversation.assignee_id == agent.name.split("@")[0]
            return "won"

        outcomes = await asyncio.gather(*(claim(r) for r in racers))
        assert outcomes.count("won") == 1, outcomes
        assert outcomes.count("already_assigned") == len(racers) - 1, outcomes
        winner = racers[outcomes.index("won")].name.split("@")[0]
        # Every screen, on every node, is told who took it.
        removed = await asyncio.gather(
            *(r.event(p.InboxRemoved, lambda e: e.conversation_id == conv_id) for r in racers)
        )
        assert {e.agent_id for e in removed} == {winner}


async def test_session_locks_once_per_expiry_on_time_even_when_a_node_dies(cluster: Cluster, http: httpx.AsyncClient) -> None:
    window = 2.0
    n1, n2, n3 = await cluster.start(http, 3, whatsapp_window=window)
    screens = [await cluster.agent(n, "ana") for n in (n2, n3)]  # ana on two screens, two nodes
    sofia = await cluster.agent(n3, "sofia")

    mine = (await n1.inbound(http, "first", address="5511900000201")).json()["conversation_id"]
    waiting = (await n1.inbound(http, "second", address="5511900000202")).json()["conversation_id"]
    await screens[0].call(p.Claim, conversation_id=mine)
    # n1 took both webhooks (an in-process timer would live there): kill it.
    n1.kill()

    summary = await screens[0].event(p.AssignedAdded, lambda e: e.conversation.id == mine)
    expires_at = summary.conversation.session_expires_at
    for screen in screens:
        locked = await screen.event(p.SessionLocked, lambda e: e.conversation_id == mine, timeout=window + 5)
        assert locked.expires_at == expires_at
    assert now_ms() - expires_at < 2000  # it locked on time (the poll is 0.25 s)
    await sofia.event(p.SessionLocked, lambda e: e.conversation_id == waiting, timeout=5)  # inbox: queue stream

    # The contact writes again: unlock, then one more lock when that window passes.
    await n2.inbound(http, "still there?", address="5511900000201")
    for screen in screens:
        await screen.event(p.SessionUnlocked, lambda e: e.conversation_id == mine)
        await screen.wait_for(lambda: len(screen.received(p.SessionLocked, lambda e: e.conversation_id == mine)) == 2, window + 5)
    # Room for a duplicate to show up, as a barrier: a window that opened after
    # those and locks after them, heard by every screen on the queue stream.
    # The nodes fire due entries in due order and one Redis hands publications
    # to each node in the order they were made, so a duplicate of the locks
    # above (fired no later than this one) is in the lists once this lock is.
    later = (await n2.inbound(http, "one more", address="5511900000203")).json()["conversation_id"]
    for screen in (*screens, sofia):
        await screen.event(p.SessionLocked, lambda e: e.conversation_id == later, timeout=window + 5)
    for screen in (*screens, sofia):
        for conv_id in (mine, waiting):
            locks = screen.received(p.SessionLocked, lambda e: e.conversation_id == conv_id)
            assert len(locks) <= 2
        assert len(screen.received(p.SessionLocked, lambda e: e.conversation_id == mine)) == (0 if screen is sofia else 2)
    assert len(sofia.received(p.SessionLocked, lambda e: e.conversation_id == waiting)) == 1
