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

Targets: ``whatsapp`` posts a signed WhatsApp Cloud API webhook (the
envelope Meta sends, ``X-Hub-Signature-256``) to ``/webhooks/whatsapp``;
``dev`` posts ``/api/dev/inbound`` (for servers without the channel edge);
``peer`` posts ``/publish`` ``{"k", "t"}`` to a peer server, which
broadcasts one frame.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

import httpx
import msgspec

from bench.worker import marker
from server.channels.signature import HEADER, sign

FILLER = "Olá, preciso de ajuda com meu pedido, por favor me respondam assim que possível"


def whatsapp_envelope(phone_number_id: str, wa_id: str, wamid: str, text: str, t_s: int, name: str, *, image: bool = False) -> bytes:
    """One inbound text message as the WhatsApp Business Cloud API posts it
    (``image``: a photo with ``text`` as its caption, which the node fetches
    from the Graph API stand-in, bench/graphstub.py)."""
    message: dict[str, Any] = {"from": wa_id, "id": wamid, "timestamp": str(t_s), "type": "text", "text": {"body": text}}
    if image:
        message = {**message, "type": "image", "image": {"id": f"media.{wamid}", "mime_type": "image/jpeg", "caption": text}}
        del message["text"]
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550100", "phone_number_id": phone_number_id},
        "contacts": [{"wa_id": wa_id, "profile": {"name": name}}],
        "messages": [message],
    }
    envelope = {"object": "whatsapp_business_account", "entry": [{"id": "bench-waba", "changes": [{"field": "messages", "value": value}]}]}
    return msgspec.json.encode(envelope)


def whatsapp_batch(phone_number_id: str, messages: list[tuple[str, str, str, int, str]]) -> bytes:
    """Many customers' first messages in one webhook, as Meta batches them:
    (wa_id, wamid, text, timestamp s, name) each, one ``value`` for the
    touchpoint with every message and every contact."""
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550100", "phone_number_id": phone_number_id},
        "contacts": [{"wa_id": wa_id, "profile": {"name": name}} for wa_id, _, _, _, name in messages],
        "messages": [
            {"from": wa_id, "id": wamid, "timestamp": str(t_s), "type": "text", "text": {"body": text}}
            for wa_id, wamid, text, t_s, _ in messages
        ],
    }
    envelope = {"object": "whatsapp_business_account", "entry": [{"id": "bench-waba", "changes": [{"field": "messages", "value": value}]}]}
    return msgspec.json.encode(envelope)


