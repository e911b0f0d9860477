"""A load-generator process: plays a share of the agents on its own event loop.

The parent talks to it over a ``multiprocessing`` pipe, one request dict in,
one reply dict out (see ``Worker.handle``). Every socket is a ``WireClient``
whose frames are parsed inline; the per-stream sequence check runs on every
event frame:

    seq == last + 1   in order, counted
    seq >  last + 1   a gap: ``seq - last - 1`` events lost
    seq <= last       a duplicate (or a replay of something already seen)

Dialects: ``switchboard`` (hello → welcome → snapshot, typed events, agents
claim and reply), ``raw`` (a peer server sends ``{"type":"ready"}`` once
subscribed, then ``{"seq","k","t","pad"}`` frames) and ``socketio`` (the same
frames as Socket.IO events over Engine.IO v4).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import resource
import time
import zlib
from array import array
from collections import Counter
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from typing import Any

import msgspec

from bench.wire import WireClient
from protocol import messages as p

# ---------------------------------------------------------------- light frames
# Only the fields the harness reads; msgspec skips the rest without building it.


class LConv(msgspec.Struct):
    id: str
    preview: str = ""
    preview_direction: str | None = None
    assignee_id: str | None = None
    unread: int = 0


class LBody(msgspec.Struct):
    type: str
    conversation: LConv | None = None
    conversation_id: str | None = None
    expires_at: int | None = None
    reason: str = ""


class LFrame(msgspec.Struct):
    type: str
    stream: str = ""
    seq: int = 0
    event: LBody | None = None
    id: str | None = None
    code: str = ""
    epoch: str = ""
    streams: dict[str, int] | None = None


class PFrame(msgspec.Struct):
    """A peer server's frame (the same fields in every peer)."""

    type: str = "ev"
    seq: int = 0
    k: int = 0
    t: int = 0


_decode_sb = msgspec.json.Decoder(LFrame).decode
_decode_peer = msgspec.json.Decoder(PFrame).decode
_decode_sio = msgspec.json.Decoder(tuple[str, PFrame]).decode
_encode = p.encoder.encode


def marker(k: int, t_ns: int, last: bool) -> str:
    """What the customer writes first: message index, send time, last-of-conversation."""
    return f"b{k}.{t_ns}.{int(last)}"


def parse_marker(preview: str) -> tuple[int, int, bool] | None:
    if not preview.startswith("b"):
        return None
    try:
        k, t, last = preview.split(" ", 1)[0][1:].split(".")
        return int(k), int(t), last == "1"
    except ValueError:
        return None


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# ---------------------------------------------------------------- one agent


