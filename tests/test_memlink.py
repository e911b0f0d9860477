"""tests/memlink.py: a whole node's websocket session over memory, with no
socket anywhere (nothing listens on the node's port)."""

from __future__ import annotations

import socket

import pytest

from protocol import errors
from protocol import messages as p
from tests.conftest import token
from tests.memlink import Linked, connect
from tests.wsagent import CommandError, WsAgent


def test_nothing_listens(linked: Linked) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", linked.node.config.server.port), timeout=1).close()


async def test_a_session_runs_end_to_end_and_resumes_over_the_link(linked: Linked) -> None:
    ana = await linked.agent("ana")
    bruno = await linked.agent("bruno")
    assert ana.welcome is not None and ana.welcome.principals == ["agent:ana", "queue:sales"]
    assert ana.snapshot is not None and ana.snapshot.inbox == []
    cid = (await linked.inbound("Oi, tudo bem?"))["conversation_id"]
    added = await ana.event(p.InboxAdded)
    assert added.conversation.id == cid
    await ana.call(p.Claim, conversation_id=cid)
    # Both screens hear the same publication, written by the hub's broadcast().
    removed = await bruno.event(p.InboxRemoved)
    assert removed.reason == "claimed" and removed.agent_id == "ana"

    # Away, then back: the missed events are replayed, not a snapshot.
    point = bruno.resume_point()
    await bruno.close()
    await linked.inbound("Alguém aí?", address="5511900000002")
    again = await linked.agent("bruno", resume=point)
    assert again.resumed is not None and again.snapshot is None
    assert [e.conversation.preview for e in again.received(p.InboxAdded)] == ["Alguém aí?"]


async def test_a_refused_hello_is_answered_and_closed_with_its_code(linked: Linked) -> None:
    ws = await connect(linked.node)
    with pytest.raises(CommandError) as refused:
        await WsAgent.over(ws, "not-a-token")
    assert refused.value.code == errors.AUTH_FAILED
    await ws.wait_closed()
    assert ws.close_code == errors.CLOSE_AUTH_FAILED
    # The node is fine: the next agent gets in.
    ana = await WsAgent.over(await connect(linked.node), token("ana"), name="ana")
    await ana.barrier()
    await ana.close()
