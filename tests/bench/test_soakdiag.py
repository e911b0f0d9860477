"""The soak diagnosis's arithmetic (bench/soakdiag.py): windows by time,
stretches, which series move with a pair's p99."""

from __future__ import annotations

from array import array
from typing import Any

from bench.soakdiag import _windows, correlations, stretches


def lat(*ms: float) -> bytes:
    return array("q", (int(x * 1000) for x in ms)).tobytes()


def test_windows_are_cut_by_time_so_a_slow_sample_does_not_stretch_one() -> None:
    # Samples late on a saturated machine: 1.0, 3.6, 6.6, 9.9, 12.0 s.
    rows: list[dict[str, Any]] = [
        {"t": t, "utc": f"00:00:{int(t):02d}", "node0_cpu_pct": cpu, "node0_lag_max_ms": lag}
        for t, cpu, lag in ((1.0, 10.0, 5.0), (3.6, 30.0, 50.0), (6.6, 20.0, 1.0), (9.9, 40.0, 2.0), (12.0, 5.0, 3.0))
    ]
    lat_s = {"sb": [lat(1), lat(2, 3), lat(400), lat(5), lat(6)]}
    ws = _windows(rows, lat_s)
    assert [(w["t"], w["samples"]) for w in ws] == [(5, 2), (10, 2), (15, 1)]
    assert ws[0]["sb_n"] == 3 and ws[0]["sb_max"] == 3.0
    assert ws[1]["sb_max"] == 400.0
    assert ws[0]["node0_cpu_pct"] == 20.0  # a rate: the mean
    assert ws[0]["node0_lag_max_ms"] == 50.0  # a peak: the max


def window(t: int, sb: float, fl: float, **series: float) -> dict[str, Any]:
    return {"t": float(t), "utc": f"t{t}", "sb_p99": sb, "sb_p50": sb / 3, "sb_max": sb * 2, "sb_n": 100.0,
            "fl_p99": fl, "fl_max": fl, "load1": 3.0, "machine_busy_pct": 150.0, **series}


def test_a_stretch_is_a_run_of_windows_over_100_ms_with_the_other_pair_beside_it() -> None:
    ws = [window(5, 20, 10), window(10, 300, 150), window(15, 800, 20), window(20, 30, 10), window(25, 150, 10)]
    found = stretches(ws, "sb")
    assert [(s["from_t"], s["to_t"], s["windows"]) for s in found] == [(5, 15, 2), (20, 25, 1)]
    assert found[0]["sb_p99_max"] == 800 and found[0]["fl_p99_max"] == 150 and found[0]["fl_windows_over"] == 1
    assert found[1]["fl_windows_over"] == 0


def test_the_series_that_moves_with_the_p99_comes_first_and_the_pairs_own_figures_are_left_out() -> None:
    ws = []
    for i in range(20):
        p99 = float(10 + (i * 37) % 90)
        ws.append(window(5 * (i + 1), p99, 10.0 + i % 3, node0_lag_max_ms=p99 / 2, redis_sb_calls=float((i * 13) % 7)))
    found = correlations(ws, "sb_p99")
    assert found[0]["series"] == "node0_lag_max_ms" and found[0]["spearman"] == 1.0
    names = {c["series"] for c in found}
    assert "fl_p99" in names  # the control is one of the series
    assert not names & {"sb_p50", "sb_max", "sb_n", "t"}
