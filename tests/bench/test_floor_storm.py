"""The lock storm's control (``bench lockstorm --floor``): the floor writes
the frames Switchboard's node writes when a window locks, so its agents do
the same work. These tests keep the floor's frames true to the node's (a
summary field added to the protocol fails them until the template follows)
and run a tiny storm through the floor end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

from bench.center import Center
from bench.lockprofile import DAY_MS, open_windows
from bench.peers import lock_frames
from protocol import messages as p
from server import config as config_mod
from server.broker import MemoryBroker
from server.metrics import Metrics
from server.node import make_app
from server.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]


def shape(value: Any) -> Any:
    """The JSON's structure: keys and value types, not the values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__


async def test_the_floors_lock_frames_are_shaped_as_the_nodes(tmp_path: Path) -> None:
    center = Center(4, 2, window_seconds=3600)
    cfg = config_mod.load(center.write(tmp_path / "center.toml"), data=str(tmp_path / "s.sqlite3"))
    broker = MemoryBroker(history_size=100, history_bytes=2**30)
    app = make_app(cfg, SqliteStore(Path(cfg.server.data)), broker, Metrics())
    start, ids = await open_windows(app, cfg, 1)
    app.intake.clock = lambda: start + DAY_MS
    assert await app.intake.expire_many(ids) == []
    frames = await broker.history("queue:q0", 0)
    assert frames is not None
    node = [json.loads(f) for _, f in frames if b'"inbox.added"' not in f]  # the lock's: updated, then locked
    floor = [json.loads(f) for f in lock_frames(0, 2, 7, start + 3600 * 1000)]
    assert [f["event"]["type"] for f in node] == [f["event"]["type"] for f in floor] == ["inbox.updated", "session.locked"]
    assert [shape(f) for f in floor] == [shape(f) for f in node]
    assert [f["seq"] for f in floor] == [f["seq"] for f in node] == [2, 3]
    assert floor[0]["event"]["conversation"]["session_locked"] is True
    assert floor[1]["event"]["expires_at"] == start + 3600 * 1000
    for f in lock_frames(0, 2, 7, start):
        assert isinstance(msgspec.json.decode(f, type=p.ServerMessage), p.Event)  # a frame the protocol's own types read


def test_lock_frames_differ_per_conversation_and_queue() -> None:
    a, b, c = lock_frames(0, 1, 1, 5), lock_frames(0, 3, 2, 5), lock_frames(1, 1, 1, 5)
    ids = {json.loads(x[1])["event"]["conversation_id"] for x in (a, b, c)}
    assert len(ids) == 3
    assert json.loads(c[0])["stream"] == "queue:q1" and json.loads(c[0])["event"]["conversation"]["queue_id"] == "q1"
    assert json.loads(b[1])["seq"] == 4


@pytest.mark.parametrize("framing", ["broadcast", "raw"])
def test_a_floor_storm_reaches_every_agent_once(tmp_path: Path, framing: str) -> None:
    out = tmp_path / "storm.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "lockstorm", "--floor", framing, "--agents", "6", "--queues", "3",
         "--conversations", "30", "--workers", "1", "--no-plot", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(out.read_text())["result"]
    assert r["expected_lock_deliveries"] == r["lock_deliveries"] == 60  # 10 per queue, to its 2 agents
    assert r["gaps"] == r["duplicates"] == 0
    assert r["lock_delay_ms"]["n"] == 60 and r["lock_delay_ms"]["p50"] >= 0
