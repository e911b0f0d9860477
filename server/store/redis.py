"""Redis store: the cluster's shared state, with the guarantees of ``base.Store``.

Values are msgspec msgpack blobs, as in SqliteStore. Key layout (prefix
``sb:``); the keys of one conversation share the hash tag ``{<conv id>}``:

    sb:c:{cid}                hash  v = version, b = Conversation blob
    sb:m:{cid}                list  message blobs, index = seq - 1
    sb:n:{cid}                list  note blobs, in order written
    --- cross-slot indexes (one key for many conversations) ---
    sb:inbox:<queue>          zset  open unassigned conversations, score = activity
    sb:assigned:<agent>       zset  open conversations of the agent, score = activity
    sb:contact:<contact>:cs   zset  the contact's conversations, score = created_at
    sb:latest:<contact>:<tp>  str   the contact's newest conversation on a touchpoint
    sb:cmid:<channel msg id>  str   our message id: the dedup key of retried webhooks
    sb:mid:<message id>       str   "<seq>|<cid>": where a message lives
    sb:pending                zset  outbound messages not yet accepted, score = at
    sb:unlocked               set   open conversations whose session is not locked
    sb:send:<message id>      hash  the outbound sender's lease: owner, until, attempts
    sb:timers:{t}:due         zset  session timers: conversation → lock time (cluster_timers.py)
    sb:contact:<contact>      str   Contact blob;  sb:contacts  zset of contact ids
    sb:revoked                hash  token revocations: key → value (see base.Store.revoke)

``commit`` is one Lua script: it checks the version (or, when creating, that
the contact's latest conversation is still ``expected_latest``), the channel
message id and the updated message, then writes the conversation, its
message or note and every index, or nothing. A script runs alone on the
server, so two writers on any nodes can never both win.

What it does not do: run the commit on a sharded Redis Cluster. The script
declares all its keys, the conversation's and the cross-slot indexes, so it
needs one primary (standalone, or a primary with replicas under Sentinel);
see docs/OPERATIONS.md for what a sharded layout would change. Reads of
several keys are pipelines of single-key commands, and list reads re-check
each conversation they return, so they never depend on the indexes being in
the same slot, or current, to the microsecond.

Redis unreachable (refused, reset, timed out, still loading its AOF) raises
``StoreUnavailable``: commands answer ``unavailable`` and webhooks 503.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import msgspec
import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from server.core.conversation import Outcome
from server.core import session
from server.core.model import Contact, Conversation, Message, Note, WindowPolicy
from server.store.base import DuplicateMessage, StoreUnavailable, VersionConflict

_encode = msgspec.msgpack.Encoder().encode
_contact = msgspec.msgpack.Decoder(Contact).decode
_conversation = msgspec.msgpack.Decoder(Conversation).decode
_message = msgspec.msgpack.Decoder(Message).decode
_note = msgspec.msgpack.Decoder(Note).decode

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
"""Redis could not be asked (BusyLoadingError is a ConnectionError too)."""


def connect(url: str, *, socket_timeout: float = 5.0, max_connections: int = 64) -> redis.Redis:
    """A client that fails fast instead of retrying behind our back: a
    command that may or may not have run is reported, never silently re-sent,
    and an unreachable Redis surfaces at once as an error the caller maps."""
    return redis.Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=min(socket_timeout, 2.0),
        retry=Retry(NoBackoff(), 0),
        max_connections=max_connections,
        health_check_interval=0,
    )


P = ParamSpec("P")
T = TypeVar("T")


def _unavailable(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    @functools.wraps(fn)
    async def wrapped(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except UNREACHABLE as e:
            raise StoreUnavailable(f"redis: {e}") from e

    return wrapped


# KEYS: 1 conv, 2 messages, 3 notes, 4 latest, 5 contact's conversations,
#       6 inbox before, 7 inbox after, 8 assigned before, 9 assigned after,
#       10 unlocked, 11 pending, 12 cmid of new message, 13 mid of new message,
#       14 cmid of updated message, 15 mid of updated message
# ARGV: 1 cid, 2 creating (0/1), 3 expected version or expected latest id,
#       4 new version, 5 conv blob, 6 activity, 7 created_at,
#       8 in inbox before, 9 in inbox after, 10 assigned before, 11 assigned after,
#       12 unlocked after (0/1),
#       13 new message: seq ('' = none), 14 its blob, 15 its cmid, 16 its mid,
#       17 pending (0/1), 18 its at,
#       19 updated message: seq ('' = none), 20 blob, 21 cmid, 22 mid, 23 pending, 24 at,
#       25 note blob ('' = none), 26 when the session locks ('' = not watched)
# KEYS 16: the session timers' due-set (server/cluster_timers.py)
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
if ARGV[13] ~= '' then
  if ARGV[15] ~= '' then
    if redis.call('EXISTS', KEYS[12]) == 1 then return {'duplicate', ARGV[15]} end
  end
  if redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[13]) - 1 then return {'conflict', 'seq'} end
end
if ARGV[19] ~= '' then
  if redis.call('EXISTS', KEYS[15]) == 0 then return {'conflict', 'message'} end
  if ARGV[21] ~= '' then
    local owner = redis.call('GET', KEYS[14])
    if owner and owner ~= ARGV[22] then return {'duplicate', ARGV[21]} end
  end
end

redis.call('HSET', KEYS[1], 'v', ARGV[4], 'b', ARGV[5])
if ARGV[2] == '1' then
  redis.call('SET', KEYS[4], cid)
  redis.call('ZADD', KEYS[5], ARGV[7], cid)
end
if ARGV[8] == '1' then redis.call('ZREM', KEYS[6], cid) end
if ARGV[10] == '1' then redis.call('ZREM', KEYS[8], cid) end
if ARGV[9] == '1' then redis.call('ZADD', KEYS[7], ARGV[6], cid) end
if ARGV[11] == '1' then redis.call('ZADD', KEYS[9], ARGV[6], cid) end
if ARGV[12] == '1' then redis.call('SADD', KEYS[10], cid) else redis.call('SREM', KEYS[10], cid) end

local function put_message(seq, blob, cmid_key, cmid, mid_key, mid, pending, at, new)
  if new then
    redis.call('RPUSH', KEYS[2], blob)
  else
    redis.call('LSET', KEYS[2], tonumber(seq) - 1, blob)
  end
  redis.call('SET', mid_key, seq .. '|' .. cid)
  if cmid ~= '' then redis.call('SET', cmid_key, mid) end
  if pending == '1' then redis.call('ZADD', KEYS[11], at, mid) else redis.call('ZREM', KEYS[11], mid) end
end
if ARGV[13] ~= '' then
  put_message(ARGV[13], ARGV[14], KEYS[12], ARGV[15], KEYS[13], ARGV[16], ARGV[17], ARGV[18], true)
end
if ARGV[19] ~= '' then
  put_message(ARGV[19], ARGV[20], KEYS[14], ARGV[21], KEYS[15], ARGV[22], ARGV[23], ARGV[24], false)
end
if ARGV[25] ~= '' then redis.call('RPUSH', KEYS[3], ARGV[25]) end
if ARGV[26] ~= '' then redis.call('ZADD', KEYS[16], 'GT', ARGV[26], cid) end
return {'ok', ''}
"""

