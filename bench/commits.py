"""``python -m bench.commits``: what a store commit costs on each Redis layout.

Plays conversations through the real core rules against the RedisStore and
times every ``commit``: one redis-server with the indexes applied inside the
commit script (the default on one Redis), the same server with the indexes
applied through the shards' outboxes (what a Cluster does), and a real
sharded Redis Cluster of three primaries. Each conversation is four commits
(a customer's first message, a claim, a reply, End Chat); ``--concurrency``
conversations run at once, as many webhooks and agents would. The layouts
take turns within each repeat, so a noisy machine slows them alike; the
figures are the median and range over the repeats.

    .venv/bin/python -m bench.commits --conversations 1000 --concurrency 16 --repeat 3

What it does not measure: Redis on other hosts (every round trip here is
loopback, so the outbox's extra round trips cost less than across a network),
persistence (no AOF: fsync costs are the disk's, not the layout's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from server.core import conversation as rules
from server.core.ids import in_shard, thread_shard
from server.core.model import Agent, Contact, Inbound, Touchpoint, WindowPolicy, contact_id
from server.redis.store import RedisStore
from tests.cluster.redisproc import RedisClusterProcess, RedisProcess

RESULTS = Path(__file__).parent / "results"
TP = Touchpoint(id="wa", channel="whatsapp", name="+1 555 0100", queue_id="sales", address="100200300")
AGENT = Agent(id="ana", name="Ana", queues=("sales",))
POLICY = WindowPolicy(window_seconds=86_400, templates=True)


async def one_conversation(store: RedisStore, n: int, run: str, timings: list[float]) -> None:
    """Four commits of one conversation, each timed."""
    address = f"55{run}{n:08d}"
    cid_ = contact_id("whatsapp", address)
    contact = Contact(id=cid_, channel="whatsapp", address=address)
    shard = thread_shard(cid_, TP.id)
    now = int(time.time() * 1000)

    async def commit(outcome: rules.Outcome, **kw: Any) -> None:
        t = time.perf_counter()
        await store.commit(outcome, **kw)
        timings.append(time.perf_counter() - t)

    made = rules.receive(
        None,
        new_conversation_id=in_shard(f"c{run}{n}", shard),
        message_id=in_shard(f"m{run}{n}a", shard),
        touchpoint=TP,
        contact=contact,
        inbound=Inbound(kind="text", text="Olá, preciso de ajuda", at=now, channel_message_id=f"wamid.{run}.{n}"),
        policy=POLICY,
        now=now,
    )
    await commit(made, expected_latest=None)
    claimed = rules.claim(made.after, AGENT)
    await commit(claimed)
    sent = rules.send(claimed.after, AGENT, "Claro!", message_id=in_shard(f"m{run}{n}b", shard), policy=POLICY, now=now + 1)
    await commit(sent)
    await commit(rules.end(sent.after, AGENT, now + 2))


async def drive(store: RedisStore, conversations: int, concurrency: int, run: str) -> dict[str, Any]:
    timings: list[float] = []
    queue = iter(range(conversations))

    async def lane() -> None:
        for n in queue:
            await one_conversation(store, n, run, timings)

    t0 = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    timings.sort()

    def pct(q: float) -> float:
        return round(timings[min(len(timings) - 1, int(q * len(timings)))] * 1e3, 3)

    return {"commits": len(timings), "commits_per_s": round(len(timings) / wall, 1), "p50_ms": pct(0.5), "p99_ms": pct(0.99)}


def spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3), "max": round(max(values), 3)}


async def main_async(opts: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="sb-bench-commits-"))
    single = RedisProcess(work / "redis").start()
    cluster = RedisClusterProcess(work / "cluster").start()
    layouts = {
        "redis (indexes in the commit)": lambda p: RedisStore(single.url, prefix=p),
        "redis, through the outbox": lambda p: RedisStore(single.url, prefix=p, inline_indexes=False),
        "redis cluster, 3 primaries": lambda p: RedisStore(cluster.url, prefix=p),
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in layouts}
    try:
        for rep in range(opts.repeat):
            for i, (name, make) in enumerate(layouts.items()):
                store = make(f"b{rep}{i}:")
                try:
                    result = await drive(store, opts.conversations, opts.concurrency, f"{rep}{i}")
                finally:
                    await store.close()
                runs[name].append(result)
                print(f"repeat {rep + 1}/{opts.repeat} {name}: {result}", file=sys.stderr)
    finally:
        single.stop()
        cluster.stop()
    base = runs["redis (indexes in the commit)"]
    summary = {}
    for name, results in runs.items():
        summary[name] = {
            "commits_per_s": spread([r["commits_per_s"] for r in results]),
            "p50_ms": spread([r["p50_ms"] for r in results]),
            "p99_ms": spread([r["p99_ms"] for r in results]),
            # Ratios within one repeat, so the machine's mood cancels out.
            "p50_vs_inline": spread([r["p50_ms"] / b["p50_ms"] for r, b in zip(results, base, strict=False)]),
            "throughput_vs_inline": spread([r["commits_per_s"] / b["commits_per_s"] for r, b in zip(results, base, strict=False)]),
        }
    return {
        "scenario": "commits",
        "command": "python -m bench.commits " + " ".join(sys.argv[1:]),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "conversations": opts.conversations,
        "concurrency": opts.concurrency,
        "repeat": opts.repeat,
        "summary": summary,
        "runs": runs,
    }


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.commits", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conversations", type=int, default=1000, help="conversations per layout and repeat (4 commits each)")
    ap.add_argument("--concurrency", type=int, default=16, help="conversations in flight at once")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS / "commits.json")
    opts = ap.parse_args()
    result = asyncio.run(main_async(opts))
    opts.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
