"""``python -m bench SCENARIO [options]``: the Switchboard load-test harness.

Starts the server(s) it measures (or targets running ones with ``--url``),
plays agents from worker processes and customers from another, shows its
progress on stderr, prints the result as JSON and writes its summary (plus a
PNG for the sweeps and the comparison) to bench/results/ and the whole report,
per-sample series included, to bench/results/raw/ (not in git; see
bench/summary.py). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import summary
from bench.harness import Progress
from bench.peers import MODULES, VARIANTS
from bench.scenarios import SCENARIOS, SWITCHBOARDS
from bench.worker import raise_nofile

RESULTS = summary.RESULTS


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def _trees(text: str) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for part in text.split(","):
        name, sep, path = part.partition("=")
        if not sep or not name:
            raise argparse.ArgumentTypeError(f"{part!r}: want NAME=PATH")
        out.append((name, None if path in ("", ".") else str(Path(path).resolve())))
    return out


def _names(text: str) -> list[str]:
    names = [x.strip() for x in text.split(",") if x.strip()]
    for n in names:
        if n not in SWITCHBOARDS and n not in MODULES and n not in VARIANTS and not n.startswith("switchboard@"):
            raise argparse.ArgumentTypeError(
                f"unknown server {n!r}; choose from {', '.join(SWITCHBOARDS)} (the last two compare and idle only), "
                f"switchboard@TREE (compare and idle: a node run from another source tree), {', '.join([*MODULES, *VARIANTS])}"
            )
    return names


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--agents", type=int, default=1000, help="agent sockets (default 1000)")
    ap.add_argument("--queues", type=int, default=None, help="queues for steady/lockstorm/reconnect/soak (default 50; stall: 2)")
    ap.add_argument("--rates", type=_floats, default=[50.0], help="inbound messages/s, comma list = a sweep")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of traffic per rate")
    ap.add_argument("--events", type=int, default=100, help="compare: published events per server")
    ap.add_argument("--per-customer", type=int, default=5, help="steady: messages per conversation")
    ap.add_argument("--spacing", type=float, default=1.0, help="steady: seconds between one customer's messages")
    ap.add_argument("--media-share", type=float, default=None,
                    help="steady: share of inbound messages that are a 200 KB photo the node downloads from the Graph API "
                         "stand-in (bench/graphstub.py, started for any value, 0 included, so a text-only run compares)")
    ap.add_argument("--sizes", type=_ints, default=[1000, 5000, 10000], help="idle: agent counts")
    ap.add_argument("--servers", type=_names, default=None, help="compare/idle: which servers (default all / switchboard,floor)")
    ap.add_argument("--repeat", type=int, default=3, help="compare/stall: repeats (median and spread)")
    ap.add_argument("--window", type=float, default=20.0,
                    help="lockstorm: WhatsApp window seconds (longer than creating the conversations takes)")
    ap.add_argument("--conversations", type=int, default=2000, help="lockstorm: conversations created at once")
    ap.add_argument("--burst-rate", type=float, default=2000.0, help="lockstorm: creation rate cap (messages/s)")
    ap.add_argument("--batch", type=int, default=1,
                    help="lockstorm: customer messages per WhatsApp webhook POST (Meta batches too; 1 = one each)")
    ap.add_argument("--assigned", action="store_true",
                    help="lockstorm: each conversation is claimed by one agent first, so each lock goes to its one agent")
    ap.add_argument("--preseed", action="store_true",
                    help="lockstorm: write the conversations into the store before the node starts (bench/lockseed.py), not via webhooks")
    ap.add_argument("--floor", choices=("broadcast", "raw"), default=None,
                    help="lockstorm: the control, no Switchboard: the floor peer writes the node's frames at the due time, "
                         "framed per socket by websockets (broadcast) or once for all (raw)")
    ap.add_argument("--node-tree", type=Path, default=None,
                    help="run the node(s) from that source tree (another worktree: an A/B with this bench): every scenario "
                         "whose nodes this bench starts without --servers (steady, fanout, lockstorm, cluster, reconnect, soak, …); "
                         "compare and idle name trees in --servers (switchboard@TREE)")
    ap.add_argument("--nodes", type=int, default=2, help="cluster (and soak --on-redis): nodes sharing Redis")
    g = ap.add_argument_group("stall and soak (bench/endurance.py)")
    g.add_argument("--sample", type=float, default=None, help="seconds between samples (default: stall 1, soak 5)")
    g.add_argument("--stall-fraction", type=float, default=0.1, help="stall: share of the sockets that stop reading")
    g.add_argument("--outbound-buffer", type=int, default=64 * 1024,
                   help="stall: the node's [server] outbound_buffer_bytes (its default is 1 MiB)")
    g.add_argument("--client-rcvbuf", type=int, default=64 * 1024,
                   help="stall: SO_RCVBUF of every agent socket (0 = the kernel's autotuning)")
    g.add_argument("--client-mss", type=int, default=1448,
                   help="stall: TCP_MAXSEG of every agent socket, as across Ethernet (0 = loopback's 64 KiB)")
    g.add_argument("--warmup", type=float, default=5.0, help="stall: seconds of traffic before measuring")
    g.add_argument("--phase", type=float, default=15.0, help="stall: seconds measured before the stall and after it")
    g.add_argument("--stall-seconds", type=float, default=60.0, help="stall: seconds the stalled sockets do not read")
    g.add_argument("--churn", type=float, default=5.0, help="soak: agent disconnect/reconnect cycles per second")
    g.add_argument("--churn-fresh", type=float, default=0.2, help="soak: share of reconnects that are fresh (no resume)")
    g.add_argument("--no-graph", dest="graph", action="store_false",
                   help="stall/soak: no Graph API stub: agents' replies stay pending for good (and the node's sender "
                        "re-reads every pending message every 30 s)")
    g.add_argument("--settle-seconds", type=float, default=60.0, help="soak: slopes are fitted from this second on")
    g.add_argument("--on-redis", action="store_true",
                   help="soak, lockstorm: --nodes nodes sharing a local redis-server (agents and webhooks spread over them)")
    g = ap.add_argument_group("backlog (bench/backlog.py)")
    g.add_argument("--backlog", type=_ints, default=[100, 1000, 5000, 20000, 50000], help="backlog: waiting conversations N, a comma list")
    g.add_argument("--agent-queues", type=int, default=1, help="backlog: queues each agent is in (1: its own; 50: every queue)")
    g.add_argument("--calls", action="store_true",
                   help="routing: run the node under the call probe (cProfile) and count its Python calls per conversation")
    g.add_argument("--trees", type=_trees, default=None,
                   help="backlog, routing: an interleaved A/B, 'before=/path/to/checkout,after=.' (each tree's server, this benchmark)")
    g.add_argument("--wave-rate", type=float, default=50.0, help="backlog: webhooks/s running during the reconnect wave")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="agent worker processes")
    ap.add_argument("--connect-rate", type=float, default=2000.0, help="new connections/s (0 = as fast as possible)")
    ap.add_argument("--settle", type=float, default=3.0, help="idle: seconds to wait before reading memory")
    ap.add_argument("--url", type=lambda s: s.split(";"), default=None,
                    help="target running node(s): 'http://h:p[,ws://h:p/ws];…' (config from `python -m bench config`)")
    ap.add_argument("--server-pid", type=_ints, default=None, help="with --url: pids whose CPU/RSS to read")
    ap.add_argument("--profile", action="store_true",
                    help="fanout/steady: py-spy the server during each drive; lockstorm: during the storm")
    ap.add_argument("--out", type=Path, default=None,
                    help="summary JSON path (default bench/results/SCENARIO.json); the whole report goes to raw/ beside it")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--quiet", action="store_true", help="no progress line")
    return ap


def environment() -> dict[str, Any]:
    def version(mod: str) -> str | None:
        try:
            from importlib.metadata import version as v

            return v(mod)
        except Exception:
            return None

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5).stdout.strip()
    except Exception:
        commit = ""
    return {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": commit,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "versions": {m: version(m) for m in ("websockets", "uvicorn", "starlette", "msgspec", "python-socketio", "channels", "channels-redis", "django", "broadcaster", "redis")},
    }


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "config":
        return _config(argv[1:])
    if argv and argv[0] == "backlog-web":  # the web app in front of a big Inbox (bench/backlog_web.py)
        from bench import backlog_web

        return backlog_web.main(argv[1:])
    if argv and argv[0] == "calls":
        from bench import calls

        calls.run(argv[1:])
        return 0
    if argv and argv[0] == "connects":
        from bench import connects

        connects.run(argv[1:])
        return 0
    if argv and argv[0] == "soakdiag":  # the Redis soak beside its floor pair, per second (bench/soakdiag.py)
        from bench import soakdiag

        return soakdiag.main(argv[1:])
    if argv and argv[0] == "permem":
        from bench import permem

        permem.run(argv[1:])
        return 0
    opts = parser().parse_args(argv)
    if opts.servers is None:
        opts.servers = ["switchboard", "floor"] if opts.scenario in ("idle", "stall") else ["switchboard", *MODULES]
    if set(SWITCHBOARDS[1:]) & set(opts.servers) and opts.scenario not in ("compare", "idle"):
        parser().error(f"{' and '.join(SWITCHBOARDS[1:])} are compare and idle servers only")
    if opts.queues is None:
        opts.queues = 2 if opts.scenario == "stall" else 50
    if opts.sample is None:
        opts.sample = 5.0 if opts.scenario == "soak" else 1.0
    raise_nofile()  # the server subprocesses inherit it
    progress = Progress(enabled=not opts.quiet)
    with tempfile.TemporaryDirectory(prefix="switchboard-bench-") as tmp:
        workdir = Path(tmp)
        started = time.time()
        try:
            result = SCENARIOS[opts.scenario](opts, workdir, progress)
        except BaseException:
            for log in sorted(workdir.glob("*.log")):
                tail = log.read_text(errors="replace").splitlines()[-15:]
                if tail:
                    sys.stderr.write(f"--- {log.name}\n" + "\n".join(tail) + "\n")
            raise
    report = {
        "scenario": opts.scenario,
        "command": "python -m bench " + " ".join(argv),
        "seconds": round(time.time() - started, 1),
        "environment": environment(),
        "result": result,
    }
    out = opts.out or RESULTS / f"{opts.scenario}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    raw = summary.write(report, out)  # the summary at out, the whole report (series too) in raw/
    if not opts.no_plot:
        _plot(opts, result, out.with_suffix(".png"))
    print(json.dumps(summary.summarize(report), indent=2, default=str))
    sys.stderr.write(f"wrote {out} (whole report: {raw})\n")
    return 0


def _plot(opts: argparse.Namespace, result: dict[str, Any], png: Path) -> None:
    from bench import plot

    if opts.scenario in ("fanout", "steady") and result.get("rows"):
        title = f"{opts.scenario}: {result['agents']} agents, {result['queues']} queue(s), one node"
        plot.latency_vs_load(result, png, title)
    elif opts.scenario == "stall" and result.get("runs"):
        plot.stall_timeline(result, png)
    elif opts.scenario == "soak" and result.get("samples"):
        plot.soak_curves(result, png)
    elif opts.scenario == "backlog" and result.get("figures"):
        from bench.backlog import plot as backlog_plot

        for one in backlog_plot(result, png):
            summary.small_png(one)
        return
    elif opts.scenario == "compare" and result.get("summary"):
        title = f"fan-out to {result['agents']} sockets, {result['events']} events at {result['rate']:g}/s, {result['frame_bytes']} B frames"
        plot.compare_bars(result, png, title)
    else:
        return
    summary.small_png(png)  # tracked beside the summary: a palette PNG, a quarter of the size


def _config(argv: list[str]) -> int:
    """``python -m bench config --agents N --queues Q [--window S] --out X.toml``:
    the config to start your own nodes with before ``--url``."""
    from bench.center import Center

    ap = argparse.ArgumentParser(prog="python -m bench config")
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--queues", type=int, default=1)
    ap.add_argument("--window", type=float, default=86400)
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args(argv)
    Center(a.agents, a.queues, window_seconds=a.window).write(a.out, port=a.port)
    print(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
