"""The pieces every scenario is built from: the servers under test, the fleet
of agent processes, the customers' process, one measured drive, the audit.

A *target* is what the agents connect to: a Switchboard node (or several,
sharing Redis), or a peer server. The harness reads the target's CPU time and
memory from /proc, so every figure is the server's own, however busy the
load generators sharing the machine are.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import statistics
import sys
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec

from bench import customers, worker
from bench.center import APP_SECRET, AUDITOR, VERIFY_TOKEN, Center
from bench.peers import MODULES, REDIS, VARIANTS
from bench.procs import Proc, Redis, free_port, python_module, tcp_wire
from bench.wire import WireClient
from protocol import messages as p

CTX = mp.get_context("spawn")


# ---------------------------------------------------------------- progress


class Progress:
    """One status line on stderr, redrawn in place on a terminal."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self._last = 0.0

    def show(self, text: str, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty:
            sys.stderr.write("\r\x1b[2K" + text[:200])
            sys.stderr.flush()
        elif force or now - self._last >= 2.0:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()
            self._last = now

    def done(self, text: str) -> None:
        if not self.enabled:
            return
        if self.tty:
            sys.stderr.write("\r\x1b[2K")
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


# ---------------------------------------------------------------- targets


@dataclass
class Target:
    kind: str
    """'switchboard' or a peer's name."""
    dialect: str
    ws_urls: list[str]
    base_urls: list[str]
    procs: list[Proc] = field(default_factory=list)
    redis: Redis | None = None
    webhook: str | None = None
    """'whatsapp' when customers post signed Meta webhooks, None: the dev injector."""

    def cpu(self) -> float:
        return sum(proc.cpu() for proc in self.procs)

    def rss(self) -> int:
        return sum(proc.rss() for proc in self.procs)

    def fds(self) -> int:
        return sum(proc.fds() for proc in self.procs)

    def ws_ports(self) -> list[int]:
        return [urlsplit(u).port or 80 for u in self.ws_urls]

    def metrics(self) -> dict[str, float]:
        """The nodes' /metrics summed over nodes (Switchboard only); a labelled
        series under its name with its labels, as printed."""
        out: dict[str, float] = {}
        for base in self.base_urls:
            try:
                text = httpx.get(f"{base}/metrics", timeout=5).text
            except httpx.HTTPError:
                continue
            for line in text.splitlines():
                if line and not line.startswith("#"):
                    name, _, value = line.rpartition(" ")
                    try:
                        out[name] = out.get(name, 0.0) + float(value)
                    except ValueError:
                        pass
        return out

    def redis_cpu(self) -> float:
        return self.redis.cpu() if self.redis is not None and self.redis.popen is not None else 0.0

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()


def start_switchboard(
    center: Center, workdir: Path, *, nodes: int = 1, redis: Redis | None = None, ws_port: bool = False, tree: Path | None = None,
    prepare: Callable[[Path, Path], None] | None = None, event_loop: str | None = None,
) -> Target:
    """One node on the embedded default (a SQLite file, as ``make run``), or
    ``nodes`` nodes sharing ``redis``. Agents connect to /ws on the HTTP port,
    or with ``ws_port`` to the optional dedicated websocket port. ``tree``:
    run the node from that source tree (another worktree) instead of this one.
    ``prepare(config, data)``: called before the first node starts, with its
    config file and SQLite file (e.g. to seed the store). ``event_loop``:
    ``server.event_loop`` (None: the node's default)."""
    assert nodes == 1 or redis is not None, "a cluster needs Redis"
    kind = "switchboard" if redis is None else f"switchboard {nodes} node(s) + Redis"
    target = Target(kind, "switchboard", [], [], redis=redis)
    for n in range(nodes):
        port = free_port()
        agents_port = free_port() if ws_port else port
        config = center.write(workdir / f"center-{n}.toml", port=port, ws_port=agents_port if ws_port else 0)
        # A fresh file per start: a repeat must not inherit the last run's
        # conversations, pending sends and send claims.
        data = workdir / f"switchboard-{n}-{port}.sqlite3"
        argv = python_module("server.cli", "serve", "--config", str(config), "--data", str(data))
        env = {"SWITCHBOARD_NODE_ID": f"bench-{n}"}
        if event_loop is not None:
            env["SWITCHBOARD_EVENT_LOOP"] = event_loop
        if tree is not None:  # -P: not the current directory first on the path, the tree
            argv = [argv[0], "-P", *argv[1:]]
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(tree), os.environ.get("PYTHONPATH", "")) if p)
        if redis is not None:
            argv += ["--redis", redis.url]
        if prepare is not None and n == 0:
            prepare(config, data)
        proc = Proc(f"switchboard-{n}", argv, workdir / f"switchboard-{n}.log", f"http://127.0.0.1:{port}/readyz", env)
        try:
            proc.start(timeout=60)
        except BaseException:
            target.stop()
            raise
        target.procs.append(proc)
        target.ws_urls.append(f"ws://127.0.0.1:{agents_port}/ws")
        target.base_urls.append(f"http://127.0.0.1:{port}")
    target.webhook = probe_webhook(target.base_urls[0])
    return target


