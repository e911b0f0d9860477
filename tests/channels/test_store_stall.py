"""The node never stalls on its store: while another process holds the
SQLite file's write lock, agent sockets keep being served, /readyz says 503,
and the webhooks that could not be stored are either stored once the lock is
released or answered 503 (Meta retries): nothing is lost.

The lock is held by a real second process until the test releases it: every
"while the lock is held" below is a barrier, not a timing guess."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from msgspec.structs import replace

from protocol import messages as p
from server.channels.signature import HEADER, sign
from tests.channels import payloads as pl
from tests.channels.conftest import APP_SECRET, Hub, channel_config, serve
from tests.channels.metastub import MetaStub

LOCKER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN " + sys.argv[2])
db.execute("INSERT INTO revocations VALUES ('locker', 0)")
print("locked", flush=True)
sys.stdin.readline()
db.execute("ROLLBACK")
print("released", flush=True)
"""


@asynccontextmanager
async def write_lock_held(path: Path, mode: str = "IMMEDIATE") -> AsyncIterator[None]:
    """Another process holds the database's write lock for the block (and has written)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LOCKER, str(path), mode, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert (await asyncio.wait_for(proc.stdout.readline(), 10)).strip() == b"locked"
        yield
    finally:
        proc.stdin.write(b"release\n")
        await proc.stdin.drain()
        assert (await asyncio.wait_for(proc.stdout.readline(), 10)).strip() == b"released"
        await proc.wait()


async def webhook(hub: Hub, payload: dict[str, Any]) -> httpx.Response:
    body = msgspec.json.encode(payload)
    headers = {"Content-Type": "application/json", HEADER: sign(APP_SECRET, body)}
    return await hub.http.post(f"{hub.base}/webhooks/whatsapp", content=body, headers=headers, timeout=60)


async def readyz_becomes(hub: Hub, status: int) -> dict[str, Any]:
    for _ in range(200):
        r = await hub.http.get(f"{hub.base}/readyz")
        if r.status_code == status:
            return r.json()
        await asyncio.sleep(0.05)
    raise AssertionError(f"/readyz never answered {status} (last {r.status_code} {r.text})")


def customers(n: int) -> list[dict[str, Any]]:
    return [pl.wa_inbound(pl.wa_text(f"while locked {i}", sender=f"55119000077{i:02d}"), wa_id=f"55119000077{i:02d}") for i in range(n)]


@pytest.mark.parametrize("mode", ["IMMEDIATE", "EXCLUSIVE"])
async def test_sockets_are_served_while_another_process_holds_the_write_lock(
    meta: MetaStub, tmp_path: Path, mode: str
) -> None:
    data = tmp_path / "switchboard.sqlite3"
    config = channel_config(meta, data=str(data))
    config = replace(config, server=replace(config.server, store_timeout_seconds=60.0, store_stall_seconds=0.2))
    async for hub in serve(config, meta):
        agent = await hub.agent("ana")
        assert (await hub.http.get(f"{hub.base}/readyz")).status_code == 200
        payloads = customers(5)
        async with write_lock_held(data, mode):
            posts = [asyncio.create_task(webhook(hub, payload)) for payload in payloads]
            body = await readyz_becomes(hub, 503)
            assert body["store"] == "stalled"
            # The lock is still held: the webhooks wait, the socket is served.
            assert isinstance(await asyncio.wait_for(agent.call(p.Ping), 2), p.Ok)
            await asyncio.wait_for(await agent.ws.ping(), 2)
            assert not any(post.done() for post in posts)
        answers = await asyncio.gather(*posts)
        assert [a.status_code for a in answers] == [200] * 5
        await readyz_becomes(hub, 200)
        for i in range(5):
            await agent.event(p.InboxAdded, lambda e, i=i: e.conversation.preview == f"while locked {i}")


async def test_webhooks_answer_503_while_the_lock_outlasts_the_timeout_and_are_stored_on_retry(
    meta: MetaStub, tmp_path: Path
) -> None:
    data = tmp_path / "switchboard.sqlite3"
    config = channel_config(meta, data=str(data))
    config = replace(config, server=replace(config.server, store_timeout_seconds=0.3, store_stall_seconds=30.0))
    async for hub in serve(config, meta):
        agent = await hub.agent("ana")
        payloads = customers(3)
        async with write_lock_held(data):
            answers = await asyncio.gather(*(webhook(hub, payload) for payload in payloads))
            assert [a.status_code for a in answers] == [503] * 3
            body = await readyz_becomes(hub, 503)  # failing, not stalled: no call is waiting now
            assert body["store"] == "stalled"
            assert isinstance(await asyncio.wait_for(agent.call(p.Ping), 2), p.Ok)
        await readyz_becomes(hub, 200)  # recovers on its own (a probe), before any new traffic
        retried = await asyncio.gather(*(webhook(hub, payload) for payload in payloads))  # Meta retries
        assert [a.status_code for a in retried] == [200] * 3
        for i in range(3):
            await agent.event(p.InboxAdded, lambda e, i=i: e.conversation.preview == f"while locked {i}")
