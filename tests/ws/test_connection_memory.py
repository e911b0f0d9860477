"""What the node's own structures keep per connected idle agent, beyond the
``websockets`` connection (issue 16: memory per idle agent at the floor):
the ``Connection``, its ``Session`` and the hub's registrations of the
agent's own stream and its queue's. Measured with tracemalloc on real
objects; the sockets are stand-ins (only their transport is read)."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from typing import Any, cast

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from protocol import messages as p
from server.auth import Claims
from server.config import ServerSettings
from server.core.model import Agent
from server.metrics import Metrics
from server.ws.connection import Connection, Edge
from server.ws.hub import Hub, Listener
from server.ws.session import Authenticate
from tests.memlink import Linked


class _Socket:
    """Only what a Connection reads of its ServerConnection before traffic."""

    __slots__ = ("request", "response", "transport")

    def __init__(self) -> None:
        self.transport = object()
        self.request: Request | None = None
        self.response: Response | None = None


def _edge(hub: Hub) -> Edge:
    none = cast(Any, None)
    return Edge(app=none, hub=hub, broker=none, metrics=Metrics(), settings=ServerSettings(), node_id="n1")


def _held_per_agent(n: int) -> tuple[float, list[Connection]]:
    hub = Hub(max_buffer=1 << 20, metrics=Metrics())
    edge = _edge(hub)
    agents = [Agent(id=f"a{i:05d}", name=f"A{i}", queues=(f"q{i % 10}",)) for i in range(n)]
    sockets = [_Socket() for _ in range(n)]
    # What the connections are handed, made before measuring: the token's
    # claims come decoded from the hello, the stream names from the catalog.
    claims = [Claims(sub=a.id, exp=2_000_000_000, iat=1_000, jti=f"t{i}") for i, a in enumerate(agents)]
    hello = p.encoder.encode(p.Hello(id="h", token="tok", protocol=p.PROTOCOL_VERSION))
    own = [(f"agent:{a.id}", f"queue:{a.queues[0]}") for a in agents]
    conns: list[Connection] = []
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for agent, socket, claim, streams in zip(agents, sockets, claims, own, strict=True):
            conn = Connection(cast(Any, socket), edge)
            hub.join(cast(Listener, conn))
            step = conn.session.receive_hello(hello)
            assert isinstance(step, Authenticate)
            welcome = conn.session.authenticated(step.hello, agent, claim, screens=0, node_id="n1", epoch="e", server_time=0)
            assert isinstance(welcome, p.Welcome)
            del step, welcome
            hub.logged_in(cast(Listener, conn), agent.id)
            for stream in streams:
                conn._attach(stream)
            conn.session.went_live()
            conns.append(conn)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    held = sum(s.size_diff for s in after.compare_to(before, "filename"))
    return held / n, conns


def test_an_idle_connection_keeps_under_half_a_kib_of_the_nodes_own() -> None:
    per_agent, conns = _held_per_agent(2000)
    # Connection (slots) + its stream list, Session (slots) with a shared
    # Limits, no rate bucket until a command, the token's id and second
    # instead of its claims; the hub: one client entry, a screen count, a
    # 1-tuple for the agent's own stream. Before issue 16's cuts (a
    # set of streams, a Limits, a bucket and the claims per session, a set
    # per agent stream, two hub tables): 1,061 B.
    assert per_agent < 560, f"{per_agent:.0f} B per idle agent"
    assert all(c.session.state == "live" for c in conns)


def test_the_rate_limit_made_on_first_use_starts_full_however_late_that_is() -> None:
    hub = Hub(max_buffer=1 << 20, metrics=Metrics())
    conn = Connection(cast(Any, _Socket()), _edge(hub))
    session = conn.session
    step = session.receive_hello(p.encoder.encode(p.Hello(id="h", token="tok", protocol=p.PROTOCOL_VERSION)))
    assert isinstance(step, Authenticate)
    session.authenticated(step.hello, Agent(id="ana", name="Ana"), Claims(sub="ana", exp=9, iat=1, jti="t"), screens=0, node_id="n", epoch="e", server_time=0)
    burst = ServerSettings().command_burst
    ping = p.encoder.encode(p.Ping(id="p"))
    late = conn.session.now + 3600.0
    outcomes = [type(session.receive_command(ping, late)).__name__ for _ in range(burst + 1)]
    assert outcomes == ["Run"] * burst + ["Reply"]


def test_every_session_of_a_node_shares_its_limits() -> None:
    hub = Hub(max_buffer=1 << 20, metrics=Metrics())
    edge = _edge(hub)
    a, b = Connection(cast(Any, _Socket()), edge), Connection(cast(Any, _Socket()), edge)
    assert a.session.limits is b.session.limits is edge.limits
    assert edge.limits.command_burst == edge.settings.command_burst


async def test_an_upgraded_connection_keeps_neither_its_upgrade_request_nor_the_response(linked: Linked) -> None:
    ana = await linked.agent("ana")
    (conn,) = linked.node.hub.clients
    ws = cast(Connection, conn).ws
    assert ws.response is None
    assert ws.request is not None and not ws.request.headers  # one shared stand-in, no headers
    assert isinstance(await ana.call(p.Ping), p.Ok)  # frames after the upgrade are still frames
    bruno = await linked.agent("bruno")
    assert isinstance(await bruno.call(p.Ping), p.Ok)


def test_the_stand_in_request_is_shared() -> None:
    edge = _edge(Hub(max_buffer=1 << 20, metrics=Metrics()))
    sockets = [_Socket() for _ in range(2)]
    for sock in sockets:
        sock.request = Request("/ws", Headers({"Host": "example.test", "User-Agent": "x" * 200}))
        sock.response = Response(101, "Switching Protocols", Headers({"Upgrade": "websocket"}))
        Connection(cast(Any, sock), edge)
    assert sockets[0].request is sockets[1].request
    assert all(s.response is None for s in sockets)


async def test_the_socket_loop_keeps_no_frame_bytes_while_idle(linked: Linked) -> None:
    await linked.agent("ana")
    frames = []
    for task in asyncio.all_tasks():
        coro: Any = task.get_coro()
        while coro is not None:
            if getattr(coro, "cr_code", None) is Connection.run.__code__:
                frames.append(coro.cr_frame)
            coro = getattr(coro, "cr_await", None)
    (frame,) = frames  # ana's connection, idle in recv()
    kept = {name: type(v).__name__ for name, v in frame.f_locals.items() if isinstance(v, bytes | tuple)}
    assert kept == {}, kept  # the welcome's bytes (and the handshake's tuple) would stay for the socket's life
