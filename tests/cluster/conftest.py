"""Cluster fixtures: real redis-server processes and real node processes
(``python -m server.cli serve --redis …``) on free loopback ports."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cluster.redisproc import RedisProcess, free_port, redis_binary, shared_redis
from tests.conftest import SECRET, token
from tests.wsagent import WsAgent

ROOT = Path(__file__).resolve().parents[2]

# Without a redis-server (scripts/ensure-redis.sh installs one) these tests are not collected.
collect_ignore_glob = [] if redis_binary() is not None else ["test_*.py"]

RACERS = [f"a{i:02d}" for i in range(50)]
"""Fifty agents of the sales queue, for the claim race."""


def cluster_toml(
    *, port: int, node_id: str, whatsapp_window: float, history_size: int = 1000, extra: str = "", wa_token: str = "", routing: str = ""
) -> str:
    """``routing``: the ``[routing]`` table's lines; given, ``sales`` routes automatically."""
    agents = [
        ('ana', 'Ana Souza', 'agent', '["sales"]'),
        ('bruno', 'Bruno Díaz', 'agent', '["sales", "support"]'),
        ('carla', 'Carla Méndez', 'agent', '["support"]'),
        ('sofia', 'Sofía Ramos', 'supervisor', '["sales", "support"]'),
        *((a, f"Racer {a}", 'agent', '["sales"]') for a in RACERS),
    ]
    lines = [
        'dispositions = ["Resolved", "Sale", "Spam"]',
        "[server]",
        'host = "127.0.0.1"',
        f"port = {port}",
        f'node_id = "{node_id}"',
        f'token_secret = "{SECRET}"',
        "dev_endpoints = true",
        "heartbeat_seconds = 5.0",
        f"history_size = {history_size}",
        '[[queues]]\nid = "sales"\nname = "Sales"' + ('\nrouting = "automatic"' if routing else ""),
        '[[queues]]\nid = "support"\nname = "Support"',
    ]
    for agent_id, name, role, queues in agents:
        lines.append(f'[[agents]]\nid = "{agent_id}"\nname = "{name}"\nrole = "{role}"\nqueues = {queues}')
    lines += [
        '[[touchpoints]]\nid = "wa"\nchannel = "whatsapp"\nname = "+1 555 0100"\naddress = "100200300"\nqueue = "sales"'
        + (f'\naccess_token = "{wa_token}"' if wa_token else ""),
        '[[touchpoints]]\nid = "fb"\nchannel = "messenger"\nname = "Acme Store"\naddress = "998877"\nqueue = "support"',
        '[[templates]]\nname = "hello"\nlanguage = "en_US"\ntext = "Hello {{1}}, how can we help?"',
        f"[windows.whatsapp]\nwindow_seconds = {whatsapp_window}\ntemplates = true",
        "[windows.messenger]\nwindow_seconds = 3600\nextended_seconds = 25200",
        extra,
    ]
    if routing:
        lines.append("[routing]\n" + routing)
    return "\n".join(lines) + "\n"


class NodeProcess:
    """One Switchboard node in its own process."""

    def __init__(self, directory: Path, redis_url: str, node_id: str, *, whatsapp_window: float = 3600, **kw: Any) -> None:
        self.node_id = node_id
        self.redis_url = redis_url
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"  # one port: /ws on the HTTP port
        self.config = directory / f"{node_id}.toml"
        self.config.write_text(
            cluster_toml(port=self.port, node_id=node_id, whatsapp_window=whatsapp_window, **kw)
        )
        self.log = directory / f"{node_id}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server.cli", "serve", "--config", str(self.config), "--redis", self.redis_url],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def ready(self, http: httpx.AsyncClient, timeout: float = 20.0) -> None:
        await wait_until(lambda: self._ready(http), timeout, f"{self.node_id} ready")

    async def _ready(self, http: httpx.AsyncClient) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.node_id} exited:\n{self.log.read_text()[-3000:]}")
        try:
            return (await http.get(f"{self.base}/readyz", timeout=1.0)).status_code == 200
        except httpx.HTTPError:
            return False

    async def readyz(self, http: httpx.AsyncClient) -> int:
        return (await http.get(f"{self.base}/readyz", timeout=2.0)).status_code

    async def agent(self, agent_id: str, **kw: Any) -> WsAgent:
        return await WsAgent.connect(self.ws_url, token(agent_id), name=f"{agent_id}@{self.node_id}", **kw)

    async def inbound(self, http: httpx.AsyncClient, text: str, *, address: str = "5511900000001", touchpoint: str = "wa", **kw: Any) -> httpx.Response:
        return await http.post(
            f"{self.base}/api/dev/inbound",
            json={"touchpoint_id": touchpoint, "address": address, "text": text, **kw},
            timeout=15.0,
        )

    async def metric(self, http: httpx.AsyncClient, name: str) -> float:
        text = (await http.get(f"{self.base}/metrics")).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and (line[len(name)] in " {"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


async def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")


class Cluster:
    def __init__(self, directory: Path, redis: RedisProcess) -> None:
        self.dir = directory
        self.redis = redis
        self.nodes: list[NodeProcess] = []
        self.agents: list[WsAgent] = []

    async def start(self, http: httpx.AsyncClient, n: int, **kw: Any) -> list[NodeProcess]:
        made = [NodeProcess(self.dir, self.redis.url, f"n{len(self.nodes) + i + 1}", **kw) for i in range(n)]
        for node in made:
            node.spawn()
        self.nodes.extend(made)
        for node in made:
            await node.ready(http)
        return made

    async def agent(self, node: NodeProcess, agent_id: str, **kw: Any) -> WsAgent:
        a = await node.agent(agent_id, **kw)
        self.agents.append(a)
        return a

    async def close(self) -> None:
        for a in self.agents:
            try:
                await asyncio.wait_for(a.close(), 2)
            except Exception:
                pass
        for node in self.nodes:
            node.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def redis_url() -> str:
    """The session's shared redis-server, emptied for this test."""
    r = shared_redis()
    assert r.command("FLUSHALL").startswith(b"+OK")
    return r.url


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A redis-server of this test alone, with the append-only file on."""
    r = RedisProcess(tmp_path / "redis", aof=True).start()
    yield r
    r.stop()


@pytest.fixture
async def cluster(tmp_path: Path, own_redis: RedisProcess) -> AsyncIterator[Cluster]:
    c = Cluster(tmp_path, own_redis)
    yield c
    await c.close()
