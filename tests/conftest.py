"""Shared fixtures: a real node on loopback ports, tokens, a customer."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn

from server import auth
from server.config import Config, ServerSettings
from server.core.model import Agent, Queue, Template, Touchpoint, WindowPolicy
from server.http_limits import uvicorn_options
from server.node import Node
from tests.wsagent import WsAgent

if TYPE_CHECKING:
    from tests.memlink import Linked

SECRET = "test-secret"


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A free loopback port for a server a test starts, picked below the
    kernel's ephemeral range (32768+): there, the source port of any outgoing
    connection could take it between this check and the server's bind. Never
    the same port twice in a run: a port handed out is free until its server
    binds it (two nodes of one cluster got the same one, once, in CI), and
    may still be held by the last test's server while it exits."""
    for _ in range(200):
        port = random.randint(20000, 32000)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("no free port between 20000 and 32000")


def make_config(*, window: float = 3600, data: str = ":memory:", **server: Any) -> Config:
    settings = ServerSettings(
        host="127.0.0.1",
        port=server.pop("port", None) or free_port(),
        ws_port=server.pop("ws_port", 0),
        data=data,
        token_secret=SECRET,
        dev_endpoints=True,
        heartbeat_seconds=server.pop("heartbeat_seconds", 5.0),
        hello_timeout_seconds=server.pop("hello_timeout_seconds", 2.0),
        **server,
    )
    return Config(
        server=settings,
        queues=[Queue(id="sales", name="Sales"), Queue(id="support", name="Support")],
        agents=[
            Agent(id="ana", name="Ana Souza", queues=("sales",)),
            Agent(id="bruno", name="Bruno Díaz", queues=("sales", "support")),
            Agent(id="carla", name="Carla Méndez", queues=("support",)),
            Agent(id="sofia", name="Sofía Ramos", role="supervisor", queues=("sales", "support")),
        ],
        touchpoints=[
            Touchpoint(id="wa", channel="whatsapp", name="+1 555 0100", queue_id="sales", address="100200300", default_region="BR"),
            Touchpoint(id="fb", channel="messenger", name="Acme Store", queue_id="support", address="998877"),
        ],
        templates=[Template(name="hello", language="en_US", text="Hello {{1}}, how can we help?")],
        dispositions=["Resolved", "Sale", "Spam"],
        windows={
            "whatsapp": WindowPolicy(window_seconds=window, templates=True),
            "messenger": WindowPolicy(window_seconds=window, extended_seconds=window * 7),
        },
    )


def token(agent_id: str, ttl: int = 3600) -> str:
    return auth.issue(SECRET, agent_id, now=int(time.time()), ttl_seconds=ttl)


class Running:
    """A node serving on real sockets, plus helpers to play customers and agents."""

    def __init__(self, node: Node, http: httpx.AsyncClient) -> None:
        self.node = node
        self.http = http
        self.ws_url = f"ws://127.0.0.1:{node.config.ws_port}/ws"
        self.base = f"http://127.0.0.1:{node.config.server.port}"
        self.agents: list[WsAgent] = []

    async def agent(self, agent_id: str, **kw: Any) -> WsAgent:
        a = await WsAgent.connect(self.ws_url, token(agent_id), name=agent_id, **kw)
        self.agents.append(a)
        return a

    async def inbound(self, text: str, *, address: str = "5511900000001", touchpoint: str = "wa", **kw: Any) -> dict:
        r = await self.http.post(
            f"{self.base}/api/dev/inbound", json={"touchpoint_id": touchpoint, "address": address, "text": text, **kw}
        )
        assert r.status_code == 200, r.text
        return r.json()


async def start_node(config: Config, **parts: Any) -> tuple[Node, uvicorn.Server, asyncio.Task[None]]:
    node = Node(config, **parts)
    await node.start()
    server = uvicorn.Server(
        uvicorn.Config(
            node.http_app(), host="127.0.0.1", port=config.server.port, lifespan="off", log_level="warning", ws=node.uvicorn_ws,
            **uvicorn_options(config),  # the HTTP protocol and guards `switchboard serve` runs with (httptools)
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    return node, server, task


@pytest.fixture
def config() -> Config:
    return make_config()


@pytest.fixture
async def running(config: Config) -> AsyncIterator[Running]:
    node, server, task = await start_node(config)
    async with httpx.AsyncClient() as http:
        r = Running(node, http)
        yield r
        for a in r.agents:
            await a.close()
    server.should_exit = True
    await task
    await node.stop()


@pytest.fixture
async def linked(config: Config) -> AsyncIterator[Linked]:
    """A node with no socket at all: agents over tests/memlink.py's in-memory
    link, HTTP through ASGI. For tests where sockets add nothing."""
    from tests.memlink import Linked

    node = await Linked.start(config)
    yield node
    await node.stop()
