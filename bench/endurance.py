"""Slow consumers and long runs (issue 7): the ``stall`` and ``soak`` scenarios.

    stall   10 % of the agents stop reading under steady load (every inbound
            message a new conversation: inbox.added to its queue, claimed by
            one agent: inbox.removed to the queue, a reply, a read, End Chat);
            the other 90 %'s latency before / during / after, in the same run;
            how many stalled sockets the server dropped and when; the
            server's RSS, fds and kernel send queues all along. The stalled
            agents then read again, find their socket closed and resume.
    soak    a bounded run (``--duration``, e.g. 1200 s) of the steady mix
            (claims, replies, reads, end chats) with connect/disconnect churn:
            agents cut or close their socket and come back resuming from
            their last seq, or fresh (a reload). Every ``--sample`` seconds:
            RSS, open fds, connections, latency of that window, losses.

Both sample the same way: every ``--sample`` s each worker hands over the
latencies it recorded since the last sample (``Worker.window``), split into
*live* events at healthy agents (what the 90 % feel), *catch-up* (events sent
before the receiving agent was ready: resume replays and snapshot backlogs)
and the stalled group's; the harness reads the server's /proc (CPU, RSS, fds),
its /metrics and the kernel's TCP queues for the websocket port.
"""

from __future__ import annotations

import time
from array import array
from pathlib import Path
from typing import Any

from bench.center import Center
from bench.harness import (
    Customers,
    Fleet,
    Progress,
    Target,
    audit,
    inbound,
    percentiles,
    spread,
    start_peer,
)
from bench.procs import Proc, Redis, free_port, python_module, tcp_queues

Opts = Any


def _mb(n: float) -> float:
    return round(n / 2**20, 2)


