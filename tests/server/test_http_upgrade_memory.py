"""An agent's websocket on the HTTP port keeps nothing of the HTTP request
that opened it: uvicorn's httptools protocol and its parser point at each
other, so unless the node breaks that loop at the upgrade they wait for the
cyclic garbage collector, ~1.4 KiB per connected agent meanwhile (issue 16:
memory per idle agent; the node runs its collector rarely, server/gcsettle)."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest
import uvicorn
from websockets.asyncio.client import connect

from server.http_limits import GuardedHttpToolsProtocol, uvicorn_options
from server.node import Node
from tests.conftest import make_config


async def test_the_http_protocol_of_an_upgraded_connection_is_freed_without_the_collector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[weakref.ref[GuardedHttpToolsProtocol]] = []
    connection_made = GuardedHttpToolsProtocol.connection_made

    def counted(self: GuardedHttpToolsProtocol, transport: asyncio.Transport) -> None:
        made.append(weakref.ref(self))
        connection_made(self, transport)

    monkeypatch.setattr(GuardedHttpToolsProtocol, "connection_made", counted)
    config = make_config()
    node = Node(config)
    await node.start()
    server = uvicorn.Server(
        uvicorn.Config(
            node.http_app(), host="127.0.0.1", port=config.server.port, lifespan="off", log_level="warning",
            ws=node.uvicorn_ws, **uvicorn_options(config),
        )
    )
    task = asyncio.create_task(server.serve())
    gc.collect()
    gc.disable()  # only reference counting frees what follows
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        sockets = [
            await connect(f"ws://127.0.0.1:{config.server.port}/ws", origin=None) for _ in range(3)
        ]
        for ws in sockets:
            await ws.ping()  # the websocket's own frames flow: the upgrade is done
        assert len(made) == 3
        assert [r() for r in made] == [None, None, None]
        for ws in sockets:
            await ws.close()
    finally:
        gc.enable()
        server.should_exit = True
        await task
        await node.stop()
