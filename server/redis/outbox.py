"""The Redis store's outbox: cross-slot index updates, applied after a commit.

On a sharded Redis Cluster one script can only touch the keys of one hash
slot. A commit's own rules (version check, the thread's latest conversation,
channel-message-id dedup) are all in the thread's shard slot, so the commit
stays one atomic script there (server/redis/store.py). What it cannot do in
that script is update the indexes that gather many threads: the queues'
inboxes, the agents' assigned lists, a contact's conversations, the pending
outbound messages, the session timers' due-set, the lookup of Meta's message
ids. Instead, the commit script appends those updates (a list of idempotent
Redis commands) to its shard's outbox, in the same atomic step, and this
module applies them:

    sb:{s}:ob     list  entries not yet applied, oldest first (msgpack command lists)
    sb:{s}:obn    str   entries ever appended to the shard (the newest entry's number)
    sb:{s}:oba    str   entries applied (the list holds entries oba+1 … obn)
    sb:{s}:obl    str   the drain lease: whoever holds it applies the shard's entries

Rules that keep the indexes right:

- **One drainer per shard, in order.** Entries of one conversation must be
  applied in commit order (claimed, then sent back to the inbox, must not
  end up claimed). A drainer takes the shard's lease (SET NX PX), applies the
  oldest entries, and trims them, in one script that checks it still holds
  the lease; it releases the lease in the same script that finds the outbox
  empty, so an entry appended meanwhile is never left behind by a drainer
  that just gave up.
- **A commit returns after its entry is applied** (``settle``): it drains the
  shard itself (the commit script takes the lease when it is free and hands
  back the first entries, so a quiet shard costs two round trips more than a
  commit on one Redis: the index commands, and the trim), or waits for the
  drainer that holds the lease to pass its entry. So a client that reads a
  list after a change sees it, and an event published after a commit never
  reaches a screen before the lists do.
- **Every command is idempotent** (ZADD, ZREM, SADD, SREM, SET, HSET, HDEL, ZADD GT), so
  an entry applied twice (its drainer died before trimming it) does no harm.
- **Nothing waits forever on a dead node.** A drainer that dies leaves its
  lease to run out (``lease_ms``); the next commit in the shard, or the
  sweeper every node runs (every ``sweep_seconds``, one pipelined LLEN per
  shard), takes over and applies what is left.

What it does not guarantee: that the indexes are current when Redis (the
primary an index lives on) does not answer for two leases' time: the commit
is then acknowledged with its entry still queued (``late``), and the sweeper
applies it once Redis answers. And a drainer paused for longer than its lease
(a frozen process that wakes up) may re-apply entries after its successor
applied later ones, leaving an index entry stale until that conversation's
next change. List reads re-check every conversation they return, so a
stale entry can hide a conversation from a list for that long, never show
a wrong one.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any

import msgspec
from redis.exceptions import ResponseError

from server.core import ids
from server.metrics import Metrics
from server.tasks import cancel_and_wait

log = logging.getLogger(__name__)

Command = list[str]
"""One Redis command: name, key, arguments."""

_encode = msgspec.msgpack.Encoder().encode
_entry = msgspec.msgpack.Decoder(list[Command]).decode

# KEYS: 1 applied, 2 lease   ARGV: 1 entry, 2 token, 3 lease ms
# → 1 applied already, 2 the lease is yours, 0 someone else is draining
SETTLE = """
if tonumber(redis.call('GET', KEYS[1]) or '0') >= tonumber(ARGV[1]) then return 1 end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then return 2 end
return 0
"""

# KEYS: 1 lease, 2 outbox, 3 applied   ARGV: 1 token, 2 entries just applied, 3 batch, 4 lease ms
# → false if the lease is not ours (any more); else the next entries, [] once
#   the outbox is empty (the lease is then released)
DRAIN = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
local done = tonumber(ARGV[2])
if done > 0 then
  redis.call('LTRIM', KEYS[2], done, -1)
  redis.call('INCRBY', KEYS[3], done)
end
local rest = redis.call('LRANGE', KEYS[2], 0, tonumber(ARGV[3]) - 1)
if #rest == 0 then
  redis.call('DEL', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return rest
"""

TAKE = "return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0"

RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


def encode(commands: list[Command]) -> bytes:
    return _encode(commands)


