"""One port: the agent websocket (/ws) is served on the HTTP port, by the
``websockets`` library (not through ASGI), with the same limits as on the
optional dedicated port, and shut down with 1001 like it."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import InvalidStatus

from protocol import messages as p
from server.config import Config
from server.ws.connection import Connection as Client
from server.wsport import ws_limits
from tests.conftest import Running, free_port, make_config, start_node, token
from tests.wsagent import WsAgent


def server_side(running: Running, agent_id: str) -> list[ServerConnection]:
    return [c.ws for c in running.node.hub.clients if isinstance(c, Client) and c.agent and c.agent.id == agent_id]


def settings_of(ws: ServerConnection) -> dict[str, Any]:
    return {
        "type": type(ws),
        "ping_interval": ws.ping_interval,
        "ping_timeout": ws.ping_timeout,
        "close_timeout": ws.close_timeout,
        "max_queue": (ws.max_queue_high, ws.max_queue_low),
        "write_limit": (ws.write_limit_high, ws.write_limit_low),
        "max_size": ws.protocol.max_message_size,
        "extensions": ws.protocol.extensions,
        "keepalive": ws.keepalive_task is not None,
    }


async def test_api_config_sends_agents_to_the_http_port(running: Running) -> None:
    r = await running.http.get(f"{running.base}/api/config")
    assert r.json()["ws_url"] == f"ws://127.0.0.1:{running.node.config.server.port}/ws"


@pytest.fixture
def config() -> Config:
    # The proxy's name must be one the node answers (allowed_hosts); loopback stays allowed for the tests' own calls.
    return make_config(allowed_hosts=["127.0.0.1", "localhost", "agents.example.com"])


async def test_api_config_follows_the_address_a_proxy_was_reached_at(running: Running) -> None:
    """Behind a TLS-terminating proxy on this host: its Host, and wss://."""
    r = await running.http.get(
        f"{running.base}/api/config", headers={"Host": "agents.example.com:8443", "X-Forwarded-Proto": "https"}
    )
    assert r.json()["ws_url"] == "wss://agents.example.com:8443/ws"


async def test_an_agent_on_the_http_port_gets_a_websockets_connection_with_the_node_limits(running: Running) -> None:
    s = running.node.config.server
    ana = await WsAgent.connect(f"ws://127.0.0.1:{s.port}/ws", token("ana"), name="ana")
    running.agents.append(ana)
    await running.inbound("hello over one port")
    await ana.event(p.InboxAdded)

    [ws] = server_side(running, "ana")
    lim = ws_limits(s)
    assert settings_of(ws) == {
        "type": ServerConnection,
        "ping_interval": s.heartbeat_seconds,
        "ping_timeout": s.heartbeat_seconds,
        "close_timeout": s.close_timeout_seconds,
        "max_queue": (16, None),
        "write_limit": (lim["write_limit"], None),
        "max_size": s.max_message_bytes,
        "extensions": [],
        "keepalive": True,
    }
    assert ws in running.node.ws_server.connections  # type: ignore[union-attr]


async def test_compression_is_never_negotiated_on_the_http_port(running: Running) -> None:
    async with connect(running.ws_url, compression="deflate") as ws:
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        await ws.send(p.encoder.encode(p.Hello(id="h", token=token("ana"))).decode())
        assert isinstance(p.frame_decoder.decode(await ws.recv()), p.Welcome)


@pytest.mark.parametrize("path", ["/", "/api/config", "/ws/", "/wsx", "/static/index.html"])
async def test_a_websocket_to_another_path_is_refused(running: Running, path: str) -> None:
    with pytest.raises(InvalidStatus) as e:
        async with connect(f"ws://127.0.0.1:{running.node.config.server.port}{path}"):
            pass
    assert e.value.response.status_code == 404
    assert b"the agent websocket is /ws" in e.value.response.body


async def test_http_keeps_working_on_the_same_port_during_websocket_traffic(running: Running) -> None:
    agents = [await running.agent(a) for a in ("ana", "bruno", "sofia")]
    n = 20

    async def customer(i: int) -> None:
        await running.inbound(f"message {i}", address=f"55119000{i:05d}")

    async def poller() -> list[int]:
        return [(await running.http.get(f"{running.base}{path}")).status_code for path in ("/healthz", "/api/config", "/metrics") * 5]

    statuses, *_ = await asyncio.gather(poller(), *(customer(i) for i in range(n)))
    assert set(statuses) == {200}
    for a in agents:
        await a.wait_for(lambda a=a: len({e.event.conversation.id for e in a.events if isinstance(e.event, p.InboxAdded)}) >= n)
    # and a fresh HTTP connection after all that
    async with httpx.AsyncClient() as fresh:
        assert (await fresh.get(f"{running.base}/readyz")).json()["ready"] is True


