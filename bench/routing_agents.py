"""A routing bench worker: plays a share of the agents in its own process.

Each agent is a ``WireClient`` (frames parsed inline, bench/wire.py); it
sets itself ``available`` (automatic queues) after its snapshot, and:

- on ``offer.rung``: notes the time from the webhook (the customer's marker
  in the conversation's preview carries its send time, bench/customers.py)
  to the frame's arrival, and accepts at once;
- on ``inbox.added`` (manual queues, the baseline): notes the same time and
  claims the conversation when it is this agent's share (bench/center.py's
  rule: the customer's number modulo the queue's size).

Only frames that name one of those events are decoded, into structs holding
the few fields read, so the bench's own decoding stays off the node's cores
as far as it can. Every frame is counted (frames, bytes, events by type:
what the agents receive per conversation, a figure noise does not move).
Ops over the pipe: ``connect``, ``stats``, ``reset``, ``collect``,
``close`` (one request dict in, one reply dict out).
"""

from __future__ import annotations

import asyncio
import os
from array import array
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

import msgspec

from bench.wire import WireClient
from bench.worker import parse_marker, serve_pipe
from protocol import messages as p

_encode = p.encoder.encode


class _Contact(msgspec.Struct):
    address: str = ""


class _Conv(msgspec.Struct):
    id: str
    preview: str = ""
    contact: _Contact | None = None


class _Body(msgspec.Struct):
    type: str
    conversation: _Conv | None = None


class _Frame(msgspec.Struct):
    type: str
    event: _Body | None = None


_decode = msgspec.json.Decoder(_Frame).decode
_EVENT_TYPE = b'"event":{"type":"'


class Agent:
    def __init__(self, w: RoutingWorker, spec: list[Any], url: str) -> None:
        self.w = w
        self.id, self.token, self.index, self.size = spec
        self.url = url
        self.wire: WireClient | None = None
        self.ready: asyncio.Future[None] | None = None
        self.n = 0

    def _created(self, wire: WireClient) -> None:
        self.wire = wire

    def send(self, cmd: p.Command) -> None:
        assert self.wire is not None
        self.wire.send_text(_encode(cmd))

    def on_frame(self, payload: bytes, now: int) -> None:
        w = self.w
        w.frames += 1
        w.bytes += len(payload)
        at = payload.find(_EVENT_TYPE)
        if at >= 0:
            start = at + len(_EVENT_TYPE)
            w.kinds[payload[start:payload.index(b'"', start)]] += 1
        if b'"offer.rung"' in payload and w.automatic:
            body = _decode(payload).event
            if body is None or body.type != "offer.rung" or body.conversation is None:
                return
            w.note(body.conversation.preview, now)
            self.n += 1
            self.send(p.AcceptOffer(id=f"a{self.n}", conversation_id=body.conversation.id))
            w.accepted += 1
        elif b'"inbox.added"' in payload and not w.automatic:
            body = _decode(payload).event
            if body is None or body.type != "inbox.added" or body.conversation is None:
                return
            conv = body.conversation
            w.note(conv.preview, now)
            address = conv.contact.address if conv.contact is not None else ""
            if address[-6:].isdigit() and int(address[-6:]) % self.size == self.index:
                self.n += 1
                self.send(p.Claim(id=f"c{self.n}", conversation_id=conv.id))
                w.claimed += 1
        elif b'"type":"error"' in payload:
            w.errors[msgspec.json.decode(payload).get("code", "?")] += 1
        elif self.ready is not None and not self.ready.done() and b'"type":"snapshot"' in payload:
            if w.automatic:
                self.send(p.SetStatus(id="s", status="available"))
            self.ready.set_result(None)

    async def connect(self) -> None:
        self.ready = asyncio.get_running_loop().create_future()
        await WireClient.connect(self.url, self.on_frame, created=self._created)
        self.send(p.Hello(id="hello", token=self.token))
        await asyncio.wait_for(self.ready, 60)


class RoutingWorker:
    def __init__(self, conn: Connection, spec: dict[str, Any]) -> None:
        self.conn = conn
        self.automatic: bool = spec["automatic"]
        self.agents = [Agent(self, a, spec["ws_url"]) for a in spec["agents"]]
        self.latency_us = array("q")
        self.accepted = self.claimed = self.unmarked = 0
        self.errors: Counter[str] = Counter()
        self.frames = self.bytes = 0
        self.kinds: Counter[bytes] = Counter()
        """Frames and bytes the agents received, and events by type (counted, not timed)."""
        self._stop = asyncio.Event()

    def note(self, preview: str, now: int) -> None:
        marked = parse_marker(preview)
        if marked is None:
            self.unmarked += 1
            return
        self.latency_us.append((now - marked[1]) // 1000)

    async def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req["op"]
        if op == "connect":
            sem = asyncio.Semaphore(req.get("concurrency", 50))

            async def one(a: Agent) -> None:
                async with sem:
                    await a.connect()

            await asyncio.gather(*(one(a) for a in self.agents))
            return {"connected": len(self.agents)}
        if op == "stats":
            return {"accepted": self.accepted, "claimed": self.claimed}
        if op == "reset":
            self.latency_us = array("q")
            self.frames = self.bytes = 0
            self.kinds.clear()
            return {}
        if op == "collect":
            return {
                "latency_us": self.latency_us.tobytes(),
                "accepted": self.accepted,
                "claimed": self.claimed,
                "unmarked": self.unmarked,
                "errors": dict(self.errors),
                "frames": self.frames,
                "bytes": self.bytes,
                "kinds": {k.decode(): n for k, n in self.kinds.items()},
            }
        if op == "close":
            for a in self.agents:
                if a.wire is not None:
                    a.wire.close()
            await asyncio.sleep(0.2)
            for a in self.agents:
                if a.wire is not None:
                    a.wire.abort()
            self._stop.set()
            return {}
        raise ValueError(f"unknown op {op!r}")

    async def run(self) -> None:
        await serve_pipe(self.conn, self.handle, self._stop)


def main(conn: Connection, spec: dict[str, Any]) -> None:
    """Entry point of a routing worker process."""
    os.environ.setdefault("PYTHONHASHSEED", "0")
    asyncio.run(RoutingWorker(conn, spec).run())
