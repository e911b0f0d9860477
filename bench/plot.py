"""PNG plots of the results (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


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
    lo = [m - summary[k]["cpu_us_per_delivery"]["min"] for k, m in zip(kinds, med, strict=False)]
    hi = [summary[k]["cpu_us_per_delivery"]["max"] - m for k, m in zip(kinds, med, strict=False)]
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


_PHASE_COLORS = {"warmup": "#eeeeee", "before": "#e3f0e3", "stalled": "#f6dede", "after": "#e0e8f6", "end": "#ffffff"}


def _shade(ax: Any, marks: list[list[Any]], t_end: float) -> None:
    for (name, t0), nxt in zip(marks, [*marks[1:], ["", t_end]], strict=False):
        ax.axvspan(t0, nxt[1], color=_PHASE_COLORS.get(name, "#ffffff"), lw=0, zorder=0)


def stall_timeline(result: dict[str, Any], out: Path) -> Path:
    """Per server (columns): the healthy agents' latency per sample, the
    server's RSS and kernel send queue, connections and drops over time."""
    runs = [r for r in result["runs"] if r.get("repeat", 0) == 0]  # the first repeat of each server
    fig, axes = plt.subplots(3, len(runs), figsize=(6.5 * len(runs), 8.5), dpi=110, sharex="col", squeeze=False)
    for col, run in enumerate(runs):
        rows = run["samples"]
        t = [r["t"] for r in rows]
        t_end = t[-1] if t else 1
        a, b, c = axes[0][col], axes[1][col], axes[2][col]
        for ax in (a, b, c):
            _shade(ax, run["phase_marks"], t_end)
            ax.grid(True, alpha=0.3)
        for key, style in (("p50", "-"), ("p99", "-"), ("max", ":")):
            pts = [(r["t"], r["live_ms"][key]) for r in rows if r["live_ms"][key] is not None]
            a.plot([p[0] for p in pts], [p[1] for p in pts], style, label=f"healthy {key}")
        a.set_yscale("log")
        a.set_ylabel("webhook → healthy agent (ms)")
        h = run["healthy_latency_ms"]
        a.set_title(
            f"{run['server']}: {run['stalled_agents']} of {run['agents']} sockets stop reading\n"
            f"healthy p99 before {h['before']['p99']} / stalled {h['stalled']['p99']} / after {h['after']['p99']} ms",
            fontsize=9,
        )
        a.legend(fontsize=7, loc="upper left")
        b.plot(t, [r["rss_mb"] for r in rows], "-", color="#4a7ab5", label="server RSS (MB)")
        b.plot(t, [r["kernel_send_queue_mb"] for r in rows], "--", color="#c07a3a", label="kernel send queues, open sockets (MB)")
        b.plot(t, [r.get("kernel_closing_send_queue_mb", 0) for r in rows], ":", color="#c07a3a", label="… of sockets the server closed (MB)")
        b.set_ylabel("MB")
        b.legend(fontsize=7, loc="upper left")
        conns = [(r["t"], r["connections"]) for r in rows if r["connections"] is not None]
        if conns:
            c.plot([p[0] for p in conns], [p[1] for p in conns], "-", label="node connections (gauge)")
        c.plot(t, [r["tcp_established"] for r in rows], "--", label="TCP established (server port)")
        c.plot(t, [r["fds"] for r in rows], ":", label="server open fds")
        drops = [(r["t"], r["slow_consumers"]) for r in rows if r["slow_consumers"] is not None]
        if drops:
            c2 = c.twinx()
            c2.plot([p[0] for p in drops], [p[1] for p in drops], "-", color="#b03030", label="slow consumers dropped")
            c2.set_ylabel("dropped (cumulative)", color="#b03030")
            c2.legend(fontsize=7, loc="lower right")
        c.set_ylabel("count")
        c.set_xlabel("seconds (green: before, red: stalled, blue: stalled sockets read again and resume)")
        c.legend(fontsize=7, loc="lower left")
    fig.suptitle(
        f"stall: {result['agents']} agents in {result['queues']} queues, {result['rate']:g} inbound/s; "
        f"outbound_buffer_bytes {result['outbound_buffer_bytes']}, client SO_RCVBUF {result['client_rcvbuf']}, MSS {result['client_mss']}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def soak_curves(result: dict[str, Any], out: Path) -> Path:
    """RSS, fds and connections, latency per window, losses and churn over a soak."""
    rows = [r for r in result["samples"] if r["phase"] == "load"]
    t = [r["t"] / 60 for r in rows]
    fig, (a, b, c, d) = plt.subplots(4, 1, figsize=(9, 10), dpi=110, sharex=True)
    a.plot(t, [r["rss_mb"] for r in rows], "-", color="#4a7ab5")
    rss = result["rss_mb"]
    a.set_ylabel("server RSS (MB)")
    a.set_title(
        f"RSS {rss['start']} → {rss['end']} MB, slope {rss['slope_mb_per_min']} MB/min "
        f"(second half {rss['slope_second_half_mb_per_min']})",
        fontsize=9,
    )
    b.plot(t, [r["fds"] for r in rows], "-", label="server open fds")
    b.plot(t, [r["connections"] for r in rows], "--", label="node connections (gauge)")
    b.set_ylabel("count")
    fds = result["fds"]
    b.set_title(f"fds {fds['start']} → {fds['end']} (min {fds['min']}, max {fds['max']}), slope {fds['slope_per_min']}/min", fontsize=9)
    b.legend(fontsize=7)
    for key, style in (("p50", "-"), ("p95", "-"), ("p99", "-")):
        pts = [(r["t"] / 60, r["live_ms"][key]) for r in rows if r["live_ms"][key] is not None]
        c.plot([p[0] for p in pts], [p[1] for p in pts], style, label=f"live {key}")
    pts = [(r["t"] / 60, r["catchup_ms"]["p99"]) for r in rows if r["catchup_ms"]["p99"] is not None]
    c.plot([p[0] for p in pts], [p[1] for p in pts], ".", ms=3, color="grey", label="catch-up p99 (replayed to reconnecting agents)")
    c.set_yscale("log")
    c.set_ylabel("webhook → agent (ms)\nper window")
    c.legend(fontsize=7, loc="upper left")
    d.plot(t, [r["gaps"] for r in rows], "-", label="lost (gaps), cumulative")
    d.plot(t, [r["dups"] for r in rows], "--", label="duplicates, cumulative")
    d.set_ylabel("events")
    d2 = d.twinx()
    d2.plot(t, [r["churns"] for r in rows], ":", color="#888888", label="disconnect/reconnect cycles")
    d2.set_ylabel("churn cycles (cumulative)")
    d2.legend(fontsize=7, loc="lower right")
    d.legend(fontsize=7, loc="upper left")
    d.set_xlabel("minutes")
    for ax in (a, b, c, d):
        ax.grid(True, alpha=0.3)
    fig.suptitle(
        f"soak: {result['agents']} agents, {result['queues']} queues, {result['rate']:g} inbound/s steady mix, "
        f"{result['churn_per_s']:g} disconnects/s ({result['churn_fresh_fraction']:.0%} fresh), {result['duration_s'] / 60:g} min",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def against_n(
    sizes: list[int], series: dict[str, list[dict[str, Any]]], out: Path, label: str, target: float | None, title: str
) -> Path:
    """One figure against the backlog size N (log x): per series (a tree of
    an A/B) the median of the repeats with min–max bars, the target dotted
    (bench/backlog.py)."""
    fig, ax = plt.subplots(figsize=(6, 3.8), dpi=110)
    for (name, rows), colour in zip(series.items(), ("#c07a3a", "#4a7ab5", "#5a9a5a"), strict=False):
        kept = [(n, r) for n, r in zip(sizes, rows, strict=True) if r["median"] is not None]
        x = [n for n, _ in kept]
        med = [r["median"] for _, r in kept]
        lo = [r["median"] - r["min"] for _, r in kept]
        hi = [r["max"] - r["median"] for _, r in kept]
        ax.errorbar(x, med, yerr=[lo, hi], fmt="o-", capsize=4, color=colour, label=f"{name} median (min–max)".strip())
    if target is not None:
        ax.axhline(target, color="grey", lw=1, ls=":", label=f"target {target:g}")
    ax.set_xscale("log")
    ax.set_xlabel("waiting conversations N")
    ax.set_ylabel(label, fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
