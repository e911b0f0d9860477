"""Slow and dead consumers are cut loose; nobody else waits for them."""

from __future__ import annotations

import asyncio
import base64
import os
import socket

import pytest
from websockets.asyncio.client import ClientConnection, connect

from protocol import messages as p
from server.config import Config
from server.core.model import Inbound
from tests.conftest import Running, make_config, token


@pytest.fixture
def config() -> Config:
    return make_config(outbound_buffer_bytes=64 * 1024, heartbeat_seconds=0.5, close_timeout_seconds=0.5)


async def test_a_client_that_stops_reading_is_dropped_and_others_keep_up(running: Running) -> None:
    made = await running.inbound("start")
    cid = made["conversation_id"]
    # The stalled client: tiny receive queue, never reads, so TCP backs up into the server.
    # A small kernel receive buffer: loopback's autotuning (tcp_rmem up to 32 MiB
    # here) could otherwise swallow the whole burst before the server's own buffer fills.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", running.node.config.ws_port))
    stalled = await connect(running.ws_url, sock=sock, max_queue=1, compression=None)
    try:
        await _stall_and_flood(running, stalled, cid)
    finally:
        stalled.transport.abort()


async def _stall_and_flood(running: Running, stalled: ClientConnection, cid: str) -> None:
    await stalled.send(p.encoder.encode(p.Hello(id="h", token=token("bruno"))).decode())
    await stalled.send(p.encoder.encode(p.Open(id="o", conversation_id=cid)).decode())
    stalled.transport.pause_reading()
    healthy = await running.agent("ana")
    await healthy.call(p.Open, conversation_id=cid)

    intake = running.node.app.intake
    stream = f"conv:{cid}"
    big = "x" * 4000
    for i in range(3000):
        await intake.receive("wa", "5511900000001", Inbound(kind="text", text=f"{i} {big}", at=intake.clock()))
        # The healthy agent keeps reading (it shares this event loop, so let it).
        target = healthy.positions[stream] + 1
        await healthy.wait_for(lambda: healthy.positions[stream] >= target)
        if running.node.metrics.slow_consumers.value() >= 1:
            break
    assert running.node.metrics.slow_consumers.value() == 1
    last = healthy.received(p.MessageCreated)[-1]
    assert last.message.text.startswith(f"{i} ") and last.message.seq == i + 2  # all arrived, in order
    assert not any(c.agent and c.agent.id == "bruno" for c in running.node.hub.clients if c.streams)


async def test_a_half_open_connection_is_found_by_heartbeat(running: Running) -> None:
    # A raw TCP peer that completes the upgrade and hello, then goes silent (never answers pings).
    reader, writer = await asyncio.open_connection("127.0.0.1", running.node.config.ws_port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    await reader.readuntil(b"\r\n\r\n")
    payload = p.encoder.encode(p.Hello(id="h", token=token("ana")))
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    header = bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big") if len(payload) >= 126 else bytes([0x81, 0x80 | len(payload)])
    writer.write(header + mask + masked)
    await writer.drain()
    hub = running.node.hub

    async def authenticated() -> None:
        while not any(c.agent is not None for c in hub.clients):
            await asyncio.sleep(0.02)

    await asyncio.wait_for(authenticated(), 5)
    writer.transport.pause_reading()  # stop reading: pings go unanswered

    async def gone() -> None:
        while hub.clients:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(gone(), 5)  # ping every 0.5 s, 0.5 s to answer
    assert not hub.clients
    writer.transport.abort()
