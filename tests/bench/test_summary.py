"""bench/summary.py: what a run keeps in git (the summary) and what goes to raw/."""

from __future__ import annotations

import json
from pathlib import Path

from bench import summary
from bench.soakstats import stats


def sample(t: float, worst: float) -> dict:
    return {"t": t, "phase": "load", "live_ms": {"max": worst, "p99": worst / 2}, "gc_full_collections": None}


def test_a_run_writes_its_summary_and_its_whole_report_beside_it(tmp_path: Path) -> None:
    report = {
        "scenario": "stall",
        "command": "python -m bench stall",
        "result": {"summary": {"p99": 12.0}, "runs": [{"server": "switchboard", "rss_mb": {"end": 80}, "samples": [{"t": 0}]}]},
    }
    out = tmp_path / "stall.json"
    raw = summary.write(report, out)
    assert raw == tmp_path / "raw" / "stall.json"
    assert json.loads(raw.read_text()) == report
    kept = json.loads(out.read_text())
    assert kept["result"] == {"summary": {"p99": 12.0}, "runs": [{"server": "switchboard", "rss_mb": {"end": 80}}]}
    assert kept["command"] == "python -m bench stall" and kept["raw"].startswith("raw/stall.json")


def test_a_soak_summary_keeps_the_spike_counts_of_its_series(tmp_path: Path) -> None:
    report = {"scenario": "soak", "command": "python -m bench soak", "result": {"samples": [sample(5, 40), sample(10, 120), sample(15, 160)]}}
    whole = tmp_path / "whole.json"
    whole.write_text(json.dumps(report))
    converted = tmp_path / "soak.json"
    converted.write_text(json.dumps(report))
    summary.convert(converted)
    assert "samples" not in json.loads(converted.read_text())["result"]
    assert json.loads((tmp_path / "raw" / "soak.json").read_text()) == report  # the series were kept, out of git
    from_series, from_summary = stats(whole), stats(converted)
    assert from_summary["windows_with_an_event_over_ms"] == {"50": 2, "100": 2, "150": 1}
    assert {k: v for k, v in from_summary.items() if k != "file"} == json.loads(
        json.dumps({k: v for k, v in from_series.items() if k != "file"})
    )
