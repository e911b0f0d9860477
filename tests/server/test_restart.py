"""Crash safety: a node killed with SIGKILL (no graceful stop) comes back on
the same SQLite file with every write it acknowledged, and re-arms the
WhatsApp session timers from the store.

The node runs as a real subprocess (``python -m server.cli serve``), driven
through real HTTP and a real agent websocket, exactly as in production."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from protocol import messages as p
from server import auth
from server.store.sqlite import SqliteStore
from tests.conftest import free_port
from tests.wsagent import WsAgent

REPO = Path(__file__).resolve().parents[2]
SECRET = "restart-secret"
WINDOW_S = 3
"""The WhatsApp "24-hour" window, shortened."""

CONFIG = """
dispositions = ["Resolved", "Sale", "Spam"]

[server]
host = "127.0.0.1"
port = {port}
token_secret = "{secret}"
dev_endpoints = true
heartbeat_seconds = 5.0
hello_timeout_seconds = 5.0

[[queues]]
id = "sales"
name = "Sales"

[[agents]]
id = "ana"
name = "Ana Souza"
queues = ["sales"]

[[agents]]
id = "sofia"
name = "Sofía Ramos"
role = "supervisor"
queues = ["sales"]

[[touchpoints]]
id = "wa"
channel = "whatsapp"
name = "+1 555 0100"
address = "100200300"
queue = "sales"

[[touchpoints]]
id = "fb"
channel = "messenger"
name = "Acme Store"
address = "998877"
queue = "sales"

[windows.whatsapp]
window_seconds = {window}
templates = true

