"""``python -m bench.snapshotcost``: the CPU of one snapshot frame, in process,
with its Inbox window built anew and with the window shared (issue 18).

    python -m bench.snapshotcost [--trees before=/path,after=.] [--rows 300] [--builds 200] [--repeat 3]

An app on an SQLite file with ``--rows`` waiting WhatsApp conversations in one
queue; ``Reads.snapshot_frame`` for an agent of that queue ``--builds`` times
with the kept windows dropped before each (a window built anew: what every
snapshot costs when each agent's queues moved), then ``--builds`` times
keeping them (the window shared: what the second agent of the same queues
costs). Thread CPU per frame (``time.thread_time``), so the machine's load
moves it less than wall time. With ``--trees`` each tree runs in its own
process, the trees interleaved in each repeat (``after=.``: this checkout).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

_ONE = """
import asyncio, json, sys, tempfile, time
from pathlib import Path
from server.broker import MemoryBroker
from server.core.model import Inbound
from server.metrics import Metrics
from server.node import make_app
from server.store.sqlite import SqliteStore
from tests.conftest import make_config

async def main(rows, builds):
    store = SqliteStore(Path(tempfile.mkdtemp()) / "s.sqlite3")
    await store.start()
    app = make_app(make_config(), store, MemoryBroker(history_size=100, history_bytes=1 << 20), Metrics())
    for n in range(rows):
        await app.intake.receive("wa", f"55119{n:08}", Inbound(kind="text", text=f"hello there {n}", at=app.clock()))
    ana, reads = app.catalog.agents["ana"], app.reads
    size = len((await reads.snapshot_frame(ana)).data)
    cpu = time.thread_time()
    for _ in range(builds):
        reads._windows.clear()
        await reads.snapshot_frame(ana)
    built = (time.thread_time() - cpu) / builds
    cpu = time.thread_time()
    for _ in range(builds):
        await reads.snapshot_frame(ana)
    shared = (time.thread_time() - cpu) / builds
    await store.close()
    print(json.dumps({"built_ms": built * 1000, "shared_ms": shared * 1000, "frame_bytes": size}))

asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
"""


def one(tree: str, rows: int, builds: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", _ONE, str(rows), str(builds)],
        cwd=tree, env={"PYTHONPATH": tree, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, check=True,
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.snapshotcost", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trees", default="after=.", help="NAME=PATH,... (default: this checkout)")
    ap.add_argument("--rows", type=int, default=300)
    ap.add_argument("--builds", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    opts = ap.parse_args(argv)
    here = str(Path(__file__).resolve().parent.parent)
    trees = [(n, str(Path(p).resolve()) if p not in ("", ".") else here) for n, _, p in (t.partition("=") for t in opts.trees.split(","))]
    runs: dict[str, list[dict[str, float]]] = {n: [] for n, _ in trees}
    for r in range(opts.repeat):
        for name, path in trees:
            runs[name].append(one(path, opts.rows, opts.builds))
            print(f"run {r + 1} {name}: {runs[name][-1]}", flush=True)
    summary = {
        name: {k: {"median": statistics.median(x[k] for x in rs), "min": min(x[k] for x in rs), "max": max(x[k] for x in rs)}
               for k in ("built_ms", "shared_ms", "frame_bytes")}
        for name, rs in runs.items()
    }
    report = {"command": "python -m bench.snapshotcost " + " ".join(argv if argv is not None else sys.argv[1:]),
              "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "loadavg": list(__import__("os").getloadavg()),
              "summary": summary, "runs": runs}
    print(json.dumps(summary, indent=1))
    if opts.out is not None:
        opts.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
