"""Redis store: the cluster's shared state, with the guarantees of ``base.Store``.

Runs on one Redis (standalone, or a primary with replicas under Sentinel) or
on a sharded Redis Cluster (``redis+cluster://`` URLs), with one key layout.
Values are msgspec msgpack blobs, as in SqliteStore. Keys (prefix ``sb:``):

    --- a thread's shard: one hash slot, ``{s}`` = the shard in its ids (core/ids.py)
    sb:{s}:c:<conv>              hash  v = version, b = Conversation blob
    sb:{s}:m:<conv>              list  message blobs, index = seq - 1
    sb:{s}:n:<conv>              list  note blobs, in order written
    sb:{s}:latest:<contact>:<tp> str   the thread's newest conversation
    sb:{s}:cmid:<channel msg id> str   our message id: the dedup key of retried webhooks
    sb:{s}:mid:<message id>      str   "<seq>|<conv>": where a message lives
    sb:{s}:req:<contact>:<tp>:<n>:<agent>:<key>
                                 str   a send's idempotency key (n = len(agent)) → its message id; PX = the key's ttl
    sb:{s}:ob, obn, oba, obl     the shard's outbox (outbox.py)
    --- indexes across threads, kept by the commit's index commands
    sb:inbox:<queue>             zset  open unassigned conversations, score = activity
    sb:assigned:<agent>          zset  open conversations of the agent, score = activity
    sb:waiting:<queue>           zset  the queue's waiting line (routing.is_waiting), score = arrival
    sb:ringing:<queue>           zset  its unassigned conversations with an offer ringing, score = arrival
    sb:routing:filled            str   set once the lines and loads were filled (data from before them)
    sb:wrapup:<agent>            zset  the agent's To wrap up list (fanout.wrap_up_holder), score = activity
    sb:unread:<agent>            hash  the same conversations → their unread count (the agent's counters)
    sb:load:<agent>              hash  open conversations counting in their routing load → channel (routing.loaded)
    sb:contact:<contact>:cs      zset  the contact's conversations, score = created_at
    sb:cmid:<channel msg id>     str   our message id, for lookups by Meta's id
    sb:pending                   zset  outbound messages not yet accepted, score = at
    sb:unlocked                  set   open conversations whose session is not locked
    sb:timers:{t}:due            zset  session timers: conversation → lock time (timers.py; written only here)
    --- single keys
    sb:send:<message id>         hash  the outbound sender's lease: owner, until, attempts
    sb:contact:<contact>         str   Contact blob;  sb:contacts  zset of contact ids
    sb:revoked                   hash  token revocations: key → value (see base.Store.revoke)

``commit`` is one Lua script on the thread's shard: it checks the version
(or, when creating, that the thread's latest conversation is still
``expected_latest``), the channel message id and the updated message, then
writes the conversation, its message or note, or nothing. A script runs
alone on its shard, so two writers on any nodes can never both win. The
cross-thread indexes follow from a list of idempotent commands the commit
computes (``_index_commands``): on one Redis the script runs them itself, in
the same atomic step; on a Redis Cluster it appends them to the shard's
outbox in that step, and they are applied before ``commit`` returns (or,
if this node dies in between, by any other node: see outbox.py).

Reads of several keys are pipelines of single-key commands, and list reads
re-check each conversation they return, so they never depend on an index
being in the same slot, or current to the microsecond. Ids that name no
shard (not minted by the service) are not found.

Redis unreachable (refused, reset, timed out, still loading its AOF, a
Cluster slot without a primary) raises ``StoreUnavailable``: commands answer
``unavailable`` and webhooks 503.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, NamedTuple, ParamSpec, TypeVar

import msgspec
import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ClusterDownError, RedisClusterException, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.maint_notifications import MaintNotificationsConfig

from server.core import fanout, ids, routing, session
from server.core.conversation import Outcome
from server.core.model import Contact, Conversation, Message, Note, WindowPolicy
from server.metrics import Metrics
from server.redis import outbox as redis_outbox
from server.redis import wire
from server.store.base import DuplicateMessage, DuplicateRequest, StoreError, StoreUnavailable, VersionConflict

_encode = msgspec.msgpack.Encoder().encode
_contact = msgspec.msgpack.Decoder(Contact).decode
_conversation = msgspec.msgpack.Decoder(Conversation).decode
_message = msgspec.msgpack.Decoder(Message).decode
_note = msgspec.msgpack.Decoder(Note).decode

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError, ClusterDownError, TryAgainError, RedisClusterException)
"""Redis could not be asked (BusyLoadingError is a ConnectionError too; a
Cluster with a slot not served, or no node reachable, raises the others)."""


def as_bytes(items: list[str | bytes]) -> list[str | bytes]:
    """A hot command's keys and arguments as bytes, for a Redis Cluster's
    connections: redis-py takes bytes through in about half the Python calls
    it spends encoding a str (type checks in three layers per argument; a
    lock's commit carries ~45 arguments). On one Redis they go as they are:
    its connections (``wire``) pack str and bytes alike in one C call."""
    return [a if a.__class__ is bytes else a.encode() for a in items]  # type: ignore[union-attr]


CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


class Cluster(RedisCluster):
    """RedisCluster that learns the cluster's layout before its first command.
    redis-py 8.1's client breaks when its very first commands run
    concurrently ("Connection closed by server", a writer of None): several
    coroutines resolve command policies through the startup node while it is
    being set up. One lock-guarded ``initialize`` first avoids it (later
    re-initializations, after a failover, are safe: measured with 16 at once)."""

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        if self._initialize:
            await self.initialize()
        return await super().execute_command(*args, **kwargs)


def is_cluster_url(url: str) -> bool:
    return url.partition("://")[0] in CLUSTER_SCHEMES


def connect(url: str, *, socket_timeout: float = 5.0, max_connections: int = 64) -> Any:
    """A client that fails fast instead of retrying behind our back: a
    command that may or may not have run is reported, never silently re-sent,
    and an unreachable Redis surfaces at once as an error the caller maps.
    ``redis+cluster://host:port`` (or ``rediss+cluster://``) connects to a
    Redis Cluster through any of its nodes; the client finds the others and
    follows slot moves (MOVED/ASK are redirections, not retries).

    On one Redis, a command that finds all ``max_connections`` busy waits
    for one to come free (up to ``socket_timeout``) instead of failing: with
    redis-py's default pool, 1,000 agents connecting at once had their
    hellos' reads refused as "Too many connections" past the 64th, each
    agent refused ``unavailable`` and back after its backoff (``python -m
    bench cluster``: 54–101 refused, 60 s to connect them all). Waiting for
    a connection is not a retry: nothing was sent."""
    options: dict[str, Any] = dict(
        socket_timeout=socket_timeout,
        socket_connect_timeout=min(socket_timeout, 2.0),
        retry=Retry(NoBackoff(), 0),
        max_connections=max_connections,
        health_check_interval=0,
        # Off: redis-py 8 would send CLIENT MAINT_NOTIFICATIONS (a managed-Redis
        # command open-source Redis 7 does not know) on every new connection.
        maint_notifications_config=MaintNotificationsConfig(enabled=False),
    )
    scheme, _, rest = url.partition("://")
    if scheme in CLUSTER_SCHEMES:
        return Cluster.from_url(f"{CLUSTER_SCHEMES[scheme]}://{rest}", **options)
    pool = redis.BlockingConnectionPool.from_url(url, connection_class=wire.connection_class(url), timeout=socket_timeout, **options)
    return redis.Redis.from_pool(pool)


P = ParamSpec("P")
T = TypeVar("T")


def _unavailable(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    @functools.wraps(fn)
    async def wrapped(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except UNREACHABLE as e:
            raise StoreUnavailable(f"redis: {e}") from e

    return wrapped


# KEYS (all in the thread's shard): 1 conv, 2 messages, 3 notes, 4 latest,
#       5 shard cmid of the new message, 6 mid of the new message,
#       7 shard cmid of the updated message, 8 mid of the updated message,
#       9 outbox, 10 outbox entries-ever counter, 11 outbox lease,
#       12 the send's idempotency key, 13 mid of the timeline entry before the new message
# ARGV: 1 cid, 2 creating (0/1), 3 expected version or expected latest id,
#       4 new version, 5 conv blob,
#       6 new message: seq ('' = none), 7 its blob, 8 its channel id, 9 its id,
#       10 updated message: seq ('' = none), 11 blob, 12 channel id, 13 id,
#       14 note blob ('' = none),
#       15 the index commands (msgpack list of commands; '' = none), 16 run them here (1) or queue them (0),
#       17 a lease token, 18 lease ms, 19 batch: queued, take the outbox lease if free,
#       20 the idempotency key's message id ('' = none), 21 its ttl ms,
#       22 timeline entry before the new message: seq ('' = none; the new message's seq - 1), 23 its blob
# Returns {'ok', outbox entry number (0: nothing queued), the first entries to
# apply when the lease was taken} or {'conflict'|'duplicate'|'request', detail}.
COMMIT = """
local cid = ARGV[1]
if ARGV[2] == '1' then
  if redis.call('EXISTS', KEYS[1]) == 1 then return {'conflict', 'exists'} end
  local latest = redis.call('GET', KEYS[4])
  if (latest or '') ~= ARGV[3] then return {'conflict', 'latest'} end
else
  local v = redis.call('HGET', KEYS[1], 'v')
  if v ~= ARGV[3] then return {'conflict', 'version'} end
end
if ARGV[6] ~= '' then
  if ARGV[8] ~= '' and redis.call('EXISTS', KEYS[5]) == 1 then return {'duplicate', ARGV[8]} end
  local before = tonumber(ARGV[6]) - 1
  if ARGV[22] ~= '' then before = before - 1 end
  if redis.call('LLEN', KEYS[2]) ~= before then return {'conflict', 'seq'} end
end
if ARGV[20] ~= '' then
  local earlier = redis.call('GET', KEYS[12])
  if earlier then return {'request', earlier} end
end
if ARGV[10] ~= '' then
  if redis.call('EXISTS', KEYS[8]) == 0 then return {'conflict', 'message'} end
  if ARGV[12] ~= '' then
    local owner = redis.call('GET', KEYS[7])
    if owner and owner ~= ARGV[13] then return {'duplicate', ARGV[12]} end
  end
end

redis.call('HSET', KEYS[1], 'v', ARGV[4], 'b', ARGV[5])
if ARGV[2] == '1' then redis.call('SET', KEYS[4], cid) end
if ARGV[22] ~= '' then
  redis.call('RPUSH', KEYS[2], ARGV[23])
  redis.call('SET', KEYS[13], ARGV[22] .. '|' .. cid)
end
if ARGV[6] ~= '' then
  redis.call('RPUSH', KEYS[2], ARGV[7])
  redis.call('SET', KEYS[6], ARGV[6] .. '|' .. cid)
  if ARGV[8] ~= '' then redis.call('SET', KEYS[5], ARGV[9]) end
end
if ARGV[10] ~= '' then
  redis.call('LSET', KEYS[2], tonumber(ARGV[10]) - 1, ARGV[11])
  if ARGV[12] ~= '' then redis.call('SET', KEYS[7], ARGV[13]) end
end
if ARGV[14] ~= '' then redis.call('RPUSH', KEYS[3], ARGV[14]) end
if ARGV[20] ~= '' then redis.call('SET', KEYS[12], ARGV[20], 'PX', ARGV[21]) end
if ARGV[15] == '' then return {'ok', 0} end
if ARGV[16] == '1' then
  -- One Redis: every key is here, so the indexes change in this same step.
  for _, command in ipairs(cmsgpack.unpack(ARGV[15])) do redis.call(unpack(command)) end
  return {'ok', 0}
end
redis.call('RPUSH', KEYS[9], ARGV[15])
local entry = redis.call('INCR', KEYS[10])
if redis.call('SET', KEYS[11], ARGV[17], 'NX', 'PX', ARGV[18]) then
  return {'ok', entry, redis.call('LRANGE', KEYS[9], 0, tonumber(ARGV[19]) - 1)}
end
return {'ok', entry}
"""

CLAIM_SEND = """
local holder = redis.call('HGET', KEYS[1], 'owner')
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
local untl = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if holder and holder ~= ARGV[1] and untl > tonumber(ARGV[2]) then return -1 end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'until', tonumber(ARGV[2]) + tonumber(ARGV[3]), 'attempts', attempts + 1)
return attempts
"""

TOTALS = """
local unread = redis.call('HVALS', KEYS[1])
local total = 0
for i = 1, #unread do total = total + tonumber(unread[i]) end
return {#unread, total}
"""
"""The agent's counters from their ``unread`` hash, on the server: one
round trip of small integers (no conversation is read or decoded)."""

REVOKE = """
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], math.max(old, tonumber(ARGV[2])))
"""


class _CommitCall(NamedTuple):
    """One commit script's call, and what reading its answer needs."""

    conv_id: str
    shard: str
    token: str
    keys: list[str | bytes]
    args: list[str | bytes]


