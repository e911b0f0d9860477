"""``python -m bench.stormsummary``: lock storm runs merged by what ran them
(this tree, another, the floor's two framings, on Redis or not), each
group's median and spread, what was lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import stormsummary


def _report(path: Path, command: str, max_ms: float, delivered: int = 100, dups: int = 0) -> Path:
    path.write_text(
        json.dumps(
            {
                "command": command,
                "environment": {"when": "2026-12-05T09:00:00+0000", "commit": "abc1234", "loadavg": [0.1, 0.1, 0.1]},
                "result": {
                    "lock_delay_ms": {"n": delivered, "p50": max_ms / 2, "p99": max_ms - 1, "max": max_ms},
                    "storm_server_cpu_s": 1.0,
                    "server_cpu_after_due_s": 0.5,
                    "storm_client_cpu_s": 0.7,
                    "lock_deliveries": delivered,
                    "expected_lock_deliveries": 100,
                    "gaps": 0,
                    "duplicates": dups,
                },
            }
        )
    )
    return path


def test_runs_are_grouped_by_what_ran_them_with_median_and_spread(tmp_path: Path) -> None:
    base = "python -m bench lockstorm --agents 200 --preseed"
    files = [
        _report(tmp_path / "a.json", f"{base} --node-tree /w/base", 1500),
        _report(tmp_path / "b.json", base, 1200),
        _report(tmp_path / "c.json", base, 1300, delivered=98),
        _report(tmp_path / "d.json", f"{base} --node-tree /w/base", 1600),
        _report(tmp_path / "e.json", f"{base} --on-redis --nodes 2", 4000, dups=1),
        _report(tmp_path / "f.json", "python -m bench lockstorm --floor raw --agents 200", 600),
        _report(tmp_path / "g.json", "python -m bench lockstorm --floor broadcast --agents 200", 2500),
    ]
    merged = stormsummary.merge(files)
    groups = merged["groups"]
    assert list(groups) == ["switchboard@/w/base", "switchboard", "switchboard + Redis", "floor (raw)", "floor (broadcast)"]
    assert groups["switchboard@/w/base"]["delay_max_ms"] == {"median": 1550.0, "min": 1500, "max": 1600, "n": 2}
    assert groups["switchboard"]["delay_max_ms"]["median"] == 1250.0
    assert groups["switchboard"]["lost"] == 2 and groups["switchboard@/w/base"]["lost"] == 0
    assert groups["switchboard + Redis"]["duplicates"] == 1
    assert [r["file"] for r in merged["runs"]] == [f.name for f in files]


def test_the_merged_runs_draw_one_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")  # the bench extra; `make test` installs only the test extra
    merged = stormsummary.merge([_report(tmp_path / "a.json", "python -m bench lockstorm --agents 2", 1200)])
    out = tmp_path / "storm.json"
    png = stormsummary.plot(merged, out.with_suffix(".png"), "t")
    assert png.stat().st_size > 1000
