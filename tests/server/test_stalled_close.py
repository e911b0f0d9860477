"""A socket the node closes while its peer has stopped reading is really closed,
within close_timeout_seconds, not left open holding its buffers.

websockets (17) starts a close's timeout only after its write buffer has
drained below the low-water mark, which never happens for a peer that stopped
reading; found by ``python -m bench stall`` (bench/README.md)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import ClientConnection, connect

from protocol import messages as p
from server.config import Config
from server.core.model import Inbound
from server.ws.connection import Connection as Client
from tests.conftest import Running, make_config, token

BIG = "x" * 4000


@pytest.fixture
def config() -> Config:
    # Heartbeat far away: only the close under test may end the connection.
    return make_config(outbound_buffer_bytes=256 * 1024, heartbeat_seconds=60, close_timeout_seconds=0.5)


@pytest.fixture
async def peers() -> AsyncIterator[list[ClientConnection]]:
    """The stalled peers, cut when the test ends however it ends (else the node's
    own shutdown would wait on them: the same close that never drains)."""
    opened: list[ClientConnection] = []
    yield opened
    for ws in opened:
        ws.transport.abort()


async def stalled_agent(running: Running, agent_id: str, cid: str, peers: list[ClientConnection]) -> tuple[ClientConnection, Client]:
    """An agent that opens the conversation, then stops reading. Small kernel
    buffers (as across a network, not loopback's 64 KiB segments) so the
    server's own buffer fills after a few hundred KB."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1448)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", running.node.config.ws_port))
    ws = await connect(running.ws_url, sock=sock, max_queue=1, compression=None, ping_interval=None)
    peers.append(ws)
    await ws.send(p.encoder.encode(p.Hello(id="h", token=token(agent_id))).decode())
    await ws.send(p.encoder.encode(p.Open(id="o", conversation_id=cid)).decode())
    deadline = time.monotonic() + 5
    while True:
        mine = [c for c in running.node.hub.clients if c.agent and c.agent.id == agent_id and f"conv:{cid}" in c.streams]
        if mine:
            break
        assert time.monotonic() < deadline, "the stalled agent never subscribed"
        await asyncio.sleep(0.02)
    ws.transport.pause_reading()
    return ws, mine[0]


async def publish(running: Running, n: int) -> None:
    intake = running.node.app.intake
    for i in range(n):
        await intake.receive("wa", "5511900000001", Inbound(kind="text", text=f"{i} {BIG}", at=intake.clock()))


async def gone(running: Running, client: Client, within: float) -> float:
    t0 = time.monotonic()
    while client in running.node.hub.clients:
        if time.monotonic() - t0 > within:
            pytest.fail(f"still connected {within} s after the close began ({client.transport_buffered()} B buffered)")
        await asyncio.sleep(0.05)
    return time.monotonic() - t0


async def test_a_dropped_slow_consumer_is_cut_although_it_never_reads(running: Running, peers: list[ClientConnection]) -> None:
    cid = (await running.inbound("start"))["conversation_id"]
    _, client = await stalled_agent(running, "bruno", cid, peers)
    metrics = running.node.metrics
    for _ in range(400):
        await publish(running, 5)
        if metrics.slow_consumers.value() >= 1:
            break
    assert metrics.slow_consumers.value() == 1
    await gone(running, client, within=0.5 + 2.5)


async def test_a_socket_closing_behind_an_unread_buffer_is_cut(running: Running, peers: list[ClientConnection]) -> None:
    """Any close the node starts (here a shutdown-style 1001; likewise a heartbeat
    timeout or a revocation) while more than websockets' write high-water mark
    (32 KiB) waits unread: the next delivery to it starts the cut."""
    cid = (await running.inbound("start"))["conversation_id"]
    _, client = await stalled_agent(running, "bruno", cid, peers)
    for _ in range(200):
        await publish(running, 1)
        if client.transport_buffered() > 64 * 1024:
            break
    assert 64 * 1024 < client.transport_buffered() < 256 * 1024  # writes paused, not over the node's limit
    closing = asyncio.ensure_future(client.ws.close(1001, "going away"))
    await asyncio.sleep(0.1)
    assert not closing.done()  # waiting for a drain that will never come
    await publish(running, 1)
    await gone(running, client, within=0.5 + 2.5)
    await asyncio.wait_for(closing, 2)
    assert running.node.metrics.slow_consumers.value() == 0  # not a slow consumer: it was closing anyway


async def test_a_revoked_socket_that_stopped_reading_is_cut(running: Running, peers: list[ClientConnection]) -> None:
    cid = (await running.inbound("start"))["conversation_id"]
    _, client = await stalled_agent(running, "bruno", cid, peers)
    for _ in range(200):
        await publish(running, 1)
        if client.transport_buffered() > 64 * 1024:
            break
    r = await running.http.post(f"{running.base}/api/agents/bruno/revoke", headers={"authorization": f"Bearer {token('sofia')}"})
    assert r.status_code == 200, r.text
    await gone(running, client, within=0.5 + 2.5)
