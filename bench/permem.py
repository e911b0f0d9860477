"""``python -m bench permem``: what one connected idle agent holds on the
server, by allocation site (tracemalloc), beside the bare ``websockets``
floor.

    python -m bench permem [--first 1000] [--second 1000] [--frames 25]
                           [--servers switchboard,floor] [--top 20] [--out F.json]

Starts the server under ``bench.tracehost`` (tracemalloc from the first
allocation), connects ``--first`` idle agents, snapshots the heap, connects
``--second`` more, snapshots again, and prints the difference divided by
``--second``: the Python heap bytes per added agent, grouped by traceback
(top ``--top``), plus the RSS growth per agent over the same step. Kernel
socket buffers are in neither; tracemalloc's own bookkeeping is not in its
figures (it is in the RSS one, which is why RSS is only comparable between
two runs of this command, not with ``bench idle``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench.center import Center
from bench.harness import Fleet, Progress, Target
from bench.peers import MODULES
from bench.procs import Proc, free_port, rss_bytes
from bench.worker import raise_nofile

_HERE = str(Path(__file__).resolve().parent.parent)


def _start(kind: str, center: Center, workdir: Path, frames: int) -> tuple[Target, Proc]:
    port = free_port()
    env = {"BENCH_TRACE_DIR": str(workdir)}
    host = [sys.executable, *(["-X", f"tracemalloc={frames}"] if frames else []), "-m", "bench.tracehost"]
    if kind == "switchboard":
        config = center.write(workdir / "center.toml", port=port, ws_port=0)
        argv = [*host, "server.cli", "serve", "--config", str(config), "--data", str(workdir / "sb.sqlite3")]
        env["SWITCHBOARD_NODE_ID"] = "permem"
        proc = Proc(kind, argv, workdir / f"{kind}.log", f"http://127.0.0.1:{port}/readyz", env)
        proc.start(timeout=120)
        target = Target(kind, "switchboard", [f"ws://127.0.0.1:{port}/ws"], [f"http://127.0.0.1:{port}"], [proc])
    else:
        ws_port = free_port()
        argv = [*host, MODULES[kind], "--port", str(port), "--ws-port", str(ws_port), "--size", "700"]
        proc = Proc(kind, argv, workdir / f"{kind}.log", f"http://127.0.0.1:{port}/healthz", env)
        proc.start(timeout=120)
        target = Target(kind, "raw", [f"ws://127.0.0.1:{ws_port}/ws"], [f"http://127.0.0.1:{port}"], [proc])
    return target, proc


def _snapshot(proc: Proc, workdir: Path, k: int) -> tuple[tracemalloc.Snapshot | None, dict[str, Any]]:
    os.kill(proc.pid, signal.SIGUSR1)
    done = workdir / f"snapshot-{k}.done"
    deadline = time.monotonic() + 300
    while not done.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no snapshot {k} from {proc.name}")
        time.sleep(0.2)
    heaps = json.loads((workdir / f"heaps-{k}.json").read_text())
    pickle = workdir / f"snapshot-{k}.pickle"
    if not pickle.exists():
        return None, heaps
    snap = tracemalloc.Snapshot.load(str(pickle))
    return snap.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)]), heaps


def _short(frame: tracemalloc.Frame) -> str:
    name = frame.filename
    for root in (_HERE + "/", "/site-packages/", "/lib/python3.11/"):
        if root in name:
            name = name.split(root, 1)[1]
    return f"{name}:{frame.lineno}"


def measure(kind: str, first: int, second: int, frames: int, top: int, progress: Progress) -> dict[str, Any]:
    center = Center(first + second, max(1, (first + second) // 100))
    specs = center.specs()
    with tempfile.TemporaryDirectory(prefix="switchboard-permem-") as tmp:
        workdir = Path(tmp)
        target, proc = _start(kind, center, workdir, frames)
        fleets: list[Fleet] = []
        try:
            fleets.append(Fleet(target, specs[:first], workers=2, behaviour="idle"))
            fleets[-1].connect(1e9, progress)
            time.sleep(2.0)
            rss0 = rss_bytes(proc.pid)
            before, heaps0 = _snapshot(proc, workdir, 1)
            fleets.append(Fleet(target, specs[first:], workers=2, behaviour="idle"))
            c = fleets[-1].connect(1e9, progress)
            time.sleep(2.0)
            rss1 = rss_bytes(proc.pid)
            after, heaps1 = _snapshot(proc, workdir, 2)
            connected = sum(f.stats()["connected"] for f in fleets)
        finally:
            for f in fleets:
                f.close()
            target.stop()
    added = max(1, c["connected"])
    heaps = {
        when: {k: round((heaps1[when][k] - heaps0[when][k]) / added, 1) for k in heaps0[when]}
        for when in ("before_gc", "after_gc")
    }
    heaps["garbage_collected"] = [heaps0["garbage_collected"], heaps1["garbage_collected"]]
    base = {
        "server": kind,
        "first": first,
        "added": added,
        "still_connected": connected,
        "rss_kib_per_agent": round((rss1 - rss0) / added / 1024, 2),
        "heaps_bytes_per_agent": heaps,
    }
    if before is None or after is None:
        return base
    diff = after.compare_to(before, "traceback")
    total = sum(s.size_diff for s in diff)
    rows = []
    for s in diff[:top]:
        rows.append(
            {
                "bytes_per_agent": round(s.size_diff / added, 1),
                "blocks_per_agent": round(s.count_diff / added, 2),
                "where": [_short(f) for f in list(s.traceback)[-8:]][::-1],
            }
        )
    by_line = after.compare_to(before, "lineno")[:top]
    by_file = after.compare_to(before, "filename")[:top]
    return {
        **base,
        "heap_bytes_per_agent": round(total / added, 1),
        "top_tracebacks": rows,
        "top_lines": [
            {"bytes_per_agent": round(s.size_diff / added, 1), "blocks_per_agent": round(s.count_diff / added, 2), "where": _short(s.traceback[0])}
            for s in by_line
        ],
        "top_files": [{"bytes_per_agent": round(s.size_diff / added, 1), "where": _short(s.traceback[0]).rsplit(":", 1)[0]} for s in by_file],
    }


def run(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench permem", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--first", type=int, default=1000)
    ap.add_argument("--second", type=int, default=1000)
    ap.add_argument("--frames", type=int, default=0, help="tracemalloc frames (0: no tracing, heap totals only; tracing is ~10x slower)")
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--servers", default="switchboard,floor")
    ap.add_argument("--out", type=Path, default=None)
    opts = ap.parse_args(argv)
    raise_nofile()
    progress = Progress()
    results = [measure(k, opts.first, opts.second, opts.frames, opts.top, progress) for k in opts.servers.split(",") if k]
    report = {"command": "python -m bench permem " + " ".join(argv), "loadavg": os.getloadavg(), "results": results}
    text = json.dumps(report, indent=1)
    if opts.out:
        opts.out.parent.mkdir(parents=True, exist_ok=True)
        opts.out.write_text(text + "\n")
    for r in results:
        print(f"\n== {r['server']}: RSS {r['rss_kib_per_agent']} KiB/agent (+{r['added']} agents)")
        print("   heaps, bytes per agent:", json.dumps(r["heaps_bytes_per_agent"]))
        if "top_tracebacks" in r:
            print(f"   traced heap {r['heap_bytes_per_agent']} B/agent")
            for row in r["top_tracebacks"]:
                print(f"{row['bytes_per_agent']:9.1f} B {row['blocks_per_agent']:6.2f} blk  " + " < ".join(row["where"]))


if __name__ == "__main__":
    run(sys.argv[1:])
