"""Across nodes, a storm's frames reach a socket in runs: the reader of the
node an agent is connected to hands the hub each run of publications it
read from Redis at once, and the hub writes each socket its frames of the
run in one write (as a single node does for a ``publish_many`` batch)."""

from __future__ import annotations

from typing import Any

from protocol import messages as p
from tests.cluster.conftest import wait_until
from tests.conftest import make_config, start_node, token
from tests.customer_text import Watcher

N = 200


def note(n: int) -> p.AnyEvent:
    return p.NoteAdded(note=p.NoteView(id=f"n{n}", conversation_id="c1", author_id="ana", text=f"note {n}", at=n))


async def test_a_storm_published_on_one_node_reaches_a_socket_on_another_in_few_writes(redis_url: str) -> None:
    started = []
    for node_id in ("n1", "n2"):
        started.append(await start_node(make_config(redis_url=redis_url, node_id=node_id)))
    (publisher, *_), (agent_node, *_) = started
    ana = await Watcher.connect(f"ws://127.0.0.1:{agent_node.config.server.port}/ws", token("ana"), name="ana")
    try:
        listener = next(iter(agent_node.hub._streams["queue:sales"]))
        transport: Any = listener.ws.transport
        writes: list[int] = []
        write = transport.write

        def counted(data: bytes) -> None:
            writes.append(len(data))
            write(data)

        transport.write = counted
        mark = len(ana.log)
        await publisher.broker.publish_many([("queue:sales", note(n)) for n in range(N)])

        def heard() -> list[int]:
            return [f.seq for f in ana.log[mark:] if isinstance(f, p.Event) and f.stream == "queue:sales"]

        await wait_until(lambda: len(heard()) >= N, 10, "ana hears the whole storm")
        seqs = heard()
        assert seqs == list(range(seqs[0], seqs[0] + N))  # every one, once, in order
        texts = [f.event.note.text for f in ana.log[mark:] if isinstance(f, p.Event) and isinstance(f.event, p.NoteAdded)]
        assert texts == [f"note {n}" for n in range(N)]
        assert len(writes) < N / 4, f"{len(writes)} writes for {N} frames"
    finally:
        await ana.close()
        for node, server, task in started:
            server.should_exit = True
            await task
            await node.stop()
