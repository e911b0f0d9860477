"""``python -m bench.gcobjects``: what the garbage collector scans per agent.

A full collection stops the node's event loop for as long as it takes to
scan every GC-tracked object (the soak's latency spikes: bench/README.md).
This runs a node in this process (memory store), connects ``--agents``
agents from a child process (plain ``websockets`` clients that say hello and
then read), and prints how many tracked objects the node holds before and
with them, by type, and how long one full collection takes in each state.

    .venv/bin/python -m bench.gcobjects --agents 1000

What it does not measure: a node under traffic (histories, timers, sender
queues); see the soak for those.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from collections import Counter

from server.config import Agent
from server.node import Node
from tests.conftest import make_config, token

CLIENTS = r"""
import asyncio, json, sys
from websockets.asyncio.client import connect

async def one(url, tok):
    ws = await connect(url, max_size=None)
    await ws.send(json.dumps({"type": "hello", "id": "h", "token": tok}))
    await ws.recv(); await ws.recv()  # welcome, snapshot
    return ws

async def main():
    url, toks = sys.argv[1], sys.stdin.read().split()
    socks = []
    for i in range(0, len(toks), 50):
        socks += await asyncio.gather(*(one(url, t) for t in toks[i:i + 50]))
    print(len(socks), flush=True)
    async def read(ws):
        async for _ in ws:
            pass
    await asyncio.gather(*(read(w) for w in socks))

asyncio.run(main())
"""


def full_collection_ms() -> float:
    gc.collect()
    t = time.perf_counter()
    gc.collect()
    return round((time.perf_counter() - t) * 1000, 1)


async def main_async(agents: int) -> dict[str, object]:
    config = make_config(data=":memory:")
    config.agents.extend(Agent(id=f"x{i}", name=f"Agent {i}", queues=("sales",)) for i in range(agents))
    node = Node(config)
    await node.start()
    try:
        before_ms = full_collection_ms()
        before = Counter(type(o).__qualname__ for o in gc.get_objects())
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLIENTS, f"ws://127.0.0.1:{config.ws_port}/ws",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(" ".join(token(f"x{i}") for i in range(agents)).encode())
        child.stdin.close()
        connected = int((await child.stdout.readline()) or 0)
        await asyncio.sleep(1.0)
        with_ms = full_collection_ms()
        with_agents = Counter(type(o).__qualname__ for o in gc.get_objects())
        child.kill()
        await child.wait()
    finally:
        await node.stop()
    added = with_agents - before
    total_before, total_with = sum(before.values()), sum(with_agents.values())
    return {
        "agents": connected,
        "tracked_before": total_before,
        "tracked_with_agents": total_with,
        "tracked_per_agent": round((total_with - total_before) / max(1, connected), 1),
        "full_collection_ms_before": before_ms,
        "full_collection_ms_with_agents": with_ms,
        "added_per_agent_by_type": {k: round(n / max(1, connected), 2) for k, n in added.most_common(15)},
    }


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.gcobjects", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agents", type=int, default=1000)
    print(json.dumps(asyncio.run(main_async(ap.parse_args().agents)), indent=2))


if __name__ == "__main__":
    main()