class Outbox:
    """Applies the outbox entries of the Redis store's shards (see the module
    docstring). ``client`` is the store's client (standalone or cluster)."""

    def __init__(
        self,
        client: Any,
        prefix: str,
        *,
        lease_ms: int = 5_000,
        batch: int = 64,
        sweep_seconds: float = 2.0,
        unreachable: tuple[type[BaseException], ...] = (),
        metrics: Metrics | None = None,
    ) -> None:
        self._r = client
        self._p = prefix
        self._lease_ms = lease_ms
        self._batch = batch
        self._lease_args = (str(lease_ms), str(batch))
        self._sweep_seconds = sweep_seconds
        self._unreachable = unreachable
        self._settle = client.register_script(SETTLE)
        self._drain_script = client.register_script(DRAIN)
        self._take = client.register_script(TAKE)
        self._release = client.register_script(RELEASE)
        self._task: asyncio.Task[None] | None = None
        # Unexported when the store was given no metrics (the store's own tests).
        m = metrics if metrics is not None else Metrics()
        self.applied = m.counter("switchboard_outbox_applied_total", "Outbox entries (index updates of one commit) this node applied")
        self.swept = m.counter("switchboard_outbox_swept_total", "Shards whose leftover entries the sweeper applied (a drainer died or Redis failed mid-drain)")
        self.late = m.counter("switchboard_outbox_late_total", "Commits that returned before their index updates were applied")

    # keys ------------------------------------------------------------------------
    def key(self, shard: str, name: str) -> str:
        return f"{self._p}{{{shard}}}:{name}"

    def keys(self, shard: str) -> tuple[str, str, str]:
        """(outbox, entries-ever counter, lease): what the commit script writes."""
        return self.key(shard, "ob"), self.key(shard, "obn"), self.key(shard, "obl")

    # after a commit ----------------------------------------------------------------
    def lease(self) -> tuple[str, str, str]:
        """(token, lease ms, batch), as a script's arguments, for a commit
        script that takes the shard's lease itself when it is free (and
        returns the first batch)."""
        return secrets.token_hex(8), self._lease_args[0], self._lease_args[1]

    async def settle(self, shard: str, entry: int, leased: tuple[str, list[bytes]] | None = None) -> None:
        """Return once entry ``entry`` of ``shard`` is applied (by us or by
        the drainer holding the lease), or give up after two leases' time
        (Redis, or a node of it, stops answering; the sweeper finishes then).
        ``leased``: (token, first batch) when the commit script took the
        lease for us. Never raises: the commit it follows is done, whatever
        happens here."""
        patience = 2 * self._lease_ms / 1000
        deadline = time.monotonic() + patience
        busy = 0.001  # another drainer has it: it is applying our entry right now
        problem: object = "another drainer held the lease"
        if leased is not None:
            try:
                await self._drain(shard, leased[0], first=leased[1])
                return
            except Exception as e:
                problem = e  # released: wait and try again below
        while True:
            try:
                token = secrets.token_hex(8)
                state = await self._settle(
                    keys=[self.key(shard, "oba"), self.key(shard, "obl")], args=[entry, token, self._lease_ms]
                )
                if state == 1:
                    return
                if state == 2:
                    await self._drain(shard, token)
                    return  # our entry was in the outbox before we took the lease
                delay = busy
                busy = min(busy * 2, 0.02)
            except Exception as e:
                problem, delay = e, 0.1  # part of Redis is down: try again, slower
            if time.monotonic() + delay > deadline:
                self.late.inc()
                log.warning("outbox %s: entry %d not applied within %.0f s (%s); left to the sweeper", shard, entry, patience, problem)
                return
            await asyncio.sleep(delay)

    async def _drain(self, shard: str, token: str, first: list[bytes] | None = None) -> None:
        keys = [self.key(shard, "obl"), self.key(shard, "ob"), self.key(shard, "oba")]
        done = 0
        try:
            while True:
                if first is not None:
                    batch, first = first, None
                else:
                    batch = await self._drain_script(keys=keys, args=[token, done, self._batch, self._lease_ms])
                if not batch:
                    return  # empty (lease released), or the lease ran out under us
                await self._apply(shard, [_entry(blob) for blob in batch])
                done = len(batch)
        except BaseException:
            # Part of a batch may be applied: it is applied again, whole and in
            # order, by whoever drains next, which need not wait for the lease.
            try:
                await self._release(keys=[keys[0]], args=[token])
            except Exception:
                pass  # it runs out by itself
            raise

    async def _apply(self, shard: str, entries: list[list[Command]]) -> None:
        """One pipeline, in entry order. Commands on one key go to one node
        in order, and commands on different keys commute, so the pipeline's
        split across cluster nodes keeps the order that matters."""
        async with self._r.pipeline(transaction=False) as pipe:
            for commands in entries:
                for command in commands:
                    pipe.execute_command(*command)
            results = await pipe.execute(raise_on_error=False)
        for result in results:
            if isinstance(result, self._unreachable):
                raise result  # keep the entries: whoever drains next applies them again
            if isinstance(result, ResponseError):
                # Our own command refused (a key of another type?): applying it
                # again cannot help, and holding the shard back would stall it.
                log.error("outbox %s: command refused, skipped: %s", shard, result)
        self.applied.inc(len(entries))

    # the sweeper ---------------------------------------------------------------------
    async def sweep(self) -> int:
        """Apply what is left in any shard's outbox whose lease is free (a
        drainer died). Returns the shards drained."""
        shards = ids.all_shards()
        async with self._r.pipeline(transaction=False) as pipe:
            for shard in shards:
                pipe.llen(self.key(shard, "ob"))
            lengths = await pipe.execute()
        drained = 0
        for shard, length in zip(shards, lengths, strict=True):
            if not length:
                continue
            token = secrets.token_hex(8)
            if await self._take(keys=[self.key(shard, "obl")], args=[token, self._lease_ms]):
                await self._drain(shard, token)
                drained += 1
        self.swept.inc(drained)
        return drained

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="redis-outbox-sweeper")

    async def stop(self) -> None:
        await cancel_and_wait([self._task])
        self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_seconds)
            try:
                if drained := await self.sweep():
                    log.info("outbox sweeper applied what %d shard(s) had left", drained)
            except self._unreachable as e:
                log.warning("outbox sweeper: redis unreachable (%s)", e)
            except Exception:
                log.exception("outbox sweeper failed")
