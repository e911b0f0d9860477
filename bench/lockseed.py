"""Seeding a lock storm straight into the store (``bench lockstorm
--preseed``): the conversations a webhook burst would create, made by the
node's own use case (``Intake.receive``, in this process, before the node
starts) instead of through HTTP. 20,000 conversations took 138–479 s through
webhooks on this machine under load, longer than a sensible window; here
they take a fraction of that, so the window can close soon after the agents
are connected.

What the node then finds is what the webhooks would have left: each
customer's contact, one open conversation in its queue's inbox with its
first message, its window opened at the same second for all (``at``). The
single node watches every open window when it starts (``unlocked_open``);
on Redis the commits wrote the cluster's due-set, as the node's do."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

from server import config as config_mod
from server.broker import MemoryBroker
from server.core.model import Inbound
from server.metrics import Metrics
from server.node import make_app, make_store

CONCURRENCY = 64
"""Customers seeded at once (Redis: their round trips overlap)."""


async def _seed(config: Path, data: Path, redis_url: str | None, n: int, at_ms: int, run: int) -> dict[str, Any]:
    cfg = config_mod.load(config, data=str(data), redis_url=redis_url)
    store = make_store(cfg, Metrics())
    await store.start()
    app = make_app(cfg, store, MemoryBroker(), Metrics())
    touchpoints = [t.id for t in cfg.touchpoints]  # one per queue, queue k: touchpoint k
    per_queue: Counter[int] = Counter()
    made = 0
    t0 = time.perf_counter()
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(k: int) -> None:
        nonlocal made
        q = k % len(touchpoints)
        async with sem:
            outcome = await app.intake.receive(
                touchpoints[q], f"55{run:06d}{k:07d}", Inbound(kind="text", text=f"customer {k}", at=at_ms)
            )
        if outcome is not None:
            made += 1
            per_queue[q] += 1

    try:
        await asyncio.gather(*(one(k) for k in range(n)))
    finally:
        await store.close()
    seconds = time.perf_counter() - t0
    return {
        "target": "whatsapp",
        "preseeded": True,
        "ok": made,
        "codes": {"200": made},
        "per_queue": {str(q): v for q, v in sorted(per_queue.items())},
        "seconds": seconds,
        "rate": made / seconds if seconds else 0.0,
    }


def preseed(config: Path, data: Path, redis_url: str | None, n: int, at_ms: int) -> dict[str, Any]:
    """Create ``n`` conversations (customer k in queue k mod Q) whose windows
    opened at ``at_ms``, in the store the node at ``config`` / ``data`` (or
    on ``redis_url``) will open."""
    return asyncio.run(_seed(config, data, redis_url, n, at_ms, int(time.time()) % 10**6))