CLAIM_SEND = """
local holder = redis.call('HGET', KEYS[1], 'owner')
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
local untl = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if holder and holder ~= ARGV[1] and untl > tonumber(ARGV[2]) then return -1 end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'until', tonumber(ARGV[2]) + tonumber(ARGV[3]), 'attempts', attempts + 1)
return attempts
"""

NONE_KEY = "sb:none"

DUE_SET = "timers:{t}:due"
"""The cluster's session-timer due-set (after the prefix): conversation id →
when its reply window locks. The commit keeps it, so a node that dies right
after a commit cannot take the timer with it."""
"""Placeholder for a key the script will not touch (no message, say)."""


def _activity(c: Conversation) -> int:
    return c.last_message_at or c.created_at


def _flag(b: bool) -> str:
    return "1" if b else "0"


REVOKE = """
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], math.max(old, tonumber(ARGV[2])))
"""


class RedisStore:
    """See the module docstring. ``prefix`` namespaces every key (tests)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "sb:",
        client: redis.Redis | None = None,
        windows: dict[str, WindowPolicy] | None = None,
    ) -> None:
        """``windows``: the reply-window policies; when given, every commit
        also puts the conversation's lock time in the timers' due-set."""
        self.url = url
        self._windows = windows
        self._r = client if client is not None else connect(url)
        self._p = prefix
        self._commit = self._r.register_script(COMMIT)
        self._claim_send = self._r.register_script(CLAIM_SEND)
        self._revoke = self._r.register_script(REVOKE)

    async def close(self) -> None:
        await self._r.aclose()

    @_unavailable
    async def ping(self) -> bool:
        return bool(await self._r.ping())

    # keys ------------------------------------------------------------------------
    def _conv(self, cid: str) -> str:
        return f"{self._p}c:{{{cid}}}"

    def _msgs(self, cid: str) -> str:
        return f"{self._p}m:{{{cid}}}"

    def _notes(self, cid: str) -> str:
        return f"{self._p}n:{{{cid}}}"

    def _inbox(self, queue_id: str) -> str:
        return f"{self._p}inbox:{queue_id}"

    def _assigned(self, agent_id: str | None) -> str:
        return f"{self._p}assigned:{agent_id}" if agent_id else NONE_KEY

    def _contact(self, contact_id: str) -> str:
        return f"{self._p}contact:{contact_id}"

    def _contact_convs(self, contact_id: str) -> str:
        return f"{self._p}contact:{contact_id}:cs"

    def _latest(self, contact_id: str, touchpoint_id: str) -> str:
        return f"{self._p}latest:{contact_id}:{touchpoint_id}"

    def _cmid(self, channel_message_id: str | None) -> str:
        return f"{self._p}cmid:{channel_message_id}" if channel_message_id else NONE_KEY

    def _mid(self, message_id: str) -> str:
        return f"{self._p}mid:{message_id}"

    # contacts ----------------------------------------------------------------------
    @_unavailable
    async def get_contact(self, contact_id: str) -> Contact | None:
        body = await self._r.get(self._contact(contact_id))
        return _contact(body) if body else None

    @_unavailable
    async def put_contact(self, contact: Contact) -> None:
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.set(self._contact(contact.id), _encode(contact))
            pipe.zadd(f"{self._p}contacts", {contact.id: 0})
            await pipe.execute()

    @_unavailable
    async def list_contacts(self, limit: int = 1000) -> list[Contact]:
        if limit <= 0:
            return []
        ids = await self._r.zrange(f"{self._p}contacts", 0, limit - 1)  # equal scores: ordered by id
        bodies = await self._mget([self._contact(i.decode()) for i in ids])
        return [_contact(b) for b in bodies if b]

    async def _mget(self, keys: list[str]) -> list[bytes | None]:
        """Many single-key GETs in one round trip (the keys may be in any slot)."""
        if not keys:
            return []
        async with self._r.pipeline(transaction=False) as pipe:
            for k in keys:
                pipe.get(k)
            return await pipe.execute()

    # conversations -----------------------------------------------------------------
    @_unavailable
    async def get_conversation(self, conv_id: str) -> Conversation | None:
        body = await self._r.hget(self._conv(conv_id), "b")
        return _conversation(body) if body else None

    async def _conversations(self, ids: list[bytes]) -> list[Conversation]:
        if not ids:
            return []
        async with self._r.pipeline(transaction=False) as pipe:
            for i in ids:
                pipe.hget(self._conv(i.decode()), "b")
            bodies = await pipe.execute()
        return [_conversation(b) for b in bodies if b]

    @_unavailable
    async def latest_conversation(self, contact_id: str, touchpoint_id: str) -> Conversation | None:
        conv_id = await self._r.get(self._latest(contact_id, touchpoint_id))
        if conv_id is None:
            return None
        return await self.get_conversation(conv_id.decode())

    @_unavailable
    async def commit(self, outcome: Outcome, expected_latest: str | None = None) -> None:
        after, before = outcome.after, outcome.before
        creating = before is None
        was = before if before is not None else after
        m, u = outcome.message, outcome.updated_message
        keys = [
            self._conv(after.id),
            self._msgs(after.id),
            self._notes(after.id),
            self._latest(after.contact_id, after.touchpoint_id),
            self._contact_convs(after.contact_id),
            self._inbox(was.queue_id),
            self._inbox(after.queue_id),
            self._assigned(was.assignee_id),
            self._assigned(after.assignee_id),
            f"{self._p}unlocked",
            f"{self._p}pending",
            self._cmid(m.channel_message_id) if m else NONE_KEY,
            self._mid(m.id) if m else NONE_KEY,
            self._cmid(u.channel_message_id) if u else NONE_KEY,
            self._mid(u.id) if u else NONE_KEY,
            self._p + DUE_SET,
        ]
        args: list[Any] = [
            after.id,
            _flag(creating),
            (expected_latest or "") if creating else str(was.version),
            str(after.version),
            _encode(after),
            _activity(after),
            after.created_at,
            _flag(not creating and was.is_open and was.assignee_id is None),
            _flag(after.is_open and after.assignee_id is None),
            _flag(not creating and was.is_open and was.assignee_id is not None),
            _flag(after.is_open and after.assignee_id is not None),
            _flag(after.is_open and not after.session_locked),
            *self._message_args(m),
            *self._message_args(u),
            _encode(outcome.note) if outcome.note else "",
            self._lock_at(after),
        ]
        status, detail = await self._commit(keys=keys, args=args)
        if status == b"conflict":
            raise VersionConflict(f"{after.id}: {detail.decode()}")
        if status == b"duplicate":
            raise DuplicateMessage(detail.decode())

    def _lock_at(self, conv: Conversation) -> int | str:
        if self._windows is None or not conv.is_open or conv.session_locked:
            return ""
        due = session.expires_at(conv, self._windows[conv.channel])
        return "" if due is None else due

    @staticmethod
    def _message_args(m: Message | None) -> list[Any]:
        if m is None:
            return ["", "", "", "", "0", 0]
        return [str(m.seq), _encode(m), m.channel_message_id or "", m.id, _flag(m.status == "pending"), m.at]

    @_unavailable
    async def inbox(self, queue_id: str) -> list[Conversation]:
        ids = await self._r.zrevrange(self._inbox(queue_id), 0, -1)
        rows = [c for c in await self._conversations(ids) if c.is_open and c.assignee_id is None and c.queue_id == queue_id]
        return sorted(rows, key=lambda c: (_activity(c), c.id), reverse=True)

    @_unavailable
    async def assigned(self, agent_id: str) -> list[Conversation]:
        ids = await self._r.zrevrange(self._assigned(agent_id), 0, -1)
        rows = [c for c in await self._conversations(ids) if c.is_open and c.assignee_id == agent_id]
        return sorted(rows, key=lambda c: (_activity(c), c.id), reverse=True)

    @_unavailable
    async def conversations_of_contact(self, contact_id: str) -> list[Conversation]:
        ids = await self._r.zrevrange(self._contact_convs(contact_id), 0, -1)
        rows = [c for c in await self._conversations(ids) if c.contact_id == contact_id]
        return sorted(rows, key=lambda c: (c.created_at, c.id), reverse=True)

    @_unavailable
    async def unlocked_open(self) -> list[Conversation]:
        ids = list(await self._r.smembers(f"{self._p}unlocked"))
        return [c for c in await self._conversations(ids) if c.is_open and not c.session_locked]

    # messages and notes --------------------------------------------------------------
    @_unavailable
    async def messages(self, conv_id: str, before: int | None = None, limit: int = 50) -> list[Message]:
        if limit <= 0:
            return []
        key = self._msgs(conv_id)
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
        where = await self._r.get(self._mid(message_id))
        if where is None:
            return None
        seq, _, cid = where.decode().partition("|")
        body = await self._r.lindex(self._msgs(cid), int(seq) - 1)
        return _message(body) if body else None

    @_unavailable
    async def message_by_channel_id(self, channel_message_id: str) -> Message | None:
        message_id = await self._r.get(self._cmid(channel_message_id))
        return await self.get_message(message_id.decode()) if message_id else None

    @_unavailable
    async def pending_outbound(self) -> list[Message]:
        ids = await self._r.zrange(f"{self._p}pending", 0, -1)
        found = [await self.get_message(i.decode()) for i in ids]
        return [m for m in found if m is not None and m.status == "pending"]

    @_unavailable
    async def claim_send(self, message_id: str, owner: str, now: int, lease_ms: int) -> int | None:
        attempts = await self._claim_send(keys=[f"{self._p}send:{message_id}"], args=[owner, now, lease_ms])
        return None if attempts < 0 else int(attempts)

    @_unavailable
    async def notes(self, conv_id: str) -> list[Note]:
        return [_note(b) for b in await self._r.lrange(self._notes(conv_id), 0, -1)]

    # token revocations ---------------------------------------------------------------
    @_unavailable
    async def revoke(self, key: str, value: int) -> None:
        await self._revoke(keys=[f"{self._p}revoked"], args=[key, value])

    @_unavailable
    async def revocations(self, keys: list[str]) -> dict[str, int]:
        if not keys:
            return {}
        values = await self._r.hmget(f"{self._p}revoked", keys)
        return {k: int(v) for k, v in zip(keys, values) if v is not None}
