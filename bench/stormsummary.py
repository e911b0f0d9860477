"""Lock storm runs side by side: several ``python -m bench lockstorm``
summaries (Switchboard from this tree or another, ``--floor raw``,
``--floor broadcast``) merged into one small JSON, each group's median and
spread, with a bar chart beside it.

    python -m bench.stormsummary bench/results/raw/lockstorm-*.json --out bench/results/lockstorm-s10.json

A run's group: ``floor (raw)`` / ``floor (broadcast)``, ``switchboard@TREE``
for ``--node-tree TREE``, else ``switchboard`` (this tree), with
``+ Redis`` when it ran on Redis."""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from bench import summary

FIGURES = ("max", "p50", "p99")
CPU = ("storm_server_cpu_s", "server_cpu_after_due_s", "storm_client_cpu_s")


def group_of(report: dict[str, Any]) -> str:
    command: str = report["command"]
    words = command.split()
    if "--floor" in words:
        return f"floor ({words[words.index('--floor') + 1]})"
    name = "switchboard"
    if "--node-tree" in words:
        name += "@" + words[words.index("--node-tree") + 1]
    if "--on-redis" in words:
        name += " + Redis"
    return name


def spread(values: list[float]) -> dict[str, float | int | None]:
    values = [v for v in values if v is not None]
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": round(statistics.median(values), 2), "min": min(values), "max": max(values), "n": len(values)}


def merge(paths: list[Path]) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    for path in paths:
        report = json.loads(path.read_text())
        r = report["result"]
        runs.append(
            {
                "file": path.name,
                "group": group_of(report),
                "command": report["command"],
                "when": report["environment"]["when"],
                "commit": report["environment"]["commit"],
                "loadavg": report["environment"]["loadavg"],
                "lock_delay_ms": r["lock_delay_ms"],
                **{k: r.get(k) for k in CPU},
                "lock_deliveries": r["lock_deliveries"],
                "expected_lock_deliveries": r["expected_lock_deliveries"],
                "gaps": r["gaps"],
                "duplicates": r["duplicates"],
                "audit": r.get("audit"),
            }
        )
    groups: dict[str, Any] = {}
    for name in dict.fromkeys(run["group"] for run in runs):
        mine = [run for run in runs if run["group"] == name]
        groups[name] = {
            **{f"delay_{k}_ms": spread([run["lock_delay_ms"][k] for run in mine]) for k in FIGURES},
            **{k: spread([run[k] for run in mine]) for k in CPU},
            "lost": sum(run["expected_lock_deliveries"] - run["lock_deliveries"] for run in mine),
            "duplicates": sum(run["duplicates"] for run in mine),
            "gaps": sum(run["gaps"] for run in mine),
        }
    return {"runs": runs, "groups": groups}


def plot(merged: dict[str, Any], out: Path, title: str) -> Path:
    from bench.plot import plt

    groups = merged["groups"]
    names = list(groups)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4.2), dpi=110)
    for ax, keys, label in (
        (a, ("delay_p50_ms", "delay_max_ms"), "lock delay after due, ms (median, min–max)"),
        (b, ("server_cpu_after_due_s", "storm_client_cpu_s"), "CPU, s: the server from the due time on; the agents over the storm"),
    ):
        width = 0.38
        for j, key in enumerate(keys):
            med = [groups[n][key]["median"] or 0 for n in names]
            lo = [m - (groups[n][key]["min"] or 0) for n, m in zip(names, med, strict=True)]
            hi = [(groups[n][key]["max"] or 0) - m for n, m in zip(names, med, strict=True)]
            xs = [i + (j - 0.5) * width for i in range(len(names))]
            ax.bar(xs, med, width, yerr=[lo, hi], capsize=3, label=key)
        ax.set_xticks(range(len(names)), names, rotation=20, fontsize=8)
        ax.set_ylabel(label, fontsize=8)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    a.axhline(1000, color="grey", lw=0.8, ls=":")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    summary.small_png(out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.stormsummary", description=__doc__)
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--title", default="lock storm, 20,000 windows at once: delay after due and CPU")
    opts = ap.parse_args()
    merged = merge(opts.files)
    opts.out.write_text(json.dumps(merged, indent=1) + "\n")
    plot(merged, opts.out.with_suffix(".png"), opts.title)
    for name, g in merged["groups"].items():
        d = g["delay_max_ms"]
        print(f"{name}: max {d['median']} ms ({d['min']}–{d['max']}), n={d['n']}; "
              f"server CPU after due {g['server_cpu_after_due_s']['median']} s; lost {g['lost']} dups {g['duplicates']}")


if __name__ == "__main__":
    main()
