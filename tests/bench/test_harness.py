"""Smoke test of the load-test harness itself (not a benchmark): a tiny
steady-state run against a real server subprocess must see every event, in
order, once, and report every field the README's tables are built from."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_bench(tmp_path: Path, *args: str, timeout: float = 60) -> dict:
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", *args, "--workers", "1", "--no-plot", "--quiet", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def test_steady_state_has_no_loss_and_reports_every_figure(tmp_path: Path) -> None:
    report = run_bench(tmp_path, "steady", "--agents", "20", "--queues", "2", "--rates", "10", "--duration", "2",
                       "--per-customer", "2", "--spacing", "0.5")
    assert report["scenario"] == "steady"
    result = report["result"]
    assert result["connected"] == 20
    for key in ("connect_rate", "kib_per_agent", "audit", "server_deliveries_total", "harness_events_total"):
        assert key in result
    (row,) = result["rows"]
    assert row["customers"]["ok"] == 20
    assert row["lost"] == 0 and row["gaps"] == 0 and row["duplicates"] == 0
    assert row["command_errors"] == {}
    for key in ("deliveries_per_s", "server_cpu_s", "cpu_us_per_delivery", "frame_bytes_avg"):
        assert key in row
    assert set(row["latency_ms"]) == {"n", "p50", "p95", "p99", "max"}
    assert row["latency_ms"]["n"] > 0
    kinds = row["event_kinds"]
    assert kinds["inbox.added"] == 10 * 10  # 10 conversations, each to the 10 agents of its queue
    assert kinds["assigned.added"] == 10  # one claimer each
    assert result["audit"]["events_missing_at_tail"] == 0
    assert result["server_deliveries_total"] == result["harness_events_total"]


def test_fanout_counts_every_delivery(tmp_path: Path) -> None:
    report = run_bench(tmp_path, "fanout", "--agents", "20", "--rates", "10", "--duration", "1")
    (row,) = report["result"]["rows"]
    assert row["expected_deliveries"] == row["deliveries"] == 10 * 20
    assert row["lost"] == 0 and row["duplicates"] == 0


def test_stall_keeps_the_healthy_agents_whole_and_reports_every_figure(tmp_path: Path) -> None:
    # 2 of 20 sockets stop reading for 4 s, then read again and resume. Whether
    # the node drops them that soon depends on how much the kernel buffers:
    # tests/server/test_stalled_close.py proves the drop; this, the harness.
    report = run_bench(tmp_path, "stall", "--agents", "20", "--rates", "20", "--warmup", "0.5", "--phase", "1.5",
                       "--stall-seconds", "4", "--repeat", "1", "--servers", "switchboard", "--outbound-buffer", "16384")
    (run,) = report["result"]["runs"]
    assert run["stalled_agents"] == 2
    for phase in ("before", "stalled", "after"):
        assert run["healthy_latency_ms"][phase]["n"] > 0
    assert run["stalled_group_latency_ms"]["stalled"]["n"] == 0  # they really stopped reading
    assert run["healthy_lost"] == 0 and run["healthy_gaps"] == 0 and run["healthy_duplicates"] == 0
    assert run["stalled_gaps"] == 0 and run["stalled_duplicates"] == 0
    assert run["audit"]["events_missing_at_tail"] == 0  # the stalled ones caught up too
    assert run["command_errors"] == {}
    for key in ("slow_consumers_dropped", "seconds_to_drop", "server_closed_stalled_sockets", "rss_mb", "fds",
                "kernel_send_queue_mb", "server_cpu_pct"):
        assert key in run
    # The per-sample series go to raw/ beside the summary (not in git), the figures stay in the summary.
    (whole,) = json.loads((tmp_path / "raw" / "result.json").read_text())["result"]["runs"]
    assert whole["samples"] and "samples" not in run
    assert {k: v for k, v in whole.items() if k != "samples"} == run
    assert report["result"]["summary"]["switchboard"]["repeats"] == 1


def test_lockstorm_seeds_in_batches_and_locks_assigned_conversations_once_each(tmp_path: Path) -> None:
    # 60 conversations, 20 per webhook, each claimed by one agent of its queue; all windows close in one second.
    report = run_bench(tmp_path, "lockstorm", "--agents", "20", "--queues", "2", "--conversations", "60", "--window", "6",
                       "--batch", "20", "--assigned")
    result = report["result"]
    assert result["customers"]["posts"] == 4  # 30 per queue: 20 + 10
    assert result["conversations"] == result["claimed"] == 60
    assert result["expected_lock_deliveries"] == result["lock_deliveries"] == 60  # each lock to its one agent
    assert result["gaps"] == 0 and result["duplicates"] == 0
    assert result["audit"]["events_missing_at_tail"] == 0


def test_lockstorm_preseeded_locks_every_seeded_window_once(tmp_path: Path) -> None:
    # The conversations written into the store before the node starts (no webhooks); all windows close in one
    # second, 40 s after seeding (the node's start and the agents' connect, under load, fit well before).
    report = run_bench(tmp_path, "lockstorm", "--agents", "10", "--queues", "2", "--conversations", "40", "--window", "40",
                       "--preseed", timeout=120)
    result = report["result"]
    assert result["customers"]["preseeded"] and result["conversations"] == 40
    assert result["customers"]["per_queue"] == {"0": 20, "1": 20}
    assert result["expected_lock_deliveries"] == result["lock_deliveries"] == 200  # each lock to its queue's 5 agents
    assert result["gaps"] == 0 and result["duplicates"] == 0
    assert result["audit"]["events_missing_at_tail"] == 0