def external_switchboard(urls: list[str], pids: list[int]) -> Target:
    """Nodes somebody else started (``--url http://host:port[,ws://host:port/ws]``)."""
    target = Target("switchboard", "switchboard", [], [])
    for i, url in enumerate(urls):
        base, _, ws = url.partition(",")
        target.base_urls.append(base.rstrip("/"))
        if not ws:
            ws = httpx.get(f"{base.rstrip('/')}/api/config", timeout=5).json()["ws_url"]
        target.ws_urls.append(ws)
        if i < len(pids):
            proc = Proc(f"external-{i}", [], Path(os.devnull))
            proc.popen = _Attached(pids[i])  # type: ignore[assignment]
            target.procs.append(proc)
    target.webhook = probe_webhook(target.base_urls[0])
    return target


class _Attached:
    """Enough of Popen to read /proc for a process we did not start (never stopped by us)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def poll(self) -> int:
        return 0


def start_peer(name: str, workdir: Path, *, size: int, redis: Redis | None) -> Target:
    port = free_port()
    base, extra = VARIANTS.get(name, (name, []))
    ws_port = free_port() if base == "floor" else port
    argv = python_module(MODULES[base], "--port", str(port), "--ws-port", str(ws_port), "--size", str(size), *extra)
    if name in REDIS:
        assert redis is not None, f"{name} needs Redis"
        argv += ["--redis", redis.url]
    proc = Proc(name, argv, workdir / f"{name}.log", f"http://127.0.0.1:{port}/healthz")
    proc.start(timeout=60)
    if name == "socketio":
        ws = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
        dialect = "socketio"
    else:
        ws = f"ws://127.0.0.1:{ws_port}/ws"
        dialect = "raw"
    return Target(name, dialect, [ws], [f"http://127.0.0.1:{port}"], [proc], redis if name in REDIS else None)


# ---------------------------------------------------------------- the fleet of agents


class Fleet:
    """Worker processes, each playing a contiguous share of the agents."""

    def __init__(
        self, target: Target, specs: list[list[Any]], *, workers: int, behaviour: str, options: dict[str, Any] | None = None
    ) -> None:
        self.n = len(specs)
        workers = max(1, min(workers, self.n or 1))
        self.conns: list[Connection] = []
        self.procs: list[mp.process.BaseProcess] = []
        options = dict(options or {})
        every = options.pop("stall_every", 0)
        indices = list(range(self.n))
        # (agent indices, plays the stalled group): contiguous shares; with a stall
        # group (every ``every``-th agent), that group in a process of its own, so
        # its catch-up when it reads again does not delay the healthy agents' frames.
        parts: list[tuple[list[int], bool]] = []
        healthy = [i for i in indices if not every or i % every]
        chunk = -(-len(healthy) // workers) if healthy else 0
        for w in range(workers):
            if healthy[w * chunk : (w + 1) * chunk]:
                parts.append((healthy[w * chunk : (w + 1) * chunk], False))
        if every:
            parts.append(([i for i in indices if i % every == 0], True))
        for w, (part, stalled) in enumerate(parts):
            parent, child = CTX.Pipe()
            spec = {
                "dialect": target.dialect,
                "behaviour": behaviour,
                "ws_urls": target.ws_urls,
                "agents": [specs[i] for i in part],
                "indices": part,
                "stall_all": stalled,
                **options,
            }
            proc = CTX.Process(target=worker.main, args=(child, spec), daemon=True, name=f"bench-worker-{w}")
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)

    def call(self, op: str, timeout: float = 600, **kw: Any) -> list[dict[str, Any]]:
        for conn in self.conns:
            conn.send({"op": op, **kw})
        replies = []
        deadline = time.monotonic() + timeout
        for conn in self.conns:
            if not conn.poll(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"worker did not answer {op!r} in {timeout} s")
            reply = conn.recv()
            if "error" in reply:
                raise RuntimeError(f"worker failed on {op!r}: {reply['error']}")
            replies.append(reply)
        return replies

    def stats(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for reply in self.call("stats", timeout=30):
            for k, v in reply.items():
                total[k] = total.get(k, 0) + v
        return total

    def connect(self, rate: float, progress: Progress, concurrency: int = 100) -> dict[str, Any]:
        t0 = time.perf_counter()
        for conn in self.conns:
            conn.send({"op": "connect", "rate": rate / max(1, len(self.conns)), "concurrency": concurrency})
        replies: list[dict[str, Any]] = []
        pending = list(self.conns)
        while pending:
            for conn in list(pending):
                if conn.poll(0.5):
                    reply = conn.recv()
                    if "error" in reply:
                        raise RuntimeError(f"worker failed to connect: {reply['error']}")
                    replies.append(reply)
                    pending.remove(conn)
            if pending:
                progress.show(f"connecting {self.n} agents… {time.perf_counter() - t0:5.1f} s")
        seconds = time.perf_counter() - t0
        ok = sum(r["ok"] for r in replies)
        return {"connected": ok, "connect_seconds": seconds, "connect_rate": ok / seconds if seconds else 0.0}

    def collect(self) -> dict[str, Any]:
        replies = self.call("collect", timeout=120)
        merged: dict[str, Any] = {
            k: sum(r[k] for r in replies)
            for k in (
                "frames", "events", "bytes", "gaps", "dups", "connected", "errors", "commands", "acks",
                "resyncs", "resumed", "closed_unexpected",
            )
        }
        for key in ("kinds", "error_codes", "connect_failures"):
            agg: dict[str, int] = {}
            for r in replies:
                for k, v in r[key].items():
                    agg[k] = agg.get(k, 0) + v
            merged[key] = agg
        merged["latency_us"] = _merge(r["latency"] for r in replies)
        merged["lock_delay_us"] = _merge(r["lock_delay"] for r in replies)
        merged["positions"] = {a: pos for r in replies for a, pos in r["positions"].items()}
        merged["client_rss"] = sum(r["rss"] for r in replies)
        merged["client_cpu"] = sum(r["cpu"] for r in replies)
        return merged

    def window(self) -> dict[str, Any]:
        """Every worker's ``window``: latency arrays since the last call
        (live, catch-up, stalled group) and the counters so far, merged."""
        replies = self.call("window", timeout=60)
        out: dict[str, Any] = {}
        for key in ("live", "catchup", "stalled", "reconnect_ms"):
            out[key] = _merge(r[key] for r in replies)
        for key, value in replies[0].items():
            if isinstance(value, int) and not isinstance(value, bool):
                out[key] = sum(r[key] for r in replies)
        codes: dict[str, int] = {}
        for r in replies:
            for k, v in r["close_codes"].items():
                codes[k] = codes.get(k, 0) + v
        out["close_codes"] = codes
        return out

    def close(self) -> None:
        try:
            self.call("close", timeout=10)
        except Exception:
            pass
        for proc in self.procs:
            proc.join(2)
            if proc.is_alive():
                proc.kill()
                proc.join(5)


# ---------------------------------------------------------------- the customers


class Customers:
    def __init__(self, spec: dict[str, Any]) -> None:
        parent, child = CTX.Pipe()
        self.conn = parent
        self.proc = CTX.Process(target=customers.main, args=(child, spec), daemon=True, name="bench-customers")
        self.proc.start()
        child.close()
        self.result: dict[str, Any] | None = None

    def done(self) -> bool:
        if self.result is None and self.conn.poll():
            self.result = self.conn.recv()
            self.proc.join(5)
            if "error" in self.result:
                raise RuntimeError(f"customers failed: {self.result['error']}")
        return self.result is not None

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)


def inbound(target: Target) -> dict[str, Any]:
    """How the customers reach the target: a peer's /publish; Switchboard's
    signed WhatsApp webhook when the node has it, else the dev injector."""
    spec: dict[str, Any] = {"base_urls": target.base_urls, "target": "peer"}
    if target.dialect == "switchboard":
        spec["target"] = target.webhook or "dev"
        spec["app_secret"] = APP_SECRET
    return spec


def probe_webhook(base: str) -> str | None:
    """'whatsapp' when the node answers Meta's subscription handshake with our verify token."""
    try:
        r = httpx.get(
            f"{base}/webhooks/whatsapp",
            params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "42"},
            timeout=5,
        )
    except httpx.HTTPError:
        return None
    return "whatsapp" if r.status_code == 200 and r.text.strip() == "42" else None


