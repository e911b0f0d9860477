"""routing: automatic offers under load, against claiming from the Inbox.

One node (SQLite, as ``make run``); ``--agents`` agents over ``--queues``
automatic queues, every one ``available`` with room for 5 WhatsApp
conversations; customers write ``--rates`` new conversations per second
for ``--duration`` seconds as signed WhatsApp webhooks (bench/customers.py,
its own process). Each agent accepts what rings for it at once. Measured: the time from the inbound
request being sent to ``offer.rung`` reaching the agent's socket (p50, p99),
offers accepted, dual owners and agents over capacity (from the final
snapshots and the offers' timelines), and the node's CPU per routed
conversation. Then the same traffic on manual queues, each conversation
claimed by one agent on ``inbox.added`` (bench/center.py's rule): CPU per
claimed conversation, the baseline.

The agents run in ``--workers`` processes (bench/routing_agents.py: frames
parsed inline, only the offers and inbox additions decoded), the customers
in one more; the webhook's send time travels in the message text (the
customer's marker, in the offer's conversation preview), so the figure is
webhook sent → ``offer.rung`` read off the agent's socket, on one clock.
Each rate runs ``--repeat`` interleaved pairs (routed, then claimed), each
figure reported as median and spread, with the load average before each run.
The agents count every frame they receive: frames, bytes and events by type
per conversation (counts noise does not move). ``--trees before=PATH,after=.``
interleaves the pairs of two checkouts' servers in one run. ``--calls`` runs
the node under the call probe (bench/callprobe.py) and reports its Python
calls per conversation over the same window (latencies are then void).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from array import array
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from bench import routing_agents
from bench.center import APP_SECRET, Center
from bench.harness import CTX, Customers, percentiles, spread
from bench.procs import Proc, free_port, tree_module
from protocol import messages as p

Opts = Any

HERE = Path(__file__).resolve().parent

ROUTING = "\n".join(["[routing]", "capacity = 100", "offer_timeout_seconds = 30", "sweep_seconds = 60", ""])


def _config(center: Center, path: Path, port: int, automatic: bool) -> Path:
    text = center.toml(port=port)
    if automatic:
        text = text.replace('name = "Queue ', 'routing = "automatic"\nname = "Queue ') + "\n" + ROUTING
    path.write_text(text)
    return path


class Fleet:
    """The agents, in ``workers`` processes (bench/routing_agents.py)."""

    def __init__(self, center: Center, url: str, automatic: bool, workers: int) -> None:
        specs = center.specs()
        n = max(1, min(workers, len(specs)))
        self.conns: list[Any] = []
        self.procs: list[Any] = []
        for w in range(n):
            parent, child = CTX.Pipe()
            spec = {"automatic": automatic, "ws_url": url, "agents": specs[w::n]}
            proc = CTX.Process(target=routing_agents.main, args=(child, spec), daemon=True, name=f"bench-routing-{w}")
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)

    def call(self, op: str, timeout: float = 300) -> list[dict[str, Any]]:
        for conn in self.conns:
            conn.send({"op": op})
        replies = []
        deadline = time.monotonic() + timeout
        for conn in self.conns:
            if not conn.poll(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"routing worker did not answer {op!r} in {timeout} s")
            reply = conn.recv()
            if "error" in reply:
                raise RuntimeError(f"routing worker failed on {op!r}: {reply['error']}")
            replies.append(reply)
        return replies

    def close(self) -> None:
        try:
            self.call("close", timeout=10)
        except (TimeoutError, RuntimeError, OSError, EOFError):
            pass
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()


async def _run(opts: Opts, workdir: Path, automatic: bool, rate: float, tree: str | None = None) -> dict[str, Any]:
    center = Center(opts.agents, opts.queues)
    port = free_port()
    config = _config(center, workdir / f"routing-{automatic}.toml", port, automatic)
    data = workdir / f"routing-{automatic}-{port}.sqlite3"
    serve = ["serve", "--config", str(config), "--data", str(data)]
    probe = workdir / f"routing-{automatic}-{port}.calls.json" if getattr(opts, "calls", False) else None
    if probe is None:
        proc = Proc("switchboard", tree_module(tree, "server.cli", *serve), workdir / f"routing-{automatic}.log", f"http://127.0.0.1:{port}/readyz")
    else:
        # Python calls counted (bench/callprobe.py, cProfile in every thread): slower, but noise does not move the count.
        source = tree or str(HERE.parent)
        proc = Proc("switchboard", [sys.executable, "-P", str(HERE / "callprobe.py"), str(probe), "-m", "server.cli", *serve],
                    workdir / f"routing-{automatic}.log", f"http://127.0.0.1:{port}/readyz",
                    {"PYTHONPATH": source, "CALLPROBE_TREE": source})
    proc.start(timeout=60)
    url = f"ws://127.0.0.1:{port}/ws"
    fleet = Fleet(center, url, automatic, opts.workers)
    try:
        fleet.call("connect")
        await asyncio.sleep(1.0)
        fleet.call("reset")  # count the frames of the traffic only
        total = int(rate * opts.duration)
        if probe is not None:
            await _probe_window(proc, probe, mark=True)
        cpu0 = proc.cpu()
        customers = Customers({
            "messages": total, "rate": rate, "per_customer": 1, "slots": 1, "queues": center.q,
            "base_urls": [f"http://127.0.0.1:{port}"], "target": "whatsapp", "app_secret": APP_SECRET,
        })
        while not customers.done():
            await asyncio.sleep(0.1)
        sent = customers.result or {}
        deadline = time.perf_counter() + 30
        key = "accepted" if automatic else "claimed"
        while time.perf_counter() < deadline:
            if sum(r[key] for r in fleet.call("stats")) >= sent.get("ok", total):
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # the last accepts / claims land
        cpu = proc.cpu() - cpu0
        calls = await _probe_window(proc, probe) if probe is not None else None
        collected = fleet.call("collect")
        latency = array("q")
        kinds: dict[str, int] = {}
        for r in collected:
            latency.frombytes(r["latency_us"])
            for kind, n in r["kinds"].items():
                kinds[kind] = kinds.get(kind, 0) + n
        result: dict[str, Any] = {
            "conversations": total,
            "rate": rate,
            "webhooks_ok": sent.get("ok"),
            "webhook_http_ms_p50": sent.get("http_ms_p50"),
            "webhook_http_ms_p99": sent.get("http_ms_p99"),
            "cpu_s": round(cpu, 2),
            "cpu_ms_per_conversation": round(1000 * cpu / total, 3),
            "errors": {k: v for r in collected for k, v in r["errors"].items()},
            "unmarked": sum(r["unmarked"] for r in collected),
            "frames_per_conversation": round(sum(r["frames"] for r in collected) / max(1, total), 2),
            "bytes_per_conversation": round(sum(r["bytes"] for r in collected) / max(1, total)),
            "events_per_conversation": {k: round(n / max(1, total), 2) for k, n in sorted(kinds.items())},
        }
        if calls is not None:
            result["python_calls_per_conversation"] = round(sum(calls.values()) / max(1, total), 1)
            top = sorted(calls.items(), key=lambda kv: -kv[1])[:60]
            result["python_calls_top"] = {k: round(v / max(1, total), 2) for k, v in top}
            files: dict[str, int] = {}
            for k, v in calls.items():
                where = k.rsplit(":", 1)[0] if ".py:" in k else "<builtins>"
                files[where] = files.get(where, 0) + v
            result["python_calls_by_file"] = {k: round(v / max(1, total), 1) for k, v in sorted(files.items(), key=lambda kv: -kv[1])[:20]}
        if automatic:
            result["webhook_to_offer"] = percentiles(latency)
            result["offered"] = len(latency)
            result["accepted"] = sum(r["accepted"] for r in collected)
            result.update(await _audit(url, center))
        else:
            result["webhook_to_inbox_added"] = percentiles(latency)
            result["claimed"] = sum(r["claimed"] for r in collected)
        return result
    finally:
        fleet.close()
        proc.stop()


async def _probe_window(proc: Proc, probe: Path, *, mark: bool = False) -> dict[str, int]:
    """SIGUSR2 to the call probe: the first marks the window's start, the
    second writes the calls since (bench/callprobe.py)."""
    target = Path(str(probe) + ".mark") if mark else probe
    os.kill(proc.pid, signal.SIGUSR2)
    deadline = time.monotonic() + 60
    while not target.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the call probe wrote no {target}")
        await asyncio.sleep(0.01)
    data: dict[str, Any] = json.loads(target.read_text()) if not mark else {}
    target.unlink()
    return dict(data.get("calls", {}))


async def _audit(url: str, center: Center) -> dict[str, Any]:
    """From fresh snapshots: every agent's list disjoint from the others', and
    within capacity (100 / 20 = 5 WhatsApp conversations)."""
    owners: dict[str, int] = {}
    over = 0
    for _agent_id, token, *_ in center.specs():
        async with connect(url, compression=None, max_size=2**24) as ws:
            await ws.send(p.encoder.encode(p.Hello(id="h", token=str(token))).decode())
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


def _summary(runs: list[dict[str, Any]], *path: str) -> dict[str, Any]:
    values: list[float] = []
    for r in runs:
        v: Any = r
        for k in path:
            v = v.get(k) if isinstance(v, dict) else None
        if isinstance(v, (int, float)):
            values.append(float(v))
    return spread(values)


def _pairs(opts: Opts, workdir: Path, rate: float, progress: Any, tree: str | None, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """One routed run then one claimed run of ``tree``'s server."""
    label = f"{name} " if name else ""
    load = os.getloadavg()
    routed = asyncio.run(_run(opts, workdir, True, rate, tree))
    routed["load_before"] = [round(x, 2) for x in load]
    progress.done(f"{label}routing {rate}/s: {routed}")
    load = os.getloadavg()
    claimed = asyncio.run(_run(opts, workdir, False, rate, tree))
    claimed["load_before"] = [round(x, 2) for x in load]
    progress.done(f"{label}claiming {rate}/s: {claimed}")
    return routed, claimed


