"""``python -m bench connects``: Python calls per agent connect, counted
(not timed), on Switchboard and on the floor.

    python -m bench connects [--agents 200] [--servers switchboard,floor] [--top 25] [--out F.json]
                             [--tree DIR]

Each server runs under ``bench/callprobe.py`` (cProfile in every thread).
The driver connects ``--agents`` idle agents one after the other (handshake,
hello, welcome, snapshot for Switchboard; handshake and the ``ready`` frame
for the floor) between two window marks, and reports the calls per connect,
the top functions by calls and the top modules. Counts do not move with the
machine's load, so a before/after pair needs no interleaving. ``--tree``
runs the servers from another checkout (e.g. a worktree of the commit
before a change), the probe and the driver from this one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
from websockets.asyncio.client import connect

from bench.center import Center
from bench.peers import MODULES, READY
from bench.procs import Proc, free_port

_PROBE = str(Path(__file__).resolve().parent / "callprobe.py")
_TREE = str(Path(__file__).resolve().parent.parent)


def _start(kind: str, center: Center, workdir: Path, out: Path, probe: bool = True, tree: str = _TREE) -> tuple[Proc, str]:
    port = free_port()
    host = [sys.executable, "-P", _PROBE, str(out), "-m"] if probe else [sys.executable, "-m"]
    env = {"CALLPROBE_TREE": tree, "PYTHONPATH": tree}
    if kind.startswith("switchboard"):
        ws_port = free_port() if kind == "switchboard-ws_port" else 0
        config = center.write(workdir / "center.toml", port=port, ws_port=ws_port)
        argv = [*host, "server.cli", "serve", "--config", str(config), "--data", str(workdir / "sb.sqlite3")]
        proc = Proc(kind, argv, workdir / f"{kind}.log", f"http://127.0.0.1:{port}/readyz", {**env, "SWITCHBOARD_NODE_ID": "connects"})
        ws = f"ws://127.0.0.1:{ws_port or port}/ws"
    else:
        ws_port = free_port()
        argv = [*host, MODULES[kind], "--port", str(port), "--ws-port", str(ws_port), "--size", "700"]
        proc = Proc(kind, argv, workdir / f"{kind}.log", f"http://127.0.0.1:{port}/healthz", env)
        ws = f"ws://127.0.0.1:{ws_port}/ws"
    proc.start(timeout=120)
    return proc, ws


async def _connect_all(kind: str, ws_url: str, specs: list[list[Any]], hold: list[Any]) -> None:
    for _agent_id, token, *_ in specs:
        ws = await connect(ws_url, compression=None, max_queue=16, ping_interval=None)
        if kind.startswith("switchboard"):
            await ws.send(json.dumps({"type": "hello", "id": "h", "token": token, "protocol": 1}))
            while True:
                frame = msgspec.json.decode(await ws.recv())
                if frame.get("type") == "snapshot":
                    break
        else:
            assert await ws.recv() == READY
        hold.append(ws)


def _wait(path: Path) -> None:
    deadline = time.monotonic() + 120
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(path)
        time.sleep(0.1)


def measure(kind: str, agents: int, warmup: int, top: int, tree: str = _TREE) -> dict[str, Any]:
    center = Center(agents + warmup, max(1, (agents + warmup) // 100))
    specs = center.specs()
    with tempfile.TemporaryDirectory(prefix="switchboard-connects-") as tmp:
        workdir = Path(tmp)
        out = workdir / "calls.json"
        proc, ws_url = _start(kind, center, workdir, out, tree=tree)
        hold: list[Any] = []
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(_connect_all(kind, ws_url, specs[:warmup], hold))
            os.kill(proc.pid, signal.SIGUSR2)
            _wait(Path(str(out) + ".mark"))
            loop.run_until_complete(_connect_all(kind, ws_url, specs[warmup:], hold))
            time.sleep(0.5)
            os.kill(proc.pid, signal.SIGUSR2)
            _wait(out)
            calls: dict[str, int] = json.loads(out.read_text())["calls"]
        finally:
            for ws in hold:
                ws.transport.abort()
            loop.close()
            proc.stop()
    total = sum(calls.values())
    modules: Counter[str] = Counter()
    for key, n in calls.items():
        prefix, _, rest = key.partition(":")
        modules[f"{prefix}:{rest.split(':', 1)[0]}" if prefix in ("std", "site") else prefix if rest else "builtins"] += n
    return {
        "server": kind,
        "tree": tree,
        "agents": agents,
        "calls_per_connect": round(total / agents, 1),
        "top_functions": [[k, round(n / agents, 2)] for k, n in Counter(calls).most_common(top)],
        "calls": calls,
        "top_modules": [[k, round(n / agents, 2)] for k, n in modules.most_common(top)],
    }


def run(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench connects", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agents", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--servers", default="switchboard,floor")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--tree", default=_TREE, help="the checkout the servers run from (default: this one)")
    opts = ap.parse_args(argv)
    tree = str(Path(opts.tree).resolve())
    results = [measure(k, opts.agents, opts.warmup, opts.top, tree) for k in opts.servers.split(",") if k]
    report = {"command": "python -m bench connects " + " ".join(argv), "results": [{k: v for k, v in r.items() if k != "calls"} for r in results]}
    if opts.out:
        opts.out.parent.mkdir(parents=True, exist_ok=True)
        opts.out.write_text(json.dumps(report, indent=1) + "\n")
        raw = opts.out.parent / "raw" / opts.out.name
        raw.parent.mkdir(parents=True, exist_ok=True)
        raw.write_text(json.dumps({r["server"]: r["calls"] for r in results}) + "\n")
    for r in results:
        print(f"\n== {r['server']} ({r['tree']}): {r['calls_per_connect']} Python calls per connect ({r['agents']} connects)")
        print("   modules: " + ", ".join(f"{k} {v}" for k, v in r["top_modules"][:12]))
        for k, v in r["top_functions"]:
            print(f"{v:9.2f}  {k}")


if __name__ == "__main__":
    run(sys.argv[1:])
