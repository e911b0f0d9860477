"""Cross-node delivery latency on this machine: a real Redis and three real
nodes on loopback; an agent connected to node 1; customers write to node 2.
Prints, over N messages, the time from sending the webhook to the agent
receiving the inbox event (webhook handling + Redis publish + fan-out).

    .venv/bin/python scripts/cluster_latency.py [N]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from protocol import messages as p
from tests.cluster.conftest import Cluster
from tests.cluster.redisproc import RedisProcess


async def main(n: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="sb-latency-"))
    redis = RedisProcess(root / "redis", aof=True).start()
    cluster = Cluster(root, redis)
    try:
        async with httpx.AsyncClient() as http:
            n1, n2, _ = await cluster.start(http, 3)
            ana = await cluster.agent(n1, "ana")
            samples = []
            for i in range(n):
                seen = len(ana.received(p.InboxAdded))
                started = time.perf_counter()
                await n2.inbound(http, f"hello {i}", address=f"55118{i:08d}")
                await ana.wait_for(lambda: len(ana.received(p.InboxAdded)) > seen)
                samples.append((time.perf_counter() - started) * 1000)
            samples.sort()
            print(
                f"{n} webhooks on node 2 → agent on node 1: "
                f"p50 {statistics.median(samples):.1f} ms, p90 {samples[int(n * 0.9)]:.1f} ms, "
                f"p99 {samples[int(n * 0.99)]:.1f} ms, max {samples[-1]:.1f} ms"
            )
    finally:
        await cluster.close()
        redis.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