class Agent:
    __slots__ = (
        "busy",
        "epoch",
        "id",
        "ids",
        "idx",
        "lastk",
        "positions",
        "ready",
        "ready_at",
        "replied",
        "size",
        "stall",
        "token",
        "url",
        "w",
        "wire",
    )

    def __init__(self, w: Worker, spec: list[Any], url: str, stall: bool = False) -> None:
        self.w = w
        self.stall = stall
        """In the group that stops reading (``stall`` scenario): its figures are kept apart."""
        self.busy = False
        """Being disconnected or reconnected by the churn or after a drop."""
        self.id, self.token, self.idx, self.size = spec
        self.url = url
        self.wire: WireClient | None = None
        self.positions: dict[str, int] = {}
        self.epoch = ""
        self.lastk: dict[str, int] = {}
        self.replied: dict[str, int] = {}
        self.ready: asyncio.Future[None] | None = None
        self.ready_at = 0
        self.ids = itertools.count(1)

    def command(self, cmd: p.Command) -> None:
        assert self.wire is not None
        self.wire.send_text(_encode(cmd))
        self.w.commands += 1

    def _created(self, wire: WireClient) -> None:
        self.wire = wire

    def mark_ready(self, now: int) -> None:
        self.ready_at = now
        if self.ready is not None and not self.ready.done():
            self.ready.set_result(None)

    # ------------------------------------------------------------ switchboard

    def on_switchboard(self, payload: bytes, now: int) -> None:
        w = self.w
        w.frames += 1
        f = _decode_sb(payload)
        kind = f.type
        if kind == "event":
            stream, seq = f.stream, f.seq
            last = self.positions.get(stream, 0)
            if seq != last + 1:
                if seq <= last:
                    w.dups += 1
                    if self.stall:
                        w.stall_dups += 1
                    return
                w.gaps += seq - last - 1
                if self.stall:
                    w.stall_gaps += seq - last - 1
            self.positions[stream] = seq
            w.events += 1
            if self.stall:
                w.stall_events += 1
            w.bytes += len(payload)
            body = f.event
            assert body is not None
            w.kinds[body.type] += 1
            if body.type == "session.locked" and body.expires_at is not None:
                w.locks += 1
                w.lock_delay.append(now // 1000 - body.expires_at * 1000)
                return
            conv = body.conversation
            if conv is None:
                if body.reason == "ended" and body.conversation_id:
                    self.lastk.pop(body.conversation_id, None)
                return
            if conv.preview_direction != "in":
                return
            m = parse_marker(conv.preview)
            if m is None:
                return
            k, t, last_msg = m
            if k > self.lastk.get(conv.id, 0):
                self.lastk[conv.id] = k
                w.record(self, t, now)
            if w.behaviour == "steady":
                self.steady(body.type, conv, k, last_msg)
            elif w.behaviour == "claim" and body.type == "inbox.added" and zlib.crc32(conv.id.encode()) % self.size == self.idx:
                # One claimer per conversation, spread evenly over the queue's agents.
                self.command(p.Claim(id=f"c{next(self.ids)}", conversation_id=conv.id))
        elif kind == "ack":
            w.acks += 1
        elif kind == "error":
            w.errors[f.code] += 1
        elif kind == "snapshot":
            self.positions.update(f.streams or {})
            self.epoch = f.epoch
            self.mark_ready(now)
        elif kind == "welcome":
            self.epoch = f.epoch
        elif kind == "resumed":
            w.resumed += 1
            self.mark_ready(now)
        elif kind == "resync":
            w.resyncs += 1
            self.positions = {}
        elif kind == "unsubscribed":
            self.positions.pop(f.stream, None)

    def steady(self, kind: str, conv: LConv, k: int, last: bool) -> None:
        """Claim the inbox conversations that fall to this agent (one claimer
        per conversation: k mod queue size), reply to and read every customer
        message on its own conversations, end the chat after the last one."""
        if kind == "inbox.added":
            if k % self.size == self.idx:
                self.command(p.Claim(id=f"c{next(self.ids)}", conversation_id=conv.id))
        elif kind in ("assigned.added", "assigned.updated") and (
            conv.assignee_id == self.id and conv.unread > 0 and k > self.replied.get(conv.id, 0)
        ):
            self.replied[conv.id] = k
            self.command(p.SendMessage(id=f"s{next(self.ids)}", conversation_id=conv.id, text=f"r{k} thanks, on it"))
            self.command(p.MarkRead(id=f"r{next(self.ids)}", conversation_id=conv.id))
            if last:
                self.command(p.EndChat(id=f"e{next(self.ids)}", conversation_id=conv.id))
                self.replied.pop(conv.id, None)
                self.lastk.pop(conv.id, None)

    # ------------------------------------------------------------ peers

    def on_peer(self, payload: bytes, now: int) -> None:
        if payload.startswith(b'{"type":"event"'):  # floor --frame switchboard: Switchboard's own frame
            self.on_switchboard(payload, now)
            return
        w = self.w
        w.frames += 1
        if self.w.dialect == "socketio":
            if payload[:2] == b"42":
                _, f = _decode_sio(payload[2:])
            elif payload[:1] == b"2":
                assert self.wire is not None
                self.wire.send_text(b"3")
                return
            elif payload[:1] == b"0":
                assert self.wire is not None
                self.wire.send_text(b"40")
                return
            elif payload[:2] == b"40":
                self.mark_ready(now)
                return
            else:
                return
        else:
            f = _decode_peer(payload)
            if f.type == "ready":
                self.mark_ready(now)
                return
        last = self.positions.get("fanout", 0)
        if f.seq != last + 1:
            if f.seq <= last:
                w.dups += 1
                if self.stall:
                    w.stall_dups += 1
                return
            w.gaps += f.seq - last - 1
            if self.stall:
                w.stall_gaps += f.seq - last - 1
        self.positions["fanout"] = f.seq
        w.events += 1
        if self.stall:
            w.stall_events += 1
        w.bytes += len(payload)
        w.record(self, f.t, now)

    # ------------------------------------------------------------ connection

    async def connect(self, resume: bool = False) -> None:
        loop = asyncio.get_running_loop()
        self.ready = loop.create_future()
        on_frame = self.on_switchboard if self.w.dialect == "switchboard" else self.on_peer
        w = self.w
        await WireClient.connect(
            self.url, on_frame, lambda wire: w.on_close(wire, self), created=self._created, rcvbuf=w.rcvbuf, mss=w.mss
        )
        if self.w.dialect == "switchboard":
            assert self.wire is not None
            hello = p.Hello(
                id="hello",
                token=self.token,
                resume=p.Resume(epoch=self.epoch, streams=dict(self.positions)) if resume and self.epoch else None,
            )
            self.wire.send_text(_encode(hello))
        await asyncio.wait_for(self.ready, 60)


# ---------------------------------------------------------------- the process


class Worker:
    def __init__(self, conn: Connection, spec: dict[str, Any]) -> None:
        self.conn = conn
        self.dialect: str = spec["dialect"]
        self.behaviour: str = spec.get("behaviour", "fanout")
        urls: list[str] = spec["ws_urls"]
        indices: list[int] = spec.get("indices") or list(range(len(spec["agents"])))
        stalled = spec.get("stall_all", False)
        self.rcvbuf: int = spec.get("rcvbuf", 0)
        self.mss: int = spec.get("mss", 0)
        # ``{i}`` in a URL: the agent's index (a peer that puts agents in rooms).
        self.agents = [
            Agent(self, a, urls[i % len(urls)].replace("{i}", str(i)), stall=stalled)
            for i, a in zip(indices, spec["agents"], strict=False)
        ]
        self.frames = self.events = self.bytes = self.gaps = self.dups = 0
        self.stall_events = self.stall_gaps = self.stall_dups = 0
        # Latency windows (``window`` op): live events at healthy agents, events
        # a (re)connected agent gets for what was sent before it was ready
        # (replay, backlog), and everything at the stalled group.
        self.windows: bool = spec.get("windows", False)
        self.win_live = array("q")
        self.win_catchup = array("q")
        self.win_stall = array("q")
        self.auto_reconnect = False
        self.reconnects = self.reconnect_failures = 0
        self.reconnect_ms = array("q")
        self.close_codes: Counter[str] = Counter()
        self.churns = self.churn_fresh = self.churn_clean = 0
        self._churn: asyncio.Task[None] | None = None
        self._cycles: set[asyncio.Task[None]] = set()
        self.acks = self.commands = self.resyncs = self.resumed = self.locks = 0
        self.closed_unexpected = 0
        self.kinds: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.latency = array("q")
        self.lock_delay = array("q")
        self.connect_failures: Counter[str] = Counter()
        self._expect_close = False
        self._stop = asyncio.Event()

    def record(self, agent: Agent, t: int, now: int) -> None:
        """One latency sample: webhook sent at ``t`` ns, event received at ``now``."""
        lat = (now - t) // 1000
        self.latency.append(lat)
        if self.windows:
            if agent.stall:
                self.win_stall.append(lat)
            elif t < agent.ready_at:
                self.win_catchup.append(lat)
            else:
                self.win_live.append(lat)

    def on_close(self, wire: WireClient, agent: Agent) -> None:
        if wire.intentional or self._expect_close:
            return
        self.closed_unexpected += 1
        self.close_codes[str(wire.close_code)] += 1
        if self.auto_reconnect and agent.wire is wire and not agent.busy:
            self._spawn(self._reconnect(agent, resume=True, pause=random.uniform(0.05, 0.5)))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._cycles.add(task)
        task.add_done_callback(self._cycles.discard)

    async def _reconnect(self, agent: Agent, *, resume: bool, pause: float) -> None:
        """Come back after ``pause`` s, from the last seq (``resume``) or fresh
        (a reload: snapshot). Retries a few times; failures are counted."""
        agent.busy = True
        try:
            await asyncio.sleep(pause)
            for attempt in range(5):
                t0 = time.perf_counter()
                try:
                    await agent.connect(resume=resume)
                except Exception as e:
                    self.connect_failures[type(e).__name__] += 1
                    if agent.wire is not None:
                        agent.wire.abort()
                    await asyncio.sleep(0.2 * (attempt + 1))
                    continue
                self.reconnects += 1
                self.reconnect_ms.append(int((time.perf_counter() - t0) * 1000))
                return
            self.reconnect_failures += 1
        finally:
            agent.busy = False

    async def _cycle(self, agent: Agent, *, fresh: bool, clean: bool, offline: float) -> None:
        """One churn: this agent goes away (a clean close, or a network cut)
        and comes back after ``offline`` s (resuming, or fresh)."""
        agent.busy = True
        wire = agent.wire
        try:
            if wire is not None:
                if clean:
                    wire.close()
                    for _ in range(40):
                        if wire.closed:
                            break
                        await asyncio.sleep(0.05)
                wire.abort()
        finally:
            agent.busy = False
        await self._reconnect(agent, resume=not fresh, pause=offline)

    async def _churn_loop(self, rate: float, fresh: float, clean: float, offline: tuple[float, float]) -> None:
        rng = random.Random(os.getpid())
        while True:
            await asyncio.sleep(rng.expovariate(rate))
            ready = [a for a in self.agents if not a.busy and a.wire is not None and a.wire.open and not a.wire.closed]
            if not ready:
                continue
            agent = rng.choice(ready)
            is_fresh, is_clean = rng.random() < fresh, rng.random() < clean
            self.churns += 1
            self.churn_fresh += is_fresh
            self.churn_clean += is_clean
            self._spawn(self._cycle(agent, fresh=is_fresh, clean=is_clean, offline=rng.uniform(*offline)))

    def window(self) -> dict[str, Any]:
        """Latencies since the last window (then cleared) and the counters so far."""
        out = {
            **self.stats(),
            "live": self.win_live.tobytes(),
            "catchup": self.win_catchup.tobytes(),
            "stalled": self.win_stall.tobytes(),
            "reconnect_ms": self.reconnect_ms.tobytes(),
            "stall_events": self.stall_events,
            "stall_gaps": self.stall_gaps,
            "stall_dups": self.stall_dups,
            "reconnects": self.reconnects,
            "reconnect_failures": self.reconnect_failures,
            "churns": self.churns,
            "churn_fresh": self.churn_fresh,
            "churn_clean": self.churn_clean,
            "closed_unexpected": self.closed_unexpected,
            "close_codes": dict(self.close_codes),
            "stalled_connected": sum(1 for a in self.agents if a.stall and a.wire is not None and a.wire.open and not a.wire.closed),
        }
        self.win_live, self.win_catchup, self.win_stall, self.reconnect_ms = array("q"), array("q"), array("q"), array("q")
        return out

    async def _connect_all(self, agents: list[Agent], rate: float, concurrency: int, resume: bool) -> dict[str, Any]:
        sem = asyncio.Semaphore(concurrency)
        start = time.perf_counter()
        interval = 1.0 / rate if rate > 0 else 0.0

        async def one(i: int, agent: Agent) -> None:
            if interval:
                await asyncio.sleep(max(0.0, start + i * interval - time.perf_counter()))
            async with sem:
                for attempt in range(3):
                    try:
                        await agent.connect(resume=resume)
                        return
                    except Exception as e:
                        self.connect_failures[type(e).__name__] += 1
                        if agent.wire is not None:
                            agent.wire.abort()
                        await asyncio.sleep(0.2 * (attempt + 1))

        await asyncio.gather(*(one(i, a) for i, a in enumerate(agents)))
        ok = sum(1 for a in agents if a.ready is not None and a.ready.done() and a.wire is not None and a.wire.open)
        return {"ok": ok, "seconds": time.perf_counter() - start}

    def stats(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "events": self.events,
            "gaps": self.gaps,
            "dups": self.dups,
            "connected": sum(1 for a in self.agents if a.wire is not None and a.wire.open and not a.wire.closed),
            "errors": sum(self.errors.values()),
            "commands": self.commands,
            "acks": self.acks,
            "locks": self.locks,
            "resumed": self.resumed,
            "cpu_us": int(time.process_time() * 1e6),
        }

    def collect(self) -> dict[str, Any]:
        s = self.stats()
        s.update(
            bytes=self.bytes,
            acks=self.acks,
            resyncs=self.resyncs,
            closed_unexpected=self.closed_unexpected,
            kinds=dict(self.kinds),
            error_codes=dict(self.errors),
            connect_failures=dict(self.connect_failures),
            latency=self.latency.tobytes(),
            lock_delay=self.lock_delay.tobytes(),
            per_agent_events=[sum(a.positions.values()) for a in self.agents],
            positions={a.id: dict(a.positions) for a in self.agents} if len(self.agents) <= 2000 else {},
            rss=_rss(),
            cpu=time.process_time(),
        )
        return s

    async def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req["op"]
        if op == "connect":
            return await self._connect_all(self.agents, req.get("rate", 0), req.get("concurrency", 100), False)
        if op == "stats":
            return self.stats()
        if op == "reset":
            self.latency = array("q")
            self.lock_delay = array("q")
            return {}
        if op == "drop_resume":
            # A network cut for every socket at once, then resume from the last seq.
            t0 = time.time_ns()
            for a in self.agents:
                if a.wire is not None:
                    a.wire.abort()
            result = await self._connect_all(self.agents, 0, req.get("concurrency", 256), True)
            last = max((a.ready_at for a in self.agents), default=t0)
            result["recovery_seconds"] = (last - t0) / 1e9
            result["t0"] = t0
            return result
        if op == "collect":
            return self.collect()
        if op == "window":
            return self.window()
        if op == "pause":
            # The stall group stops reading; the server is not told.
            n = 0
            for a in self.agents:
                if a.stall and a.wire is not None:
                    a.wire.pause_reading()
                    n += 1
            return {"paused": n}
        if op == "unpause":
            # The stall group reads again: it finds its socket closed (or the
            # server's close frame after what was buffered) and resumes.
            self.auto_reconnect = True
            n = 0
            for a in self.agents:
                if a.stall and a.wire is not None:
                    if a.wire.closed and not a.busy:
                        self._spawn(self._reconnect(a, resume=True, pause=random.uniform(0.05, 0.5)))
                    else:
                        a.wire.resume_reading()
                    n += 1
            return {"unpaused": n}
        if op == "churn_start":
            self.auto_reconnect = True
            self._churn = asyncio.get_running_loop().create_task(
                self._churn_loop(req["rate"], req.get("fresh", 0.2), req.get("clean", 0.5), tuple(req.get("offline", (0.2, 3.0))))
            )
            return {}
        if op == "churn_stop":
            if self._churn is not None:
                self._churn.cancel()
                self._churn = None
            deadline = time.monotonic() + req.get("timeout", 60)
            while self._cycles and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            return {"pending": len(self._cycles)}
        if op == "close":
            self._expect_close = True
            if self._churn is not None:
                self._churn.cancel()
            for task in list(self._cycles):
                task.cancel()
            for a in self.agents:
                if a.wire is not None:
                    a.wire.close()
            await asyncio.sleep(0.3)
            for a in self.agents:
                if a.wire is not None:
                    a.wire.abort()
            self._stop.set()
            return {}
        raise ValueError(f"unknown op {op!r}")

    async def run(self) -> None:
        await serve_pipe(self.conn, self.handle, self._stop)


async def serve_pipe(
    conn: Connection, handle: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]], stop: asyncio.Event
) -> None:
    """A worker process's loop: requests from the parent's pipe, one at a
    time, each answered by ``handle``'s reply (or ``{"error": ...}``), until
    ``stop`` is set (the ``close`` op) or the pipe closes."""
    raise_nofile()
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def readable() -> None:
        try:
            inbox.put_nowait(conn.recv())
        except EOFError:
            stop.set()
            loop.remove_reader(conn.fileno())

    loop.add_reader(conn.fileno(), readable)

    async def serve() -> None:
        while True:
            req = await inbox.get()
            try:
                reply = await handle(req)
            except Exception as e:
                reply = {"error": f"{type(e).__name__}: {e}"}
            conn.send(reply)

    task = asyncio.create_task(serve())
    await stop.wait()
    task.cancel()


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def main(conn: Connection, spec: dict[str, Any]) -> None:
    """Entry point of a worker process."""
    os.environ.setdefault("PYTHONHASHSEED", "0")
    asyncio.run(Worker(conn, spec).run())
