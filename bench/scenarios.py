"""The scenarios: each starts what it needs, measures, stops everything it
started, and returns one JSON-able dict. See bench/README.md for the commands.

    idle        memory per connected agent and connect rate, N = 1k/5k/10k
    fanout      one queue, every agent in it, each inbound → inbox.added to all
    steady      many queues, agents claim, reply, read, end; unread updates
    lockstorm   thousands of WhatsApp windows closing in the same seconds
    reconnect   every socket cut at once under traffic; all resume, zero loss
    compare     fan-out, same run: Switchboard vs the floor and the peers
    cluster     fan-out across several nodes sharing Redis
    stall       10 % of the sockets stop reading: the others' latency, the drops (bench/endurance.py)
    soak        a bounded long run with connect/disconnect churn: RSS, fds, latency per window
    backlog     a big Inbox: snapshot size and build, a reconnect wave's stall, RSS, webhooks (bench/backlog.py)
    routing     automatic offers: inbound → offer.rung latency, CPU per routed vs per claimed conversation (bench/routing.py)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from bench.center import Center
from bench.harness import (
    Customers,
    Fleet,
    Progress,
    Target,
    audit,
    drive,
    inbound,
    percentiles,
    server_deliveries,
    spread,
    start_peer,
    start_profile,
    start_switchboard,
    summarize,
)
from bench.peers import REDIS
from bench.procs import Redis

Opts = Any  # the argparse namespace from bench.__main__


WS_PORT = "switchboard-ws_port"
"""compare: Switchboard with agents on the optional dedicated websocket port
(``ws_port``) instead of /ws on the HTTP port."""

UVLOOP = "switchboard-uvloop"
"""compare, idle: Switchboard on uvloop's event loop (``server.event_loop``)."""

SWITCHBOARDS = ("switchboard", WS_PORT, UVLOOP)
"""The names in ``--servers`` that start Switchboard (``_switchboard``)."""


def _target(
    opts: Opts, center: Center, workdir: Path, redis: Redis | None = None, nodes: int = 1, ws_port: bool = False,
    event_loop: str | None = None,
) -> Target:
    if opts.url:
        from bench.harness import external_switchboard

        return external_switchboard(opts.url, opts.server_pid or [])
    return start_switchboard(center, workdir, nodes=nodes, redis=redis, ws_port=ws_port, event_loop=event_loop, tree=opts.node_tree)


def _switchboard(opts: Opts, center: Center, workdir: Path, kind: str) -> Target:
    """One of ``SWITCHBOARDS``, started (or the nodes of ``--url``)."""
    return _target(opts, center, workdir, ws_port=kind == WS_PORT, event_loop="uvloop" if kind == UVLOOP else None)


def _fleet(target: Target, center: Center, opts: Opts, behaviour: str, progress: Progress) -> tuple[Fleet, dict[str, Any]]:
    return _fleet_with(target, center, opts, behaviour, progress, None)


def _fleet_with(
    target: Target, center: Center, opts: Opts, behaviour: str, progress: Progress, options: dict[str, Any] | None
) -> tuple[Fleet, dict[str, Any]]:
    fleet = Fleet(target, center.specs(), workers=opts.workers, behaviour=behaviour, options=options)
    try:
        connected = fleet.connect(opts.connect_rate, progress)
    except BaseException:
        fleet.close()
        raise
    progress.done(
        f"{target.kind}: {connected['connected']}/{center.n} agents connected in {connected['connect_seconds']:.1f} s"
        f" ({connected['connect_rate']:.0f}/s)"
    )
    return fleet, connected


# ---------------------------------------------------------------- idle


