"""One ringing screen per agent across nodes.

One node: the hub rings the agent's best screen there (in front, else most
recently in front). Several nodes: each node writes the rank of its best
screen of each agent to the Fronts port (server/ringing.py) whenever it
changes (a screen logs in, leaves, comes to the front or leaves it) and
renews them on a heartbeat; on an alert, every node with a screen of the
agent asks the port for the winner, and only the winning node rings, after
claiming the alert (``SET NX PX``: never two rings for one alert, even while
two nodes' views of the ranks differ for a moment). With no entry for the
agent at all (screens still connecting), the first node to claim rings.

Rank changes are written in order (one lock), each with the rank as it is
when written, so the last write for an agent is its current rank."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from server.ringing import Fronts, Rank
from server.ws.hub import Hub

log = logging.getLogger(__name__)

CLAIM_MS = 60_000
"""How long an alert's claim is kept (far longer than its delivery takes)."""


class Ringer:
    def __init__(self, hub: Hub, fronts: Fronts, node_id: str, clock: Callable[[], int], *, valid_ms: int) -> None:
        self.hub = hub
        self.fronts = fronts
        self.node_id = node_id
        self.clock = clock
        self.valid_ms = valid_ms
        """An entry counts this long after it was written: renewed every third of it."""
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._heartbeat: asyncio.Task[None] | None = None

    def _rank(self, agent_id: str) -> Rank | None:
        screen = self.hub.best_screen(agent_id)
        if screen is None:
            return None
        front, at = screen.ring_rank()
        return (front, int(at))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def changed(self, agent_id: str) -> asyncio.Task[None]:
        """The agent's screens here changed: write their best rank (the task
        ends once it is written)."""
        return self._spawn(self._put(agent_id))

    async def _put(self, agent_id: str) -> None:
        async with self._lock:
            try:
                await self.fronts.put(agent_id, self.node_id, self._rank(agent_id), self.clock() + self.valid_ms)
            except Exception:
                log.exception("ringing: the front screen of %s could not be written", agent_id)

    def alert(self, agent_id: str, stream: str, seq: int) -> None:
        self._spawn(self._alert(agent_id, stream, seq))

    async def _alert(self, agent_id: str, stream: str, seq: int) -> None:
        try:
            winner = await self.fronts.winner(agent_id, self.clock())
            # None: no node has said where the agent's screens are yet (just
            # connected): whichever node claims the alert first rings.
            if winner not in (None, self.node_id):
                return
            if not await self.fronts.claim(f"{stream}:{seq}", CLAIM_MS):
                return
        except Exception:
            log.exception("ringing: alert %s:%d not rung", stream, seq)
            return
        screen = self.hub.best_screen(agent_id)
        if screen is not None:
            screen.ring(stream, seq)

    def start(self) -> None:
        self._heartbeat = asyncio.create_task(self._renew())

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.valid_ms / 3000)
            ranks = {a: r for a in self.hub.agents() if (r := self._rank(a)) is not None}
            async with self._lock:
                try:
                    await self.fronts.put_many(self.node_id, ranks, self.clock() + self.valid_ms)
                except Exception:
                    log.exception("ringing: front screens not renewed")

    async def stop(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, *([self._heartbeat] if self._heartbeat else []), return_exceptions=True)
        await self.fronts.close()