def _slope_per_min(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of ys over xs (seconds), per minute."""
    n = len(xs)
    if n < 3:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    if var == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=False)) / var * 60


class Sampler:
    """One row per ``tick``: the fleet's window and the server's state."""

    def __init__(self, target: Target, fleet: Fleet) -> None:
        self.target, self.fleet = target, fleet
        self.t0 = time.perf_counter()
        self.rows: list[dict[str, Any]] = []
        self.cpu0 = target.cpu()
        self._cpu_last = self.cpu0
        self._t_last = self.t0
        self._events_last = 0
        self._phase_lat: dict[str, dict[str, array]] = {}
        self.phase = "start"
        self.phase_marks: list[tuple[str, float]] = [("start", 0.0)]

    def set_phase(self, name: str, tick: bool = True) -> None:
        if tick:
            self.tick()  # close the window of the previous phase
        self.phase = name
        self.phase_marks.append((name, self.now()))

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def tick(self) -> dict[str, Any]:
        w = self.fleet.window()
        t = time.perf_counter()
        cpu = self.target.cpu()
        kernel = {"send_queue": 0, "peer_recv_queue": 0, "established": 0, "closing": 0, "closing_send_queue": 0}
        for port in self.target.ws_ports():
            for k, v in tcp_queues(port).items():
                kernel[k] += v
        m = self.target.metrics() if self.target.dialect == "switchboard" else {}
        live, catchup, stalled = w["live"], w["catchup"], w["stalled"]
        dt = t - self._t_last
        row = {
            "t": round(t - self.t0, 2),
            "phase": self.phase,
            "rss_mb": _mb(self.target.rss()),
            "fds": self.target.fds(),
            "connections": int(m["switchboard_connections"]) if "switchboard_connections" in m else None,
            "tcp_established": kernel["established"],
            "kernel_send_queue_mb": _mb(kernel["send_queue"]),
            "client_kernel_recv_queue_mb": _mb(kernel["peer_recv_queue"]),
            "kernel_closing_sockets": kernel["closing"],
            "kernel_closing_send_queue_mb": _mb(kernel["closing_send_queue"]),
            "slow_consumers": int(m.get("switchboard_slow_consumers_total", 0)) if m else None,
            "session_timers": int(m["switchboard_session_timers"]) if "switchboard_session_timers" in m else None,
            # Cumulative: full collections (generation 2) and the seconds they stopped the node's loop.
            "gc_full_collections": int(m.get('switchboard_gc_pause_seconds_count{generation="2"}', 0)) if m else None,
            "gc_full_seconds": round(m.get('switchboard_gc_pause_seconds_sum{generation="2"}', 0.0), 4) if m else None,
            "server_cpu_pct": round((cpu - self._cpu_last) / dt * 100, 1) if dt > 0 else None,
            "events": w["events"],
            "deliveries_per_s": round((w["events"] - self._events_last) / dt, 1) if dt > 0 else None,
            "live_ms": percentiles(live),
            "catchup_ms": percentiles(catchup),
            "stalled_ms": percentiles(stalled),
            "reconnect_ms": percentiles(array("q", (x * 1000 for x in w["reconnect_ms"]))),
            "gaps": w["gaps"],
            "dups": w["dups"],
            "stall_events": w["stall_events"],
            "stall_gaps": w["stall_gaps"],
            "stall_dups": w["stall_dups"],
            "stalled_connected": w["stalled_connected"],
            "connected": w["connected"],
            "reconnects": w["reconnects"],
            "reconnect_failures": w["reconnect_failures"],
            "resumed": w["resumed"],
            "churns": w["churns"],
            "closed_unexpected": w["closed_unexpected"],
            "close_codes": w["close_codes"],
            "errors": w["errors"],
        }
        self._cpu_last, self._t_last, self._events_last = cpu, t, w["events"]
        lat = self._phase_lat.setdefault(self.phase, {"live": array("q"), "catchup": array("q"), "stalled": array("q")})
        lat["live"].extend(live)
        lat["catchup"].extend(catchup)
        lat["stalled"].extend(stalled)
        self.rows.append(row)
        return row

    def phase_latency(self, phase: str, kind: str = "live") -> dict[str, Any]:
        return percentiles(self._phase_lat.get(phase, {}).get(kind, array("q")))

    def in_phase(self, phase: str) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["phase"] == phase]


def graph_stub(opts: Opts, workdir: Path, center: Center) -> Proc | None:
    """Start bench/graphstub.py and point the center's touchpoints at it, so
    agents' replies are sent and settle, as with Meta (``--no-graph``: not)."""
    if not opts.graph or opts.url:
        return None
    port = free_port()
    proc = Proc("graphstub", python_module("bench.graphstub", "--port", str(port)), workdir / "graphstub.log",
                f"http://127.0.0.1:{port}/healthz")
    proc.start(timeout=30)
    center.graph_base = f"http://127.0.0.1:{port}/v21.0"
    return proc


def sends(m: dict[str, float]) -> dict[str, int]:
    """The node's outbound sends by outcome (switchboard_channel_events_total by event)."""
    out: dict[str, int] = {}
    for key, value in m.items():
        if key.startswith("switchboard_channel_events_total{") and 'event="' in key:
            event = key.split('event="', 1)[1].split('"', 1)[0]
            if event.startswith("send") or event == "sent":
                out[event] = out.get(event, 0) + int(value)
    return out


def _wait_quiet(fleet: Fleet, seconds: float = 2.0, limit: float = 60.0) -> None:
    last, last_change, start = -1, time.perf_counter(), time.perf_counter()
    while time.perf_counter() - last_change < seconds and time.perf_counter() - start < limit:
        time.sleep(0.25)
        s = fleet.stats()
        if s["events"] != last:
            last, last_change = s["events"], time.perf_counter()


# ---------------------------------------------------------------- stall


def stall(opts: Opts, workdir: Path, progress: Progress) -> dict[str, Any]:
    """Switchboard (and the bare ``broadcast()`` floor, same workload) with
    ``--stall-fraction`` of the sockets no longer reading."""
    from bench.scenarios import _target

    servers = opts.servers or ["switchboard", "floor"]
    queues = opts.queues if opts.queues is not None else 2
    every = max(2, round(1 / opts.stall_fraction))
    runs: list[dict[str, Any]] = []
    size = 700
    # A peer broadcasts every publication to every socket: it gets the per-socket
    # frame rate Switchboard's agents saw (about 2 queue events per inbound / queues).
    peer_rate = 2 * opts.rates[0] / queues
    for rep in range(opts.repeat):
        for kind in servers:
            center = Center(opts.agents, queues, server={"outbound_buffer_bytes": opts.outbound_buffer})
            stub = graph_stub(opts, workdir, center) if kind == "switchboard" else None
            try:
                target = _target(opts, center, workdir) if kind == "switchboard" else start_peer(kind, workdir, size=size, redis=None)
            except BaseException:
                if stub is not None:
                    stub.stop()
                raise
            try:
                run = _stall_run(kind, target, center, every, opts, progress, peer_rate)
                if target.dialect == "switchboard":
                    run["graph_stub"] = stub is not None
                    run["sends"] = sends(target.metrics())
                if kind == "switchboard":
                    size = run.get("frame_bytes") or size
                    peer_rate = run.get("per_agent_events_per_s") or peer_rate
                run["repeat"] = rep
                runs.append(run)
            finally:
                target.stop()
                if stub is not None:
                    stub.stop()
    return {
        "agents": opts.agents,
        "queues": queues,
        "rate": opts.rates[0],
        "stall_fraction": 1 / every,
        "outbound_buffer_bytes": opts.outbound_buffer,
        "client_rcvbuf": opts.client_rcvbuf,
        "client_mss": opts.client_mss,
        "phases_s": {"warmup": opts.warmup, "before": opts.phase, "stalled": opts.stall_seconds, "after": opts.phase},
        "summary": {kind: _stall_summary([r for r in runs if r["server"] == kind]) for kind in servers},
        "runs": runs,
    }


def _stall_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median (min–max) over repeats of each run's own figures."""

    def sp(get: Any) -> dict[str, Any]:
        vals = []
        for r in runs:
            try:
                v = get(r)
            except (KeyError, TypeError):
                v = None
            if v is not None:
                vals.append(v)
        return spread(vals)

    out: dict[str, Any] = {"repeats": len(runs)}
    for ph in ("before", "stalled", "after"):
        for q in ("p50", "p95", "p99", "max"):
            out[f"healthy_{q}_ms_{ph}"] = sp(lambda r, ph=ph, q=q: r["healthy_latency_ms"][ph][q])
    out["healthy_p99_ratio_stalled_to_before"] = sp(
        lambda r: r["healthy_latency_ms"]["stalled"]["p99"] / r["healthy_latency_ms"]["before"]["p99"]
    )
    out["healthy_p50_ratio_stalled_to_before"] = sp(
        lambda r: r["healthy_latency_ms"]["stalled"]["p50"] / r["healthy_latency_ms"]["before"]["p50"]
    )
    out["seconds_to_first_drop"] = sp(lambda r: r["seconds_to_drop"]["first"])
    out["seconds_to_all_dropped"] = sp(lambda r: r["seconds_to_drop"]["all"])
    out["seconds_to_all_closed"] = sp(lambda r: r["seconds_to_close"]["all"])
    out["slow_consumers_dropped"] = sp(lambda r: r["slow_consumers_dropped"])
    out["server_closed_stalled_sockets"] = sp(lambda r: r["server_closed_stalled_sockets"])
    for key in ("before", "stalled_max", "stalled_end", "end"):
        out[f"rss_mb_{key}"] = sp(lambda r, key=key: r["rss_mb"][key])
    out["kernel_send_queue_mb_stalled_max"] = sp(lambda r: r["kernel_send_queue_mb"]["stalled_max"])
    out["server_cpu_pct_before"] = sp(lambda r: r["server_cpu_pct"]["before"])
    out["server_cpu_pct_stalled"] = sp(lambda r: r["server_cpu_pct"]["stalled"])
    out["per_agent_events_per_s"] = sp(lambda r: r["per_agent_events_per_s"])
    out["healthy_lost"] = sum(r["healthy_lost"] for r in runs)
    out["healthy_duplicates"] = sum(r["healthy_duplicates"] for r in runs)
    out["stalled_gaps"] = sum(r["stalled_gaps"] for r in runs)
    out["tail_missing"] = sum(r.get("audit", {}).get("events_missing_at_tail", 0) for r in runs)
    out["resumed"] = sum(r["resumed"] for r in runs)
    out["resyncs"] = sum(r["resyncs"] for r in runs)
    return out


def _stall_run(
    kind: str, target: Target, center: Center, every: int, opts: Opts, progress: Progress, peer_rate: float
) -> dict[str, Any]:
    from bench.scenarios import _fleet_with

    options = {"stall_every": every, "windows": True, "rcvbuf": opts.client_rcvbuf, "mss": opts.client_mss}
    sb = target.dialect == "switchboard"
    fleet, connected = _fleet_with(target, center, opts, "steady" if sb else "fanout", progress, options)
    try:
        stalled_n = len(range(0, center.n, every))
        rate = opts.rates[0] if sb else peer_rate
        planned = opts.warmup + opts.phase + opts.stall_seconds + opts.phase
        messages = int(rate * planned)
        spec = {"messages": messages, "rate": rate, "queues": center.q, "per_customer": 1, "slots": min(messages, int(rate * 5) + 1)}
        s = Sampler(target, fleet)
        rss_idle = s.target.rss()
        cust = Customers({**spec, **inbound(target)})
        drops: dict[str, float | None] = {"first": None, "half": None, "all": None}
        closes: dict[str, float | None] = {"first": None, "half": None, "all": None}
        t_pause = 0.0

        def loop(until: float) -> None:
            while s.now() < until:
                time.sleep(max(0.0, min(opts.sample, until - s.now())))
                row = s.tick()
                dropped = row["slow_consumers"]
                # Against the agents' count, not a snapshot: a transient extra socket
                # on the port (a probe) must not count as a close.
                closed = max(0, center.n - row["tcp_established"])
                if s.phase == "stalled":
                    for key, need in (("first", 1), ("half", (stalled_n + 1) // 2), ("all", stalled_n)):
                        if dropped is not None and drops[key] is None and dropped >= need:
                            drops[key] = round(row["t"] - t_pause, 2)
                        if closes[key] is None and closed >= need:
                            closes[key] = round(row["t"] - t_pause, 2)
                lat = row["live_ms"]
                progress.show(
                    f"stall {kind} [{s.phase}] t={row['t']:.0f}s healthy p50 {lat['p50']} p99 {lat['p99']} ms, "
                    f"rss {row['rss_mb']} MB, fds {row['fds']}, kernel sendq {row['kernel_send_queue_mb']} MB, "
                    f"dropped {dropped}, closed {closed}, gaps {row['gaps'] - row['stall_gaps']}"
                )

        s.set_phase("warmup")
        loop(opts.warmup)
        s.set_phase("before")
        loop(opts.warmup + opts.phase)
        paused = sum(r["paused"] for r in fleet.call("pause"))
        s.set_phase("stalled")
        t_pause = s.now()
        loop(t_pause + opts.stall_seconds)
        s.tick()
        fleet.call("unpause")
        s.set_phase("after", tick=False)
        t_unpause = s.now()
        while not cust.done():
            loop(s.now() + opts.sample)
        loop(max(s.now(), t_unpause + opts.phase))
        _wait_quiet(fleet)
        s.set_phase("end")
        s.tick()
        created = cust.result or {}
        last = s.rows[-1]
        healthy_events = last["events"] - last["stall_events"]
        # The peer: every publication to every socket. Switchboard: the steady mix
        # has no fixed count per agent; its losses are the gaps and the audit's tail.
        expected_healthy = None if sb else created.get("ok", 0) * (center.n - stalled_n)
        measured = [r for r in s.rows if r["phase"] in ("before", "stalled", "after")]
        span = measured[-1]["t"] - s.phase_marks[1][1] if measured else 0
        healthy_in_span = (measured[-1]["events"] - measured[-1]["stall_events"]) - (s.rows[0]["events"] - s.rows[0]["stall_events"]) if measured else 0
        collected = fleet.collect()
        result: dict[str, Any] = {
            "server": kind,
            "agents": center.n,
            **connected,
            "stalled_agents": paused,
            "inbound": created.get("ok"),
            "inbound_codes": created.get("codes"),
            "webhook_http_ms": {"p50": created.get("http_ms_p50"), "p99": created.get("http_ms_p99")},
            "frame_bytes": round(collected["bytes"] / collected["events"]) if collected["events"] else None,
            "phase_marks": s.phase_marks,
            "healthy_latency_ms": {ph: s.phase_latency(ph) for ph in ("before", "stalled", "after")},
            "stalled_group_latency_ms": {ph: s.phase_latency(ph, "stalled") for ph in ("before", "stalled", "after", "end")},
            "healthy_deliveries": healthy_events,
            "expected_healthy_deliveries": expected_healthy,
            "per_agent_events_per_s": round(healthy_in_span / max(1, center.n - stalled_n) / span, 2) if span > 0 else None,
            "healthy_lost": (max(0, expected_healthy - healthy_events) if expected_healthy is not None else 0)
            + (last["gaps"] - last["stall_gaps"]),
            "command_errors": collected["error_codes"],
            "healthy_gaps": last["gaps"] - last["stall_gaps"],
            "healthy_duplicates": last["dups"] - last["stall_dups"],
            "stalled_gaps": last["stall_gaps"],
            "stalled_duplicates": last["stall_dups"],
            "stalled_reconnects": last["reconnects"],
            "reconnect_failures": last["reconnect_failures"],
            "resumed": last["resumed"],
            "resyncs": collected["resyncs"],
            "close_codes_seen": last["close_codes"],
            "slow_consumers_dropped": _last(s, "stalled", "slow_consumers"),
            "seconds_to_drop": drops,
            "server_closed_stalled_sockets": max(0, center.n - (_last(s, "stalled", "tcp_established") or center.n)),
            "seconds_to_close": closes,
            # Dropped = the node's slow-consumer limit (switchboard_slow_consumers_total);
            # closed = the server's TCP socket gone (by that drop, or by the websocket
            # keepalive: a client that does not read does not answer pings either).
            "rss_mb": {
                "idle_connected": _mb(rss_idle),
                "before": _last(s, "before", "rss_mb"),
                "stalled_max": _max(s, "stalled", "rss_mb"),
                "stalled_end": _last(s, "stalled", "rss_mb"),
                "after_end": _last(s, "after", "rss_mb"),
                "end": last["rss_mb"],
            },
            "fds": {"before": _last(s, "before", "fds"), "stalled_end": _last(s, "stalled", "fds"), "end": last["fds"]},
            "connections": {
                "before": _last(s, "before", "connections"),
                "stalled_end": _last(s, "stalled", "connections"),
                "end": last["connections"],
            },
            "tcp_established": {
                "before": _last(s, "before", "tcp_established"),
                "stalled_end": _last(s, "stalled", "tcp_established"),
                "end": last["tcp_established"],
            },
            "kernel_send_queue_mb": {
                "before": _last(s, "before", "kernel_send_queue_mb"),
                "stalled_max": _max(s, "stalled", "kernel_send_queue_mb"),
                "end": last["kernel_send_queue_mb"],
            },
            "client_kernel_recv_queue_mb": {
                "before": _last(s, "before", "client_kernel_recv_queue_mb"),
                "stalled_max": _max(s, "stalled", "client_kernel_recv_queue_mb"),
            },
            # After the server closes a stalled socket the kernel keeps trying to
            # deliver what was queued (the socket lingers in FIN_WAIT1): no fd, no RSS.
            "kernel_closing_send_queue_mb": {
                "stalled_max": _max(s, "stalled", "kernel_closing_send_queue_mb"),
                "stalled_end": _last(s, "stalled", "kernel_closing_send_queue_mb"),
            },
            "server_cpu_pct": {ph: _median(s, ph, "server_cpu_pct") for ph in ("before", "stalled", "after")},
            "rss_growth_mb_per_min": {ph: _slope(s, ph, "rss_mb") for ph in ("before", "stalled", "after")},
            "samples": s.rows,
        }
        if sb:
            result["audit"] = audit(target, center, collected["positions"])
        h = result["healthy_latency_ms"]
        progress.done(
            f"stall {kind}: healthy p99 before {h['before']['p99']} / stalled {h['stalled']['p99']} / after {h['after']['p99']} ms; "
            f"dropped {result['slow_consumers_dropped']}/{paused} (first {drops['first']} s, all {drops['all']} s), "
            f"closed {result['server_closed_stalled_sockets']} (first {closes['first']} s, all {closes['all']} s); "
            f"rss {result['rss_mb']}; lost {result['healthy_lost']} dups {result['healthy_duplicates']}"
        )
        return result
    finally:
        fleet.close()


def _last(s: Sampler, phase: str, key: str) -> Any:
    rows = s.in_phase(phase)
    return rows[-1][key] if rows else None


def _max(s: Sampler, phase: str, key: str) -> Any:
    vals = [r[key] for r in s.in_phase(phase) if r[key] is not None]
    return max(vals) if vals else None


def _median(s: Sampler, phase: str, key: str) -> Any:
    vals = sorted(r[key] for r in s.in_phase(phase) if r[key] is not None)
    return vals[len(vals) // 2] if vals else None


def _slope(s: Sampler, phase: str, key: str) -> float | None:
    rows = [r for r in s.in_phase(phase) if r[key] is not None]
    v = _slope_per_min([r["t"] for r in rows], [r[key] for r in rows])
    return round(v, 2) if v is not None else None


# ---------------------------------------------------------------- soak


def soak(opts: Opts, workdir: Path, progress: Progress) -> dict[str, Any]:
    """Steady mix for ``--duration`` seconds with churn; one row per ``--sample`` s."""
    from bench.scenarios import _fleet_with, _target

    queues = opts.queues if opts.queues is not None else 50
    center = Center(opts.agents, queues)
    stub = graph_stub(opts, workdir, center)
    redis = Redis(workdir / "redis.log").start() if opts.on_redis and not opts.url else None
    try:
        target = _target(opts, center, workdir, redis=redis, nodes=opts.nodes if redis else 1)
    except BaseException:
        if stub is not None:
            stub.stop()
        if redis is not None:
            redis.stop()
        raise
    fleet = None
    try:
        fleet, connected = _fleet_with(target, center, opts, "steady", progress, {"windows": True})
        rate = opts.rates[0]
        messages = max(1, int(rate * opts.duration))
        spec = {
            "messages": messages,
            "rate": rate,
            "queues": center.q,
            "per_customer": opts.per_customer,
            "slots": max(1, int(rate * opts.spacing)),
        }
        s = Sampler(target, fleet)
        cust = Customers({**spec, **inbound(target)})
        workers = len(fleet.conns)
        if opts.churn > 0:
            fleet.call("churn_start", rate=opts.churn / workers, fresh=opts.churn_fresh, clean=0.5, offline=(0.2, 3.0))
        s.set_phase("load")
        next_tick = opts.sample
        while not cust.done():
            time.sleep(max(0.0, min(0.5, next_tick - s.now())))
            if s.now() < next_tick:
                continue
            next_tick += opts.sample
            row = s.tick()
            lat = row["live_ms"]
            progress.show(
                f"soak t={row['t']:.0f}/{opts.duration:.0f}s rss {row['rss_mb']} MB fds {row['fds']} conns {row['connections']} "
                f"p50 {lat['p50']} p99 {lat['p99']} ms  churns {row['churns']} gaps {row['gaps']} dups {row['dups']}",
                force=True,
            )
        pending = fleet.call("churn_stop", timeout=120) if opts.churn > 0 else []
        s.set_phase("drain")
        _wait_quiet(fleet, 3.0)
        s.tick()
        created = cust.result or {}
        collected = fleet.collect()
        rows = [r for r in s.rows if r["phase"] == "load"]
        steady_rows = [r for r in rows if r["t"] >= opts.settle_seconds] or rows
        xs = [r["t"] for r in steady_rows]

        def fit(key: str) -> float | None:
            v = _slope_per_min(xs, [r[key] for r in steady_rows])
            return round(v, 3) if v is not None else None

        def half_fit(key: str) -> float | None:
            half = steady_rows[len(steady_rows) // 2 :]
            v = _slope_per_min([r["t"] for r in half], [r[key] for r in half])
            return round(v, 3) if v is not None else None

        p99s = sorted(r["live_ms"]["p99"] for r in rows if r["live_ms"]["p99"] is not None)
        p50s = sorted(r["live_ms"]["p50"] for r in rows if r["live_ms"]["p50"] is not None)
        quarter = max(1, len(rows) // 4)

        def med(vals: list[float]) -> float | None:
            vals = sorted(v for v in vals if v is not None)
            return vals[len(vals) // 2] if vals else None

        last = s.rows[-1]
        start = steady_rows[0] if steady_rows else last
        end = steady_rows[-1] if steady_rows else last
        result: dict[str, Any] = {
            "server": target.kind,
            "nodes": len(target.procs),
            "agents": center.n,
            "queues": center.q,
            **connected,
            "duration_s": opts.duration,
            "rate": rate,
            "churn_per_s": opts.churn,
            "churn_fresh_fraction": opts.churn_fresh,
            "inbound": created.get("ok"),
            "inbound_codes": created.get("codes"),
            "webhook_http_ms": {"p50": created.get("http_ms_p50"), "p99": created.get("http_ms_p99")},
            "rss_mb": {"start": start["rss_mb"], "end": end["rss_mb"], "max": max(r["rss_mb"] for r in rows),
                       "slope_mb_per_min": fit("rss_mb"), "slope_second_half_mb_per_min": half_fit("rss_mb")},
            "fds": {"start": start["fds"], "end": end["fds"], "min": min(r["fds"] for r in rows), "max": max(r["fds"] for r in rows),
                    "slope_per_min": fit("fds"), "after_drain": last["fds"]},
            "connections": {"start": start["connections"], "end": end["connections"], "after_drain": last["connections"],
                            "min": min((r["connections"] for r in rows if r["connections"] is not None), default=None)},
            "session_timers": {"start": start["session_timers"], "end": end["session_timers"]},
            "settle_seconds": opts.settle_seconds,
            "live_latency_ms_per_window": {
                "p50_median": med(p50s), "p99_median": med(p99s), "p99_min": p99s[0] if p99s else None, "p99_max": p99s[-1] if p99s else None,
                "p99_median_first_quarter": med([r["live_ms"]["p99"] for r in rows[:quarter]]),
                "p99_median_last_quarter": med([r["live_ms"]["p99"] for r in rows[-quarter:]]),
            },
            "live_latency_ms_whole_run": s.phase_latency("load"),
            "catchup_latency_ms_whole_run": s.phase_latency("load", "catchup"),
            "deliveries": last["events"],
            "gaps": last["gaps"],
            "duplicates": last["dups"],
            "churns": last["churns"],
            "reconnects": last["reconnects"],
            "reconnect_failures": last["reconnect_failures"],
            "resumed": last["resumed"],
            "resyncs": collected["resyncs"],
            "unexpected_closes": last["closed_unexpected"],
            "close_codes_seen": last["close_codes"],
            "command_errors": collected["error_codes"],
            "connect_failures": collected["connect_failures"],
            "churn_pending_at_stop": sum(p.get("pending", 0) for p in pending),
            "graph_stub": stub is not None,
            "sends": sends(target.metrics()),
            "samples": s.rows,
        }
        if target.dialect == "switchboard":
            result["audit"] = audit(target, center, collected["positions"])
        progress.done(
            f"soak: rss {result['rss_mb']}, fds {result['fds']}, p99 per window {result['live_latency_ms_per_window']}, "
            f"gaps {result['gaps']} dups {result['duplicates']} churns {result['churns']} reconnect failures {result['reconnect_failures']}"
        )
        return result
    finally:
        if fleet is not None:
            fleet.close()
        target.stop()
        if stub is not None:
            stub.stop()
        if redis is not None:
            redis.stop()