[windows.messenger]
window_seconds = 3600
extended_seconds = 25200
"""


def token(agent_id: str) -> str:
    return auth.issue(SECRET, agent_id, now=int(time.time()), ttl_seconds=3600)


def bearer(agent_id: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token(agent_id)}"}


class NodeProcess:
    """``switchboard serve`` in a subprocess, on fixed ports and one data file."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.config = tmp_path / "switchboard.toml"
        self.config.write_text(CONFIG.format(port=self.port, secret=SECRET, window=WINDOW_S))
        self.data = tmp_path / "data" / "switchboard.sqlite3"
        self.log = tmp_path / "node.log"
        self.base = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"  # one port: /ws on the HTTP port
        self.proc: subprocess.Popen[bytes] | None = None
        # `make test` exports SWITCHBOARD_HOST/PORT: they would override the file.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}

    async def start(self, timeout: float = 30.0) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server.cli", "serve", "--config", str(self.config), "--data", str(self.data)],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as http:
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, f"node exited ({self.proc.returncode}):\n{self.log.read_text()}"
                try:
                    if (await http.get(f"{self.base}/readyz", timeout=1.0)).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError(f"node not ready after {timeout} s:\n{self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, nothing gets flushed or closed."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    proc = NodeProcess(tmp_path)
    yield proc
    proc.kill()


async def inbound(http: httpx.AsyncClient, node: NodeProcess, **body: str) -> dict:
    r = await http.post(f"{node.base}/api/dev/inbound", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def lock_reached(agent: WsAgent, conv_id: str) -> bool:
    """The lock reached this agent: in its snapshot, or live."""
    assert agent.snapshot is not None
    in_snapshot = any(c.id == conv_id and c.session_locked for c in agent.snapshot.inbox + agent.snapshot.assigned)
    return in_snapshot or bool(agent.received(p.SessionLocked, lambda e: e.conversation_id == conv_id))


async def test_acknowledged_writes_survive_sigkill_and_timers_rearm(node: NodeProcess) -> None:
    await node.start()
    async with httpx.AsyncClient() as http:
        ana = await WsAgent.connect(node.ws_url, token("ana"), name="ana")

        # ---------------------------------------------------------------- before the crash
        joao = {"touchpoint_id": "wa", "address": "5511900000001"}
        a1 = await inbound(http, node, **joao, text="Olá, preciso de ajuda", id="wamid.A1")
        a2 = await inbound(http, node, **joao, text="Meu pedido não chegou", id="wamid.A2")
        conv_a = a1["conversation_id"]
        assert a2["conversation_id"] == conv_a
        b1 = await inbound(
            http, node, touchpoint_id="fb", address="psid-bia", text="Hi there", id="mid.B1", profile_name="Bia Lima"
        )
        conv_b = b1["conversation_id"]
        c1 = await inbound(
            http, node, touchpoint_id="wa", address="5511900000003", text="Quero cancelar", id="wamid.C1"
        )
        conv_c = c1["conversation_id"]

        for cid in (conv_a, conv_b, conv_c):
            claimed = await ana.call(p.Claim, conversation_id=cid)
            assert claimed.conversation.assignee_id == "ana"
        reply = await ana.call(p.SendMessage, conversation_id=conv_b, text="Hello Bia, how can I help?")
        b3 = await inbound(http, node, touchpoint_id="fb", address="psid-bia", text="Thanks!", id="mid.B3")
        assert b3["conversation_id"] == conv_b
        note = await ana.call(p.AddNote, conversation_id=conv_a, text="VIP: second order this month")
        read = await ana.call(p.MarkRead, conversation_id=conv_a)
        assert read.conversation.unread == 0
        await ana.call(p.EndChat, conversation_id=conv_c)
        wrap = await ana.call(p.WrapUp, conversation_id=conv_c, disposition="Resolved", note="Refund issued")
        rename = {"name": "João Conceição"}
        r = await http.put(f"{node.base}/api/contacts/whatsapp/5511900000001", json=rename, headers=bearer("sofia"))
        assert r.status_code == 200, r.text
        # Last: a fresh window, still open when the node dies.
        d1 = await inbound(
            http, node, touchpoint_id="wa", address="5511900000004", text="Alguém aí?", id="wamid.D1"
        )
        conv_d = d1["conversation_id"]
        node.kill()
        await ana.close()

        # What the crash left on disk: conv_d's window was open, so only a
        # re-armed timer can lock it from now on.
        store = SqliteStore(node.data)
        try:
            at_crash = await store.get_conversation(conv_d)
        finally:
            await store.close()
        assert at_crash is not None and at_crash.is_open and not at_crash.session_locked, (
            "conv_d locked before the crash: the machine was too slow for this test's window"
        )

        # ---------------------------------------------------------------- after the restart
        await node.start()
        ana = await WsAgent.connect(node.ws_url, token("ana"), name="ana")
        snap = ana.snapshot
        assert snap is not None

        # Assigned: newest activity first, unread as left (A read, B's "Thanks!" unread), C ended.
        assert [c.id for c in snap.assigned] == [conv_b, conv_a]
        assigned = {c.id: c for c in snap.assigned}
        assert all(c.assignee_id == "ana" and c.status == "open" for c in snap.assigned)
        assert (assigned[conv_a].unread, assigned[conv_b].unread, snap.unread_total) == (0, 1, 1)
        assert assigned[conv_b].preview == "Thanks!"
        # The directory rename is there; Messenger keeps the profile name.
        a_contact = assigned[conv_a].contact
        assert (a_contact.display_name, a_contact.initials, a_contact.known) == ("João Conceição", "JC", True)
        assert assigned[conv_b].contact.display_name == "Bia Lima"
        # Inbox: only D, unread, unassigned.
        assert [(c.id, c.unread, c.assignee_id) for c in snap.inbox] == [(conv_d, 1, None)]

        # The re-armed timer locks D (it expired while the node was down or
        # just after it came back), and the lock reaches the agent.
        await ana.wait_for(lambda: lock_reached(ana, conv_d), timeout=WINDOW_S + 10)

        # Threads, through `open`.
        thread_a = await ana.call(p.Open, conversation_id=conv_a)
        assert [(m.id, m.seq, m.direction, m.text) for m in thread_a.messages[:2]] == [
            (a1["message_id"], 1, "in", "Olá, preciso de ajuda"),
            (a2["message_id"], 2, "in", "Meu pedido não chegou"),
        ]
        # A's window closed too (before D's): its lock's timeline entry follows.
        assert [(m.seq, m.kind, m.meta) for m in thread_a.messages[2:]] == [(3, "timeline", {"event": "locked"})]
        assert thread_a.notes == [note.note]
        assert thread_a.wrap_up is None and not thread_a.has_more

        thread_b = await ana.call(p.Open, conversation_id=conv_b)
        assert [(m.id, m.direction, m.text, m.author_id) for m in thread_b.messages] == [
            (b1["message_id"], "in", "Hi there", None),
            (reply.message.id, "out", "Hello Bia, how can I help?", "ana"),
            (b3["message_id"], "in", "Thanks!", None),
        ]
        assert [m.seq for m in thread_b.messages] == [1, 2, 3]
        assert thread_b.notes == []

        thread_c = await ana.call(p.Open, conversation_id=conv_c)
        assert thread_c.conversation.status == "ended" and thread_c.conversation.wrapped_up
        assert thread_c.wrap_up == wrap.wrap_up
        assert (thread_c.wrap_up.disposition, thread_c.wrap_up.note) == ("Resolved", "Refund issued")
        assert [m.id for m in thread_c.messages] == [c1["message_id"]]

        # REST sees the same.
        r = await http.get(f"{node.base}/api/conversations/{conv_b}", headers=bearer("ana"))
        assert r.status_code == 200, r.text
        assert [m["id"] for m in r.json()["messages"]] == [b1["message_id"], reply.message.id, b3["message_id"]]
        r = await http.get(f"{node.base}/api/contacts", headers=bearer("sofia"))
        names = {(c["channel"], c["address"]): c["display_name"] for c in r.json()}
        assert names[("whatsapp", "+5511900000001")] == "João Conceição"
        for cid in (conv_a, conv_d):  # every WhatsApp window is past by now: all locked
            r = await http.get(f"{node.base}/api/conversations/{cid}", headers=bearer("sofia"))
            assert r.json()["conversation"]["session_locked"] is True, (cid, r.json())

        # A webhook Meta retries across the crash is still recognised.
        again = await inbound(http, node, **joao, text="Meu pedido não chegou", id="wamid.A2")
        assert again == {"duplicate": True}
        await ana.close()


async def test_the_served_process_freezes_its_long_lived_heap(node: NodeProcess) -> None:
    """``switchboard serve`` settles its heap at start (gc_settle_seconds):
    the imports no longer weigh on every full collection."""
    await node.start()
    async with httpx.AsyncClient() as http:
        metrics = (await http.get(f"{node.base}/metrics")).text
    frozen = next(line for line in metrics.splitlines() if line.startswith("switchboard_gc_frozen_objects "))
    assert float(frozen.split()[1]) > 10_000, frozen


async def test_sigterm_closes_agent_sockets_with_1001_and_the_process_exits(node: NodeProcess) -> None:
    """``switchboard serve`` on one port: SIGTERM stops uvicorn, which does not
    wait for the agents' websockets (they are not its connections), then the
    node closes them with 1001 (going away: reconnect and resume), before
    uvicorn re-raises the signal (the process dies of it, as uvicorn intends)."""
    await node.start()
    ana = await WsAgent.connect(node.ws_url, token("ana"), name="ana")
    assert node.proc is not None
    node.proc.terminate()
    await ana.wait_for(lambda: ana.close_code is not None, timeout=10)
    assert ana.close_code == 1001
    assert await asyncio.to_thread(node.proc.wait, 10) == -signal.SIGTERM