def _figures(routed_runs: list[dict[str, Any]], claimed_runs: list[dict[str, Any]]) -> dict[str, Any]:
    ratios = [r["cpu_ms_per_conversation"] / max(1e-9, c["cpu_ms_per_conversation"]) for r, c in zip(routed_runs, claimed_runs, strict=True)]
    return {
        "webhook_to_offer_p50_ms": _summary(routed_runs, "webhook_to_offer", "p50"),
        "webhook_to_offer_p99_ms": _summary(routed_runs, "webhook_to_offer", "p99"),
        "webhook_to_inbox_added_p50_ms": _summary(claimed_runs, "webhook_to_inbox_added", "p50"),
        "webhook_to_inbox_added_p99_ms": _summary(claimed_runs, "webhook_to_inbox_added", "p99"),
        "cpu_ms_per_routed": _summary(routed_runs, "cpu_ms_per_conversation"),
        "cpu_ms_per_claimed": _summary(claimed_runs, "cpu_ms_per_conversation"),
        "cpu_ratio_routed_vs_claimed": spread(ratios),
        "frames_per_routed": _summary(routed_runs, "frames_per_conversation"),
        "frames_per_claimed": _summary(claimed_runs, "frames_per_conversation"),
        "python_calls_per_routed": _summary(routed_runs, "python_calls_per_conversation"),
        "python_calls_per_claimed": _summary(claimed_runs, "python_calls_per_conversation"),
        "dual_owners": sum(r.get("dual_owners", 0) for r in routed_runs),
        "agents_over_capacity": sum(r.get("agents_over_capacity", 0) for r in routed_runs),
        "routed": routed_runs,
        "claimed": claimed_runs,
    }