IN_FLIGHT = 32
"""Commits ``commit_many`` keeps in flight at once (well under the client's
connection pool: 64)."""

DUE_SET = "timers:{t}:due"
"""The cluster's session-timer due-set (after the prefix): conversation id →
when its reply window locks. Every commit's index commands keep it, so a node
that dies right after a commit cannot take the timer with it."""


OFFER_DUE_SET = "routing:{t}:due"
"""The cluster's offer deadlines (after the prefix): conversation id → when
the offer ringing for it times out. Written only by the commits, from the
outcome (an offer rung: its deadline; no offer left: removed)."""


def _activity(c: Conversation) -> int:
    return c.last_message_at or c.created_at


def _flag(b: bool) -> str:
    return "1" if b else "0"


# Inbox and assigned membership: the core's one definition (core/fanout.py).
_in_inbox = fanout.in_inbox


def _in_assigned(c: Conversation | None) -> bool:
    return fanout.holder(c) is not None


def _owes_wrap_up(c: Conversation | None) -> bool:
    return fanout.wrap_up_holder(c) is not None


def _unlocked(c: Conversation | None) -> bool:
    return c is not None and c.is_open and not c.session_locked


class WrongShard(ValueError):
    """A conversation or message id that does not name its thread's shard:
    it was not minted by the service (server/core/ids.py)."""


