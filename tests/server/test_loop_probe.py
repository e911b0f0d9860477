"""The node measures its own event loop (issue 18): a callback that holds
the loop shows as a stall of its length, told apart from a process that
was not running; snapshots are timed and sized in /metrics."""

from __future__ import annotations

import asyncio
import time

import msgspec
import websockets

from protocol import messages as p
from server.loopprobe import LoopProbe
from server.metrics import Metrics
from tests.conftest import Running, token


def gauges(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


async def held(seconds: float, *, busy: bool) -> dict[str, float]:
    metrics = Metrics()
    probe = LoopProbe(metrics, 0.005)
    probe.start()
    try:
        await asyncio.sleep(0.05)
        gauges(metrics.render())  # the peaks restart from here
        if busy:  # CPU seconds, not wall: on a loaded machine the wall time is longer
            started = time.thread_time()
            while time.thread_time() - started < seconds:
                pass
        else:
            time.sleep(seconds)  # noqa: ASYNC251  the loop held, the CPU not used: as when the process is not scheduled
        await asyncio.sleep(0.05)
        return gauges(metrics.render())
    finally:
        await probe.stop()


async def test_a_callback_holding_the_loop_is_a_stall_of_its_length_and_busy() -> None:
    seen = await held(0.2, busy=True)
    assert seen["switchboard_loop_lag_max_seconds"] >= 0.19
    assert 0.19 <= seen["switchboard_loop_busy_max_seconds"] <= seen["switchboard_loop_lag_max_seconds"]
    assert seen['switchboard_loop_lag_seconds_count'] - seen['switchboard_loop_lag_seconds_bucket{le="0.1"}'] >= 1


async def test_a_loop_held_without_cpu_is_a_stall_but_not_busy() -> None:
    seen = await held(0.2, busy=False)
    assert seen["switchboard_loop_lag_max_seconds"] >= 0.19
    assert seen["switchboard_loop_busy_max_seconds"] < 0.05


async def test_the_peak_is_since_the_previous_scrape() -> None:
    metrics = Metrics()
    probe = LoopProbe(metrics, 0.005)
    probe.record(0.3, 0.3)
    assert gauges(metrics.render())["switchboard_loop_lag_max_seconds"] == 0.3
    probe.record(0.01, 0.0)
    assert gauges(metrics.render())["switchboard_loop_lag_max_seconds"] == 0.01


async def test_every_snapshot_sent_is_timed_and_sized(running: Running) -> None:
    await running.inbound("oi")
    (await running.http.get(f"{running.base}/metrics")).raise_for_status()  # peaks restart
    async with websockets.connect(running.ws_url) as ws:
        await ws.send(msgspec.json.encode(p.Hello(id="h", token=token("ana"))).decode())
        frames = [await ws.recv(), await ws.recv()]
    snapshot = next(f for f in frames if p.frame_decoder.decode(f).__class__ is p.Snapshot)
    seen = gauges((await running.http.get(f"{running.base}/metrics")).text)
    assert seen["switchboard_snapshot_max_bytes"] == len(snapshot.encode() if isinstance(snapshot, str) else snapshot)
    assert seen["switchboard_snapshot_seconds_count"] >= 1
    assert 0 < seen["switchboard_snapshot_max_seconds"] < 5
