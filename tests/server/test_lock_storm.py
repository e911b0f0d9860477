"""A lock storm on a real node (issue 16): windows passing together are
locked in one pass and published as one batch, each socket written all of
its frames of the batch at once, in the order one-at-a-time would give
(the same frames: tests/app/test_expire_many.py)."""

from __future__ import annotations

from typing import Any

from protocol import messages as p
from tests.conftest import Running

DAY_MS = 25 * 3600 * 1000


async def test_a_storm_reaches_each_socket_in_one_write_in_stream_order(running: Running) -> None:
    ana = await running.agent("ana")  # sales
    bruno = await running.agent("bruno")  # sales and support; hears one stream of the storm (the queue's)
    made = [await running.inbound(f"oi {n}", address=f"55119000000{n:02d}") for n in range(5)]
    convs = [m["conversation_id"] for m in made]
    for conv_id in convs:
        await ana.event(p.InboxAdded, lambda e, c=conv_id: e.conversation.id == c)
    await ana.call(p.Open, conversation_id=convs[2])
    await ana.barrier()
    for conv_id in convs:
        await bruno.event(p.InboxAdded, lambda e, c=conv_id: e.conversation.id == c)
    await bruno.barrier()
    # Count the writes to Ana's and Bruno's sockets on the node from here on.
    writes: dict[str, list[int]] = {"ana": [], "bruno": []}
    restore = []
    for client, agent in running.node.hub.clients.items():
        assert client.ws.protocol.extensions == []  # compression off: frames serialized once for every socket
        transport: Any = client.ws.transport
        real = transport.write
        restore.append((transport, real))
        transport.write = lambda data, a=agent, w=real: (writes[a].append(len(data)), w(data))[1]
    seen, seen_bruno = len(ana.events), len(bruno.events)
    intake = running.node.app.intake
    later = intake.clock() + DAY_MS
    intake.clock = lambda: later

    assert await intake.expire_many(convs) == []

    for transport, real in restore:
        transport.write = real
    await ana.wait_for(lambda: len(ana.received(p.SessionLocked)) == 6)
    await bruno.wait_for(lambda: len(bruno.received(p.SessionLocked)) == 5)
    storm = [(e.stream, type(e.event).__struct_config__.tag) for e in ana.events[seen:]]
    assert [s for s in storm if s[0] == "queue:sales"] == [("queue:sales", "inbox.updated"), ("queue:sales", "session.locked")] * 5
    assert [s for s in storm if s[0].startswith("conv:")] == [(f"conv:{convs[2]}", "session.locked"), (f"conv:{convs[2]}", "message.created")]
    entry = ana.received(p.MessageCreated, lambda e: e.message.kind == "timeline")[0].message
    assert entry.meta == {"event": "locked"} and entry.conversation_id == convs[2]
    assert len(writes["ana"]) == 1, writes  # twelve frames, one write
    # Bruno's frames are the queue's alone: the same, in the same order, in one write.
    assert [(e.stream, e.seq, e.event) for e in bruno.events[seen_bruno:]] == [
        (e.stream, e.seq, e.event) for e in ana.events[seen:] if e.stream == "queue:sales"
    ]
    assert len(writes["bruno"]) == 1, writes