def idle(opts: Opts, workdir: Path, progress: Progress) -> dict[str, Any]:
    rows = []
    for n in opts.sizes:
        for kind in opts.servers:
            center = Center(n, max(1, n // 100))
            if kind in SWITCHBOARDS:
                target = _switchboard(opts, center, workdir, kind)
            elif kind.startswith("switchboard@"):  # the same node from another tree: A/B in one run
                target = start_switchboard(center, workdir, tree=Path(kind.partition("@")[2]))
            else:
                target = start_peer(kind, workdir, size=700, redis=None)
            fleet = None
            try:
                time.sleep(1.0)
                rss0 = target.rss()
                fleet, connected = _fleet(target, center, opts, "idle", progress)
                time.sleep(opts.settle)
                rss1 = target.rss()
                s = fleet.stats()
                rows.append(
                    {
                        "server": kind,
                        "agents": n,
                        **connected,
                        "still_connected": s["connected"],
                        "rss_before_mb": round(rss0 / 2**20, 1),
                        "rss_connected_mb": round(rss1 / 2**20, 1),
                        "kib_per_agent": round((rss1 - rss0) / max(1, connected["connected"]) / 1024, 2),
                    }
                )
                progress.done(f"idle {kind} n={n}: {rows[-1]['kib_per_agent']} KiB/agent")
            finally:
                if fleet is not None:
                    fleet.close()
                target.stop()
    return {"rows": rows}


# ---------------------------------------------------------------- fan-out / steady


def _sweep(opts: Opts, workdir: Path, progress: Progress, *, queues: int, behaviour: str) -> dict[str, Any]:
    center = Center(opts.agents, queues)
    stub = None
    media_share = getattr(opts, "media_share", None) if behaviour == "steady" else None
    if media_share is not None:  # photos need the Graph API stand-in; so does the text-only run it is compared with
        from bench.endurance import graph_stub

        stub = graph_stub(opts, workdir, center)
    target = _target(opts, center, workdir)
    fleet = None
    try:
        time.sleep(0.5)
        rss0 = target.rss()
        fleet, connected = _fleet(target, center, opts, behaviour, progress)
        rss1 = target.rss()
        rows = []
        for rate in opts.rates:
            messages = max(1, int(rate * opts.duration))
            spec = {
                "messages": messages,
                "rate": rate,
                "queues": center.q,
                "per_customer": opts.per_customer if behaviour == "steady" else 1,
                "slots": max(1, int(rate * opts.spacing)),
                "media_share": media_share,
            }
            # Fan-out: every inbound opens a conversation → inbox.added to the whole queue.
            per_event = center.n // center.q if behaviour == "fanout" and center.n % center.q == 0 else None
            m = drive(target, fleet, spec, progress, expected_per_event=per_event, profile=_profile_path(opts, workdir, rate))
            collected = fleet.collect()
            row = {"rate": rate, **summarize(m, collected)}
            if opts.profile:
                row["profile"] = _profile_summary(_profile_path(opts, workdir, rate))
            rows.append(row)
            progress.done(_line(target.kind, row))
        collected = fleet.collect()
        result: dict[str, Any] = {
            "server": target.kind,
            "agents": center.n,
            "queues": center.q,
            **connected,
            "kib_per_agent": round((rss1 - rss0) / max(1, connected["connected"]) / 1024, 2),
            "rows": rows,
        }
        if media_share is not None:
            m = target.metrics()
            result["media_share"] = media_share
            result["media_downloads"] = {k: v for k, v in m.items() if k.startswith("switchboard_media_downloads_total")}
        if target.dialect == "switchboard":
            result["audit"] = audit(target, center, collected["positions"])
            result["server_deliveries_total"] = server_deliveries(target)
            result["harness_events_total"] = collected["events"]
        return result
    finally:
        if fleet is not None:
            fleet.close()
        target.stop()
        if stub is not None:
            stub.stop()


def fanout(opts: Opts, workdir: Path, progress: Progress) -> dict[str, Any]:
    return _sweep(opts, workdir, progress, queues=1, behaviour="fanout")


def steady(opts: Opts, workdir: Path, progress: Progress) -> dict[str, Any]:
    return _sweep(opts, workdir, progress, queues=opts.queues, behaviour="steady")


def _profile_path(opts: Opts, workdir: Path, rate: float) -> Path | None:
    # Kept with the raw series (not in git): collapsed stacks, `python -m bench.profile FILE` summarizes.
    return Path(__file__).parent / "results" / "raw" / f"profile-{opts.scenario}-{rate:g}.txt" if opts.profile else None


def _profile_summary(path: Path | None) -> dict[str, Any] | None:
    from bench.profile import summarize_collapsed

    if path is None or not path.exists():
        return None
    return summarize_collapsed(path)


def _line(kind: str, row: dict[str, Any]) -> str:
    lat = row["latency_ms"]
    return (
        f"{kind} rate {row.get('rate')}/s: {row['deliveries']:,} deliveries, {row['deliveries_per_s'] or 0:,.0f}/s, "
        f"cpu {row['cpu_us_per_delivery']} µs/delivery, latency p50 {lat['p50']} p99 {lat['p99']} max {lat['max']} ms, "
        f"lost {row['lost']} dups {row['duplicates']}"
    )


# ---------------------------------------------------------------- lock storm


def lockstorm(opts: Opts, workdir: Path, progress: Progress) -> dict[str, Any]:
    """Every conversation's window closes in the same second. ``--batch``:
    customers' messages per webhook POST (seeding 20,000 in a fraction of
    the time); ``--assigned``: each conversation claimed by one agent first
    (its lock goes to that agent only, not the queue's); ``--on-redis``:
    ``--nodes`` nodes sharing Redis; ``--profile``: py-spy the (first) node
    through the storm; ``--preseed``: the conversations written into the
    store before the node starts (bench/lockseed.py), not through webhooks;
    ``--floor``: the control, no Switchboard (``floor_lockstorm``).
    Besides the delays: the node's CPU over the storm and the agents'
    (``storm_client_cpu_s``, their worker processes over the same span), so
    a delay can be set against what the two cores had to do."""
    if opts.floor is not None:
        return floor_lockstorm(opts, workdir, progress)
    center = Center(opts.agents, opts.queues, window_seconds=opts.window)
    redis = Redis(workdir / "redis.log").start() if opts.on_redis and not opts.url else None
    seeded: dict[str, Any] = {}
    t0 = time.perf_counter()
    if opts.preseed and (opts.url or opts.assigned):
        raise SystemExit("lockstorm --preseed starts its own node(s) and seeds the inbox: not with --url or --assigned")
    if opts.preseed:
        # Every window opens in this whole second, as the webhooks' one Meta timestamp would.
        opened_s = int(time.time())
        t0 = time.perf_counter() - (time.time() - opened_s)

        def prepare(config: Path, data: Path) -> None:
            from bench.lockseed import preseed

            progress.show(f"lockstorm: seeding {opts.conversations} conversations into the store…")
            seeded.update(preseed(config, data, redis.url if redis is not None else None, opts.conversations, opened_s * 1000))

        nodes = opts.nodes if redis is not None else 1
        target = start_switchboard(center, workdir, nodes=nodes, redis=redis, prepare=prepare, tree=opts.node_tree)
    else:
        target = _target(opts, center, workdir, redis=redis, nodes=opts.nodes if redis is not None else 1)
    fleet = None
    try:
        fleet, _connected = _fleet(target, center, opts, "claim" if opts.assigned else "idle", progress)
        fleet.call("reset")
        via = inbound(target)
        if opts.preseed:
            created = seeded
        else:
            spec = {
                "messages": opts.conversations,
                "rate": opts.burst_rate,
                "queues": center.q,
                "per_customer": 1,
                "slots": opts.conversations,
                "same_second": True,
                "batch": opts.batch,
            }
            t0 = time.perf_counter()
            cust = Customers({**spec, **via})
            while not cust.done():
                time.sleep(0.25)
                progress.show(f"lockstorm: creating {opts.conversations} conversations… {time.perf_counter() - t0:.1f} s")
            created = cust.result or {}
        progress.done(f"lockstorm: {created.get('ok')} conversations created in {created.get('seconds', 0):.1f} s")
        claimed = None
        if opts.assigned:
            # Each conversation is claimed by one agent of its queue: wait for every ack.
            while (s := fleet.stats())["acks"] < (created.get("ok") or 0) and time.perf_counter() < t0 + opts.window - 1:
                time.sleep(0.25)
                progress.show(f"lockstorm: {s['acks']:,} conversations claimed")
            claimed = fleet.stats()["acks"]
            progress.done(f"lockstorm: {claimed:,} conversations claimed at {time.perf_counter() - t0:.1f} s")
            expected = created.get("ok") or 0
        else:
            # Every conversation is in its queue's inbox: its lock goes to every agent of the queue.
            per_queue = created.get("per_queue", {})
            expected = sum(v * center.queue_size(int(q)) for q, v in per_queue.items())
        ready_at = time.perf_counter() - t0
        profiler = None
        profile_path = Path(__file__).parent / "results" / "raw" / f"profile-lockstorm-{opts.conversations}.txt"
        # The storm's CPU (and profile) from 6.5 s before the due second, not the idle wait before it:
        # what the node does ahead of the storm (SessionTimers' prepare, 5 s ahead) is counted in it.
        time.sleep(max(0.0, t0 + opts.window - 6.5 - time.perf_counter()))
        if opts.profile:
            profiler = start_profile(target, profile_path, 7 + opts.conversations / 1000)
        due = time.time() + t0 + opts.window - time.perf_counter()
        cpus = _storm(target, fleet, expected, due, t0 + opts.window + 60 + opts.conversations / 500, progress)
        if profiler is not None:
            profiler.wait(120)
        collected = fleet.collect()
        result = {
            "server": target.kind,
            "agents": center.n,
            "queues": center.q,
            "window_seconds": opts.window,
            "inbound": via["target"],
            "same_due_second": via["target"] == "whatsapp",
            "assigned": opts.assigned,
            "customers": created,
            "conversations": created.get("ok"),
            "claimed": claimed,
            "create_seconds": round(created.get("seconds", 0), 2),
            "ready_seconds": round(ready_at, 2),
            **_storm_figures(collected, expected, cpus),
            "audit": audit(target, center, collected["positions"]),
        }
        if opts.profile:
            result["profile"] = _profile_summary(profile_path)
        progress.done(_storm_line("lockstorm", result))
        return result
    finally:
        if fleet is not None:
            fleet.close()
        target.stop()
        if redis is not None:
            redis.stop()


def _storm(
    target: Target, fleet: Fleet, expected: int, due: float, deadline: float, progress: Progress
) -> tuple[float, float, float]:
    """Wait for the storm's ``expected`` lock deliveries (or 10 s without a
    new one, or ``deadline``): the target's CPU from now on, the target's
    from ``due`` (wall clock) on, and the agents' from now on."""
    cpu0, client0 = target.cpu(), fleet.stats()["cpu_us"]
    time.sleep(max(0.0, due - time.time()))
    cpu_due = target.cpu()
    last, last_change = -1, time.perf_counter()
    while time.perf_counter() < deadline:
        time.sleep(0.25)
        s = fleet.stats()
        if s["locks"] != last:
            last, last_change = s["locks"], time.perf_counter()
        progress.show(f"lockstorm: {s['locks']:,}/{expected:,} lock deliveries, gaps {s['gaps']} dups {s['dups']}")
        if s["locks"] >= expected or (s["locks"] and time.perf_counter() - last_change > 10):
            break
    cpu = target.cpu()
    return cpu - cpu0, cpu - cpu_due, (fleet.stats()["cpu_us"] - client0) / 1e6


def _storm_figures(collected: dict[str, Any], expected: int, cpus: tuple[float, float, float]) -> dict[str, Any]:
    """What every lock storm reports: deliveries, delays, CPU (``_storm``), gaps, duplicates."""
    cpu, due_cpu, client_cpu = cpus
    return {
        "lock_deliveries": collected["kinds"].get("session.locked", 0),
        "expected_lock_deliveries": expected,
        "lock_delay_ms": percentiles(collected["lock_delay_us"]),
        "storm_server_cpu_s": round(cpu, 2),
        "server_cpu_after_due_s": round(due_cpu, 2),
        "storm_client_cpu_s": round(client_cpu, 2),
        "gaps": collected["gaps"],
        "duplicates": collected["dups"],
    }


def _storm_line(label: str, result: dict[str, Any]) -> str:
    delays = result["lock_delay_ms"]
    return (
        f"{label}: {result['lock_deliveries']:,}/{result['expected_lock_deliveries']:,} locks, delay after due "
        f"p50 {delays['p50']} p99 {delays['p99']} max {delays['max']} ms"
    )


FLOOR_LEAD_S = 8.0
"""``lockstorm --floor``: the storm is due this long after it is posted.
The floor builds every frame before it answers (``build_cpu_s``); the storm's
CPU is counted from 6.5 s before the due time, as the node's is (for the
floor: the writes alone)."""


def floor_lockstorm(opts: Opts, workdir: Path, progress: Progress) -> dict[str, Any]:
    """The lock storm's control: the floor peer (bench/peers/floor.py,
    ``POST /storm``) writes, at the due time, the frames Switchboard's node
    writes for ``--conversations`` unassigned WhatsApp windows passing
    together (``inbox.updated`` and ``session.locked`` to each agent of the
    conversation's queue), built beforehand, in runs of 250 locks, a write
    per socket per run; ``--floor broadcast`` frames them per socket with
    the ``websockets`` library's code (what ``broadcast()`` does), ``--floor
    raw`` frames each once and writes the same bytes to every socket (as
    Switchboard's hub does). The same agents (bench/worker.py), the same per-stream
    checks, the same delay (``now - expires_at`` at the agent): what is left
    of the delay is the agents' own work and the machine's, not the node's."""
    center = Center(opts.agents, opts.queues)
    per_queue = opts.conversations // center.q
    target = start_peer("floor", workdir, size=0, redis=None)
    target.ws_urls = [f"{u}?i={{i}}" for u in target.ws_urls]
    fleet = None
    try:
        fleet, _connected = _fleet(target, center, opts, "idle", progress)
        fleet.call("reset")
        due_ms = int((time.time() + FLOOR_LEAD_S) * 1000)
        posted = httpx.post(
            f"{target.base_urls[0]}/storm",
            json={"due_ms": due_ms, "queues": center.q, "per_queue": per_queue, "framing": opts.floor},
            timeout=60,
        )
        posted.raise_for_status()
        expected = per_queue * center.n
        time.sleep(max(0.0, due_ms / 1000 - 6.5 - time.time()))
        cpus = _storm(
            target, fleet, expected, due_ms / 1000, time.perf_counter() + FLOOR_LEAD_S + 60 + opts.conversations / 500, progress
        )
        result = {
            "server": f"floor ({opts.floor})",
            "framing": opts.floor,
            "build_cpu_s": round(posted.json()["build_cpu_s"], 2),
            "agents": center.n,
            "queues": center.q,
            "conversations": per_queue * center.q,
            **_storm_figures(fleet.collect(), expected, cpus),
        }
        progress.done(_storm_line(f"lockstorm --floor {opts.floor}", result))
        return result
    finally:
        if fleet is not None:
            fleet.close()
        target.stop()


# ---------------------------------------------------------------- reconnect storm


def reconnect(opts: Opts, workdir: Path, progress: Progress) -> dict[str, Any]:
    center = Center(opts.agents, opts.queues)
    target = _target(opts, center, workdir)
    fleet = None
    try:
        fleet, connected = _fleet(target, center, opts, "fanout", progress)
        fleet.call("reset")
        messages = int(opts.rates[0] * opts.duration)
        spec = {"messages": messages, "rate": opts.rates[0], "queues": center.q, "per_customer": 1, "slots": messages}
        cust = Customers({**spec, **inbound(target)})
        time.sleep(opts.duration / 3)
        progress.show("reconnect: cutting every socket…", force=True)
        storm = fleet.call("drop_resume", timeout=300)
        recovery = max(r["recovery_seconds"] for r in storm)
        resumed_ok = sum(r["ok"] for r in storm)
        progress.done(f"reconnect: {resumed_ok}/{center.n} agents back in {recovery:.2f} s")
        while not cust.done():
            time.sleep(0.25)
            s = fleet.stats()
            progress.show(f"reconnect: traffic continues, {s['events']:,} events, gaps {s['gaps']} dups {s['dups']}")
        last, last_change = -1, time.perf_counter()
        while time.perf_counter() - last_change < 2:
            time.sleep(0.25)
            s = fleet.stats()
            if s["events"] != last:
                last, last_change = s["events"], time.perf_counter()
        collected = fleet.collect()
        result = {
            "server": target.kind,
            "agents": center.n,
            "queues": center.q,
            **connected,
            "inbound": (cust.result or {}).get("ok"),
            "rate": opts.rates[0],
            "resumed_agents": resumed_ok,
            "recovery_seconds": round(recovery, 3),
            "resumed_frames": collected["resumed"],
            "resyncs": collected["resyncs"],
            "gaps": collected["gaps"],
            "duplicates": collected["dups"],
            "connect_failures": collected["connect_failures"],
            "latency_ms": percentiles(collected["latency_us"]),
            "audit": audit(target, center, collected["positions"]),
        }
        a = result["audit"]
        progress.done(
            f"reconnect: recovery {recovery:.2f} s, resyncs {result['resyncs']}, gaps {result['gaps']}, "
            f"dups {result['duplicates']}, tail missing {a['events_missing_at_tail']}"
        )
        return result
    finally:
        if fleet is not None:
            fleet.close()
        target.stop()


# ---------------------------------------------------------------- side by side


def compare(opts: Opts, workdir: Path, progress: Progress) -> dict[str, Any]:
    """Fan-out, same workload for each server, all servers in each repeat;
    ratios are taken within a repeat, then median and spread over repeats."""
    center = Center(opts.agents, 1)
    redis = Redis(workdir / "redis.log").start() if REDIS & set(opts.servers) else None
    runs: list[dict[str, Any]] = []
    size = 700
    try:
        for rep in range(opts.repeat):
            for kind in opts.servers:
                if redis is not None:
                    redis.flush()
                if kind in SWITCHBOARDS:
                    target = _switchboard(opts, center, workdir, kind)
                elif kind.startswith("switchboard@"):  # the same node from another tree: A/B in one run
                    target = start_switchboard(center, workdir, tree=Path(kind.partition("@")[2]))
                else:
                    target = start_peer(kind, workdir, size=size, redis=redis)
                fleet = None
                try:
                    time.sleep(0.5)
                    rss0 = target.rss()
                    fleet, connected = _fleet(target, center, opts, "fanout", progress)
                    rss1 = target.rss()
                    spec = {"messages": opts.events, "rate": opts.rates[0], "queues": 1, "per_customer": 1, "slots": opts.events}
                    m = drive(target, fleet, spec, progress, expected_per_event=center.n)
                    collected = fleet.collect()
                    row = {"repeat": rep, "server": kind, "rate": opts.rates[0], **connected, "kib_per_agent": round((rss1 - rss0) / max(1, connected["connected"]) / 1024, 2), **summarize(m, collected)}
                    if kind == "switchboard" and row["frame_bytes_avg"]:
                        size = int(row["frame_bytes_avg"])  # the peers send frames of the same size
                    runs.append(row)
                    progress.done(f"[{rep + 1}/{opts.repeat}] " + _line(kind, row))
                finally:
                    if fleet is not None:
                        fleet.close()
                    target.stop()
    finally:
        if redis is not None:
            redis.stop()
    return {"agents": center.n, "events": opts.events, "rate": opts.rates[0], "frame_bytes": size, "runs": runs, "summary": _compare_summary(runs, opts)}


def _compare_summary(runs: list[dict[str, Any]], opts: Opts) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for kind in opts.servers:
        mine = [r for r in runs if r["server"] == kind]
        ratios, vs_sb = [], []
        p50_ratios, p99_ratios = [], []
        for r in mine:
            same = {x["server"]: x for x in runs if x["repeat"] == r["repeat"]}
            floor_latency = same.get("floor", {}).get("latency_ms")
            if floor_latency and floor_latency.get("p50") and r["latency_ms"].get("p50"):
                p50_ratios.append(r["latency_ms"]["p50"] / floor_latency["p50"])
                p99_ratios.append(r["latency_ms"]["p99"] / floor_latency["p99"])
            floor = same.get("floor", {}).get("cpu_us_per_delivery")
            sb = same.get("switchboard", {}).get("cpu_us_per_delivery")
            if floor and r["cpu_us_per_delivery"]:
                ratios.append(r["cpu_us_per_delivery"] / floor)
            if sb and r["cpu_us_per_delivery"]:
                vs_sb.append(r["cpu_us_per_delivery"] / sb)
        summary[kind] = {
            "cpu_us_per_delivery": spread([r["cpu_us_per_delivery"] for r in mine]),
            "cpu_us_per_delivery_with_redis": spread([r["cpu_us_per_delivery_with_redis"] for r in mine]),
            "ratio_to_floor": spread(ratios),
            "times_switchboard": spread(vs_sb),
            "deliveries_per_s": spread([r["deliveries_per_s"] for r in mine]),
            "p50_ms": spread([r["latency_ms"]["p50"] for r in mine]),
            "p99_ms": spread([r["latency_ms"]["p99"] for r in mine]),
            "p50_ratio_to_floor": spread(p50_ratios),
            "p99_ratio_to_floor": spread(p99_ratios),
            "max_ms": spread([r["latency_ms"]["max"] for r in mine]),
            "kib_per_agent": spread([r["kib_per_agent"] for r in mine]),
            "client_cpu_us_per_delivery": spread([r["client_cpu_us_per_delivery"] for r in mine]),
            "wire_segments_per_delivery": spread([(r["wire_per_delivery"] or {}).get("data_segs_out") for r in mine]),
            "wire_bytes_per_delivery": spread([(r["wire_per_delivery"] or {}).get("bytes_sent") for r in mine]),
            "lost": sum(r["lost"] for r in mine),
            "duplicates": sum(r["duplicates"] for r in mine),
        }
    return summary


# ---------------------------------------------------------------- cluster


def cluster(opts: Opts, workdir: Path, progress: Progress) -> dict[str, Any]:
    """Fan-out on 1 node, then on ``--nodes`` nodes sharing one Redis; agents
    and customers spread round-robin over the nodes."""
    redis = Redis(workdir / "redis.log").start()
    out: dict[str, Any] = {"agents": opts.agents, "rows": []}
    try:
        for nodes in (1, opts.nodes):
            redis.flush()
            center = Center(opts.agents, 1)
            target = start_switchboard(center, workdir, nodes=nodes, redis=redis, tree=opts.node_tree)
            fleet = None
            try:
                fleet, connected = _fleet(target, center, opts, "fanout", progress)
                messages = int(opts.rates[0] * opts.duration)
                spec = {"messages": messages, "rate": opts.rates[0], "queues": 1, "per_customer": 1, "slots": messages}
                m = drive(target, fleet, spec, progress, expected_per_event=center.n)
                collected = fleet.collect()
                row = {"nodes": nodes, "rate": opts.rates[0], **connected, **summarize(m, collected), "audit": audit(target, center, collected["positions"])}
                out["rows"].append(row)
                progress.done(_line(target.kind, row))
            finally:
                if fleet is not None:
                    fleet.close()
                target.stop()
    finally:
        redis.stop()
    one, many = out["rows"][0], out["rows"][-1]
    if one.get("deliveries_per_s") and many.get("deliveries_per_s"):
        # Measured: bounded by the offered load and by the machine's cores.
        out["throughput_ratio"] = round(many["deliveries_per_s"] / one["deliveries_per_s"], 2)
    if one.get("cpu_us_per_delivery") and many.get("cpu_us_per_delivery"):
        # What N nodes on N machines would deliver vs one, if each node is CPU-bound:
        # N × (CPU per delivery on 1 node) / (total CPU per delivery on N nodes).
        out["cpu_projected_scaling"] = round(opts.nodes * one["cpu_us_per_delivery"] / many["cpu_us_per_delivery"], 2)
    return out


from bench.backlog import backlog  # noqa: E402
from bench.endurance import soak, stall  # noqa: E402  (it imports helpers from this module lazily)
from bench.routing import routing  # noqa: E402

SCENARIOS = {
    "idle": idle,
    "fanout": fanout,
    "steady": steady,
    "lockstorm": lockstorm,
    "reconnect": reconnect,
    "compare": compare,
    "cluster": cluster,
    "stall": stall,
    "soak": soak,
    "routing": routing,
    "backlog": backlog,
}
