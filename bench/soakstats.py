"""``python -m bench.soakstats RESULT.json…``: the latency spikes of soak runs
and the full garbage collections behind them, side by side.

For each soak result (``python -m bench soak … --out FILE``; the whole report
in bench/results/raw/, or a summary, which keeps these figures) it prints, over
the load phase: how many 5-s windows held an event delivered more than 50 /
100 / 150 ms after its webhook, how many had a p99 over 100 ms, and (for
runs that sampled ``switchboard_gc_pause_seconds``) how many full
collections there were and how long each took. Runs of different lengths
compare per hour.

    .venv/bin/python -m bench.soakstats bench/results/soak-before-settle.json bench/results/soak.json
"""

from __future__ import annotations

import itertools
import json
import statistics
import sys
from pathlib import Path
from typing import Any


def stats(path: Path) -> dict[str, Any]:
    doc = json.loads(path.read_text())
    if "samples" not in doc["result"] and "spikes" in doc["result"]:
        # A summary (bench/summary.py): the figures were computed from the series before they were dropped.
        return {"file": str(path), "command": doc.get("command"), **doc["result"]["spikes"]}
    return {"file": str(path), **stats_of(doc)}


def stats_of(doc: dict[str, Any]) -> dict[str, Any]:
    """The figures of one whole soak report (with its ``samples`` series)."""
    rows = [r for r in doc["result"]["samples"] if r["phase"] == "load" and r["live_ms"]["max"] is not None]
    worst = [r["live_ms"]["max"] for r in rows]
    hours = len(rows) * 5 / 3600
    out: dict[str, Any] = {
        "command": doc.get("command"),
        "windows": len(rows),
        "windows_with_an_event_over_ms": {ms: sum(w > ms for w in worst) for ms in (50, 100, 150)},
        "per_hour_over_100ms": round(sum(w > 100 for w in worst) / hours, 1) if hours else None,
        "windows_with_p99_over_100ms": sum(r["live_ms"]["p99"] > 100 for r in rows),
        "worst_ms": max(worst, default=None),
    }
    gc_rows = [r for r in doc["result"]["samples"] if r.get("gc_full_collections") is not None]
    # A sample holds the running count and total; two collections in one
    # 5-s interval count as two of their mean length.
    pauses: list[float] = []
    for a, b in itertools.pairwise(gc_rows):
        n = b["gc_full_collections"] - a["gc_full_collections"]
        if n > 0 and b["phase"] == "load":
            pauses += [(b["gc_full_seconds"] - a["gc_full_seconds"]) / n * 1000] * n
    if gc_rows:
        out["full_collections"] = len(pauses)
        out["full_collection_ms"] = {
            "median": round(statistics.median(pauses), 1) if pauses else None,
            "min": round(min(pauses), 1) if pauses else None,
            "max": round(max(pauses), 1) if pauses else None,
        }
    return out


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        sys.exit(__doc__)
    for arg in sys.argv[1:]:
        print(json.dumps(stats(Path(arg)), indent=2))


if __name__ == "__main__":
    main()