def routing(opts: Opts, workdir: Path, progress: Any) -> dict[str, Any]:
    """Per rate: ``--repeat`` pairs, routed then claimed (interleaved, so
    the machine's load moves both alike); median and spread of each figure.
    ``--trees``: each repeat runs every tree's pair in turn (an A/B in one
    run; each tree's server, this benchmark's agents and customers)."""
    trees: list[tuple[str, str | None]] = getattr(opts, "trees", None) or [("", None)]
    out: dict[str, Any] = {"agents": opts.agents, "queues": opts.queues, "workers": opts.workers, "rates": {}}
    if trees[0][0]:
        out["trees"] = {name: tree or "." for name, tree in trees}
    for rate in opts.rates:
        runs: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {name: ([], []) for name, _ in trees}
        for _ in range(max(1, opts.repeat)):
            for name, tree in trees:
                routed, claimed = _pairs(opts, workdir, rate, progress, tree, name)
                runs[name][0].append(routed)
                runs[name][1].append(claimed)
        if len(trees) == 1:
            out["rates"][str(rate)] = _figures(*runs[trees[0][0]])
            continue
        by_tree = {name: _figures(*runs[name]) for name, _ in trees}
        first, last = trees[0][0], trees[-1][0]
        ratio = [
            (r1["cpu_ms_per_conversation"] / max(1e-9, c1["cpu_ms_per_conversation"]))
            / max(1e-9, r0["cpu_ms_per_conversation"] / max(1e-9, c0["cpu_ms_per_conversation"]))
            for r0, c0, r1, c1 in zip(*runs[first], *runs[last], strict=True)
        ]
        out["rates"][str(rate)] = {"by_tree": by_tree, f"cpu_ratio_{last}_vs_{first}": spread(ratio)}
    return out