async def drive_batched(spec: dict[str, Any]) -> dict[str, Any]:
    """One message per customer (``per_customer`` 1), ``batch`` of them per
    WhatsApp webhook (one queue's customers each), ``concurrency`` POSTs in
    flight: seeds tens of thousands of conversations in a fraction of the
    time one POST each takes. No rate: as fast as the node answers."""
    total: int = spec["messages"]
    batch: int = spec["batch"]
    queues: int = spec.get("queues", 1)
    bases: list[str] = spec["base_urls"]
    app_secret: str = spec.get("app_secret", "")
    fixed_second: int | None = int(time.time()) if spec.get("same_second") else None
    run = spec.get("run_id") or secrets.randbelow(10**6)
    codes: Counter[str] = Counter()
    per_queue: Counter[int] = Counter()
    bodies: list[tuple[int, int, bytes]] = []  # (queue, messages, body)
    by_queue: dict[int, list[tuple[str, str, str, int, str]]] = {}
    t = time.time_ns()
    for j in range(1, total + 1):
        customer = j - 1
        q = customer % queues
        pending = by_queue.setdefault(q, [])
        pending.append(
            (f"55{run:06d}{customer:07d}", f"wamid.{run}.{j}", f"{marker(j, t, True)} {FILLER}", fixed_second or t // 10**9,
             f"Customer {customer}")
        )
        if len(pending) >= batch or j == total:
            bodies.append((q, len(pending), whatsapp_batch(str(100000 + q), pending)))
            by_queue[q] = []
    for q, pending in by_queue.items():
        if pending:
            bodies.append((q, len(pending), whatsapp_batch(str(100000 + q), pending)))
    latency_ms: list[float] = []
    start = time.perf_counter()
    sem = asyncio.Semaphore(spec.get("concurrency", 4))
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=16)) as http:

        async def post(i: int, q: int, n: int, body: bytes) -> None:
            async with sem:
                t0 = time.time_ns()
                try:
                    r = await http.post(
                        f"{bases[i % len(bases)]}/webhooks/whatsapp",
                        content=body,
                        headers={"content-type": "application/json", HEADER: sign(app_secret, body)},
                    )
                    codes[str(r.status_code)] += n
                    if r.status_code == 200:
                        per_queue[q] += n
                except httpx.HTTPError as e:
                    codes[type(e).__name__] += n
                latency_ms.append((time.time_ns() - t0) / 1e6)

        await asyncio.gather(*(post(i, q, n, body) for i, (q, n, body) in enumerate(bodies)))
    seconds = time.perf_counter() - start
    latency_ms.sort()
    return {
        "target": "whatsapp",
        "sent": total,
        "ok": codes.get("200", 0),
        "codes": dict(codes),
        "new_conversations": codes.get("200", 0),
        "images": 0,
        "per_queue": {str(k): v for k, v in per_queue.items()},
        "batch": batch,
        "posts": len(bodies),
        "send_seconds": seconds,
        "seconds": seconds,
        "offered_rate": None,
        "achieved_rate": total / seconds if seconds else 0.0,
        "http_ms_p50": latency_ms[len(latency_ms) // 2] if latency_ms else None,
        "http_ms_p99": latency_ms[int(len(latency_ms) * 0.99)] if latency_ms else None,
    }


async def drive(spec: dict[str, Any]) -> dict[str, Any]:
    if spec.get("batch", 1) > 1 and spec.get("target") == "whatsapp" and spec.get("per_customer", 1) == 1:
        return await drive_batched(spec)
    total: int = spec["messages"]
    rate: float = spec["rate"]
    per_customer: int = spec.get("per_customer", 1)
    slots: int = max(1, spec.get("slots", 1))
    queues: int = spec.get("queues", 1)
    bases: list[str] = spec["base_urls"]
    target: str = spec.get("target", "dev")
    app_secret: str = spec.get("app_secret", "")
    media_share: float = spec.get("media_share") or 0.0
    # Every n-th message is a photo, never a customer's first or last (their
    # text's marker opens and ends the conversation for the agents; a photo's
    # preview is "[image] …", whose latency is not measured).
    media_every = round(1 / media_share) if media_share > 0 else 0
    images = 0
    # Meta's message timestamp opens the reply window; one fixed second for
    # every message makes all their windows close in that same second.
    fixed_second: int | None = int(time.time()) if spec.get("same_second") else None
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
            nonlocal new_conversations, images
            image = bool(media_every) and j % media_every == 0 and nth > 0 and not last
            images += image
            if before is not None and not before.done():
                await asyncio.wait([before])
            async with sem:
                t = time.time_ns()
                base = bases[j % len(bases)]
                try:
                    q = customer % queues
                    address = f"55{run:06d}{customer:07d}"
                    if target == "peer":
                        r = await http.post(f"{base}/publish", json={"k": j, "t": t})
                    elif target == "whatsapp":
                        body = whatsapp_envelope(
                            str(100000 + q), address, f"wamid.{run}.{j}", f"{marker(j, t, last)} {FILLER}",
                            fixed_second or t // 10**9,
                            f"Customer {customer}",
                            image=image,
                        )
                        r = await http.post(
                            f"{base}/webhooks/whatsapp",
                            content=body,
                            headers={"content-type": "application/json", HEADER: sign(app_secret, body)},
                        )
                    else:
                        r = await http.post(
                            f"{base}/api/dev/inbound",
                            json={
                                "touchpoint_id": f"tp{q}",
                                "address": address,
                                "text": f"{marker(j, t, last)} {FILLER}",
                                "id": f"wamid.{run}.{j}",
                            },
                        )
                    if r.status_code == 200 and target != "peer":
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
        "target": target,
        "sent": total,
        "ok": codes.get("200", 0),
        "codes": dict(codes),
        "new_conversations": new_conversations,
        "images": images,
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
    except Exception as e:
        conn.send({"error": f"{type(e).__name__}: {e}"})