# ---------------------------------------------------------------- statistics


def _merge(parts: Any) -> array:
    out = array("q")
    for part in parts:
        out.frombytes(part)
    return out


def percentiles(values_us: array) -> dict[str, float | int | None]:
    """Nearest-rank percentiles in milliseconds."""
    if len(values_us) == 0:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values_us)
    n = len(ordered)

    def at(q: float) -> float:
        return round(ordered[min(n - 1, max(0, int(q * n + 0.5) - 1))] / 1000.0, 2)

    return {"n": n, "p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": round(ordered[-1] / 1000.0, 2)}


def spread(values: list[float]) -> dict[str, float | None]:
    """Median, min and max of repeated measurements."""
    values = [v for v in values if v is not None]
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": float(statistics.median(values)), "min": float(min(values)), "max": float(max(values)), "n": len(values)}


# ---------------------------------------------------------------- one measured drive


def drive(
    target: Target,
    fleet: Fleet,
    customer_spec: dict[str, Any],
    progress: Progress,
    *,
    expected_per_event: int | None = None,
    quiet: float = 5.0,
    drain_timeout: float = 60.0,
    profile: Path | None = None,
) -> dict[str, Any]:
    """Send the customers' messages and wait until the agents stop receiving
    (or received all ``ok × expected_per_event`` deliveries). Returns the
    server-side CPU and the delivery counts of that window."""
    fleet.call("reset")
    load_start = os.getloadavg()[0]
    before = fleet.stats()
    wire0 = _wire(target)
    cpu0, rcpu0 = target.cpu(), target.redis_cpu()
    t0 = time.perf_counter()
    profiler = start_profile(target, profile, customer_spec["messages"] / customer_spec["rate"]) if profile else None
    spec = {**customer_spec, **inbound(target)}
    cust = Customers(spec)
    last_events, last_change = before["events"], time.perf_counter()
    s = before
    expected = None
    try:
        while True:
            time.sleep(0.25)
            s = fleet.stats()
            now = time.perf_counter()
            if s["events"] != last_events:
                last_events, last_change = s["events"], now
            got = s["events"] - before["events"]
            finished = cust.done()
            if finished and cust.result is not None and expected_per_event is not None:
                expected = cust.result["ok"] * expected_per_event
            cpu = target.cpu() - cpu0
            progress.show(
                f"{target.kind}: sent {'all' if finished else '…'} deliveries {got:,}"
                + (f"/{expected:,}" if expected else "")
                + f"  {got / max(now - t0, 1e-9):,.0f}/s  server cpu {cpu:.1f}s"
                + f"  gaps {s['gaps']} dups {s['dups']} errors {s['errors']}"
            )
            if finished:
                if expected is not None and got >= expected:
                    break
                if now - last_change > quiet:
                    break
                if now - t0 > drain_timeout + spec["messages"] / spec["rate"]:
                    break
    finally:
        cust.kill()
    cpu1, rcpu1 = target.cpu(), target.redis_cpu()
    wire1 = _wire(target)
    active = last_change - t0
    result = cust.result or {}
    if profiler is not None:
        profiler.wait(60)
    deliveries = last_events - before["events"]
    return {
        "customers": result,
        "deliveries": deliveries,
        "expected_deliveries": expected,
        "active_seconds": round(active, 3),
        "loadavg_1m": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        # machine load (start, end): other work on the same cores skews latency, hardly CPU per delivery
        "deliveries_per_s": round(deliveries / active, 1) if active > 0 else None,
        "server_cpu_s": round(cpu1 - cpu0, 3),
        "redis_cpu_s": round(rcpu1 - rcpu0, 3) if target.redis is not None else None,
        "cpu_us_per_delivery": round((cpu1 - cpu0) / deliveries * 1e6, 3) if deliveries else None,
        "cpu_us_per_delivery_with_redis": (
            round((cpu1 - cpu0 + rcpu1 - rcpu0) / deliveries * 1e6, 3) if deliveries and target.redis is not None else None
        ),
        # the agents' worker processes over the drive alone (client_cpu_s: their whole life, connects included)
        "client_drive_cpu_s": round((s["cpu_us"] - before["cpu_us"]) / 1e6, 3),
        "client_cpu_us_per_delivery": round((s["cpu_us"] - before["cpu_us"]) / deliveries, 3) if deliveries else None,
        "wire_per_delivery": _per_delivery(wire0, wire1, deliveries),
    }


