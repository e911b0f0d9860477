"""Session timers for a cluster: one due-set in Redis, claimed atomically.

    sb:timers:{t}:due     zset  conversation id → when its reply window locks (ms)
    sb:timers:{t}:lease   zset  conversation id → until when a node is firing it

One writer per key. The due-set is written only by the store's commit, from
the outcome the core decided (RedisStore ``windows``): the window's lock
time when it opens or moves (ZADD GT), nothing when it is locked or the
conversation ended (ZREM); in the commit's own script on one Redis, through
the shard's outbox (written in that same script) on a Redis Cluster, so a
node killed right after a commit loses no timer. The lease set is written
only by these timers. (Before, ``watch`` also wrote the due-set from every
node's memory: a queued watch could bring back an entry a commit on another
node had removed, and three bugs came from the two writers.)

Every node polls every ``poll_seconds``. One Lua script drops the leases
that ran out, then leases the due entries no live lease holds, so each entry
is handed to one node at a time. That node calls ``expire(conv_id)``, which
re-reads the conversation and locks only if the window really passed; the
lock's commit removes the entry, and the node drops its lease. A window
renewed meanwhile was moved later by the renewal's commit: nothing to do. A
fire that failed keeps its lease until it runs out (as does a node that died
mid-fire); then a node fires it again. A repeated fire is harmless (the lock
is a version-checked commit, so ``session.locked`` is published once per
expiry; an entry whose removal is still on its way through a shard's outbox
fires again and finds the window locked).

A storm coming (``PREPARE_MIN`` or more windows due within the next
``PREPARE_LEAD_MS``) is told to ``prepare`` ahead, on every node, as the
single node's ``SessionTimers`` do: a hint for warming caches (each node
may be handed any of the storm's windows), never a decision.

What it does not do: fire more precisely than ``poll_seconds`` (default
0.25 s), or fire while Redis is down (it fires on recovery, late).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from server.metrics import Metrics
from server.redis.store import DUE_SET, UNREACHABLE, connect
from server.tasks import cancel_and_wait
from server.timers import PREPARE_LATEST_MS, PREPARE_LEAD_MS, PREPARE_MIN, FireMany, SessionTimers

log = logging.getLogger(__name__)

CLAIM = """
local now = tonumber(ARGV[1])
local batch = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, batch + redis.call('ZCARD', KEYS[2]))
local claimed = {}
for _, id in ipairs(due) do
  if #claimed >= batch then break end
  if not redis.call('ZSCORE', KEYS[2], id) then
    redis.call('ZADD', KEYS[2], ARGV[2], id)
    claimed[#claimed + 1] = id
  end
end
return {claimed, redis.call('ZCARD', KEYS[1])}
"""

RELEASE = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
"""

# KEYS: 1 lease set   ARGV: 1 the lease's score, 2… the ids fired under it
RELEASE_MANY = """
local gone = 0
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) == ARGV[1] then
    gone = gone + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return gone
"""


class ClusterTimers:
    """The Timers port on Redis: ``watch``, ``start``, ``stop``, ``len``."""

    def __init__(
        self,
        url: str,
        fire: Callable[[str], Awaitable[bool]],
        clock: Callable[[], int],
        *,
        poll_seconds: float = 0.25,
        lease_ms: int = 5_000,
        batch: int = 500,
        prefix: str = "sb:",
        metrics: Metrics | None = None,
        fire_many: FireMany | None = None,
        due_set: str = DUE_SET,
        name: str = "timers",
        prepare: Callable[[list[str]], Awaitable[object]] | None = None,
    ) -> None:
        """``fire_many``: fire each claimed batch in one call (one batch
        commit), release its leases in one script, and claim again at once
        while full batches come back (a lock storm is not paced by the poll).
        ``prepare``: told of a storm ``PREPARE_LEAD_MS`` ahead (the due-set
        looked at once a second), in a task of its own."""
        self._r = connect(url, max_connections=4)
        self._fire = fire
        self._fire_many = fire_many
        self._clock = clock
        self._poll = poll_seconds
        self._lease_ms = lease_ms
        self._batch = batch
        self._due_key = prefix + due_set
        self._lease_key = f"{prefix}{name}:{{t}}:lease"
        self._claim = self._r.register_script(CLAIM)
        self._release = self._r.register_script(RELEASE)
        self._release_many = self._r.register_script(RELEASE_MANY)
        self._count = 0
        self._task: asyncio.Task[None] | None = None
        self._prepare = prepare
        self._preparing: asyncio.Task[None] | None = None
        self._looked_through = 0
        """Windows due up to here (ms) were looked at for ``prepare``."""
        m = metrics if metrics is not None else Metrics()
        self.fired = m.counter("switchboard_timers_fired_total", "Due timers this node claimed and fired")

    def __len__(self) -> int:
        """Entries in the cluster's due-set at the last poll."""
        return self._count

    def watch(self, conv_id: str, due_ms: int | None) -> None:
        """Nothing to do: the commit that moved the window already wrote the
        due-set (it is the key's only writer)."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"cluster-{self._lease_key}")

    async def stop(self) -> None:
        await cancel_and_wait([self._task, self._preparing])
        await self._r.aclose()

    async def _run(self) -> None:
        while True:
            try:
                await self._look_ahead(self._clock())
                while await self._tick() >= self._batch and self._fire_many is not None:
                    pass  # a full batch: more may be due
            except UNREACHABLE as e:
                log.warning("session timers: redis unreachable (%s); retrying", e)
                await asyncio.sleep(1.0)
            except Exception:
                log.exception("session timers: poll failed")
                await asyncio.sleep(1.0)
            await asyncio.sleep(self._poll)

    async def _look_ahead(self, now: int) -> None:
        """Once a second: the windows due from ``PREPARE_LATEST_MS`` to
        ``PREPARE_LEAD_MS`` from now not looked at yet; a storm's worth goes
        to ``prepare`` (unless the one before is still at it)."""
        horizon = now + PREPARE_LEAD_MS
        low = max(self._looked_through, now + PREPARE_LATEST_MS)
        if self._prepare is None or horizon - self._looked_through < 1000:
            return
        soon = await self._r.zrangebyscore(self._due_key, f"({low}", horizon)
        self._looked_through = horizon
        if len(soon) >= PREPARE_MIN and (self._preparing is None or self._preparing.done()):
            ids = [raw.decode() for raw in soon]
            self._preparing = asyncio.create_task(SessionTimers.prepared(self._prepare, ids), name="cluster-timers-prepare")

    async def _tick(self) -> int:
        """Claim and fire what is due; returns how many were claimed."""
        now = self._clock()
        lease = now + self._lease_ms
        due, self._count = await self._claim(keys=[self._due_key, self._lease_key], args=[now, lease, self._batch])
        if self._fire_many is not None and due:
            conv_ids = [raw.decode() for raw in due]
            try:
                failed = set(await self._fire_many(conv_ids))
            except Exception:
                # The leases run out and some node fires them again.
                log.exception("session timers for %d windows failed; retried after the lease", len(conv_ids))
                return 0
            done = [c for c in conv_ids if c not in failed]
            self.fired.inc(len(done))
            if done:
                await self._release_many(keys=[self._lease_key], args=[lease, *done])
            return len(due)
        for raw in due:
            conv_id = raw.decode()
            try:
                await self._fire(conv_id)
            except Exception:
                # The lease runs out and some node fires it again.
                log.exception("session timer for %s failed; retried after the lease", conv_id)
                continue
            self.fired.inc()
            await self._release(keys=[self._lease_key], args=[conv_id, lease])
        return len(due)