async def test_shutdown_closes_agent_sockets_with_1001_and_uvicorn_holds_none_of_them(config: Config) -> None:
    node, server, task = await start_node(config)
    try:
        ana = await WsAgent.connect(f"ws://127.0.0.1:{config.server.port}/ws", token("ana"), name="ana")
        # uvicorn let go of the upgraded connection: not among its
        # connections (which its graceful shutdown would wait for), no task.
        assert not [c for c in server.server_state.connections if not type(c).__name__.startswith("H11")]
        assert not server.server_state.tasks
        # uvicorn stops (no longer accepting) without waiting for the agent...
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        assert ana.close_code is None
        await ana.call(p.Ping)
    finally:
        # ...and the node's stop closes it: going away, reconnect and resume.
        await node.stop()
    await ana.wait_for(lambda: ana.close_code is not None)
    assert ana.close_code == 1001


@pytest.fixture
def dedicated() -> Config:
    return make_config(ws_port=free_port())


async def test_the_dedicated_websocket_port_option(dedicated: Config) -> None:
    """``ws_port`` set: /ws also on a listener of its own (advertised), same
    protocol and limits as the HTTP port's, both closed with 1001 on stop."""
    node, server, task = await start_node(dedicated)
    s = dedicated.server
    agents: list[WsAgent] = []
    try:
        async with httpx.AsyncClient() as http:
            running = Running(node, http)
            r = await http.get(f"{running.base}/api/config")
            assert r.json()["ws_url"] == f"ws://127.0.0.1:{s.ws_port}/ws" == running.ws_url
            on_ws_port = await WsAgent.connect(f"ws://127.0.0.1:{s.ws_port}/ws", token("ana"), name="ana@ws_port")
            agents.append(on_ws_port)
            on_http_port = await WsAgent.connect(f"ws://127.0.0.1:{s.port}/ws", token("ana"), name="ana@port")
            agents.append(on_http_port)
            await running.inbound("to both screens")
            for a in agents:
                await a.event(p.InboxAdded)
            first, second = server_side(running, "ana")
            assert settings_of(first) == settings_of(second)
            assert {first.local_address[1], second.local_address[1]} == {s.port, s.ws_port}
        server.should_exit = True
        await task
    finally:
        await node.stop()
    for a in agents:
        await a.wait_for(lambda a=a: a.close_code is not None)
    assert [a.close_code for a in agents] == [1001, 1001]


async def test_an_upgrade_on_a_keep_alive_connection_after_http_requests(running: Running) -> None:
    """A proxy's pooled upstream connection (nginx ``keepalive``) may carry
    plain requests first, then an agent's upgrade."""
    port = running.node.config.server.port
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    for _ in range(2):
        await loop.sock_sendall(sock, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += await loop.sock_recv(sock, 1)
        assert head.startswith(b"HTTP/1.1 200"), head
        length = int(next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")).split(b":")[1])
        body = b""
        while len(body) < length:
            body += await loop.sock_recv(sock, length - len(body))
        assert b'"ok"' in body
    ana = await WsAgent.connect(f"ws://127.0.0.1:{port}/ws", token("ana"), name="ana", sock=sock)
    running.agents.append(ana)
    await running.inbound("after keep-alive")
    await ana.event(p.InboxAdded, lambda e: e.conversation.preview == "after keep-alive")


UPGRADE = "Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
KEY = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"


@pytest.mark.parametrize(
    ("request_head", "status", "reason"),
    [
        (f"GET /ws HTTP/1.1\r\n{UPGRADE}Sec-WebSocket-Version: 13\r\n\r\n", 400, b"missing Sec-WebSocket-Key"),
        (f"GET /ws HTTP/1.1\r\n{UPGRADE}{KEY}Sec-WebSocket-Version: 8\r\n\r\n", 400, b"invalid Sec-WebSocket-Version"),
        (f"POST /ws HTTP/1.1\r\n{UPGRADE}{KEY}Sec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n", 405, b"unsupported HTTP method"),
    ],
)
async def test_a_malformed_upgrade_on_the_http_port_gets_a_clear_http_error(
    running: Running, request_head: str, status: int, reason: bytes
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", running.node.config.server.port)
    writer.write(request_head.encode())
    response = await asyncio.wait_for(reader.read(), 5)  # the server closes after its answer
    writer.close()
    assert response.startswith(f"HTTP/1.1 {status} ".encode()), response
    assert reason in response
    assert (await running.http.get(f"{running.base}/healthz")).status_code == 200
