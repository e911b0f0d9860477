"""A connect's frames leave in as few writes as the protocol allows (issue
16, connect rate): the welcome goes out in one write with the snapshot (or
with ``resumed``), not one write each. Each write to a waiting peer is a
system call and a wake-up of the peer; on a busy machine, the node's turn on
the CPU. The node's side is the real connection over tests/memlink.py's
in-memory transport, which records what the node writes."""

from __future__ import annotations

import asyncio

import msgspec
from websockets.asyncio.client import ClientConnection
from websockets.client import ClientProtocol
from websockets.uri import parse_uri

from protocol import messages as p
from tests.conftest import token
from tests.memlink import Linked, Pipe


class _Recording(Pipe):
    """The node's end of the link, keeping every write it was given."""

    def __init__(self, loop: asyncio.AbstractEventLoop, name: str) -> None:
        super().__init__(loop, name)
        self.writes: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))
        super().write(data)


async def _connect(linked: Linked) -> tuple[ClientConnection, _Recording]:
    loop = asyncio.get_running_loop()
    ours, theirs = Pipe(loop, "test-client"), _Recording(loop, "node")
    ours.peer, theirs.peer = theirs, ours
    server = linked.node.uvicorn_ws()
    client = ClientConnection(ClientProtocol(parse_uri("ws://memory/ws")))
    theirs.set_protocol(server)
    ours.set_protocol(client)
    server.connection_made(theirs)
    client.connection_made(ours)
    await client.handshake()
    return client, theirs


async def _until(client: ClientConnection, kind: str) -> list[str]:
    seen = []
    while True:
        frame = msgspec.json.decode(await client.recv())
        seen.append(frame["type"])
        if frame["type"] == kind:
            return seen


async def test_the_welcome_and_the_snapshot_leave_in_one_write(linked: Linked) -> None:
    client, node = await _connect(linked)
    handshake = len(node.writes)
    await client.send(p.encoder.encode(p.Hello(id="h", token=token("ana"))).decode())
    assert await _until(client, "snapshot") == ["welcome", "snapshot"]
    sync = node.writes[handshake:]
    assert len(sync) == 1, [w[:40] for w in sync]
    assert b'"type":"welcome"' in sync[0] and b'"type":"snapshot"' in sync[0]
    await client.close()


async def test_a_resume_sends_its_welcome_with_resumed_and_then_what_was_missed(linked: Linked) -> None:
    first = await linked.agent("ana")
    assert first.welcome is not None
    resume = p.Resume(epoch=first.welcome.epoch, streams=dict(first.positions))
    await first.close()
    await linked.inbound("while away")  # events on the queue's stream, to be replayed
    client, node = await _connect(linked)
    handshake = len(node.writes)
    await client.send(p.encoder.encode(p.Hello(id="h", token=token("ana"), resume=resume)).decode())
    assert await _until(client, "resumed") == ["welcome", "resumed"]
    assert b'"type":"welcome"' in node.writes[handshake] and b'"type":"resumed"' in node.writes[handshake]
    missed = msgspec.json.decode(await client.recv())
    assert (missed["type"], missed["stream"]) == ("event", "queue:sales")
    await client.close()
