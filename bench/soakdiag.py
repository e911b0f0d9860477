"""``python -m bench soakdiag``: the 2-node Redis soak with a control beside it,
sampled every second (issue 16: "~75 s stretches of p50 360–810 ms, not
diagnosed").

Two pairs run at the same time on the same machine, each with its own
redis-server and its own agents:

- **Switchboard**: ``soak --on-redis --nodes 2``'s load (``--agents`` in
  ``--queues``, ``--rate`` signed webhooks/s of the steady mix, ``--churn``
  disconnect/reconnect cycles/s, agents' replies to a Graph stub);
- **the floor pair** (bench/peers/floor_redis.py): two bare ``websockets``
  servers sharing their redis-server through plain pub/sub, the same number
  of agents in the same number of rooms, the same churn, ``--floor-rate``
  publications/s (default: about the per-socket event rate Switchboard's
  agents get, ~0.5/s each).

Every second it records, per pair: live latency (webhook or publish sent →
event received) p50/p99/max; each node's CPU (/proc), loop lag and GC pauses
(Switchboard: /metrics; the floor: its ``/lag``), the Redis subscriber's
messages read and heartbeat round trip (Switchboard), each redis-server's
CPU, commandstats deltas, ``LATENCY LATEST`` (``latency-monitor-threshold``
set to ``--latency-threshold-ms``), the pub/sub clients' output buffers and
the bytes the kernel holds unread on the nodes' Redis sockets; the machine's
busy CPU (/proc/stat), load average, and the bench's own CPU (this process,
the agents' workers, the customers). ``uptime`` every minute.

Output: the per-second CSV and the 5-s windows CSV under bench/results/raw/,
the summary (stretches, which series move with each pair's p99 per 5-s
window) at ``--out`` (default bench/results/soak-diagnosis.json) and a PNG
beside it. ``--analyze DIR`` redoes the summary and PNG from the CSVs.

    .venv/bin/python -m bench soakdiag --duration 600
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import statistics
import subprocess
import tempfile
import time
from array import array
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import redis

from bench.center import Center
from bench.endurance import graph_stub
from bench.harness import Customers, Fleet, Progress, Target, audit, inbound, percentiles, start_switchboard
from bench.procs import Proc, Redis, cpu_seconds, free_port, open_fds, python_module, rss_bytes, tcp_rows
from bench.worker import raise_nofile

RESULTS = Path(__file__).parent / "results"
WINDOW = 5


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bench soakdiag", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agents", type=int, default=1000, help="agents per pair")
    ap.add_argument("--queues", type=int, default=50)
    ap.add_argument("--rate", type=float, default=50.0, help="Switchboard: inbound messages/s")
    ap.add_argument("--floor-rate", type=float, default=25.0,
                    help="the floor pair: publications/s (each to one room of agents/queues sockets)")
    ap.add_argument("--duration", type=float, default=600.0)
    ap.add_argument("--churn", type=float, default=5.0, help="disconnect/reconnect cycles/s, each pair")
    ap.add_argument("--workers", type=int, default=2, help="agent worker processes per pair")
    ap.add_argument("--latency-threshold-ms", type=int, default=10, help="redis latency-monitor-threshold")
    ap.add_argument("--no-floor", dest="floor", action="store_false", help="Switchboard's pair alone")
    ap.add_argument("--out", type=Path, default=RESULTS / "soak-diagnosis.json")
    ap.add_argument("--analyze", type=Path, default=None, help="redo the summary and PNG from a run's raw directory")
    return ap


# ---------------------------------------------------------------- sampling


def _metrics(base: str) -> dict[str, float]:
    out: dict[str, float] = {}
    try:
        text = httpx.get(f"{base}/metrics", timeout=2).text
    except httpx.HTTPError:
        return out
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
    return out


def _lag(base: str) -> dict[str, float] | None:
    try:
        out: dict[str, float] = httpx.get(f"{base}/lag", timeout=5).json()
    except httpx.HTTPError:
        return None
    return out


def _gc(m: dict[str, float]) -> tuple[float, float]:
    """(seconds of every collection so far, full collections so far)."""
    total = sum(v for k, v in m.items() if k.startswith("switchboard_gc_pause_seconds_sum"))
    return total, m.get('switchboard_gc_pause_seconds_count{generation="2"}', 0.0)


def _tcp(ports: dict[str, int]) -> dict[str, int]:
    """One pass over /proc/net/tcp{,6}: per named port, the server side's
    send queue (``NAME_sendq``) and the clients' unread bytes (``NAME_unread``)."""
    want = {f":{port:04X}": name for name, port in ports.items()}
    out = {f"{n}_{k}": 0 for n in ports for k in ("sendq", "unread")}
    for state, local, remote, tx, rx in tcp_rows():
        if state != "01":
            continue
        if local[-5:] in want:
            out[f"{want[local[-5:]]}_sendq"] += tx
        elif remote[-5:] in want:
            out[f"{want[remote[-5:]]}_unread"] += rx
    return out


