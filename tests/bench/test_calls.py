"""Smoke test of ``python -m bench calls`` (not a benchmark): a tiny run
against this tree's node under the call probe charges every action kind its
calls, counts every delivery, and names the functions it counted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_calls_are_counted_per_delivery_and_per_action_kind(tmp_path: Path) -> None:
    out = tmp_path / "calls.json"
    args = ["--agents", "4", "--queues", "2", "--conversations", "2", "--per-customer", "2", "--warmup", "1"]
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "calls", "--tree", f"a={ROOT}", "--tree", f"b={ROOT}", *args, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    a, b = report["trees"]["a"], report["trees"]["b"]
    # Per conversation: inbox.added to the queue's 2 agents, the claimer's
    # assigned.added, an assigned.updated per later message, assigned.removed at the end.
    assert a["deliveries"] == b["deliveries"] > 0
    assert a["inbound"] == 4
    kinds = a["per_action_kind"]
    assert set(kinds) == {"inbound.new", "inbound.more", "claim", "send", "read", "end", "tail"}
    assert kinds["inbound.new"]["actions"] == 2 and kinds["send"]["actions"] == 4
    assert all(k["calls_per_action"] > 0 for name, k in kinds.items() if name != "tail")
    assert a["calls_per_delivery"] > 0 and a["python_calls"] < a["calls"]
    # The same tree twice: the counts agree within the noise of timers and collections.
    assert abs(a["calls"] - b["calls"]) / a["calls"] < 0.2
    assert any(k.startswith("server/") for k in a["modules_per_delivery"])
    assert "changed_vs_a" in b