def _wire(target: Target) -> dict[str, int] | None:
    """The kernel's counters of the target's websocket connections, summed (``procs.tcp_wire``)."""
    total: dict[str, int] = {}
    for port in target.ws_ports():
        counts = tcp_wire(port)
        if counts is None:
            return None
        for k, v in counts.items():
            total[k] = total.get(k, 0) + v
    return total


def _per_delivery(before: dict[str, int] | None, after: dict[str, int] | None, deliveries: int) -> dict[str, float] | None:
    """Wire counters over a drive, per delivered event: on sockets that carry
    nothing else, ``data_segs_out`` 1.0 is one TCP segment per frame and
    ``bytes_sent`` the frame's size on the wire (header included)."""
    if before is None or after is None or not deliveries:
        return None
    return {k: round((after[k] - before.get(k, 0)) / deliveries, 4) for k in after}


def start_profile(target: Target, out: Path, seconds: float):  # type: ignore[no-untyped-def]
    """py-spy on the (first) server process for the drive's duration, raw
    collapsed stacks, summarized by ``bench.profile``."""
    import shutil
    import subprocess

    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [spy, "record", "--pid", str(target.procs[0].pid), "--duration", str(max(2, int(seconds) + 1)),
         "--rate", "250", "--format", "raw", "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )


# ---------------------------------------------------------------- Switchboard audit


async def _auditor_snapshot(ws_url: str, token: str) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    got: asyncio.Future[dict[str, Any]] = loop.create_future()

    def on_frame(payload: bytes, now: int) -> None:
        frame = msgspec.json.decode(payload)
        if frame.get("type") in ("snapshot", "error") and not got.done():
            got.set_result(frame)

    wire = await WireClient.connect(ws_url, on_frame)
    wire.send_text(p.encoder.encode(p.Hello(id="audit", token=token)))
    try:
        return await asyncio.wait_for(got, 60)
    finally:
        wire.close()
        await asyncio.sleep(0.05)
        wire.abort()


def audit(target: Target, center: Center, positions: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Every agent's last seq on its queue's stream must equal the stream's
    last seq as a fresh supervisor's snapshot reports it: nothing lost at the
    tail (gaps and duplicates are caught as they arrive)."""
    snap = asyncio.run(_auditor_snapshot(target.ws_urls[0], center.token(AUDITOR)))
    finals: dict[str, int] = snap.get("streams", {})
    behind = 0
    missing = 0
    checked = 0
    for i in range(center.n):
        agent = center.agent_id(i)
        pos = positions.get(agent)
        if pos is None:
            continue
        stream = f"queue:q{center.queue_of(i)}"
        checked += 1
        diff = finals.get(stream, 0) - pos.get(stream, 0)
        if diff > 0:
            behind += 1
            missing += diff
    return {"agents_checked": checked, "agents_behind": behind, "events_missing_at_tail": missing, "stream_finals": len(finals)}


def server_deliveries(target: Target) -> int | None:
    """The nodes' own count of event frames written (switchboard_deliveries_total)."""
    total = 0
    for base in target.base_urls:
        try:
            text = httpx.get(f"{base}/metrics", timeout=5).text
        except httpx.HTTPError:
            return None
        for line in text.splitlines():
            if line.startswith("switchboard_deliveries_total"):
                total += int(float(line.split()[-1]))
    return total


def summarize(measure: dict[str, Any], collected: dict[str, Any]) -> dict[str, Any]:
    """The delivery half of a report: latency, order and loss."""
    expected = measure.get("expected_deliveries")
    lost = collected["gaps"]
    if expected is not None:
        lost = max(lost, expected - measure["deliveries"])
    return {
        **measure,
        "latency_ms": percentiles(collected["latency_us"]),
        "lost": lost,
        "gaps": collected["gaps"],
        "duplicates": collected["dups"],
        "resyncs": collected["resyncs"],
        "command_errors": collected["error_codes"],
        "unexpected_closes": collected["closed_unexpected"],
        "frame_bytes_avg": round(collected["bytes"] / collected["events"]) if collected["events"] else None,
        "event_kinds": collected["kinds"],
        "client_cpu_s": round(collected["client_cpu"], 2),
    }
