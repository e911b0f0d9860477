"""Session timers for a cluster: one due-set in Redis, claimed atomically.

    sb:timers:{t}:due     zset  conversation id → when its reply window locks (ms)
    sb:timers:{t}:lease   zset  conversation id → until when a node is firing it

Every node polls every ``poll_seconds``. One Lua script moves the entries that
are due into the lease set (and first puts back any lease that ran out: its
node died mid-fire), so each entry is handed to exactly one node. That node
calls ``expire(conv_id)``, which re-reads the conversation and locks only if
the window really passed, then drops the lease. The lock itself is a
version-checked commit, so even a retried fire publishes ``session.locked``
once per expiry.

- Renewals only move an entry later (ZADD GT): a stale watch from a slow node
  never pulls a renewed window back.
- A fire that finds the window not passed (the contact wrote meanwhile, or
  this node's clock is behind) watches the conversation again at its current
  expiry, so a renewal that was lost on the way is not lost for good.
- The store's commit writes each conversation's lock time into the due-set
  with the change (RedisStore ``windows``): in the same script on one Redis,
  through the shard's outbox (written in that same script) on a Redis
  Cluster, so a node killed right after a commit loses no timer. ``watch`` (from the
  service) writes it again on the next poll; watches made while Redis is
  unreachable wait in memory until it answers. With ``store_writes`` (as the
  nodes run), a watch only moves an entry that is still there later (ZADD XX
  GT): the commit that ended the conversation removed it, and a watch still
  queued on another node must not bring it back for the rest of its 24 hours
  (found by the soak on Redis: the due-set grew with every conversation ended
  on another node than the one that last saw its contact write). Only
  ``rearm``, after a fire found the window not passed, adds an entry back.

What it does not do: fire more precisely than ``poll_seconds`` (default
0.25 s), or fire while Redis is down (it fires on recovery, late).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from server.metrics import Metrics
from server.store.redis import DUE_SET, UNREACHABLE, connect
from server.tasks import cancel_and_wait

log = logging.getLogger(__name__)

CLAIM = """
local now = tonumber(ARGV[1])
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(stale) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[1], 'NX', now, id)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], ARGV[2], id)
end
return {due, redis.call('ZCARD', KEYS[1])}
"""

RELEASE = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
"""


class ClusterTimers:
    """Same face as ``SessionTimers``: ``watch``, ``start``, ``stop``, ``len``."""

    def __init__(
        self,
        url: str,
        fire: Callable[[str], Awaitable[bool]],
        clock: Callable[[], int],
        *,
        rewatch: Callable[[str], Awaitable[None]] | None = None,
        poll_seconds: float = 0.25,
        lease_ms: int = 5_000,
        batch: int = 100,
        prefix: str = "sb:",
        metrics: Metrics | None = None,
        store_writes: bool = False,
    ) -> None:
        self._r = connect(url, max_connections=4)
        self._store_writes = store_writes
        self._rearms: dict[str, int] = {}
        self._fire = fire
        self._rewatch = rewatch
        self._clock = clock
        self._poll = poll_seconds
        self._lease_ms = lease_ms
        self._batch = batch
        self._due_key = prefix + DUE_SET
        self._lease_key = f"{prefix}timers:{{t}}:lease"
        self._claim = self._r.register_script(CLAIM)
        self._release = self._r.register_script(RELEASE)
        self._unsent: dict[str, int] = {}
        self._count = 0
        self._task: asyncio.Task[None] | None = None
        m = metrics if metrics is not None else Metrics()
        self.fired = m.counter("switchboard_timers_fired_total", "Due timers this node claimed and fired")

    def __len__(self) -> int:
        """Entries in the cluster's due-set at the last poll, plus unsent watches."""
        return self._count + len(self._unsent)

    def watch(self, conv_id: str, due_ms: int | None) -> None:
        """Sync (called from the service): queued, written on the next poll.
        None (nothing left to watch) drops an unsent watch; the store's commit
        already took the conversation out of the due-set."""
        if due_ms is None:
            self._unsent.pop(conv_id, None)
            self._rearms.pop(conv_id, None)
        elif self._unsent.get(conv_id, 0) < due_ms:
            self._unsent[conv_id] = due_ms

    def rearm(self, conv_id: str, due_ms: int) -> None:
        """Put back an entry a fire took out without locking (the window had
        been renewed, or this node's clock is behind): added, not only moved."""
        if self._rearms.get(conv_id, 0) < due_ms:
            self._rearms[conv_id] = due_ms

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="cluster-timers")

    async def stop(self) -> None:
        await cancel_and_wait([self._task])
        try:
            await self._flush()  # hand what we were told to the other nodes
        except Exception:
            pass
        await self._r.aclose()

    async def _run(self) -> None:
        while True:
            try:
                await self._flush()
                await self._tick()
            except UNREACHABLE as e:
                log.warning("session timers: redis unreachable (%s); retrying", e)
                await asyncio.sleep(1.0)
            except Exception:
                log.exception("session timers: poll failed")
                await asyncio.sleep(1.0)
            await asyncio.sleep(self._poll)

    async def _flush(self) -> None:
        rearms, self._rearms = self._rearms, {}
        watches, self._unsent = self._unsent, {}
        try:
            if rearms:
                await self._r.zadd(self._due_key, rearms, gt=True)
            if watches:
                await self._r.zadd(self._due_key, watches, xx=self._store_writes, gt=True)
        except BaseException:  # queued again; writing twice is harmless (GT)
            for conv_id, due in rearms.items():
                self.rearm(conv_id, due)
            for conv_id, due in watches.items():
                self.watch(conv_id, due)
            raise

    async def _tick(self) -> None:
        now = self._clock()
        lease = now + self._lease_ms
        due, self._count = await self._claim(keys=[self._due_key, self._lease_key], args=[now, lease, self._batch])
        for raw in due:
            conv_id = raw.decode()
            try:
                locked = await self._fire(conv_id)
                if not locked and self._rewatch is not None:
                    await self._rewatch(conv_id)  # calls rearm if the window is still open
            except Exception:
                # Keep the lease: when it runs out, some node fires it again.
                log.exception("session timer for %s failed; retried after the lease", conv_id)
                continue
            self.fired.inc()
            await self._release(keys=[self._lease_key], args=[conv_id, lease])
