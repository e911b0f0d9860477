"""``python -m bench backlog``: what a big Inbox costs the node (issue 18).

For each backlog size N (``--backlog``, default 100, 1k, 5k, 20k, 50k) one
node on the embedded default (SQLite) is started on a file seeded before it
starts (bench/backlog_seed.py: N waiting conversations over ``--queues``
queues); ``--agents`` agents (a Center: agent i in queue i % Q) then

1. connect one at a time (each snapshot built alone): the snapshot's frame
   bytes and its build time, server-side (``switchboard_snapshot_seconds``,
   ``switchboard_snapshot_max_seconds``: building and encoding, not the wait
   for a slot);
2. disconnect, and with a steady stream of signed WhatsApp webhooks running
   (``--wave-rate`` per second, each a new conversation, from a process of
   its own), all reconnect at once (fresh connections: each gets a
   snapshot): the time until every agent has its snapshot, the event loop's
   longest stall meanwhile (the node's loop probe, ``loop_probe_seconds`` =
   5 ms here: ``switchboard_loop_lag_max_seconds``), the node's RSS peak
   (VmHWM, reset through /proc/PID/clear_refs just before the wave) against
   its steady RSS (the agents connected and idle, before they disconnect),
   the webhooks' answer time p50/p99 for those posted between the wave's
   start and its end (at least its first second);
3. every frame the agents received is measured: the largest must stay under
   the ``websockets`` default limit of 1 MiB.

Runs are interleaved (repeat r for every N, then repeat r+1), so the machine's
load moves every N alike; each figure is given as median, min and max of the
repeats, and as the ratio of its median at N = 20,000 (or the largest N up
to it) to its median at the smallest N. Summary: bench/results/backlog.json;
plots: bench/results/backlog-*.png.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import statistics
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import msgspec

from bench import summary
from bench.backlog_seed import seed
from bench.center import APP_SECRET, Center
from bench.customers import whatsapp_envelope
from bench.harness import CTX, Progress, spread
from bench.procs import Proc, free_port, rss_bytes, tree_module
from bench.wire import WireClient
from protocol import messages as p
from server.channels.signature import HEADER, sign

Opts = Any

SIZES = [100, 1000, 5000, 20000, 50000]
PROBE_SECONDS = 0.005
ONE_MIB = 1 << 20
TARGETS = {
    "snapshot_bytes": 128 * 1024,
    "build_ms": 10.0,
    "wave_seconds": 1.0,
    "stall_ms": 50.0,
    "stall_busy_ms": 50.0,
    "rss_ratio": 1.3,
    "webhook_p99_ms": 100.0,
    "largest_frame_bytes": ONE_MIB,
}
FIGURES = {
    "snapshot_bytes": "snapshot frame (bytes)",
    "build_ms": "one snapshot built alone (ms, server-side mean)",
    "connect_cpu_ms": "node CPU per agent connecting alone, snapshot included (ms)",
    "wave_cpu_ms": "node CPU from the wave's start to the last snapshot (ms, webhooks included)",
    "wave_build_max_ms": "longest snapshot build in the wave (ms)",
    "wave_seconds": "50 agents reconnecting: all with a snapshot (s)",
    "stall_ms": "event loop's longest stall in the wave (ms)",
    "stall_busy_ms": "of the longest stalls, the loop's own CPU (ms)",
    "rss_ratio": "node RSS peak in the wave / steady RSS",
    "webhook_p99_ms": "webhooks answered during the wave, p99 (ms)",
    "largest_frame_bytes": "largest frame an agent received (bytes)",
}


# ---------------------------------------------------------------- the agents' process


class _Agent:
    def __init__(self, url: str, token: str, stats: dict[str, int]) -> None:
        self.url, self.token, self.stats = url, token, stats
        self.wire: WireClient | None = None
        self.snapshot: asyncio.Future[tuple[int, int]] | None = None

    def on_frame(self, payload: bytes, now: int) -> None:
        size = len(payload)
        if size > self.stats["largest"]:
            self.stats["largest"] = size
        self.stats["frames"] += 1
        if self.snapshot is not None and not self.snapshot.done() and b'"type":"snapshot"' in payload[:32]:
            self.snapshot.set_result((now, size))

    async def connect(self) -> tuple[int, int]:
        """Connect with a fresh hello; (arrival ns, bytes) of the snapshot."""
        self.snapshot = asyncio.get_running_loop().create_future()
        self.wire = await WireClient.connect(self.url, self.on_frame, timeout=120)
        self.wire.send_text(msgspec.json.encode(p.Hello(id="hello", token=self.token)))
        return await asyncio.wait_for(self.snapshot, 300)

    def close(self) -> None:
        if self.wire is not None:
            self.wire.close()
            self.wire = None


async def _agents(conn: Connection, url: str, tokens: list[str]) -> None:
    stats = {"largest": 0, "frames": 0}
    agents = [_Agent(url, t, stats) for t in tokens]
    loop = asyncio.get_running_loop()
    while True:
        op = await loop.run_in_executor(None, conn.recv)
        if op == "warm":
            got = []
            for a in agents:
                started = time.time_ns()
                at, size = await a.connect()
                got.append({"ms": (at - started) / 1e6, "bytes": size})
            conn.send({"snapshots": got, "largest": stats["largest"]})
        elif op == "close":
            for a in agents:
                a.close()
            await asyncio.sleep(0.2)
            conn.send({"closed": len(agents)})
        elif op == "wave":
            started = time.time_ns()
            got = await asyncio.gather(*(a.connect() for a in agents))
            conn.send({"started": started, "arrivals": [at for at, _ in got], "bytes": [b for _, b in got],
                       "largest": stats["largest"], "frames": stats["frames"]})
        else:
            for a in agents:
                a.close()
            conn.send({"largest": stats["largest"], "frames": stats["frames"]})
            return


def _agents_main(conn: Connection, url: str, tokens: list[str]) -> None:
    try:
        asyncio.run(_agents(conn, url, tokens))
    except Exception as e:  # the parent reads this instead of hanging
        conn.send({"error": f"{type(e).__name__}: {e}"})


# ---------------------------------------------------------------- the webhooks' process


async def _webhooks(conn: Connection, base: str, rate: float, queues: int) -> None:
    """Post one new customer's message every 1/rate s until told to stop;
    send back [(posted ns, answered ms, status)]."""
    loop = asyncio.get_running_loop()
    stop = loop.run_in_executor(None, conn.recv)
    rows: list[tuple[int, float, int]] = []
    run = time.time_ns() % 10**6
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=200)) as http:

        async def post(j: int) -> None:
            q = j % queues
            t = time.time_ns()
            body = whatsapp_envelope(str(100000 + q), f"56{run:06d}{j:07d}", f"wamid.wave.{run}.{j}", "wave", t // 10**9, f"Wave {j}")
            try:
                r = await http.post(f"{base}/webhooks/whatsapp", content=body,
                                    headers={"content-type": "application/json", HEADER: sign(APP_SECRET, body)})
                status = r.status_code
            except httpx.HTTPError:
                status = 0
            rows.append((t, (time.time_ns() - t) / 1e6, status))
            if len(rows) == 1:
                conn.send("ready")  # the parent starts the wave only once the stream flows

        tasks: list[asyncio.Task[None]] = []
        start = time.perf_counter()
        j = 0
        while not stop.done():
            j += 1
            tasks.append(asyncio.create_task(post(j)))
            delay = start + j / rate - time.perf_counter()
            if delay > 0:
                await asyncio.wait([stop], timeout=delay)
        await asyncio.gather(*tasks)
    conn.send(rows)


def _webhooks_main(conn: Connection, base: str, rate: float, queues: int) -> None:
    try:
        asyncio.run(_webhooks(conn, base, rate, queues))
    except Exception as e:
        conn.send({"error": f"{type(e).__name__}: {e}"})


class _Child:
    def __init__(self, target: Any, *args: Any) -> None:
        self.conn, child = CTX.Pipe()
        self.proc = CTX.Process(target=target, args=(child, *args), daemon=True)
        self.proc.start()
        child.close()

    def ask(self, op: str, timeout: float = 600) -> Any:
        self.conn.send(op)
        return self.reply(timeout)

    def reply(self, timeout: float = 600) -> Any:
        if not self.conn.poll(timeout):
            raise RuntimeError(f"no answer from {self.proc.name} in {timeout} s")
        got = self.conn.recv()
        if isinstance(got, dict) and "error" in got:
            raise RuntimeError(got["error"])
        return got

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)


# ---------------------------------------------------------------- the node


def _metrics(base: str) -> dict[str, float]:
    """The node's /metrics (reading it resets the ``*_max_*`` peaks)."""
    out: dict[str, float] = {}
    for line in httpx.get(f"{base}/metrics", timeout=30).text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def _delta(before: dict[str, float], after: dict[str, float], name: str) -> float:
    return after.get(name, 0.0) - before.get(name, 0.0)


