"""The Python client against a real node on loopback: commands, the event
stream, the mirror, and what happens when the connection drops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from clients.switchboard_client import (
    AgentClient,
    AlreadyAssigned,
    AuthError,
    Change,
    Mirror,
    SessionLocked,
    backoff_delay,
)
from clients.switchboard_client.errors import CommandError, NotSupportedOnChannel
from protocol import errors as codes
from protocol import messages as p
from server.node import Node
from tests.conftest import Running, free_port, make_config, start_node, token

DEAD_URL = f"ws://127.0.0.1:{free_port()}/ws"
"""Nothing listens here: pointing a client at it holds its reconnection back
until a test has done what the client must miss."""


class Recorder:
    """Collects everything a client delivers, and checks every stream is
    gap-free and repeat-free from the position the last snapshot gave."""

    def __init__(self, client: AgentClient) -> None:
        self.client = client
        self.items: list[Any] = []
        self.changes: list[Change] = []
        self.positions: dict[str, int] = {}
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for item in self.client.events():
            if isinstance(item, p.Snapshot):
                self.positions = dict(item.streams)
            elif isinstance(item, p.Event):
                last = self.positions.get(item.stream)
                if last is not None:  # thread streams start at their open answer
                    assert item.seq == last + 1, f"{item.stream}: {last} → {item.seq}"
                self.positions[item.stream] = item.seq
            self.items.append(item)

    def events(self, kind: type[p.EventBody]) -> list[Any]:
        return [i.event for i in self.items if isinstance(i, p.Event) and isinstance(i.event, kind)]

    def on_change(self, mirror: Mirror, changes: list[Change]) -> None:
        self.changes.extend(changes)


async def eventually(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    async def poll() -> Any:
        while not (value := predicate()):
            await asyncio.sleep(0.02)
        return value

    return await asyncio.wait_for(poll(), timeout)


@pytest.fixture
async def clients(running: Running) -> AsyncIterator[Callable[..., Any]]:
    made: list[AgentClient] = []

    async def make(agent_id: str, **kw: Any) -> AgentClient:
        kw.setdefault("backoff", (0.05, 0.2))
        client = AgentClient(running.ws_url, token(agent_id), **kw)
        await client.connect()
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


async def test_snapshot_events_and_mirror_follow_the_inbox(running: Running, clients: Callable[..., Any]) -> None:
    seen: list[Change] = []
    ana: AgentClient = await clients("ana", on_change=lambda m, c: seen.extend(c))
    assert ana.welcome is not None and ana.welcome.agent.id == "ana"
    assert ana.mirror.loaded and ana.mirror.inbox == {}
    assert [t.id for t in ana.mirror.touchpoints] == ["wa"]  # her queue's touchpoint only
    events = ana.events()
    made = await running.inbound("Olá, preciso de ajuda")
    item = await asyncio.wait_for(anext(events), 5)
    assert isinstance(item, p.Event) and isinstance(item.event, p.InboxAdded)
    assert item.stream == "queue:sales" and item.event.conversation.id == made["conversation_id"]
    assert ana.mirror.inbox[made["conversation_id"]].preview == "Olá, preciso de ajuda"
    assert ("inbox.added", made["conversation_id"]) in [(c.kind, c.conversation_id) for c in seen]


async def test_commands_return_results_and_raise_typed_errors(running: Running, clients: Callable[..., Any]) -> None:
    ana: AgentClient = await clients("ana")
    bruno: AgentClient = await clients("bruno")
    cid = (await running.inbound("quero comprar"))["conversation_id"]
    await eventually(lambda: cid in ana.mirror.inbox and cid in bruno.mirror.inbox)

    result = await ana.claim(cid)
    assert isinstance(result, p.ConversationResult) and result.conversation.assignee_id == "ana"
    with pytest.raises(AlreadyAssigned) as lost:
        await bruno.claim(cid)
    assert lost.value.code == codes.ALREADY_ASSIGNED and lost.value.command == "claim"
    await eventually(lambda: cid not in bruno.mirror.inbox and cid in ana.mirror.assigned)
    assert ana.mirror.assigned_count == 1 and ana.mirror.unread_total == 1

    sent = await ana.send(cid, "Claro! Qual produto?", idempotency_key="k-1")
    assert sent.message.direction == "out" and sent.message.seq == 2
    again = await ana.send(cid, "Claro! Qual produto?", idempotency_key="k-1")  # a retry: the same message
    assert again.message.id == sent.message.id
    await eventually(lambda: ana.mirror.unread_total == 0)  # replying reads the thread
    hits = await ana.search(cid, "PRODUTO")
    assert [h.seq for h in hits.hits] == [2]
    card = await ana.contact_card(cid)
    assert card.card.contact.address == "+5511900000001"
    note = await ana.add_note(cid, "prefers WhatsApp")
    assert note.note.text == "prefers WhatsApp"
    with pytest.raises(CommandError) as open_:
        await ana.wrap_up(cid, "Sale")
    assert open_.value.code == codes.CONVERSATION_OPEN
    await ana.end_chat(cid)
    await eventually(lambda: ana.mirror.assigned_count == 0)
    done = await ana.wrap_up(cid, "Sale", "bought two")
    assert done.wrap_up.disposition == "Sale"

    fb = (await running.inbound("hi", touchpoint="fb", address="psid-1", profile_name="Rosa Lima"))["conversation_id"]
    await eventually(lambda: fb in bruno.mirror.inbox)
    await bruno.claim(fb)
    with pytest.raises(NotSupportedOnChannel):
        await bruno.add_note(fb, "no notes on messenger")


async def test_each_agent_reads_its_own_flags_from_the_same_summaries(
    running: Running, clients: Callable[..., Any]
) -> None:
    """The server says what each agent may do; the client only reads it."""
    ana: AgentClient = await clients("ana")
    bruno: AgentClient = await clients("bruno")
    carla: AgentClient = await clients("carla")
    sofia: AgentClient = await clients("sofia")
    assert ana.welcome is not None and ana.welcome.principals == ["agent:ana", "queue:sales"]
    cid = (await running.inbound("quero comprar"))["conversation_id"]
    await eventually(lambda: all(cid in c.mirror.inbox for c in (ana, bruno, sofia)))
    assert ana.can(cid) == bruno.can(cid) == {"claim", "contact_card"}
    assert carla.can(cid) == frozenset()  # not her queue: she never hears of it
    assert {"claim", "assign", "end_chat"} <= sofia.can(cid)

    await ana.claim(cid)
    await eventually(lambda: cid in ana.mirror.assigned)
    assert {"send", "send_to_inbox", "end_chat", "read"} <= ana.can(cid) and "assign" not in ana.can(cid)
    await sofia.open(cid)
    assert {"assign", "send", "end_chat"} <= sofia.can(cid) and "read" not in sofia.can(cid)
    assert sofia.snapshot is not None
    assert [q.assignable for q in sofia.snapshot.queues] == [["ana", "bruno", "sofia"], ["bruno", "carla", "sofia"]]

    await ana.end_chat(cid)
    await eventually(lambda: cid not in ana.mirror.assigned)
    assert ana.can(cid) == frozenset()  # no longer listed
    opened = await ana.open(cid)
    assert "wrap_up" in ana.can(cid) and "end_chat" not in ana.can(cid)
    assert opened.conversation.can["agent:ana"] == ["add_note", "wrap_up", "contact_card"]


async def test_canned_responses_reach_the_mirror_live(running: Running, clients: Callable[..., Any]) -> None:
    ana: AgentClient = await clients("ana")
    sofia: AgentClient = await clients("sofia")
    assert list(ana.mirror.canned) == ["agent:ana", "queue:sales"]
    saved = await sofia.save_canned("queue:sales", "ola", "Olá {{contact.name}}!")
    await eventually(lambda: ana.mirror.canned["queue:sales"].version == saved.canned.version)
    assert [r.shortcut for r in ana.mirror.canned["queue:sales"].responses] == ["ola"]
    with pytest.raises(CommandError) as refused:
        await ana.save_canned("queue:sales", "x", "y")
    assert refused.value.code == codes.FORBIDDEN
    mine = await ana.save_canned("agent:ana", "bye", "Tchau!")
    gone = await ana.delete_canned("agent:ana", mine.canned.responses[0].id)
    assert gone.canned.responses == [] and gone.canned.version == 2


async def test_open_follows_a_thread_and_unsubscribed_drops_it(running: Running, clients: Callable[..., Any]) -> None:
    ana: AgentClient = await clients("ana")
    bruno: AgentClient = await clients("bruno")
    cid = (await running.inbound("first"))["conversation_id"]
    await eventually(lambda: cid in bruno.mirror.inbox)
    thread = await bruno.open(cid)
    assert [m.text for m in thread.messages] == ["first"]
    await running.inbound("second")
    await eventually(lambda: len(bruno.mirror.threads[cid].messages) == 2)
    rec = Recorder(bruno)
    await ana.claim(cid)  # bruno may no longer see it
    await eventually(lambda: cid not in bruno.mirror.threads)
    await eventually(lambda: any(isinstance(i, p.Unsubscribed) for i in rec.items))
    assert bruno.seq.threads() == []


async def test_forced_disconnect_resumes_without_a_gap(running: Running, clients: Callable[..., Any]) -> None:
    ana: AgentClient = await clients("ana")
    cid = (await running.inbound("one"))["conversation_id"]
    await eventually(lambda: cid in ana.mirror.inbox)
    await ana.claim(cid)
    await ana.open(cid)
    rec = Recorder(ana)
    live_url = ana.url
    ana.url = DEAD_URL
    ana.drop_connection()
    await eventually(lambda: ana.state == "reconnecting")

    # While she is away: two messages on her conversation, two new conversations.
    await running.inbound("two")
    await running.inbound("three")
    others = [(await running.inbound(f"hi {i}", address=f"551190000009{i}"))["conversation_id"] for i in range(2)]
    await eventually(lambda: ana.stats.reconnect_attempts >= 2)  # the dead address refused her
    ana.url = live_url
    await ana.wait_live(10)

    await eventually(lambda: len(rec.events(p.MessageCreated)) == 2 and len(rec.events(p.InboxAdded)) == 2)
    assert ana.stats.resumes == 1 and ana.stats.resyncs == 0 and ana.stats.connects == 2
    assert [e.message.text for e in rec.events(p.MessageCreated)] == ["two", "three"]
    assert [m.text for m in ana.mirror.threads[cid].ordered()] == ["one", "two", "three"]
    assert set(ana.mirror.inbox) == set(others)
    assert ana.mirror.assigned[cid].unread == 3 and ana.mirror.unread_total == 3
    assert not any(isinstance(i, p.Snapshot) for i in rec.items)
    # Positions match the server's: nothing missed, nothing counted twice.
    server = await running.node.broker.positions(list(ana.seq.positions))
    assert ana.seq.positions == server

    # And live events carry on from there.
    await running.inbound("four")
    await eventually(lambda: len(ana.mirror.threads[cid].messages) == 4)


async def test_a_hole_in_a_stream_is_filled_by_resuming(running: Running, clients: Callable[..., Any]) -> None:
    ana: AgentClient = await clients("ana")
    rec = Recorder(ana)
    hub_deliver = running.node.broker.on_publication
    assert hub_deliver is not None
    dropped: list[int] = []

    def lose_one(stream: str, seq: int, kind: str, data: bytes) -> None:
        if stream == "queue:sales" and not dropped:
            dropped.append(seq)  # this frame never reaches the socket
            return
        hub_deliver(stream, seq, kind, data)

    running.node.broker.on_publication = lose_one
    first = (await running.inbound("lost on the wire", address="5511911110001"))["conversation_id"]
    second = (await running.inbound("arrives", address="5511911110002"))["conversation_id"]
    await eventually(lambda: ana.stats.gaps == 1)
    await eventually(lambda: [e.conversation.id for e in rec.events(p.InboxAdded)] == [first, second])
    assert ana.stats.resumes == 1
    assert set(ana.mirror.inbox) == {first, second}


async def test_command_sent_while_away_waits_for_the_connection(running: Running, clients: Callable[..., Any]) -> None:
    ana: AgentClient = await clients("ana")
    cid = (await running.inbound("hello"))["conversation_id"]
    await eventually(lambda: cid in ana.mirror.inbox)
    ana.drop_connection()
    await eventually(lambda: ana.state == "reconnecting")
    result = await ana.claim(cid)
    assert result.conversation.assignee_id == "ana" and ana.state == "live"


async def test_locked_session_refuses_free_text_with_session_locked(clients: Callable[..., Any]) -> None:
    ana: AgentClient = await clients("ana")
    with pytest.raises(SessionLocked) as locked:
        await ana.start("wa", "5511922220000", text="hi there")  # no window is open: template only
    assert locked.value.code == codes.SESSION_LOCKED
    started = await ana.start("wa", "5511922220000", template=p.TemplateRef(name="hello", params=["Rui"]))
    assert started.message.text == "Hello Rui, how can we help?"
    await eventually(lambda: ana.mirror.assigned_count == 1)


async def test_a_refused_token_raises_auth_error(running: Running) -> None:
    client = AgentClient(running.ws_url, "forged.token")
    with pytest.raises(AuthError) as refused:
        await client.connect()
    assert refused.value.code == codes.AUTH_FAILED and client.state == "failed"


async def test_from_http_finds_the_websocket(running: Running) -> None:
    client = await AgentClient.from_http(running.base, token("carla"))
    assert client.url == running.ws_url
    async with client:
        assert client.state == "live" and client.welcome is not None


def test_backoff_is_jittered_and_capped() -> None:
    import random

    rng = random.Random(7)
    delays = [backoff_delay(a, 0.5, 8.0, rng) for a in range(12)]
    assert all(0.25 <= d <= 8.0 for d in delays)
    assert len(set(delays)) == len(delays)  # jittered: no two alike
    assert max(delays[6:]) > 4.0  # grows towards the cap


# ----------------------------------------------------------------------- resync


async def test_resync_when_the_history_is_too_short(tmp_path: Path) -> None:
    config = make_config(history_size=2)
    node, server, task = await start_node(config)
    base = f"http://127.0.0.1:{config.server.port}"
    client = AgentClient(f"ws://127.0.0.1:{config.ws_port}/ws", token("ana"), backoff=(0.05, 0.2))
    try:
        async with httpx.AsyncClient() as http:
            await client.connect()
            rec = Recorder(client)
            live_url, client.url = client.url, DEAD_URL
            client.drop_connection()
            await eventually(lambda: client.state == "reconnecting")
            made = []
            for i in range(5):  # more than the 2 the broker keeps
                r = await http.post(
                    f"{base}/api/dev/inbound", json={"touchpoint_id": "wa", "address": f"55119333300{i}", "text": f"m{i}"}
                )
                made.append(r.json()["conversation_id"])
            client.url = live_url
            await client.wait_live(10)
            await eventually(lambda: any(isinstance(i, p.Snapshot) for i in rec.items))
            assert client.stats.resyncs == 1 and client.stats.resumes == 0
            assert set(client.mirror.inbox) == set(made)
            assert not rec.events(p.InboxAdded)  # the reload came as a snapshot, not a partial replay
    finally:
        await client.close()
        server.should_exit = True
        await task
        await node.stop()


async def test_resync_after_a_node_restart_reloads_and_reopens_threads(tmp_path: Path) -> None:
    """A new node has a new epoch: old positions mean nothing there."""
    config = make_config(data=str(tmp_path / "sb.sqlite3"))
    base = f"http://127.0.0.1:{config.server.port}"

    async def inbound(text: str, address: str) -> str:
        async with httpx.AsyncClient() as http:
            r = await http.post(f"{base}/api/dev/inbound", json={"touchpoint_id": "wa", "address": address, "text": text})
            return str(r.json()["conversation_id"])

    node, server, task = await start_node(config)
    client = AgentClient(f"ws://127.0.0.1:{config.ws_port}/ws", token("ana"), backoff=(0.05, 0.2))
    try:
        await client.connect()
        mine = await inbound("before restart", "5511944440001")
        await eventually(lambda: mine in client.mirror.inbox)
        await client.claim(mine)
        await client.open(mine)
        old_epoch = client.seq.epoch
        rec = Recorder(client)
        live_url, client.url = client.url, DEAD_URL

        server.should_exit = True
        await task
        await node.stop()
        await eventually(lambda: client.state == "reconnecting")
        node, server, task = await start_node(config)
        assert isinstance(node, Node) and node.broker.epoch != old_epoch
        newcomer = await inbound("while she was away", "5511944440002")
        await inbound("more on hers", "5511944440001")

        client.url = live_url
        await client.wait_live(10)
        await eventually(lambda: any(isinstance(i, p.Snapshot) for i in rec.items))
        assert client.stats.resyncs == 1 and client.seq.epoch == node.broker.epoch
        assert set(client.mirror.inbox) == {newcomer} and set(client.mirror.assigned) == {mine}
        # Her open thread was reopened on the new node, with what arrived meanwhile.
        await eventually(lambda: mine in client.mirror.threads)
        assert [m.text for m in client.mirror.threads[mine].ordered()] == ["before restart", "more on hers"]
        await inbound("live again", "5511944440001")
        await eventually(lambda: len(client.mirror.threads[mine].messages) == 3)
    finally:
        await client.close()
        server.should_exit = True
        await task
        await node.stop()


async def test_a_revoked_token_stops_the_client_with_auth_error(running: Running) -> None:
    tok = token("ana")
    client = AgentClient(running.ws_url, tok, backoff=(0.05, 0.2))
    await client.connect()
    stream = client.events()

    async def consume() -> list[Any]:
        return [item async for item in stream]

    ended = asyncio.create_task(consume())
    r = await running.http.post(f"{running.base}/api/logout", headers={"authorization": f"Bearer {tok}"})
    assert r.status_code == 200
    await eventually(lambda: client.state == "failed")
    assert isinstance(client.failure, AuthError) and client.failure.code == codes.TOKEN_REVOKED
    with pytest.raises(AuthError):
        await ended  # consumers hear why the stream ended
    await client.close()
