"""A command's answer is written as the text frame websockets would write
(``Connection._send``'s common case: no ``ws.send`` call), and goes through
``ws.send`` whenever the socket is not in that case: its writes paused, or
something else under way on it. A write that fills the buffer waits for it
to drain, as ``ws.send`` does."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest
from websockets.asyncio.connection import Connection as WsConnection
from websockets.frames import Frame, Opcode

from protocol import messages as p
from tests.conftest import token
from tests.memlink import Linked
from tests.ws.test_connect_writes import _connect, _until


async def _ping_answer(
    linked: Linked, monkeypatch: pytest.MonkeyPatch, *, pause: bool, fills: bool = False
) -> tuple[list[bytes], bytes, int, int]:
    client, node = await _connect(linked)
    await client.send(p.encoder.encode(p.Hello(id="h", token=token("ana"))).decode())
    await _until(client, "snapshot")
    server_ws = next(iter(linked.node.hub.clients)).ws
    sends: list[Any] = []
    drains: list[Any] = []
    real_send, real_drain = WsConnection.send, WsConnection.drain

    async def send(self: WsConnection, *args: Any, **kwargs: Any) -> None:
        if self is server_ws:
            sends.append(args)
        await real_send(self, *args, **kwargs)

    async def drain(self: WsConnection) -> None:
        if self is server_ws:
            drains.append(self)
        await real_drain(self)

    monkeypatch.setattr(WsConnection, "send", send)
    monkeypatch.setattr(WsConnection, "drain", drain)
    if fills:  # the answer's write takes the buffer over its high mark
        transport, loop = server_ws.transport, asyncio.get_running_loop()
        real_write = transport.write

        def write(data: bytes) -> None:
            real_write(data)
            server_ws.pause_writing()
            loop.call_later(0.05, server_ws.resume_writing)

        monkeypatch.setattr(transport, "write", write)
    if pause:
        server_ws.pause_writing()  # the transport's buffer over its high mark
        asyncio.get_running_loop().call_later(0.05, server_ws.resume_writing)
    before = len(node.writes)
    await client.send(p.encoder.encode(p.Ping(id="p1")).decode())
    raw = await client.recv(decode=False)
    answer = msgspec.json.decode(raw)
    assert answer["type"] == "ack" and answer["id"] == "p1"
    writes = node.writes[before:]
    monkeypatch.undo()
    await client.close()
    return writes, raw, len(sends), len(drains)


async def test_an_answer_is_the_frame_websockets_would_write_without_its_send(
    linked: Linked, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes, ack, sends, drains = await _ping_answer(linked, monkeypatch, pause=False)
    assert writes == [Frame(Opcode.TEXT, ack).serialize(mask=False)]
    assert (sends, drains) == (0, 0)


async def test_a_paused_socket_gets_its_answer_through_websockets_send(
    linked: Linked, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes, ack, sends, drains = await _ping_answer(linked, monkeypatch, pause=True)
    assert writes == [Frame(Opcode.TEXT, ack).serialize(mask=False)]
    assert sends == 1 and drains == 1  # waited for the buffer to drain, as before


async def test_an_answer_that_fills_the_buffer_waits_for_it_to_drain(
    linked: Linked, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes, ack, sends, drains = await _ping_answer(linked, monkeypatch, pause=False, fills=True)
    assert writes == [Frame(Opcode.TEXT, ack).serialize(mask=False)]
    assert (sends, drains) == (0, 1)
