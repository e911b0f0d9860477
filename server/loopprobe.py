"""The event loop's lateness, measured from inside: a task that sleeps
``every`` seconds and records how much later than asked it woke. A callback
that holds the loop (a big snapshot built in one go, a full garbage
collection, a synchronous store call) shows as a late wake, within ``every``
of the stall's length. Exported as ``switchboard_loop_lag_seconds`` (a
histogram) and ``switchboard_loop_lag_max_seconds`` (the longest since the
previous scrape), see docs/OPERATIONS.md.

A late wake has two causes: the loop was busy (this process's own work),
or the process was not running (a machine short of CPU, other threads
holding the GIL). ``switchboard_loop_busy_max_seconds`` tells them apart:
of a late wake, the part the loop's thread spent on the CPU (its thread
time over the interval, at most the lateness)."""

from __future__ import annotations

import asyncio
import time

from server.metrics import Histogram, Metrics, Peak


class LoopProbe:
    def __init__(self, metrics: Metrics, every: float) -> None:
        self.every = every
        self.lag = Histogram("switchboard_loop_lag_seconds", "How late the loop probe woke (event-loop stalls)")
        self.peak = Peak("switchboard_loop_lag_max_seconds", "Longest event-loop stall since the previous scrape")
        self.busy = Peak(
            "switchboard_loop_busy_max_seconds", "Of the longest stalls since the previous scrape, the loop's own CPU time"
        )
        metrics.add(self.lag)
        metrics.add(self.peak)
        metrics.add(self.busy)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.every > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="loop-probe")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    def record(self, late: float, cpu: float) -> None:
        """A wake ``late`` seconds late, the loop's thread having used ``cpu``
        seconds of CPU since it went to sleep."""
        late = max(0.0, late)
        self.lag.observe(late)
        self.peak.observe(late)
        self.busy.observe(min(late, max(0.0, cpu)))

    async def _run(self) -> None:
        every = self.every
        while True:
            asked = time.perf_counter() + every
            cpu = time.thread_time()
            await asyncio.sleep(every)
            self.record(time.perf_counter() - asked, time.thread_time() - cpu)
