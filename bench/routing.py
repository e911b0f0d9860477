"""routing: automatic offers under load, against claiming from the Inbox.

One node (SQLite, as ``make run``); ``--agents`` agents over ``--queues``
automatic queues, every one ``available`` with room for 5 WhatsApp
conversations; customers write ``--rates`` new conversations per second
for ``--duration`` seconds through the dev inbound endpoint. Each agent
accepts what rings for it at once. Measured: the time from the inbound
request being sent to ``offer.rung`` reaching the agent's socket (p50, p99),
offers accepted, dual owners and agents over capacity (from the final
snapshots and the offers' timelines), and the node's CPU per routed
conversation. Then the same traffic on manual queues, each conversation
claimed by one agent on ``inbox.added`` (bench/center.py's rule): CPU per
claimed conversation, the baseline.

The agents' sockets run in this process (asyncio), so the latency includes
this process's own scheduling on the same cores as the node.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from bench.center import Center
from bench.harness import percentiles
from bench.procs import Proc, free_port, python_module
from protocol import messages as p

Opts = Any

ROUTING = "\n".join(["[routing]", "capacity = 100", "offer_timeout_seconds = 30", "sweep_seconds = 60", ""])


def _config(center: Center, path: Path, port: int, automatic: bool) -> Path:
    text = center.toml(port=port)
    if automatic:
        text = text.replace('name = "Queue ', 'routing = "automatic"\nname = "Queue ') + "\n" + ROUTING
    path.write_text(text)
    return path


class Agent:
    def __init__(self, agent_id: str, token: str, queue_index: int, queue_size: int) -> None:
        self.id, self.token, self.index, self.size = agent_id, token, queue_index, queue_size
        self.rung: dict[str, float] = {}
        self.accepted: set[str] = set()
        self.claimed: set[str] = set()
        self.seen = 0
        self.snapshot: p.Snapshot | None = None

    async def run(self, url: str, automatic: bool, ready: asyncio.Event, stop: asyncio.Event) -> None:
        async with connect(url, compression=None, max_size=2**24) as ws:
            await ws.send(p.encoder.encode(p.Hello(id="h", token=self.token)).decode())
            n = 0
            while self.snapshot is None:
                frame = p.frame_decoder.decode(await ws.recv())
                if isinstance(frame, p.Snapshot):
                    self.snapshot = frame
            if automatic:
                await ws.send(p.encoder.encode(p.SetStatus(id="s", status="available")).decode())
            ready.set()
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                at = time.perf_counter()
                frame = p.frame_decoder.decode(raw)
                if not isinstance(frame, p.Event):
                    continue
                event = frame.event
                if isinstance(event, p.OfferRung):
                    cid = event.offer.conversation_id
                    self.rung.setdefault(cid, at)
                    n += 1
                    await ws.send(p.encoder.encode(p.AcceptOffer(id=f"a{n}", conversation_id=cid)).decode())
                    self.accepted.add(cid)
                elif isinstance(event, p.InboxAdded) and not automatic:
                    self.seen += 1
                    k = int(event.conversation.contact.address[-6:])
                    if k % self.size == self.index:
                        n += 1
                        await ws.send(p.encoder.encode(p.Claim(id=f"c{n}", conversation_id=event.conversation.id)).decode())
                        self.claimed.add(event.conversation.id)


async def _run(opts: Opts, workdir: Path, automatic: bool, rate: float) -> dict[str, Any]:
    center = Center(opts.agents, opts.queues)
    port = free_port()
    config = _config(center, workdir / f"routing-{automatic}.toml", port, automatic)
    data = workdir / f"routing-{automatic}-{port}.sqlite3"
    proc = Proc("switchboard", python_module("server.cli", "serve", "--config", str(config), "--data", str(data)),
                workdir / f"routing-{automatic}.log", f"http://127.0.0.1:{port}/readyz")
    proc.start(timeout=60)
    stop = asyncio.Event()
    agents = [Agent(*spec) for spec in center.specs()]  # type: ignore[arg-type]
    try:
        url = f"ws://127.0.0.1:{port}/ws"
        readies = [asyncio.Event() for _ in agents]
        tasks = [asyncio.create_task(a.run(url, automatic, r, stop)) for a, r in zip(agents, readies, strict=True)]
        for r in readies:
            await r.wait()
        await asyncio.sleep(1.0)
        total = int(rate * opts.duration)
        sent: dict[str, float] = {}
        answered: list[float] = []
        cpu0 = proc.cpu()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=httpx.Limits(max_connections=32), timeout=httpx.Timeout(60.0, pool=None)) as http:
            start = time.perf_counter()

            async def one(k: int) -> None:
                await asyncio.sleep(max(0.0, start + k / rate - time.perf_counter()))
                t0 = time.perf_counter()
                body = {"touchpoint_id": f"tp{k % center.q}", "address": f"55119{k:06d}", "text": f"n{k}"}
                for attempt in range(3):
                    try:
                        r = await http.post("/api/dev/inbound", json=body)
                        break
                    except (httpx.ReadError, httpx.RemoteProtocolError):  # a keep-alive connection the node closed
                        if attempt == 2:
                            raise
                sent[r.json()["conversation_id"]] = t0
                answered.append((time.perf_counter() - t0) * 1e6)

            await asyncio.gather(*(one(k) for k in range(total)))
            deadline = time.perf_counter() + 30
            while time.perf_counter() < deadline:
                done = sum(len(a.accepted) for a in agents) if automatic else sum(len(a.claimed) for a in agents)
                if done >= total:
                    break
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)  # the last accepts / claims land
        cpu = proc.cpu() - cpu0
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        result: dict[str, Any] = {
            "conversations": total,
            "rate": rate,
            "cpu_s": round(cpu, 2),
            "cpu_ms_per_conversation": round(1000 * cpu / total, 3),
            "inbound_answered": percentiles(array("d", answered)),
        }
        if automatic:
            latency = array("d", ((a.rung[c] - sent[c]) * 1e6 for a in agents for c in a.rung if c in sent))
            result["webhook_to_offer"] = percentiles(latency)
            result["offered"] = len(latency)
            result["accepted"] = sum(len(a.accepted) for a in agents)
            result.update(await _audit(url, agents, center))
        else:
            result["claimed"] = sum(len(a.claimed) for a in agents)
        return result
    finally:
        stop.set()
        proc.stop()


async def _audit(url: str, agents: list[Agent], center: Center) -> dict[str, Any]:
    """From fresh snapshots: every agent's list disjoint from the others', and
    within capacity (100 / 20 = 5 WhatsApp conversations)."""
    owners: dict[str, int] = {}
    over = 0
    for a in agents:
        async with connect(url, compression=None, max_size=2**24) as ws:
            await ws.send(p.encoder.encode(p.Hello(id="h", token=a.token)).decode())
            snap = None
            while snap is None:
                frame = p.frame_decoder.decode(await ws.recv())
                if isinstance(frame, p.Snapshot):
                    snap = frame
        for c in snap.assigned:
            owners[c.id] = owners.get(c.id, 0) + 1
        if snap.status is not None and snap.status.load > snap.status.capacity:
            over += 1
    return {"dual_owners": sum(1 for n in owners.values() if n > 1), "agents_over_capacity": over, "held": len(owners)}


def routing(opts: Opts, workdir: Path, progress: Any) -> dict[str, Any]:
    rate = opts.rates[0]
    routed = asyncio.run(_run(opts, workdir, True, rate))
    progress.done(f"routing: {routed}")
    claimed = asyncio.run(_run(opts, workdir, False, rate))
    progress.done(f"claiming: {claimed}")
    return {
        "agents": opts.agents,
        "queues": opts.queues,
        "routed": routed,
        "claimed": claimed,
        "cpu_ratio_routed_vs_claimed": round(routed["cpu_ms_per_conversation"] / max(1e-9, claimed["cpu_ms_per_conversation"]), 2),
    }
