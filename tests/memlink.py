"""An in-memory link to a node: a whole websocket session without a socket.

The node's side is the real one: the ``websockets`` connection the node makes
for an upgrade on its HTTP port (``Node.uvicorn_ws``), its handshake and
``process_request``, the node's ``Connection`` around the sans-I/O
``Session``, the hub's ``broadcast()``. The test's side is a real
``websockets`` client connection. Only the transport between them is memory:
``Pipe`` hands what one end writes to the other end's protocol, in order, on
the next turns of the event loop (as h11's tests wire a client and a server).
HTTP goes through ``httpx.ASGITransport`` the same way (``Linked``).

What it does not model: TCP's buffers (``get_write_buffer_size`` is always 0,
so the hub never sees a slow consumer), half-closed connections, network
delays. Tests of those keep real sockets (tests/cluster, test_backpressure).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.client import ClientProtocol
from websockets.uri import parse_uri

from protocol import messages as p
from server.config import Config
from server.node import Node
from tests.wsagent import WsAgent


class Pipe(asyncio.Transport):
    """One end of the link. Writes reach ``peer``'s protocol on a later loop
    turn, in the order written; closing either end ends both."""

    def __init__(self, loop: asyncio.AbstractEventLoop, name: str) -> None:
        super().__init__(extra={"peername": (name, 0), "sockname": (name, 0)})
        self._loop = loop
        self._protocol: asyncio.Protocol | None = None
        self.peer: Pipe | None = None
        self._closing = False
        self._lost = False

    # -- the asyncio.Transport a websockets connection uses
    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        assert isinstance(protocol, asyncio.Protocol)
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self._protocol is not None
        return self._protocol

    def is_closing(self) -> bool:
        return self._closing

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._closing and self.peer is not None:
            self._loop.call_soon(self.peer._receive, bytes(data))

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        if self.peer is not None:
            self._loop.call_soon(self.peer._eof)

    def get_write_buffer_size(self) -> int:
        return 0

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (0, 0)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_reading(self) -> bool:
        return not self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._loop.call_soon(self._connection_lost)
        if self.peer is not None:
            self._loop.call_soon(self.peer.close)  # after the bytes already on their way

    def abort(self) -> None:
        self.close()

    # -- deliveries from the peer
    def _receive(self, data: bytes) -> None:
        if not self._lost and self._protocol is not None:
            self._protocol.data_received(data)

    def _eof(self) -> None:
        if not self._lost and self._protocol is not None and not self._protocol.eof_received():
            self.close()

    def _connection_lost(self) -> None:
        if not self._lost and self._protocol is not None:
            self._lost = True
            self._protocol.connection_lost(None)


async def connect(node: Node, *, close_timeout: float = 2.0) -> ClientConnection:
    """A client connection to ``node``'s /ws through memory, handshake done.
    The node must be started (its websocket edge is made by ``start()``)."""
    loop = asyncio.get_running_loop()
    ours, theirs = Pipe(loop, "test-client"), Pipe(loop, "node")
    ours.peer, theirs.peer = theirs, ours
    server = node.uvicorn_ws()  # the node's connection for one upgrade, as uvicorn makes it
    client = ClientConnection(ClientProtocol(parse_uri("ws://memory/ws")), close_timeout=close_timeout)
    theirs.set_protocol(server)
    ours.set_protocol(client)
    server.connection_made(theirs)
    client.connection_made(ours)
    await client.handshake()
    return client


class Linked:
    """A started node with no listening socket: agents over ``connect``,
    HTTP through ``httpx.ASGITransport``. The same helpers as
    ``tests.conftest.Running`` (``agent``, ``inbound``, ``http``, ``base``)."""

    def __init__(self, node: Node, http: httpx.AsyncClient) -> None:
        self.node = node
        self.http = http
        self.base = f"http://127.0.0.1:{node.config.server.port}"  # the Host the node expects; nothing listens there
        self.agents: list[WsAgent] = []

    async def agent(self, agent_id: str, *, resume: p.Resume | None = None, **kw: Any) -> WsAgent:
        from tests.conftest import token

        a = await WsAgent.over(await connect(self.node, **kw), token(agent_id), resume=resume, name=agent_id)
        self.agents.append(a)
        return a

    async def inbound(self, text: str, *, address: str = "5511900000001", touchpoint: str = "wa", **kw: Any) -> dict[str, Any]:
        r = await self.http.post(
            f"{self.base}/api/dev/inbound", json={"touchpoint_id": touchpoint, "address": address, "text": text, **kw}
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    @classmethod
    async def start(cls, config: Config) -> Linked:
        node = Node(config)
        await node.start()
        return cls(node, httpx.AsyncClient(transport=httpx.ASGITransport(app=node.http_app())))

    async def stop(self) -> None:
        for a in self.agents:
            await a.close()
        await self.http.aclose()
        await self.node.stop()
