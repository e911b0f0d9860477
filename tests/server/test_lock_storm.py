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
    made = [await running.inbound(f"oi {n}", address=f"55119000000{n:02d}") for n in range(5)]
    convs = [m["conversation_id"] for m in made]
    for conv_id in convs:
        await ana.event(p.InboxAdded, lambda e, c=conv_id: e.conversation.id == c)
    await ana.call(p.Open, conversation_id=convs[2])
    await ana.barrier()
    # Count the writes to Ana's socket on the node from here on.
    (server_side,) = [c for c, agent in running.node.hub.clients.items() if agent == "ana"]
    assert server_side.ws.protocol.extensions == []  # compression off: frames serialized once for every socket
    transport: Any = server_side.ws.transport
    writes: list[int] = []
    real_write = transport.write
    transport.write = lambda data: (writes.append(len(data)), real_write(data))[1]
    seen = len(ana.events)
    intake = running.node.app.intake
    later = intake.clock() + DAY_MS
    intake.clock = lambda: later

    assert await intake.expire_many(convs) == []

    transport.write = real_write
    await ana.wait_for(lambda: len(ana.received(p.SessionLocked)) == 6)
    storm = [(e.stream, type(e.event).__struct_config__.tag) for e in ana.events[seen:]]
    assert [s for s in storm if s[0] == "queue:sales"] == [("queue:sales", "inbox.updated"), ("queue:sales", "session.locked")] * 5
    assert [s for s in storm if s[0].startswith("conv:")] == [(f"conv:{convs[2]}", "session.locked"), (f"conv:{convs[2]}", "message.created")]
    entry = ana.received(p.MessageCreated, lambda e: e.message.kind == "timeline")[0].message
    assert entry.meta == {"event": "locked"} and entry.conversation_id == convs[2]
    assert len(writes) == 1, writes  # twelve frames, one write
