"""The customers: a process that posts inbound messages at a set rate.

Message j (j = 1, 2, …) is sent at ``start + (j-1) / rate``. It belongs to
customer slot ``j % slots``; a slot's customer writes ``per_customer``
messages (one every ``slots / rate`` seconds) and then a new customer takes
the slot, so about ``slots`` conversations are live at once. Messages of one
customer are posted one after the other, never overlapping, so the order the
server sees is the order they were written.

The text starts with a marker ``b<k>.<send time ns>.<last>`` that survives
into the conversation preview, so each agent can time the event it receives
against the moment the webhook was sent (one machine, one clock).

Targets: ``switchboard`` posts ``/api/dev/inbound`` (the dev injector;
``/webhooks/whatsapp`` once the channel issue lands); ``peer`` posts
``/publish`` ``{"k", "t"}`` to a peer server, which broadcasts one frame.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

import httpx

from bench.worker import marker

FILLER = "Olá, preciso de ajuda com meu pedido, por favor me respondam assim que possível"


async def drive(spec: dict[str, Any]) -> dict[str, Any]:
    total: int = spec["messages"]
    rate: float = spec["rate"]
    per_customer: int = spec.get("per_customer", 1)
    slots: int = max(1, spec.get("slots", 1))
    queues: int = spec.get("queues", 1)
    bases: list[str] = spec["base_urls"]
    target: str = spec.get("target", "switchboard")
    run = spec.get("run_id") or secrets.randbelow(10**6)
    codes: Counter[str] = Counter()
    per_queue: Counter[int] = Counter()
    new_conversations = 0
    slot_customer = [-1] * slots
    slot_count = [per_customer] * slots
    slot_task: list[asyncio.Task[None] | None] = [None] * slots
    next_customer = 0
    sem = asyncio.Semaphore(spec.get("concurrency", 200))
    latency_ms: list[float] = []

    async with httpx.AsyncClient(
        timeout=60, limits=httpx.Limits(max_connections=100, max_keepalive_connections=100)
    ) as http:

        async def post(j: int, customer: int, nth: int, last: bool, before: asyncio.Task[None] | None) -> None:
            nonlocal new_conversations
            if before is not None and not before.done():
                await asyncio.wait([before])
            async with sem:
                t = time.time_ns()
                base = bases[j % len(bases)]
                try:
                    if target == "peer":
                        r = await http.post(f"{base}/publish", json={"k": j, "t": t})
                    else:
                        q = customer % queues
                        r = await http.post(
                            f"{base}/api/dev/inbound",
                            json={
                                "touchpoint_id": f"tp{q}",
                                "address": f"55{run:06d}{customer:07d}",
                                "text": f"{marker(j, t, last)} {FILLER}",
                                "id": f"wamid.{run}.{j}",
                            },
                        )
                        if r.status_code == 200:
                            per_queue[q] += 1
                            if nth == 0:
                                new_conversations += 1
                    codes[str(r.status_code)] += 1
                except httpx.HTTPError as e:
                    codes[type(e).__name__] += 1
                latency_ms.append((time.time_ns() - t) / 1e6)

        start = time.perf_counter()
        tasks: list[asyncio.Task[None]] = []
        for j in range(1, total + 1):
            delay = start + (j - 1) / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            s = j % slots
            if slot_count[s] >= per_customer:
                slot_customer[s] = next_customer
                slot_count[s] = 0
                next_customer += 1
            nth = slot_count[s]
            slot_count[s] += 1
            task = asyncio.create_task(post(j, slot_customer[s], nth, slot_count[s] == per_customer, slot_task[s]))
            slot_task[s] = task
            tasks.append(task)
        sent_seconds = time.perf_counter() - start
        await asyncio.gather(*tasks)
        seconds = time.perf_counter() - start

    latency_ms.sort()
    return {
        "sent": total,
        "ok": codes.get("200", 0),
        "codes": dict(codes),
        "new_conversations": new_conversations,
        "per_queue": {str(k): v for k, v in per_queue.items()},
        "send_seconds": sent_seconds,
        "seconds": seconds,
        "offered_rate": rate,
        "achieved_rate": total / seconds if seconds else 0.0,
        "http_ms_p50": latency_ms[len(latency_ms) // 2] if latency_ms else None,
        "http_ms_p99": latency_ms[int(len(latency_ms) * 0.99)] if latency_ms else None,
    }


def main(conn: Connection, spec: dict[str, Any]) -> None:
    """Entry point of the customers' process: one reply when done."""
    try:
        conn.send(asyncio.run(drive(spec)))
    except Exception as e:  # noqa: BLE001 - the parent reports it
        conn.send({"error": f"{type(e).__name__}: {e}"})
