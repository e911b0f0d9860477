"""PNG plots of the results (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def latency_vs_load(result: dict[str, Any], out: Path, title: str) -> Path:
    rows = [r for r in result["rows"] if r["latency_ms"]["n"]]
    x = [r["rate"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for key, style in (("p50", "o-"), ("p95", "s-"), ("p99", "^-"), ("max", "x--")):
        ax.plot(x, [r["latency_ms"][key] for r in rows], style, label=key)
    ax.set_xlabel("inbound messages / s  (deliveries / s in labels)")
    ax.set_ylabel("webhook → agent latency (ms)")
    ax.set_yscale("log")
    ax.set_title(title, fontsize=10)
    for r in rows:
        ax.annotate(f"{r['deliveries_per_s'] or 0:,.0f}/s", (r["rate"], r["latency_ms"]["p50"]), fontsize=7,
                    textcoords="offset points", xytext=(0, -12), ha="center")
    ax.axhline(50, color="grey", lw=0.8, ls=":")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def compare_bars(result: dict[str, Any], out: Path, title: str) -> Path:
    summary = result["summary"]
    kinds = [k for k in summary if summary[k]["cpu_us_per_delivery"]["median"] is not None]
    med = [summary[k]["cpu_us_per_delivery"]["median"] for k in kinds]
    lo = [m - summary[k]["cpu_us_per_delivery"]["min"] for k, m in zip(kinds, med)]
    hi = [summary[k]["cpu_us_per_delivery"]["max"] - m for k, m in zip(kinds, med)]
    p99 = [summary[k]["p99_ms"]["median"] or 0 for k in kinds]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4.2), dpi=110)
    a.bar(kinds, med, yerr=[lo, hi], capsize=4, color="#4a7ab5")
    a.set_ylabel("server CPU µs per delivered event (median, min–max)")
    a.set_yscale("log")
    for i, m in enumerate(med):
        a.annotate(f"{m:.1f}", (i, m), ha="center", va="bottom", fontsize=8, xytext=(0, 3), textcoords="offset points")
    b.bar(kinds, p99, color="#c07a3a")
    b.set_ylabel("p99 latency (ms, median of repeats)")
    b.set_yscale("log")
    for ax in (a, b):
        ax.tick_params(axis="x", labelrotation=25, labelsize=8)
        ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