class RedisStore:
    """See the module docstring. ``prefix`` namespaces every key (tests).

    ``inline_indexes``: apply the index commands inside the commit script
    (default on one Redis) or through the shards' outboxes (the only way on a
    Redis Cluster; a test may choose it on one Redis too)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "sb:",
        client: Any = None,
        windows: dict[str, WindowPolicy] | None = None,
        inline_indexes: bool | None = None,
        outbox_lease_ms: int = 5_000,
        outbox_sweep_seconds: float = 2.0,
        metrics: Metrics | None = None,
    ) -> None:
        """``windows``: the reply-window policies; when given, every commit
        also puts the conversation's lock time in the timers' due-set."""
        self.url = url
        self._windows = windows
        self._r = client if client is not None else connect(url)
        self._p = prefix
        self._cluster = cluster = isinstance(self._r, RedisCluster)
        if cluster and inline_indexes:
            raise ValueError("a Redis Cluster cannot update cross-slot indexes inside the commit script")
        self.inline = not cluster if inline_indexes is None else inline_indexes
        self._commit = self._r.register_script(COMMIT)
        self._claim_send = self._r.register_script(CLAIM_SEND)
        self._revoke = self._r.register_script(REVOKE)
        self._totals = self._r.register_script(TOTALS)
        self.outbox = redis_outbox.Outbox(
            self._r,
            prefix,
            lease_ms=outbox_lease_ms,
            sweep_seconds=outbox_sweep_seconds,
            unreachable=UNREACHABLE,
            metrics=metrics if not self.inline else None,
        )

    async def start(self) -> None:
        """Fill the waiting lines once for data written before they existed;
        outbox mode: run the sweeper that finishes what dead nodes left."""
        await self._fill_routing()
        if not self.inline:
            self.outbox.start()

    @_unavailable
    async def _fill_routing(self) -> None:
        """``waiting:<queue>``, ``ringing:<queue>`` and ``load:<agent>`` from
        the inboxes and assigned lists, once, for data written before they
        existed (``routing:filled`` marks it done; commits keep them from
        then on, and a ZADD or HSET of what is already there changes nothing)."""
        marker = f"{self._p}routing:filled"
        if await self._r.exists(marker):
            return
        for pattern in ("inbox:*", "assigned:*"):
            async for key in self._r.scan_iter(match=f"{self._p}{pattern}", count=500):
                found = await self._r.zrange(key, 0, -1)
                async with self._r.pipeline(transaction=False) as pipe:
                    for conv in await self._conversations(found):
                        place = routing.line_of(conv)
                        if place is not None:
                            pipe.zadd(self._line(*place), {conv.id: routing.arrival(conv)[0]})
                        for agent_id in routing.loaded(conv):
                            pipe.hset(self._load(agent_id), conv.id, conv.channel)
                    await pipe.execute()
        await self._r.set(marker, "1")

    async def close(self) -> None:
        await self.outbox.stop()
        await self._r.aclose()

    @property
    def client(self) -> Any:
        """The store's Redis client, shared with the ports kept in the same
        Redis (redis/canned.py): one pool per node, one view of its health."""
        return self._r

    @_unavailable
    async def ping(self) -> bool:
        return bool(await self._r.ping())

    # keys ------------------------------------------------------------------------
    def _in(self, shard: str, name: str) -> str:
        return self.outbox.key(shard, name)  # one spelling of a shard's keys

    def _conv(self, shard: str, cid: str) -> str:
        return self._in(shard, f"c:{cid}")

    def _msgs(self, shard: str, cid: str) -> str:
        return self._in(shard, f"m:{cid}")

    def _inbox(self, queue_id: str) -> str:
        return f"{self._p}inbox:{queue_id}"

    def _line(self, queue_id: str, ringing: bool) -> str:
        return f"{self._p}{'ringing' if ringing else 'waiting'}:{queue_id}"

    def _assigned(self, agent_id: str) -> str:
        return f"{self._p}assigned:{agent_id}"

    def _wrap_ups(self, agent_id: str) -> str:
        return f"{self._p}wrapup:{agent_id}"

    def _load(self, agent_id: str) -> str:
        return f"{self._p}load:{agent_id}"

    def _unread(self, agent_id: str) -> str:
        return f"{self._p}unread:{agent_id}"

    def _contact(self, contact_id: str) -> str:
        return f"{self._p}contact:{contact_id}"

    def _contact_convs(self, contact_id: str) -> str:
        return f"{self._p}contact:{contact_id}:cs"

    def _request(self, shard: str, conv: Conversation | tuple[str, str], agent_id: str, key: str) -> str:
        contact_id, touchpoint_id = (conv.contact_id, conv.touchpoint_id) if isinstance(conv, Conversation) else conv
        return self._in(shard, f"req:{contact_id}:{touchpoint_id}:{len(agent_id)}:{agent_id}:{key}")

    def _cmid(self, channel_message_id: str) -> str:
        return f"{self._p}cmid:{channel_message_id}"

    # contacts ----------------------------------------------------------------------
    @_unavailable
    async def get_contact(self, contact_id: str) -> Contact | None:
        body = await self._r.get(self._contact(contact_id))
        return _contact(body) if body else None

    @_unavailable
    async def get_contacts(self, contact_ids: Sequence[str]) -> dict[str, Contact]:
        wanted = list(dict.fromkeys(contact_ids))
        if not wanted:
            return {}
        async with self._r.pipeline(transaction=False) as pipe:  # a pipeline, not MGET: keys on many cluster slots
            for contact_id in wanted:
                pipe.get(self._contact(contact_id))
            bodies = await pipe.execute()
        return {i: _contact(b) for i, b in zip(wanted, bodies, strict=True) if b}

    @_unavailable
    async def put_contact(self, contact: Contact) -> None:
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.set(self._contact(contact.id), _encode(contact))
            pipe.zadd(f"{self._p}contacts", {contact.id: 0})
            pipe.incr(f"{self._p}contacts:written")  # after the write: whoever read the count before, reads the contact after
            await pipe.execute()

    @_unavailable
    async def contact_writes(self) -> int:
        return int(await self._r.get(f"{self._p}contacts:written") or 0)

    @_unavailable
    async def list_contacts(self, limit: int = 1000) -> list[Contact]:
        if limit <= 0:
            return []
        raw = await self._r.zrange(f"{self._p}contacts", 0, limit - 1)  # equal scores: ordered by id
        bodies = await self._mget([self._contact(i.decode()) for i in raw])
        return [_contact(b) for b in bodies if b]

    async def _mget(self, keys: list[str]) -> list[bytes | None]:
        """Many single-key GETs in one round trip (the keys may be in any slot)."""
        if not keys:
            return []
        async with self._r.pipeline(transaction=False) as pipe:
            for k in keys:
                pipe.get(k)
            bodies: list[bytes | None] = await pipe.execute()
            return bodies

    # conversations -----------------------------------------------------------------
    @_unavailable
    async def get_conversation(self, conv_id: str) -> Conversation | None:
        shard = ids.shard_of(conv_id)
        if shard is None:
            return None
        body = await self._r.hget(self._conv(shard, conv_id), "b")
        return _conversation(body) if body else None

    @_unavailable
    async def get_conversations(self, conv_ids: Sequence[str]) -> dict[str, Conversation]:
        return {c.id: c for c in await self._conversations([i.encode() for i in dict.fromkeys(conv_ids)])}

    async def _conversations(self, raw_ids: list[bytes]) -> list[Conversation]:
        found = [(i, s) for i in (r.decode() for r in raw_ids) if (s := ids.shard_of(i)) is not None]
        if not found:
            return []
        async with self._r.pipeline(transaction=False) as pipe:
            for conv_id, shard in found:
                pipe.hget(self._conv(shard, conv_id), "b")
            bodies = await pipe.execute()
        return [_conversation(b) for b in bodies if b]

    @_unavailable
    async def latest_conversation(self, contact_id: str, touchpoint_id: str) -> Conversation | None:
        shard = ids.thread_shard(contact_id, touchpoint_id)
        conv_id = await self._r.get(self._in(shard, f"latest:{contact_id}:{touchpoint_id}"))
        if conv_id is None:
            return None
        return await self.get_conversation(conv_id.decode())

    @_unavailable
    async def commit(self, outcome: Outcome, expected_latest: str | None = None) -> None:
        call = self._commit_call(outcome, expected_latest)
        await self._committed(call, await self._commit(keys=call.keys, args=call.args))

    def _commit_call(self, outcome: Outcome, expected_latest: str | None) -> _CommitCall:
        """The commit script's keys and arguments for ``outcome`` (raises
        before anything is sent when its ids are not of one thread)."""
        after, before = outcome.after, outcome.before
        creating = before is None
        shard = ids.thread_shard(after.contact_id, after.touchpoint_id)
        m, u, e = outcome.message, outcome.updated_message, outcome.entry
        if e is not None and (m is None or e.seq != m.seq - 1):
            raise ValueError("a timeline entry is stored just before a new message")
        for some_id in (after.id, m.id if m else None, u.id if u else None, e.id if e else None):
            if some_id is not None and ids.shard_of(some_id) != shard:
                raise WrongShard(f"{some_id!r} is not in shard {shard} of its thread")
        none = self._in(shard, "none")
        outbox, counter, lease = self.outbox.keys(shard)
        token, lease_ms, batch = self.outbox.lease()
        keys: list[str | bytes] = [
            self._conv(shard, after.id),
            self._msgs(shard, after.id),
            self._in(shard, f"n:{after.id}"),
            self._in(shard, f"latest:{after.contact_id}:{after.touchpoint_id}"),
            self._in(shard, f"cmid:{m.channel_message_id}") if m and m.channel_message_id else none,
            self._in(shard, f"mid:{m.id}") if m else none,
            self._in(shard, f"cmid:{u.channel_message_id}") if u and u.channel_message_id else none,
            self._in(shard, f"mid:{u.id}") if u else none,
            outbox,
            counter,
            lease,
            self._request(shard, after, r.agent_id, r.key) if (r := outcome.request) else none,
            self._in(shard, f"mid:{e.id}") if e else none,
        ]
        args: list[str | bytes] = [
            after.id,
            _flag(creating),
            (expected_latest or "") if creating else str(before.version),  # type: ignore[union-attr]
            str(after.version),
            _encode(after),
            *self._message_args(m),
            *self._message_args(u),
            _encode(outcome.note) if outcome.note else "",
            redis_outbox.encode(commands) if (commands := self._index_commands(outcome)) else "",
            _flag(self.inline),
            token,
            lease_ms,
            batch,
            r.message_id if r else "",
            str(max(1, r.ttl_ms)) if r else "",
            str(e.seq) if e else "",
            _encode(e) if e else "",
        ]
        if self._cluster:
            keys, args = as_bytes(keys), as_bytes(args)
        return _CommitCall(after.id, shard, token, keys, args)

    async def _committed(self, call: _CommitCall, reply: list[Any]) -> None:
        """The commit script's answer: raises what it refused; waits for its
        index updates when they went through the shard's outbox."""
        status, detail, *first = reply
        if status == b"conflict":
            raise VersionConflict(f"{call.conv_id}: {detail.decode()}")
        if status == b"duplicate":
            raise DuplicateMessage(detail.decode())
        if status == b"request":
            raise DuplicateRequest(detail.decode())
        if int(detail):
            await self.outbox.settle(call.shard, int(detail), (call.token, first[0]) if first else None)

    @_unavailable
    async def commit_many(self, outcomes: Sequence[Outcome]) -> list[StoreError | None]:
        """Each its own commit script, ``IN_FLIGHT`` at a time: Redis runs
        them back to back while their answers travel (one round trip per
        ``IN_FLIGHT`` commits instead of one each). On one Redis a chunk's
        scripts go in one pipeline (one write, one read of the answers: no
        task, connection or timeout of its own per commit); on a Cluster,
        whose commits go to their shards' nodes, they run concurrently."""
        results: list[StoreError | None] = []
        for start in range(0, len(outcomes), IN_FLIGHT):
            chunk = outcomes[start : start + IN_FLIGHT]
            if self._cluster:
                answers = await asyncio.gather(*(self.commit(o) for o in chunk), return_exceptions=True)
            else:
                answers = await self._commit_pipelined([self._commit_call(o, None) for o in chunk])
            for r in answers:
                if r is None or isinstance(r, (VersionConflict, DuplicateMessage)):
                    results.append(r)
                else:
                    raise r
        return results

    async def _commit_pipelined(self, calls: list[_CommitCall]) -> list[BaseException | None]:
        async with self._r.pipeline(transaction=False) as pipe:
            for call in calls:
                await self._commit(keys=call.keys, args=call.args, client=pipe)
            replies = await pipe.execute(raise_on_error=False)
        answers: list[BaseException | None] = []
        for call, reply in zip(calls, replies, strict=True):
            if isinstance(reply, BaseException):
                answers.append(reply)
                continue
            try:
                await self._committed(call, reply)
            except StoreError as e:
                answers.append(e)
            else:
                answers.append(None)
        return answers

    def _index_commands(self, outcome: Outcome) -> list[redis_outbox.Command]:
        """The changes to the cross-thread indexes that ``outcome`` makes,
        as idempotent commands (applied in commit order per shard)."""
        before, after = outcome.before, outcome.after
        cid, activity = after.id, str(_activity(after))
        out: list[redis_outbox.Command] = []
        memberships: tuple[tuple[Callable[[str], str], bool, bool, Callable[[Conversation], str | None]], ...] = (
            (self._inbox, _in_inbox(before), _in_inbox(after), _queue_of),
            (self._assigned, _in_assigned(before), _in_assigned(after), _assignee_of),
            (self._wrap_ups, _owes_wrap_up(before), _owes_wrap_up(after), _assignee_of),
        )
        for key_of, member_before, member_after, owner in memberships:
            was = owner(before) if before is not None and member_before else None
            now = owner(after) if member_after else None
            old = key_of(was) if was is not None else None
            new = key_of(now) if now is not None else None
            if old is not None and old != new:
                out.append(["ZREM", old, cid])
            if new is not None and (new != old or before is None or _activity(before) != _activity(after)):
                out.append(["ZADD", new, activity, cid])
        # The queues' lines: waiting (or ringing), scored by arrival.
        placed, place = routing.line_of(before), routing.line_of(after)
        if placed is not None and placed != place:
            out.append(["ZREM", self._line(*placed), cid])
        if place is not None and (placed != place or before is None or routing.arrival(before) != routing.arrival(after)):
            out.append(["ZADD", self._line(*place), str(routing.arrival(after)[0]), cid])
        # The agents' routing loads: each names their conversations with its channel (HSET/HDEL: idempotent).
        loaded_before, loaded_after = routing.loaded(before), routing.loaded(after)
        for agent_id in loaded_before:
            if agent_id not in loaded_after:
                out.append(["HDEL", self._load(agent_id), cid])
        for agent_id in loaded_after:
            if agent_id not in loaded_before:
                out.append(["HSET", self._load(agent_id), cid, after.channel])
        # The agents' counters: the holder's unread hash names each of their
        # conversations with its unread count (HSET/HDEL: idempotent).
        old_holder, new_holder = fanout.holder(before), fanout.holder(after)
        if old_holder is not None and old_holder != new_holder:
            out.append(["HDEL", self._unread(old_holder), cid])
        if new_holder is not None and (
            old_holder != new_holder or before is None or before.unread != after.unread
        ):
            out.append(["HSET", self._unread(new_holder), cid, str(after.unread)])
        if before is None:
            out.append(["ZADD", self._contact_convs(after.contact_id), str(after.created_at), cid])
        if before is None or _unlocked(before) != _unlocked(after):
            out.append(["SADD" if _unlocked(after) else "SREM", f"{self._p}unlocked", cid])
        for message in (outcome.message, outcome.updated_message):
            if message is None:
                continue
            if message.status == "pending":
                out.append(["ZADD", f"{self._p}pending", str(message.at), message.id])
            elif message is outcome.updated_message:
                out.append(["ZREM", f"{self._p}pending", message.id])
            if message.channel_message_id:
                out.append(["SET", self._cmid(message.channel_message_id), message.id])
        if after.offer is not None and (before is None or before.offer != after.offer):
            out.append(["ZADD", self._p + OFFER_DUE_SET, str(after.offer.deadline), cid])
        elif after.offer is None and before is not None and before.offer is not None:
            out.append(["ZREM", self._p + OFFER_DUE_SET, cid])
        lock_at = self._lock_at(after)
        if lock_at is not None:
            out.append(["ZADD", self._p + DUE_SET, "GT", str(lock_at), cid])
        elif self._windows is not None and before is not None and self._lock_at(before) is not None:
            out.append(["ZREM", self._p + DUE_SET, cid])  # ended: no window left to lock
        return out

    def _lock_at(self, conv: Conversation) -> int | None:
        if self._windows is None or not conv.is_open or conv.session_locked:
            return None
        return session.expires_at(conv, self._windows[conv.channel])

    @staticmethod
    def _message_args(m: Message | None) -> list[str | bytes]:
        if m is None:
            return ["", "", "", ""]
        return [str(m.seq), _encode(m), m.channel_message_id or "", m.id]

    @_unavailable
    async def inbox(self, queue_id: str) -> list[Conversation]:
        found = await self._r.zrevrange(self._inbox(queue_id), 0, -1)
        rows = [c for c in await self._conversations(found) if _in_inbox(c) and c.queue_id == queue_id]
        return sorted(rows, key=lambda c: (_activity(c), c.id), reverse=True)

    @_unavailable
    async def inbox_page(self, queue_id: str, after: tuple[int, str] | None, limit: int) -> list[Conversation]:
        return await self._page(
            self._inbox(queue_id), after, limit, lambda c: _in_inbox(c) and c.queue_id == queue_id, lambda c: (_activity(c), c.id)
        )

    async def _page(
        self,
        key: str,
        after: tuple[int, str] | None,
        limit: int,
        keep: Callable[[Conversation], bool],
        place: Callable[[Conversation], tuple[int, str]],
    ) -> list[Conversation]:
        """Up to ``limit`` conversations of the sorted set ``key`` past
        ``after`` in the order ``place`` gives (score, id): ranges by score
        from the cursor's; entries of that same score at or before the
        cursor's id are skipped, and each row is re-checked against the
        stored conversation (``keep``: the index may lag)."""
        low: int | str = after[0] if after is not None else "-inf"
        rows: list[Conversation] = []
        offset = 0
        while len(rows) < limit:
            want = limit - len(rows) + 16
            batch = await self._r.zrangebyscore(key, low, "+inf", start=offset, num=want, withscores=True)
            offset += len(batch)
            fresh = [m for m, score in batch if after is None or (int(score), m.decode()) > after]
            for c in await self._conversations(fresh):
                if keep(c) and (after is None or place(c) > after):
                    rows.append(c)
            if len(batch) < want:
                break
        rows.sort(key=place)
        return rows[: max(0, limit)]

    @_unavailable
    async def inbox_counts(self, queue_id: str) -> tuple[int, int | None]:
        return await self._counts(self._inbox(queue_id))

    async def _counts(self, key: str) -> tuple[int, int | None]:
        """A sorted set's size and lowest score (the oldest)."""
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.zcard(key)
            pipe.zrange(key, 0, 0, withscores=True)
            count, first = await pipe.execute()
        return int(count), (int(first[0][1]) if first else None)

    @_unavailable
    async def waiting(self, queue_id: str, after: tuple[int, str] | None, limit: int) -> list[Conversation]:
        # Equal scores are ordered by id, as arrival is.
        return await self._page(
            self._line(queue_id, False), after, limit, lambda c: routing.is_waiting(c) and c.queue_id == queue_id, routing.arrival
        )

    @_unavailable
    async def waiting_counts(self, queue_id: str) -> tuple[int, int | None]:
        return await self._counts(self._line(queue_id, False))

    @_unavailable
    async def ringing(self, queue_id: str) -> list[Conversation]:
        found = await self._r.zrange(self._line(queue_id, True), 0, -1)
        rows = [c for c in await self._conversations(found) if routing.is_ringing(c) and c.queue_id == queue_id]
        return sorted(rows, key=routing.arrival)

    @_unavailable
    async def assigned(self, agent_id: str) -> list[Conversation]:
        found = await self._r.zrevrange(self._assigned(agent_id), 0, -1)
        rows = [c for c in await self._conversations(found) if c.is_open and c.assignee_id == agent_id]
        return sorted(rows, key=lambda c: (_activity(c), c.id), reverse=True)

    @_unavailable
    async def assigned_many(self, agent_ids: Sequence[str]) -> dict[str, list[Conversation]]:
        out: dict[str, list[Conversation]] = {a: [] for a in agent_ids}
        if not out:
            return out
        async with self._r.pipeline(transaction=False) as pipe:
            for agent_id in out:
                pipe.zrevrange(self._assigned(agent_id), 0, -1)
            found = await pipe.execute()
        for conv in await self._conversations(list(dict.fromkeys(i for raw in found for i in raw))):
            if conv.is_open and conv.assignee_id in out:
                out[conv.assignee_id].append(conv)
        for rows in out.values():
            rows.sort(key=lambda c: (_activity(c), c.id), reverse=True)
        return out

    @_unavailable
    async def agent_loads(self, agent_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {a: {} for a in agent_ids}
        if not out:
            return out
        async with self._r.pipeline(transaction=False) as pipe:
            for agent_id in out:
                pipe.hvals(self._load(agent_id))
            found = await pipe.execute()
        for counts, channels in zip(out.values(), found, strict=True):
            for raw in channels:
                channel = raw.decode()
                counts[channel] = counts.get(channel, 0) + 1
        return out

    @_unavailable
    async def to_wrap_up(self, agent_id: str) -> list[Conversation]:
        found = await self._r.zrange(self._wrap_ups(agent_id), 0, -1)
        rows = [c for c in await self._conversations(found) if fanout.wrap_up_holder(c) == agent_id]
        return sorted(rows, key=fanout.wrap_up_order)

    @_unavailable
    async def agent_totals(self, agent_id: str) -> fanout.Totals:
        count, unread = await self._totals(keys=[self._unread(agent_id)])
        return fanout.Totals(int(count), int(unread))

    @_unavailable
    async def conversations_of_contact(self, contact_id: str) -> list[Conversation]:
        found = await self._r.zrevrange(self._contact_convs(contact_id), 0, -1)
        rows = [c for c in await self._conversations(found) if c.contact_id == contact_id]
        return sorted(rows, key=lambda c: (c.created_at, c.id), reverse=True)

    @_unavailable
    async def unlocked_open(self) -> list[Conversation]:
        found = list(await self._r.smembers(f"{self._p}unlocked"))
        return [c for c in await self._conversations(found) if _unlocked(c)]

    # messages and notes --------------------------------------------------------------
    @_unavailable
    async def messages(self, conv_id: str, before: int | None = None, limit: int = 50) -> list[Message]:
        shard = ids.shard_of(conv_id)
        if limit <= 0 or shard is None:
            return []
        key = self._msgs(shard, conv_id)
        if before is None:
            bodies = await self._r.lrange(key, -limit, -1)
        else:
            # seq s lives at index s - 1; we want seq < before. Threads only
            # grow, so the length read first is a safe bound for the range.
            end = min(before - 2, await self._r.llen(key) - 1)
            if end < 0:
                return []
            bodies = await self._r.lrange(key, max(0, end - limit + 1), end)
        return [_message(b) for b in bodies]

    @_unavailable
    async def get_message(self, message_id: str) -> Message | None:
        shard = ids.shard_of(message_id)
        if shard is None:
            return None
        where = await self._r.get(self._in(shard, f"mid:{message_id}"))
        if where is None:
            return None
        seq, _, cid = where.decode().partition("|")
        body = await self._r.lindex(self._msgs(shard, cid), int(seq) - 1)
        return _message(body) if body else None

    @_unavailable
    async def sent_request(self, contact_id: str, touchpoint_id: str, agent_id: str, key: str, now: int) -> str | None:
        shard = ids.thread_shard(contact_id, touchpoint_id)
        found = await self._r.get(self._request(shard, (contact_id, touchpoint_id), agent_id, key))
        return found.decode() if found is not None else None

    @_unavailable
    async def message_by_channel_id(self, channel_message_id: str) -> Message | None:
        message_id = await self._r.get(self._cmid(channel_message_id))
        return await self.get_message(message_id.decode()) if message_id else None

    @_unavailable
    async def pending_outbound(self) -> list[Message]:
        found = await self._r.zrange(f"{self._p}pending", 0, -1)
        messages = [await self.get_message(i.decode()) for i in found]
        return [m for m in messages if m is not None and m.status == "pending"]

    @_unavailable
    async def claim_send(self, message_id: str, owner: str, now: int, lease_ms: int) -> int | None:
        attempts = await self._claim_send(keys=[f"{self._p}send:{message_id}"], args=[owner, now, lease_ms])
        return None if attempts < 0 else int(attempts)

    @_unavailable
    async def notes(self, conv_id: str) -> list[Note]:
        shard = ids.shard_of(conv_id)
        if shard is None:
            return []
        return [_note(b) for b in await self._r.lrange(self._in(shard, f"n:{conv_id}"), 0, -1)]

    # token revocations ---------------------------------------------------------------
    @_unavailable
    async def revoke(self, key: str, value: int) -> None:
        await self._revoke(keys=[f"{self._p}revoked"], args=[key, value])

    @_unavailable
    async def revocations(self, keys: list[str]) -> dict[str, int]:
        if not keys:
            return {}
        values = await self._r.hmget(f"{self._p}revoked", keys)
        return {k: int(v) for k, v in zip(keys, values, strict=True) if v is not None}


def _queue_of(conv: Conversation) -> str | None:
    return conv.queue_id


def _assignee_of(conv: Conversation) -> str | None:
    return conv.assignee_id