def _peak_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak_rss(pid: int) -> None:
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS (Linux ≥ 4.0)


def _wait_connections(base: str, n: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _metrics(base).get("switchboard_connections") == n:
            return
        time.sleep(0.1)
    raise RuntimeError(f"the node did not reach {n} connections")


def _with_queues(toml: str, queues: int, k: int) -> str:
    """The Center's config with agent i in queues i … i+k-1 (mod Q) instead of i only."""
    if k <= 1:
        return toml
    out = []
    for line in toml.splitlines():
        if line.startswith('queues = ["q') and line.count('"') == 2:
            first = int(line.split('"q')[1].split('"')[0])
            line = "queues = [" + ", ".join(f'"q{(first + j) % queues}"' for j in range(min(k, queues))) + "]"
        out.append(line)
    return "\n".join(out)


def _profile(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy's collapsed stacks of the node during the wave (``--profile``)."""
    spy = Path(sys.executable).parent / "py-spy"
    out.parent.mkdir(parents=True, exist_ok=True)
    popen = subprocess.Popen([str(spy), "record", "-p", str(pid), "-r", "200", "-f", "raw", "-o", str(out)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    return popen


def _serve(tree: str | None, *args: str) -> list[str]:
    """``server.cli`` from this tree, or from ``tree`` (an A/B: another
    checkout's server, this checkout's benchmark)."""
    return tree_module(tree, "server.cli", *args)


def one_run(
    center: Center, workdir: Path, seeded: Path, n: int, opts: Opts, progress: Progress, tree: str | None = None
) -> dict[str, Any]:
    data = workdir / "run.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{data}{suffix}").unlink(missing_ok=True)
        if Path(f"{seeded}{suffix}").exists():
            shutil.copyfile(f"{seeded}{suffix}", f"{data}{suffix}")
    port = free_port()
    config = workdir / "backlog.toml"
    config.write_text(_with_queues(center.toml(port=port), center.q, opts.agent_queues))
    base = f"http://127.0.0.1:{port}"
    node = Proc("switchboard", _serve(tree, "serve", "--config", str(config), "--data", str(data)),
                workdir / "switchboard.log", f"{base}/readyz", {"SWITCHBOARD_NODE_ID": "bench-backlog"})
    node.start(timeout=300)
    tokens = [str(spec[1]) for spec in center.specs()]
    agents = _Child(_agents_main, f"ws://127.0.0.1:{port}/ws", tokens)
    hooks: _Child | None = None
    try:
        progress.show(f"N={n}: {len(tokens)} agents connecting one at a time", force=True)
        _metrics(base)
        cpu = node.cpu()
        warm = agents.ask("warm")
        warm_cpu = node.cpu() - cpu
        lone = _metrics(base)
        builds = lone.get("switchboard_snapshot_seconds_count", 0.0)
        build_ms = 1000 * lone.get("switchboard_snapshot_seconds_sum", 0.0) / builds if builds else None
        time.sleep(1.0)
        steady_rss = rss_bytes(node.pid)
        agents.ask("close")
        _wait_connections(base, 0)
        hooks = _Child(_webhooks_main, base, opts.wave_rate, center.q)
        if hooks.reply(120) != "ready":
            raise RuntimeError("the webhook stream did not start")
        time.sleep(1.0)  # the webhook stream runs steadily before the wave
        before = _metrics(base)  # resets the peaks
        _reset_peak_rss(node.pid)
        cpu = node.cpu()
        progress.show(f"N={n}: reconnect wave", force=True)
        spy = _profile(node.pid, summary.RAW / f"backlog-wave-{n}.txt") if opts.profile else None
        wave = agents.ask("wave")
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        wave_cpu = node.cpu() - cpu
        after = _metrics(base)
        peak_rss = _peak_rss(node.pid)
        wave_end = max(wave["arrivals"])
        until = max(wave_end, wave["started"] + 1_000_000_000)
        remaining = (until - time.time_ns()) / 1e9
        if remaining > 0:
            time.sleep(remaining)
        hooks.conn.send("stop")
        posted = hooks.reply(120)
        during = sorted(ms for t, ms, _ in posted if wave["started"] <= t <= until)
        failed = sum(1 for t, _, status in posted if wave["started"] <= t <= until and status != 200)
        done = agents.ask("stop")
        wave_builds = after.get("switchboard_snapshot_seconds_count", 0.0) - before.get("switchboard_snapshot_seconds_count", 0.0)
        wave_sum = after.get("switchboard_snapshot_seconds_sum", 0.0) - before.get("switchboard_snapshot_seconds_sum", 0.0)
        return {
            "n": n,
            "snapshot_bytes": statistics.median(s["bytes"] for s in warm["snapshots"]),
            "snapshot_ms_client": statistics.median(s["ms"] for s in warm["snapshots"]),
            "build_ms": build_ms,
            "build_max_ms": 1000 * lone.get("switchboard_snapshot_max_seconds", 0.0),
            "connect_cpu_ms": 1000 * warm_cpu / len(tokens),
            "wave_cpu_ms": 1000 * wave_cpu,
            "wave_build_mean_ms": 1000 * wave_sum / wave_builds if wave_builds else None,
            "wave_build_max_ms": 1000 * after.get("switchboard_snapshot_max_seconds", 0.0),
            "wave_snapshot_max_bytes": after.get("switchboard_snapshot_max_bytes"),
            "wave_seconds": (wave_end - wave["started"]) / 1e9,
            "stall_ms": 1000 * after.get("switchboard_loop_lag_max_seconds", 0.0),
            "stall_busy_ms": 1000 * after.get("switchboard_loop_busy_max_seconds", 0.0),
            "steady_rss_mb": steady_rss / 2**20,
            "peak_rss_mb": peak_rss / 2**20,
            "rss_ratio": peak_rss / steady_rss if steady_rss else None,
            "webhooks_during": len(during),
            "webhooks_failed": failed,
            "webhook_p50_ms": during[len(during) // 2] if during else None,
            "webhook_p99_ms": during[min(len(during) - 1, int(len(during) * 0.99))] if during else None,
            "gc_full_in_wave": _delta(before, after, 'switchboard_gc_pause_seconds_count{generation="2"}'),
            "gc_full_ms_in_wave": 1000 * _delta(before, after, 'switchboard_gc_pause_seconds_sum{generation="2"}'),
            "gc_ms_in_wave": 1000 * sum(_delta(before, after, f'switchboard_gc_pause_seconds_sum{{generation="{g}"}}') for g in "012"),
            "largest_frame_bytes": max(done["largest"], warm["largest"]),
            "frames": done["frames"],
        }
    finally:
        if hooks is not None:
            hooks.stop()
        agents.stop()
        node.stop()


def backlog(opts: Opts, workdir: Path, progress: Progress) -> dict[str, Any]:
    sizes: list[int] = opts.backlog
    center = Center(opts.agents, opts.queues, window_seconds=86400, server={"loop_probe_seconds": PROBE_SECONDS})
    seeded: dict[int, Path] = {}
    for n in sizes:
        progress.show(f"seeding {n} waiting conversations over {center.q} queues", force=True)
        started = time.perf_counter()
        seeded[n] = seed(workdir, n, center.q)
        progress.done(f"seeded N={n} in {time.perf_counter() - started:.1f} s")
    trees: list[tuple[str, str | None]] = opts.trees or [("this", None)]
    every: dict[str, dict[int, list[dict[str, Any]]]] = {name: {n: [] for n in sizes} for name, _ in trees}
    for r in range(opts.repeat):
        for n in sizes:
            for name, tree in trees:
                row = one_run(center, workdir, seeded[n], n, opts, progress, tree)
                every[name][n].append(row)
                progress.done(
                    f"run {r + 1} {name} N={n}: snapshot {row['snapshot_bytes'] / 1024:.1f} KB built {row['build_ms']:.2f} ms;"
                f" wave {row['wave_seconds']:.2f} s, stall {row['stall_ms']:.0f} ms (busy {row['stall_busy_ms']:.0f}),"
                f" RSS {row['steady_rss_mb']:.0f}→{row['peak_rss_mb']:.0f} MB, webhook p99 {row['webhook_p99_ms']} ms,"
                    f" largest frame {row['largest_frame_bytes'] / 1024:.1f} KB, GC in wave {row['gc_ms_in_wave']:.0f} ms"
                )
    result = {name: _summary(every[name], sizes, center, opts) for name, _ in trees}
    if len(trees) == 1:
        return result[trees[0][0]]
    first, last = trees[0][0], trees[-1][0]
    return {
        "trees": {name: tree or "." for name, tree in trees},
        **result[last],
        "by_tree": result,
        "ab_ratio": {
            "of": f"{last} / {first}, medians",
            **{
                str(n): {
                    key: _ratio(result[first]["figures"][str(n)][key]["median"], result[last]["figures"][str(n)][key]["median"])
                    for key in FIGURES
                }
                for n in sizes
            },
        },
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(b / a, 3) if a and b is not None else None


def _summary(runs: dict[int, list[dict[str, Any]]], sizes: list[int], center: Center, opts: Opts) -> dict[str, Any]:
    figures = {
        str(n): {key: spread([row[key] for row in runs[n]]) for key in (*FIGURES, "steady_rss_mb", "peak_rss_mb", "webhook_p50_ms")}
        for n in sizes
    }
    small = min(sizes)
    big = max((n for n in sizes if n <= 20000), default=max(sizes))
    ratios = {}
    for key in FIGURES:
        a, b = figures[str(small)][key]["median"], figures[str(big)][key]["median"]
        ratios[key] = _ratio(a, b)
    met = {
        key: all(figures[str(n)][key]["median"] is not None and figures[str(n)][key]["median"] <= limit for n in sizes)
        for key, limit in TARGETS.items()
    }
    return {
        "agents": center.n,
        "queues": center.q,
        "sizes": sizes,
        "repeat": opts.repeat,
        "wave_rate": opts.wave_rate,
        "agent_queues": opts.agent_queues,
        "loop_probe_seconds": PROBE_SECONDS,
        "figures": figures,
        "ratio": {"of": f"N={big} / N={small}", **ratios},
        "targets": TARGETS,
        "targets_met_at_every_n": met,
        # Every run's row (``n`` in each): in raw/ only (bench/summary.py strips ``samples``).
        "samples": [row for n in sizes for row in runs[n]],
    }


def plot(result: dict[str, Any], out: Path) -> list[Path]:
    """One PNG per figure against N (log x), median with min–max bars and
    the issue's target as a dotted line: ``out`` with ``-KEY`` before the suffix."""
    from bench import plot as plots

    written = []
    sizes = result["sizes"]
    by_tree = result.get("by_tree") or {"": result}
    title = f"backlog: {result['agents']} agents ({result['agent_queues']} queue(s) each), {result['queues']} queues, one node (SQLite)"
    for key, label in FIGURES.items():
        series = {name: [one["figures"][str(n)][key] for n in sizes] for name, one in by_tree.items()}
        png = out.with_name(f"{out.stem}-{key}.png")
        plots.against_n(sizes, series, png, label, TARGETS.get(key), title)
        written.append(png)
    return written