def _machine_busy() -> tuple[float, float]:
    with open("/proc/stat") as f:
        fields = [float(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _load1() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


class RedisWatch:
    """One redis-server: its CPU, what its commands cost per second, the
    latency monitor's new events, its pub/sub clients' output buffers."""

    def __init__(self, server: Redis, threshold_ms: int) -> None:
        self.server = server
        self.r = redis.Redis(port=server.port, socket_timeout=2)
        self.r.config_set("latency-monitor-threshold", threshold_ms)
        self._stats = self._commandstats()
        self._seen: dict[str, int] = {}

    def _commandstats(self) -> dict[str, tuple[int, int]]:
        info = self.r.info("commandstats")
        return {k.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"])) for k, v in info.items()}

    def sample(self) -> dict[str, Any]:
        now = self._commandstats()
        deltas = {k: (c - self._stats.get(k, (0, 0))[0], u - self._stats.get(k, (0, 0))[1]) for k, (c, u) in now.items()}
        self._stats = now
        top = max(deltas.items(), key=lambda kv: kv[1][1], default=("", (0, 0)))
        latency = 0
        for event, ts, latest, _worst in self.r.execute_command("LATENCY", "LATEST"):
            key = event.decode() if isinstance(event, bytes) else str(event)
            if self._seen.get(key) != ts:
                self._seen[key] = ts
                latency = max(latency, int(latest))
        clients = self.r.client_list()
        omem = [c["omem"] for c in clients if "P" in c.get("flags", "")]
        return {
            "calls": sum(c for c, _ in deltas.values()),
            "usec": sum(u for _, u in deltas.values()),
            "top": f"{top[0]}:{top[1][1]}",
            "latency_ms": latency,
            "pubsub_omem_kb": round(sum(int(x) for x in omem) / 1024, 1),
            "clients": len(clients),
        }


class Pct:
    """CPU % of a set of pids between two calls."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.last = self._read()
        self.t = time.perf_counter()

    def _read(self) -> float:
        total = 0.0
        for pid in self.pids:
            try:
                total += cpu_seconds(pid)
            except OSError:
                pass
        return total

    def __call__(self) -> float:
        now, t = self._read(), time.perf_counter()
        pct = (now - self.last) / (t - self.t) * 100 if t > self.t else 0.0
        self.last, self.t = now, t
        return round(pct, 1)


def _lat(values: array) -> dict[str, Any]:
    return percentiles(values)


# ---------------------------------------------------------------- the floor pair


def start_floor_pair(workdir: Path, server: Redis, queues: int, size: int = 700) -> Target:
    target = Target("floor pair + Redis", "raw", [], [], redis=server)
    for n in range(2):
        port, ws_port = free_port(), free_port()
        argv = python_module("bench.peers.floor_redis", "--port", str(port), "--ws-port", str(ws_port),
                             "--size", str(size), "--queues", str(queues), "--redis", server.url)
        proc = Proc(f"floor-{n}", argv, workdir / f"floor-{n}.log", f"http://127.0.0.1:{port}/healthz")
        proc.start(timeout=60)
        target.procs.append(proc)
        target.ws_urls.append(f"ws://127.0.0.1:{ws_port}/ws?i={{i}}")
        target.base_urls.append(f"http://127.0.0.1:{port}")
    return target


# ---------------------------------------------------------------- the run


def run(opts: argparse.Namespace, workdir: Path, progress: Progress) -> Path:
    raw_dir = RESULTS / "raw" / f"soak-diagnosis-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    raw_dir.mkdir(parents=True, exist_ok=True)
    center = Center(opts.agents, opts.queues)
    procs_to_stop: list[Any] = []
    fleets: list[Fleet] = []
    uptimes: list[str] = []
    try:
        stub = graph_stub(SimpleNamespace(graph=True, url=None), workdir, center)
        if stub is not None:
            procs_to_stop.append(stub)
        sb_redis = Redis(workdir / "redis-sb.log").start()
        procs_to_stop.append(sb_redis)
        sb = start_switchboard(center, workdir, nodes=2, redis=sb_redis)
        procs_to_stop.append(sb)
        fl_redis = fl = None
        if opts.floor:
            fl_redis = Redis(workdir / "redis-floor.log").start()
            procs_to_stop.append(fl_redis)
            fl = start_floor_pair(workdir, fl_redis, opts.queues)
            procs_to_stop.append(fl)
        sb_fleet = Fleet(sb, center.specs(), workers=opts.workers, behaviour="steady", options={"windows": True})
        fleets.append(sb_fleet)
        progress.done(f"switchboard: {sb_fleet.connect(2000, progress)['connected']} connected")
        fl_fleet = None
        if fl is not None:
            fl_fleet = Fleet(fl, center.specs(), workers=opts.workers, behaviour="fanout", options={"windows": True})
            fleets.append(fl_fleet)
            progress.done(f"floor pair: {fl_fleet.connect(2000, progress)['connected']} connected")
        watches = {"sb": RedisWatch(sb_redis, opts.latency_threshold_ms)}
        if fl_redis is not None:
            watches["fl"] = RedisWatch(fl_redis, opts.latency_threshold_ms)
        sb_msgs = int(opts.rate * opts.duration)
        sb_cust = Customers({"messages": sb_msgs, "rate": opts.rate, "queues": center.q, "per_customer": 5,
                             "slots": max(1, int(opts.rate)), **inbound(sb)})
        customers = [sb_cust]
        if fl is not None:
            fl_msgs = int(opts.floor_rate * opts.duration)
            customers.append(Customers({"messages": fl_msgs, "rate": opts.floor_rate, "queues": center.q,
                                        "per_customer": 1, "slots": max(1, int(opts.floor_rate)), **inbound(fl)}))
        for fleet in fleets:
            fleet.call("churn_start", rate=opts.churn / len(fleet.conns), fresh=0.2, clean=0.5, offline=(0.2, 3.0))
        bench_pids = [os.getpid(), *(p.pid for f in fleets for p in f.procs if p.pid), *(c.proc.pid for c in customers if c.proc.pid)]
        if stub is not None:
            bench_pids.append(stub.pid)
        cpu = {f"node{i}": Pct([p.pid]) for i, p in enumerate(sb.procs)}
        if fl is not None:
            cpu |= {f"floor{i}": Pct([p.pid]) for i, p in enumerate(fl.procs)}
        cpu["redis_sb"] = Pct([sb_redis.pid])
        if fl_redis is not None:
            cpu["redis_fl"] = Pct([fl_redis.pid])
        cpu["bench"] = Pct(bench_pids)
        busy_last = _machine_busy()
        gc_last = [_gc(_metrics(b)) for b in sb.base_urls]
        msgs_last = [0.0 for _ in sb.base_urls]
        reconnects_last = [0.0 for _ in sb.base_urls]
        floor_msgs_last = [0.0, 0.0]
        ports = {"sb_ws": sb.ws_ports()[0], "sb_ws1": sb.ws_ports()[1], "redis_sb": sb_redis.port}
        if fl is not None and fl_redis is not None:
            ports |= {"fl_ws": fl.ws_ports()[0], "fl_ws1": fl.ws_ports()[1], "redis_fl": fl_redis.port}
        pool = ThreadPoolExecutor(8)
        rows: list[dict[str, Any]] = []
        lat_s: dict[str, list[bytes]] = {"sb": [], "fl": []}
        t0 = time.perf_counter()
        next_tick = 1.0
        next_uptime = 0.0
        stop = {"signal": False}
        signal.signal(signal.SIGTERM, lambda *_: stop.update(signal=True))
        signal.signal(signal.SIGINT, lambda *_: stop.update(signal=True))
        seconds_csv = (raw_dir / "seconds.csv").open("w", newline="")
        writer: csv.DictWriter[str] | None = None
        # Until the customers are done, but never past --duration: on a saturated
        # machine they fall behind and would run on for hours.
        while not all(c.done() for c in customers) and not stop["signal"]:
            now = time.perf_counter() - t0
            if now > opts.duration + 1:
                break
            if now >= next_uptime:
                uptimes.append(f"t={now:.0f}s " + subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
                next_uptime += 60
            if now < next_tick:
                time.sleep(min(0.2, next_tick - now))
                continue
            # Once a second; a sample that took longer (a saturated machine) does not make the next ones bunch up.
            next_tick = max(next_tick + 1.0, now + 0.5)
            row: dict[str, Any] = {"t": round(now, 2), "utc": datetime.now(UTC).strftime("%H:%M:%S"), "load1": _load1()}
            # Everything that waits on another process, at once: the workers' windows,
            # the nodes' /metrics, the floor's /lag, the redis-servers.
            f_windows = {name: pool.submit(fleet.window) for name, fleet in (("sb", sb_fleet), ("fl", fl_fleet)) if fleet}
            f_metrics = [pool.submit(_metrics, base) for base in sb.base_urls]
            f_lags = [pool.submit(_lag, base) for base in (fl.base_urls if fl is not None else [])]
            f_redis = {name: pool.submit(watch.sample) for name, watch in watches.items()}
            busy = _machine_busy()
            row["machine_busy_pct"] = round((busy[0] - busy_last[0]) / max(1e-9, busy[1] - busy_last[1]) * 200, 1)
            busy_last = busy
            for name, f_window in f_windows.items():
                w = f_window.result()
                lat_s[name].append(w["live"].tobytes())
                p = _lat(w["live"])
                row |= {f"{name}_n": p["n"], f"{name}_p50": p["p50"], f"{name}_p99": p["p99"], f"{name}_max": p["max"],
                        f"{name}_gaps": w["gaps"], f"{name}_dups": w["dups"], f"{name}_reconnects": w["reconnects"]}
            for key, pct in cpu.items():
                row[f"{key}_cpu_pct"] = pct()
            for i, f_m in enumerate(f_metrics):
                m = f_m.result()
                gcs = _gc(m)
                msgs = m.get("switchboard_redis_messages_total", 0.0)
                rec = sum(v for k, v in m.items() if k.startswith("switchboard_redis_reconnects_total"))
                row |= {
                    f"node{i}_lag_max_ms": round(m.get("switchboard_loop_lag_max_seconds", 0) * 1000, 1),
                    f"node{i}_busy_max_ms": round(m.get("switchboard_loop_busy_max_seconds", 0) * 1000, 1),
                    f"node{i}_gc_max_ms": round(m.get("switchboard_gc_pause_max_seconds", 0) * 1000, 1),
                    f"node{i}_gc_ms": round((gcs[0] - gc_last[i][0]) * 1000, 1),
                    f"node{i}_gc_full": int(gcs[1] - gc_last[i][1]),
                    f"node{i}_redis_msgs": int(msgs - msgs_last[i]),
                    f"node{i}_hb_max_ms": round(m.get("switchboard_redis_heartbeat_max_seconds", 0) * 1000, 1),
                    f"node{i}_redis_reconnects": int(rec - reconnects_last[i]),
                    f"node{i}_snapshot_max_ms": round(m.get("switchboard_snapshot_max_seconds", 0) * 1000, 1),
                    f"node{i}_rss_mb": round(rss_bytes(sb.procs[i].pid) / 2**20, 1),
                    f"node{i}_fds": open_fds(sb.procs[i].pid),
                }
                gc_last[i], msgs_last[i], reconnects_last[i] = gcs, msgs, rec
            if fl is not None:
                for i, f_lag in enumerate(f_lags):
                    lag = f_lag.result() or {"lag_max": 0, "gc_max": 0, "messages": floor_msgs_last[i]}
                    row |= {f"floor{i}_lag_max_ms": round(lag["lag_max"] * 1000, 1),
                            f"floor{i}_gc_max_ms": round(lag["gc_max"] * 1000, 1),
                            f"floor{i}_redis_msgs": int(lag["messages"] - floor_msgs_last[i])}
                    floor_msgs_last[i] = lag["messages"]
            for name, f_sample in f_redis.items():
                s = f_sample.result()
                row |= {f"redis_{name}_{k}": v for k, v in s.items()}
            row |= {f"kernel_{k}_kb": round(v / 1024, 1) for k, v in _tcp(ports).items()}
            row["sample_ms"] = round((time.perf_counter() - t0 - now) * 1000)
            rows.append(row)
            if writer is None:
                writer = csv.DictWriter(seconds_csv, fieldnames=list(row))
                writer.writeheader()
            writer.writerow(row)
            seconds_csv.flush()
            progress.show(
                f"soakdiag t={now:.0f}/{opts.duration:.0f}s load {row['load1']} sb p50 {row.get('sb_p50')} p99 {row.get('sb_p99')} "
                f"floor p99 {row.get('fl_p99')} ms, nodes {row.get('node0_cpu_pct')}+{row.get('node1_cpu_pct')} %",
                force=True,
            )
        pool.shutdown()
        seconds_csv.close()
        behind = [i for i, c in enumerate(customers) if not c.done()]
        for i in behind:
            customers[i].kill()
        uptimes.append(f"t={time.perf_counter() - t0:.0f}s " + subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
        for fleet in fleets:
            fleet.call("churn_stop", timeout=120)
        time.sleep(5)
        sb_collected = sb_fleet.collect()
        checks: dict[str, Any] = {
            "customers_cut_at_duration": ["switchboard" if i == 0 else "floor" for i in behind],
            "sb_inbound_planned": sb_msgs,
            "sb_inbound": (sb_cust.result or {}).get("ok"),
            "sb_inbound_stored": sum(_metrics(b).get('switchboard_inbound_messages_total{outcome="stored"}', 0) for b in sb.base_urls),
            "sb_deliveries": sb_collected["events"],
            "sb_gaps": sb_collected["gaps"],
            "sb_duplicates": sb_collected["dups"],
            "sb_audit": audit(sb, center, sb_collected["positions"]),
        }
        if fl_fleet is not None:
            fl_collected = fl_fleet.collect()
            checks |= {"floor_published": (customers[1].result or {}).get("ok"), "floor_deliveries": fl_collected["events"],
                       "floor_planned": fl_msgs, "floor_gaps_from_churn": fl_collected["gaps"], "floor_duplicates": fl_collected["dups"]}
        _write_csv(raw_dir / "seconds.csv", rows)
        windows = _windows(rows, lat_s)
        _write_csv(raw_dir / "windows.csv", windows)
        (raw_dir / "run.json").write_text(json.dumps({
            "command": "python -m bench soakdiag " + " ".join(opts.argv), "started_utc": rows[0]["utc"] if rows else None,
            "options": {k: v for k, v in vars(opts).items() if k not in ("argv", "out", "analyze")},
            "uptime_per_minute": uptimes, "checks": checks,
        }, indent=2, default=str) + "\n")
        return raw_dir
    finally:
        for fleet in fleets:
            fleet.close()
        for c in locals().get("customers", []):
            c.kill()
        for proc in reversed(procs_to_stop):
            proc.stop()


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def _windows(rows: list[dict[str, Any]], lat_s: dict[str, list[bytes]]) -> list[dict[str, Any]]:
    """5-s windows: each pair's latency over the window's events; every other
    series as its max over the window (a spike shows) and, for rates and CPU,
    its mean."""
    out: list[dict[str, Any]] = []
    groups: dict[int, list[int]] = {}
    for i, r in enumerate(rows):  # by time: a slow sample must not stretch a window
        groups.setdefault(int((r["t"] - 1e-6) // WINDOW), []).append(i)
    for k in range(max(groups, default=-1) + 1):
        idx = groups.get(k, [])
        if not idx:
            continue
        chunk = [rows[i] for i in idx]
        w: dict[str, Any] = {"t": (k + 1) * WINDOW, "utc": chunk[-1]["utc"], "samples": len(chunk)}
        for name, parts in lat_s.items():
            if not parts:
                continue
            merged = array("q")
            for i in idx:
                merged.frombytes(parts[i])
            p = percentiles(merged)
            w |= {f"{name}_n": p["n"], f"{name}_p50": p["p50"], f"{name}_p99": p["p99"], f"{name}_max": p["max"]}
        for key in chunk[0]:
            if key in ("t", "utc") or key.startswith(("sb_", "fl_")):
                continue
            vals = [r[key] for r in chunk if isinstance(r.get(key), int | float)]
            if not vals:
                continue
            if key.endswith(("_cpu_pct", "_msgs", "_calls", "_usec", "busy_pct")):
                w[key] = round(statistics.fmean(vals), 1)
            else:
                w[key] = max(vals)
        out.append(w)
    return out


# ---------------------------------------------------------------- analysis


def _read_csv(path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with path.open() as f:
        for r in csv.DictReader(f):
            row: dict[str, Any] = {}
            for k, v in r.items():
                try:
                    row[k] = float(v) if v not in ("", "None") else None
                except ValueError:
                    row[k] = v
            rows.append(row)
    return rows


def _rank(xs: list[float]) -> list[float]:
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2
        i = j + 1
    return ranks


def _pearson(xs: list[float], ys: list[float]) -> float | None:
    if len(xs) < 3 or len(set(xs)) < 2 or len(set(ys)) < 2:
        return None
    return round(statistics.correlation(xs, ys), 3)


def correlations(windows: list[dict[str, Any]], against: str) -> list[dict[str, Any]]:
    """Every numeric series' Pearson and Spearman correlation with ``against``
    (a pair's p99 per 5-s window), strongest Spearman first."""
    out = []
    base = [w for w in windows if isinstance(w.get(against), float)]
    for key in base[0] if base else []:
        # Not the pair's own latency figures; the other pair's p99 is one of the series.
        if key in ("t", "utc", "samples") or key.startswith(against.split("_")[0] + "_") or key in ("sb_n", "fl_n", "sb_p50", "fl_p50"):
            continue
        pairs = [(w[key], w[against]) for w in base if isinstance(w.get(key), float)]
        if len(pairs) < 10:
            continue
        xs, ys = [a for a, _ in pairs], [b for _, b in pairs]
        rho = _pearson(_rank(xs), _rank(ys))
        r = _pearson(xs, ys)
        if rho is None or r is None:
            continue
        out.append({"series": key, "spearman": rho, "pearson": r})
    out.sort(key=lambda c: -abs(c["spearman"]))
    return out


def stretches(windows: list[dict[str, Any]], key: str, over: float = 100.0) -> list[dict[str, Any]]:
    """Runs of consecutive 5-s windows whose ``key`` p99 is over ``over`` ms,
    with what the other pair and the machine did in the same windows."""
    out: list[dict[str, Any]] = []
    run: list[dict[str, Any]] = []
    other = "fl" if key == "sb" else "sb"
    for w in [*windows, {}]:
        if (w.get(f"{key}_p99") or 0) > over:
            run.append(w)
            continue
        if run:
            out.append({
                "from_t": round(run[0]["t"] - WINDOW), "to_t": round(run[-1]["t"]), "utc": f"{run[0]['utc']}–{run[-1]['utc']}",
                "windows": len(run),
                f"{key}_p50_max": max(r.get(f"{key}_p50") or 0 for r in run),
                f"{key}_p99_max": max(r.get(f"{key}_p99") or 0 for r in run),
                f"{key}_max": max(r.get(f"{key}_max") or 0 for r in run),
                f"{other}_p99_max": max((r.get(f"{other}_p99") or 0 for r in run), default=None),
                f"{other}_windows_over": sum((r.get(f"{other}_p99") or 0) > over for r in run),
                "load1_max": max(r.get("load1") or 0 for r in run),
                "machine_busy_pct_mean": round(statistics.fmean(r.get("machine_busy_pct") or 0 for r in run), 1),
            })
            run = []
    return out


def analyze(raw_dir: Path, out: Path) -> dict[str, Any]:
    seconds = _read_csv(raw_dir / "seconds.csv")
    windows = _read_csv(raw_dir / "windows.csv")
    meta = json.loads((raw_dir / "run.json").read_text())

    def per_window(name: str) -> dict[str, Any]:
        p99 = [w[f"{name}_p99"] for w in windows if isinstance(w.get(f"{name}_p99"), float)]
        mx = [w[f"{name}_max"] for w in windows if isinstance(w.get(f"{name}_max"), float)]
        if not p99:
            return {}
        return {
            "windows": len(p99),
            "p99_median_ms": round(statistics.median(p99), 1),
            "p99_max_ms": max(p99),
            "windows_p99_over_100ms": sum(x > 100 for x in p99),
            "windows_max_over_1s": sum(x > 1000 for x in mx),
            "max_ms": max(mx),
        }

    both = [w for w in windows if isinstance(w.get("sb_p99"), float) and isinstance(w.get("fl_p99"), float)]
    sb_bad = [w for w in both if w["sb_p99"] > 100]
    fl_bad = [w for w in both if w["fl_p99"] > 100]
    summary: dict[str, Any] = {
        "command": meta["command"],
        "started_utc": meta["started_utc"],
        "raw": f"raw/{raw_dir.name}/ (seconds.csv, windows.csv, run.json; not in git)",
        "uptime_per_minute": meta["uptime_per_minute"],
        "checks": meta["checks"],
        "seconds": len(seconds),
        "switchboard": per_window("sb"),
        "floor_pair": per_window("fl"),
        "coincidence": {
            "windows_both_measured": len(both),
            "sb_p99_over_100ms": len(sb_bad),
            "of_which_floor_over_100ms_too": sum(w["fl_p99"] > 100 for w in sb_bad),
            "floor_p99_over_100ms": len(fl_bad),
            "of_which_sb_over_100ms_too": sum(w["sb_p99"] > 100 for w in fl_bad),
            "spearman_sb_p99_vs_floor_p99": _pearson(_rank([w["sb_p99"] for w in both]), _rank([w["fl_p99"] for w in both]))
            if len(both) > 2 else None,
        },
        "stretches_sb": stretches(windows, "sb"),
        "stretches_floor": stretches(windows, "fl"),
        "moves_with_sb_p99": correlations(windows, "sb_p99")[:15],
        "moves_with_floor_p99": correlations(windows, "fl_p99")[:10],
    }
    out.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    plot(windows, out.with_suffix(".png"), meta)
    return summary


def plot(windows: list[dict[str, Any]], png: Path, meta: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [w["t"] for w in windows]

    def series(key: str) -> list[float]:
        return [w.get(key) if isinstance(w.get(key), float) else float("nan") for w in windows]

    fig, axes = plt.subplots(4, 1, figsize=(10, 10), dpi=80, sharex=True)
    ax = axes[0]
    ax.plot(t, series("sb_p99"), "-", color="C0", label="Switchboard pair p99")
    ax.plot(t, series("sb_max"), ":", color="C0", lw=0.8, label="Switchboard max")
    ax.plot(t, series("fl_p99"), "-", color="C3", label="floor pair p99")
    ax.plot(t, series("fl_max"), ":", color="C3", lw=0.8, label="floor max")
    ax.axhline(100, color="grey", lw=0.8, ls="--")
    ax.set_yscale("log")
    ax.set_ylabel("latency per 5 s window (ms)")
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(f"soakdiag: both pairs at once, started {meta['started_utc']} UTC", fontsize=10)
    ax = axes[1]
    ax.plot(t, series("machine_busy_pct"), color="k", label="machine busy % (of 200)")
    ax.plot(t, [a + b for a, b in zip(series("node0_cpu_pct"), series("node1_cpu_pct"), strict=True)], color="C0",
            label="Switchboard nodes CPU %")
    ax.plot(t, [a + b for a, b in zip(series("floor0_cpu_pct"), series("floor1_cpu_pct"), strict=True)], color="C3",
            label="floor nodes CPU %")
    ax.plot(t, series("bench_cpu_pct"), color="C2", label="bench (agents, customers) CPU %")
    ax2 = ax.twinx()
    ax2.plot(t, series("load1"), color="C7", ls="--", label="load avg (1 min)")
    ax2.set_ylabel("load average")
    ax.set_ylabel("CPU %")
    ax.legend(fontsize=7, loc="upper left")
    ax2.legend(fontsize=7, loc="upper right")
    ax = axes[2]
    for i in (0, 1):
        ax.plot(t, series(f"node{i}_lag_max_ms"), color="C0", alpha=0.6 + 0.4 * i, label=f"node {i} loop lag max")
        ax.plot(t, series(f"floor{i}_lag_max_ms"), color="C3", alpha=0.6 + 0.4 * i, label=f"floor {i} loop lag max")
        ax.plot(t, series(f"node{i}_hb_max_ms"), color="C1", alpha=0.6 + 0.4 * i, ls=":", label=f"node {i} Redis heartbeat trip max")
        ax.plot(t, series(f"node{i}_gc_max_ms"), color="C4", alpha=0.6 + 0.4 * i, ls="--", label=f"node {i} GC pause max")
    ax.set_yscale("symlog", linthresh=10)
    ax.set_ylabel("ms (max in window)")
    ax.legend(fontsize=6, ncol=4)
    ax = axes[3]
    ax.plot(t, series("redis_sb_cpu_pct"), color="C0", label="Switchboard's redis CPU %")
    ax.plot(t, series("redis_fl_cpu_pct"), color="C3", label="floor's redis CPU %")
    ax.plot(t, series("redis_sb_latency_ms"), color="C1", ls=":", label="Switchboard's redis LATENCY LATEST ms")
    ax.plot(t, series("kernel_redis_sb_unread_kb"), color="C5", ls="--", label="KB unread on the nodes' Redis sockets")
    ax.plot(t, [a + b for a, b in zip(series("kernel_sb_ws_unread_kb"), series("kernel_sb_ws1_unread_kb"), strict=True)],
            color="C0", ls="-.", label="KB unread at Switchboard's agents (bench workers behind)")
    ax.plot(t, [a + b for a, b in zip(series("kernel_fl_ws_unread_kb"), series("kernel_fl_ws1_unread_kb"), strict=True)],
            color="C3", ls="-.", label="KB unread at the floor's agents")
    ax.set_yscale("symlog", linthresh=10)
    ax.set_ylabel("redis, kernel queues")
    ax.set_xlabel("seconds into the run")
    ax.legend(fontsize=7)
    for a in axes:
        a.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)
    from bench.summary import small_png

    small_png(png)


def main(argv: list[str]) -> int:
    opts = parser().parse_args(argv)
    opts.argv = argv
    if opts.analyze is not None:
        print(json.dumps(analyze(opts.analyze, opts.out), indent=2, default=str))
        return 0
    raise_nofile()  # the servers inherit it
    progress = Progress()
    with tempfile.TemporaryDirectory(prefix="switchboard-soakdiag-") as tmp:
        raw_dir = run(opts, Path(tmp), progress)
    summary = analyze(raw_dir, opts.out)
    print(json.dumps({k: summary[k] for k in ("switchboard", "floor_pair", "coincidence", "checks")}, indent=2, default=str))
    return 0
