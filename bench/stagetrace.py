"""Summarize the stage marks bench/stages/sitecustomize.py wrote.

    python -m bench.stagetrace /tmp/stages.*  [--skip 20] [--json OUT]

Per stage (from one mark to the next present one): the median and p99 of the
wall time, the median of the main thread's CPU time, the event-loop
iterations and thread-pool hand-offs in it, and (when the node counted them)
the Python and C calls. ``--skip``: webhooks left out at the start of each
file (warm-up: imports, caches, prepared statements).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from pathlib import Path
from typing import Any

ORDER = [
    "arrive",
    "endpoint",
    "verify",
    "decode",
    "intake",
    "commit",
    "committed",
    "publish",
    "broker",
    "fanout",
    "written",
    "published",
    "done",
]
NAMES = {
    "endpoint": "HTTP parse, middlewares, routing (arrive → endpoint)",
    "verify": "signature check",
    "decode": "JSON decode (Meta's envelope → events)",
    "intake": "batch dispatch (→ Intake.receive)",
    "commit": "intake: dedup, identity, contact, latest, decide",
    "committed": "commit (SQLite)",
    "publish": "after the commit, before publishing",
    "broker": "summary, counters, inbox counts",
    "fanout": "encode, sequence, history",
    "written": "fan-out: the frame to every socket",
    "published": "the other publications, hooks",
    "done": "endpoint's end",
}


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else 0.0


def summarize(paths: list[Path], skip: int, alone: bool = False) -> dict[str, Any]:
    records: list[dict[str, list[int]]] = []
    for path in paths:
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        records.extend(lines[skip:])
    if alone:  # no loop turn from the endpoint's start to its end: nothing else ran in between
        records = [r for r in records if "endpoint" in r and "done" in r and r["done"][2] == r["endpoint"][2]]
    stages: dict[str, dict[str, list[float]]] = {}
    totals: dict[str, list[float]] = {"wall_ms": [], "cpu_ms": [], "loops": [], "hops": [], "calls": []}
    to_written: list[float] = []
    for rec in records:
        present = [m for m in ORDER if m in rec]
        for a, b in itertools.pairwise(present):
            s = stages.setdefault(b, {"wall_ms": [], "cpu_ms": [], "loops": [], "hops": [], "calls": []})
            (w0, c0, l0, h0, k0), (w1, c1, l1, h1, k1) = rec[a], rec[b]
            s["wall_ms"].append((w1 - w0) / 1e6)
            s["cpu_ms"].append((c1 - c0) / 1e6)  # the main thread's: other requests' work between marks counts too
            s["loops"].append(l1 - l0)
            s["hops"].append(h1 - h0)
            s["calls"].append(k1 - k0)
        if present:
            first, last = rec[present[0]], rec[present[-1]]
            totals["wall_ms"].append((last[0] - first[0]) / 1e6)
            totals["cpu_ms"].append((last[1] - first[1]) / 1e6)
            totals["loops"].append(last[2] - first[2])
            totals["hops"].append(last[3] - first[3])
            totals["calls"].append(last[4] - first[4])
        if "arrive" in rec and "fanout" in rec:
            to_written.append((rec["fanout"][0] - rec["arrive"][0]) / 1e6)

    def row(s: dict[str, list[float]]) -> dict[str, float]:
        return {
            "wall_ms_p50": round(statistics.median(s["wall_ms"]), 3),
            "wall_ms_p99": round(_pct(s["wall_ms"], 0.99), 3),
            "cpu_ms_p50": round(statistics.median(s["cpu_ms"]), 3),
            "loops_p50": statistics.median(s["loops"]),
            "hops_p50": statistics.median(s["hops"]),
            "calls_p50": statistics.median(s["calls"]),
            "n": len(s["wall_ms"]),
        }

    out: dict[str, Any] = {
        "webhooks": len(records),
        "stages": {f"{k}: {NAMES.get(k, k)}": row(v) for k, v in sorted(stages.items(), key=lambda kv: ORDER.index(kv[0]))},
        "total": row(totals) if totals["wall_ms"] else None,
    }
    if to_written:
        out["arrive_to_fanout_ms"] = {"p50": round(statistics.median(to_written), 3), "p99": round(_pct(to_written, 0.99), 3)}
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.stagetrace", description=__doc__)
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--skip", type=int, default=20)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument(
        "--alone",
        action="store_true",
        help="only webhooks handled in one loop turn (the body came with the headers): no other work between marks",
    )
    opts = ap.parse_args(argv)
    out = summarize(opts.files, opts.skip, opts.alone)
    text = json.dumps(out, indent=1)
    if opts.json is not None:
        opts.json.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
