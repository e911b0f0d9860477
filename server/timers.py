"""Session timers: lock each conversation's reply window when it passes.

One heap of (due time, conversation id) and one task that sleeps until the
earliest. A renewed window (the contact wrote again) just pushes a later
entry; the stale one is skipped when popped. Firing asks the service to
``expire``, which re-reads the conversation and locks only if the window
really passed, so an early, late or repeated firing is harmless.

Single node: the heap is in this process and is rebuilt from the store at
start (``load``), so a restart loses no lock. A cluster needs the due-set in
Redis, claimed atomically, so each lock fires once whichever nodes are up.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from server.tasks import cancel_and_wait

log = logging.getLogger(__name__)


class Timers(Protocol):
    """The port the app's session windows are timed on. Implemented here for
    one node (``SessionTimers``) and on Redis for a cluster
    (``server/redis/timers.py``).

    Guarantees: each watched window is fired (``fire(conv_id)``, given at
    construction) at least once at or after its due time while the timers
    run; firing early, late or twice is harmless, because ``fire`` re-reads
    and locks only if the window really passed. Not guaranteed: precision
    (the cluster's polls), or firing while the backing store is down (it
    fires on recovery, late)."""

    def watch(self, conv_id: str, due_ms: int | None) -> None:
        """The window of ``conv_id`` locks at ``due_ms``; None: nothing left
        to watch (ended, or locked). Never blocks, never raises."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...

    def __len__(self) -> int:
        """Windows being watched (for the metrics gauge)."""


FireMany = Callable[[list[str]], Awaitable[list[str]]]
"""Fire several due windows in one pass; returns the ids that failed."""


PREPARE_LEAD_MS = 5000
"""How long before windows pass together ``prepare`` is told of them."""

PREPARE_LATEST_MS = 1000
"""Windows due sooner than this are not prepared (it would race their firing)."""

PREPARE_MIN = 200
"""Windows due within the lead together that make a storm worth preparing
(fewer: nothing is prepared; a trickle of windows costs nothing more)."""


class SessionTimers:
    def __init__(
        self,
        fire: Callable[[str], Awaitable[object]],
        clock: Callable[[], int],
        fire_many: FireMany | None = None,
        prepare: Callable[[list[str]], Awaitable[object]] | None = None,
    ) -> None:
        """``fire_many``: when given, everything due at once is fired in one
        call (a lock storm: one batch commit, not one per window).
        ``prepare``: when given, told ``PREPARE_LEAD_MS`` ahead of
        ``PREPARE_MIN`` or more windows due within that lead (a storm
        coming), in a task of its own, so it can do ahead what their firing
        can use (decide the locks for their moment, warm caches). A hint
        only: a window fires whether it was prepared or not, and one
        prepared may be renewed or forgotten since."""
        self._fire = fire
        self._fire_many = fire_many
        self._prepare = prepare
        self._clock = clock
        self._heap: list[tuple[int, str]] = []
        self._due: dict[str, int] = {}
        self._soon: list[tuple[int, str]] = []
        """Like ``_heap`` (the same entries), for ``prepare``: those not yet looked at for it."""
        self._looked_through = 0
        """Entries due up to here were looked at for ``prepare``."""
        self._preparing: asyncio.Task[object] | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._due)

    def watch(self, conv_id: str, due_ms: int | None) -> None:
        """Fire at ``due_ms``; None forgets the conversation (ended, or locked)."""
        if due_ms is None:
            if self._due.pop(conv_id, None) is not None and len(self._heap) > 2 * len(self._due) + 1024:
                # Forgotten entries wait in the heap until their time: rebuild
                # it before they outnumber the live ones (memory stays flat).
                self._heap = [(due, cid) for cid, due in self._due.items()]
                heapq.heapify(self._heap)
                if self._prepare is not None:
                    self._soon = [e for e in self._heap if e[0] > self._looked_through]
                    heapq.heapify(self._soon)
            return
        if self._due.get(conv_id) == due_ms:
            return
        self._due[conv_id] = due_ms
        entry = (due_ms, conv_id)
        heapq.heappush(self._heap, entry)
        if self._prepare is not None:
            heapq.heappush(self._soon, entry)
        if self._heap[0] == (due_ms, conv_id):
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="session-timers")

    async def stop(self) -> None:
        await cancel_and_wait([self._task, self._preparing])

    def _prepare_soon(self, now: int) -> None:
        """Hand ``prepare`` the windows due within the lead, if a storm's worth."""
        horizon = self._looked_through = now + PREPARE_LEAD_MS
        soon: list[str] = []
        while self._soon and self._soon[0][0] <= horizon:
            due, conv_id = heapq.heappop(self._soon)
            if self._due.get(conv_id) == due and due > now + PREPARE_LATEST_MS:
                soon.append(conv_id)
        if self._prepare is not None and len(soon) >= PREPARE_MIN:
            if self._preparing is not None and not self._preparing.done():
                return  # the one before is still at it: this is only a hint
            self._preparing = asyncio.create_task(self.prepared(self._prepare, soon), name="session-timers-prepare")

    @staticmethod
    async def prepared(prepare: Callable[[list[str]], Awaitable[object]], conv_ids: list[str]) -> None:
        try:
            await prepare(conv_ids)
        except Exception:
            log.exception("preparing %d windows failed (they fire all the same)", len(conv_ids))

    async def _run(self) -> None:
        while True:
            now = self._clock()
            if self._soon:
                self._prepare_soon(now)
            due_now: list[str] = []
            while self._heap and self._heap[0][0] <= now:
                due, conv_id = heapq.heappop(self._heap)
                if self._due.get(conv_id) != due:
                    continue  # renewed since: a later entry is waiting
                del self._due[conv_id]
                if self._fire_many is not None:
                    due_now.append(conv_id)
                    continue
                try:
                    await self._fire(conv_id)
                except Exception:
                    log.exception("session timer for %s failed; retrying in 1 s", conv_id)
                    self.watch(conv_id, self._clock() + 1000)
            if due_now and self._fire_many is not None:
                try:
                    failed = await self._fire_many(due_now)
                except Exception:
                    log.exception("session timers for %d windows failed; retrying in 1 s", len(due_now))
                    failed = due_now
                for conv_id in failed:
                    self.watch(conv_id, self._clock() + 1000)
            self._wake.clear()
            delay = (self._heap[0][0] - self._clock()) / 1000 if self._heap else 3600.0
            if self._soon:
                delay = min(delay, (self._soon[0][0] - PREPARE_LEAD_MS - self._clock()) / 1000)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(delay, 0.0))
            except TimeoutError:
                pass
