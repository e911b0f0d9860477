"""Redis broker: the ``Broker`` interface (server/broker.py) across nodes.

Publication is one Lua script on the stream's own keys (hash tag
``{<stream>}``, so it runs on one Redis Cluster slot; on one Redis, a batch's
publications go up to ``PIPELINE`` per call, each on its own stream's keys):

    INCR   sb:seq:{s}                              the stream's next sequence
    XADD   sb:hist:{s} MAXLEN ~ N 0-<seq> e <event json> k <kind>
                                                   capped history; the entry id is the seq
    PUBLISH sb:ch:{s} "<seq>:<kind>:<event json>"  to every node subscribed to the stream

``<kind>`` is the event's ``type`` tag (``conversation.updated``…), taken from
its class on the publishing node: a receiving node splits it off the payload
at the first two colons (tags hold none) and hands it to the hub beside the
frame, so the hub decides what to do without parsing or searching the event
JSON (which carries customer text). An entry or payload without a kind (written
by an older node) gets its kind from its JSON ``type`` field instead.

Every node, the publishing one included, receives the publication from
Redis and builds the Event frame with ``frame_bytes`` (the event is JSON
encoded once, on the publishing node). A node subscribes only to streams with
local listeners: the hub's ``on_first_listener`` / ``on_last_listener`` call
``listen`` / ``unlisten``.

One reader task owns the subscriber connection and never waits on a client
(``hub.deliver`` only queues bytes). It reads what Redis has sent in runs:
after a message, every one already buffered (up to ``READ_RUN``), and hands
the run's publications to ``on_publications`` at once when set (the hub's
``deliver_many``: each socket written its frames of the run in one write, not
one per frame), else to ``on_publication`` one by one; in the same order
either way. It is supervised: on any error it closes
the connection, waits (exponential backoff with jitter, capped) and starts a
new session, which re-subscribes to every wanted stream and, as each
subscription is confirmed, replays from history what the node missed since the
last sequence it delivered, so local listeners see every sequence once and in
order. A gap older than the history makes the listeners of that stream resync.

Liveness is checked on the read side, not by PING alone: every
``heartbeat_seconds`` the node publishes on a channel only it subscribes to;
when none comes back within ``watchdog_seconds`` the subscriber is deaf (a
half-open socket, or Redis dropped it for its output buffer limit without a
reset reaching us) and the session is restarted with the same gap fill.

Epoch: one key, ``sb:epoch``, created once with SET NX. A Redis that lost its
data has no epoch key: the first node to reconnect creates a new one, every
node adopts it, and clients resume into a ``resync``. A publication that could
not be made after its commit (Redis gone for longer than ``publish_timeout``)
bumps the epoch when Redis is back, so no client keeps state that silently
missed a change.

What it does not guarantee: a publication whose reply was lost on a broken
connection is retried and may then appear twice, under two sequences (events
carry whole values, so applying one twice is harmless). Sequences restart
after ``stream_ttl`` seconds without a publication on a stream.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec
import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster

from protocol import messages as p
from server.broker import OnPublication, OnPublications, encoded_once, frame_bytes, kind_of
from server.metrics import Histogram, Metrics, Peak
from server.redis.store import UNREACHABLE, connect
from server.store.base import StoreUnavailable
from server.tasks import cancel_and_wait

log = logging.getLogger(__name__)

_encode_event = p.encoder.encode

_KINDS: dict[bytes, str] = {str(c.__struct_config__.tag).encode(): str(c.__struct_config__.tag) for c in p.EVENTS}
"""Kind header bytes → kind: no decode per publication for the known ones."""


class _Tagged(msgspec.Struct):
    type: str


_decode_tagged = msgspec.json.Decoder(_Tagged).decode


try:  # what redis-py's hiredis reader answers when it has no whole reply parsed
    from redis._parsers.hiredis import NOT_ENOUGH_DATA as _NOT_PARSED
except ImportError:  # another redis-py: every reply goes through get_message
    _NOT_PARSED = None


def _parsed_replies(ps: redis.client.PubSub) -> Callable[[], Any] | None:
    """The ``gets`` of the hiredis reader under the pub/sub connection: the
    next reply it has parsed already, or ``_NOT_PARSED``. None when redis-py
    reads otherwise (no hiredis) or its internals moved: then every reply
    goes through ``get_message``."""
    conn = ps.connection
    if conn is None or _NOT_PARSED is None:
        return None
    gets = getattr(getattr(getattr(conn, "_parser", None), "_reader", None), "gets", None)
    return gets if callable(gets) else None


def _kind(raw: bytes | None, event_json: bytes) -> str:
    """The kind read beside an event, or, for one stored by an older node
    without a kind, the ``type`` field of its JSON ("" if unreadable)."""
    if raw:
        return _KINDS.get(raw) or raw.decode(errors="replace")
    try:
        return _decode_tagged(event_json).type
    except (msgspec.MsgspecError, ValueError):
        return ""


class BrokerUnavailable(StoreUnavailable):
    """Redis cannot be reached for a publication or a position: the command
    is answered ``unavailable`` (a subclass of StoreUnavailable so every
    edge maps it the same way)."""


class Deaf(Exception):
    """The subscriber connection stopped delivering (watchdog)."""


PUBLISH = """
local size, kept, lasts = ARGV[1], ARGV[2], ARGV[3]
local seqs = {}
for i = 1, #KEYS / 2 do
  local seq_key, hist_key = KEYS[2 * i - 1], KEYS[2 * i]
  local event, channel, kind = ARGV[3 * i + 1], ARGV[3 * i + 2], ARGV[3 * i + 3]
  local seq = redis.call('INCR', seq_key)
  local id = '0-' .. seq
  local ok = redis.pcall('XADD', hist_key, 'MAXLEN', '~', size, id, 'e', event, 'k', kind)
  if type(ok) == 'table' and ok.err then
    -- History ahead of the counter (it outlived it): it can no longer be trusted.
    redis.call('DEL', hist_key)
    redis.call('XADD', hist_key, 'MAXLEN', '~', size, id, 'e', event, 'k', kind)
  end
  redis.call('EXPIRE', hist_key, kept)
  redis.call('EXPIRE', seq_key, lasts)
  redis.call('PUBLISH', channel, seq .. ':' .. kind .. ':' .. event)
  seqs[i] = seq
end
return seqs
"""
"""Publications in order, each on its stream's keys. KEYS: per publication,
its stream's sequence key and history key. ARGV: 1 history size, 2 history
TTL, 3 sequence TTL (seconds); then per publication its event JSON, channel
and kind. Returns their sequences. One publication per call on a Redis
Cluster (a call's keys must share a slot); many on one Redis."""

PIPELINE = 128
"""Publications per script call in ``publish_many`` (one Redis)."""

READ_RUN = 256
"""Messages the reader takes from its buffer before handing the run's
publications over (a lock storm: one write per socket per run)."""

# Reasons for on_resync, also metric labels.
EPOCH_CHANGED = "epoch_changed"
HISTORY_GONE = "history_gone"

OnResync = Callable[[set[str] | None, str], None]
"""(streams whose listeners must start over, None for all; reason)."""


class RedisBroker:
    def __init__(
        self,
        url: str,
        *,
        node_id: str = "",
        history_size: int = 1000,
        history_ttl: int = 24 * 3600,
        stream_ttl: int = 30 * 24 * 3600,
        heartbeat_seconds: float = 1.0,
        watchdog_seconds: float = 3.0,
        publish_timeout: float = 10.0,
        ready_timeout: float = 5.0,
        backoff: tuple[float, float] = (0.05, 2.0),
        prefix: str = "sb:",
        metrics: Metrics | None = None,
    ) -> None:
        self.epoch = ""
        self.on_publication: OnPublication | None = None
        self.on_publications: OnPublications | None = None
        """When set, each read run's publications go here at once (else to ``on_publication``, one by one)."""
        self.on_resync: OnResync | None = None
        self.on_health: Callable[[bool], None] | None = None
        self._url = url
        self._seq_at, self._hist_at, self._channel_at = f"{prefix}seq:{{", f"{prefix}hist:{{", f"{prefix}ch:{{"
        """What a stream's keys and channel put before its name (then ``}``)."""
        self._channel_prefix = self._channel_at.encode()
        self._r = connect(url)
        self._sub = connect(url, max_connections=4)
        self._publish = self._r.register_script(PUBLISH)
        self._limits = (str(history_size).encode(), str(history_ttl).encode(), str(stream_ttl).encode())
        self._heartbeat = heartbeat_seconds
        self._watchdog = watchdog_seconds
        self._publish_timeout = publish_timeout
        self._ready_timeout = ready_timeout
        self._backoff = backoff
        token = secrets.token_hex(4)
        self._hb_channel = f"{prefix}hb:{node_id or 'node'}:{token}".encode()
        self._ctl_channel = f"{prefix}ctl".encode()
        self._epoch_key = f"{prefix}epoch"

        self._wanted: dict[str, asyncio.Event] = {}
        """Streams with local listeners → set once subscribed and caught up."""
        self._last: dict[str, int] = {}
        """Last sequence handed to the hub, per wanted stream."""
        self._outstanding: dict[str, int] = {}
        """SUBSCRIBE/UNSUBSCRIBE sent this session and not yet confirmed."""
        self._ps: redis.client.PubSub | None = None
        self._send_lock = asyncio.Lock()
        self._sends: set[asyncio.Task[None]] = set()
        self._healthy = False
        self._lost = False
        self._hb_seen = 0.0
        self._first = asyncio.Event()
        self._run: list[tuple[str, int, str, bytes]] = []
        """Publications read in this run, not handed over yet (``_hand_over``)."""
        self._waiters: list[tuple[dict[str, int], asyncio.Future[None]]] = []
        """Clients about to go live, waiting for the hub to have their positions (``handed_over``)."""
        self._tasks: list[asyncio.Task[None]] = []

        m = metrics if metrics is not None else Metrics()
        self.reconnects = m.counter("switchboard_redis_reconnects_total", "Subscriber sessions restarted", ("reason",))
        self.gap_fills = m.counter("switchboard_redis_gap_frames_total", "Publications replayed from history after a gap")
        self.resyncs = m.counter("switchboard_redis_resyncs_total", "Local listeners told to resync", ("reason",))
        self.publish_retries = m.counter("switchboard_redis_publish_retries_total", "Publications retried")
        self.publish_failures = m.counter("switchboard_redis_publish_failures_total", "Publications given up on")
        m.gauge("switchboard_redis_up", "1 while the subscriber hears its own heartbeat", lambda: float(self._healthy))
        self.messages_read = m.counter("switchboard_redis_messages_total", "Pub/sub messages the subscriber read")
        # The heartbeat carries its send time: hearing it back times the whole
        # path, PUBLISH through Redis to this node's reader, behind whatever
        # the reader still has to read (its backlog, in seconds).
        self.heartbeat_trip = Histogram(
            "switchboard_redis_heartbeat_seconds", "Heartbeat published → heard by this node's subscriber"
        )
        self.heartbeat_trip_max = Peak(
            "switchboard_redis_heartbeat_max_seconds", "Slowest heartbeat round trip since the previous scrape"
        )
        m.add(self.heartbeat_trip)
        m.add(self.heartbeat_trip_max)
        m.gauge("switchboard_redis_subscriptions", "Streams this node listens to", lambda: len(self._wanted))

    # ------------------------------------------------------------------ keys

    def _seq_key(self, stream: str) -> str:
        return f"{self._seq_at}{stream}}}"

    def _hist_key(self, stream: str) -> str:
        return f"{self._hist_at}{stream}}}"

    def _channel(self, stream: str) -> bytes:
        return f"{self._channel_at}{stream}}}".encode()

    def _stream_of(self, channel: bytes) -> str | None:
        prefix = self._channel_prefix
        if channel.startswith(prefix) and channel.endswith(b"}"):
            return channel[len(prefix) : -1].decode()
        return None

    # ------------------------------------------------------------------ lifecycle

    @property
    def healthy(self) -> bool:
        """Subscribed, epoch verified, and hearing its own heartbeat."""
        return self._healthy

    async def start(self, timeout: float = 30.0) -> None:
        """Start the reader and heartbeat; return once the first session is
        up (raise BrokerUnavailable if Redis cannot be reached in time)."""
        self._tasks = [
            asyncio.create_task(self._supervise(), name="redis-broker-reader"),
            asyncio.create_task(self._beat(), name="redis-broker-heartbeat"),
        ]
        try:
            await asyncio.wait_for(self._first.wait(), timeout)
        except TimeoutError:
            await self.close()
            raise BrokerUnavailable(f"redis at {self._url} not reachable within {timeout:g} s") from None

    async def close(self) -> None:
        await cancel_and_wait([*self._tasks, *self._sends])
        self._tasks = []
        self._set_health(False)
        await self._r.aclose()
        await self._sub.aclose()

    def _set_health(self, ok: bool) -> None:
        if ok != self._healthy:
            self._healthy = ok
            log.log(logging.INFO if ok else logging.WARNING, "redis broker %s", "healthy" if ok else "unhealthy")
            if self.on_health is not None:
                self.on_health(ok)

    # ------------------------------------------------------------------ Broker interface

    async def publish(self, stream: str, event: p.AnyEvent) -> int:
        """Retries while Redis is unreachable, up to ``publish_timeout``;
        then remembers that a committed change went unpublished (the epoch is
        bumped once Redis is back) and raises BrokerUnavailable."""
        keys, args = self._publications([(stream, kind_of(event), _encode_event(event))])
        deadline = time.monotonic() + self._publish_timeout
        delay = 0.05
        while True:
            try:
                (seq,) = await self._publish(keys=keys, args=args)
                return int(seq)
            except UNREACHABLE as e:
                if time.monotonic() + delay > deadline:
                    self._lost = True
                    self.publish_failures.inc()
                    log.error("publication on %s lost (%s): clients will resync when redis is back", stream, e)
                    raise BrokerUnavailable(f"publish {stream}: {e}") from e
                self.publish_retries.inc()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def publish_many(self, publications: Sequence[tuple[str, p.AnyEvent]]) -> None:
        """``PIPELINE`` publications per script call, the calls pipelined
        (Redis runs them in order: per-stream order holds). A pipeline that
        fails midway may have run some of them: nothing is retried (that
        could publish one twice); the loss is remembered as ``publish``'s is
        (every listener reloads once Redis is back) and BrokerUnavailable
        raised. On a Redis Cluster, one ``publish`` each."""
        if isinstance(self._r, RedisCluster):
            for stream, event in publications:
                await self.publish(stream, event)
            return
        encoded = encoded_once(publications)
        try:
            async with self._r.pipeline(transaction=False) as pipe:
                for start in range(0, len(encoded), PIPELINE):
                    keys, args = self._publications(encoded[start : start + PIPELINE])
                    await self._publish(keys=keys, args=args, client=pipe)
                await pipe.execute()
        except UNREACHABLE as e:
            self._lost = True
            self.publish_failures.inc()
            log.error("a batch of publications lost (%s): clients will resync when redis is back", e)
            raise BrokerUnavailable(f"publish_many: {e}") from e

    def _publications(self, encoded: Sequence[tuple[str, str, bytes]]) -> tuple[list[str], list[str | bytes]]:
        """The PUBLISH script's keys and arguments for (stream, kind, event
        JSON) each: ``_seq_key``, ``_hist_key`` and ``_channel`` written out
        from the same prefixes (this runs for each of a storm's publications,
        and the connection, ``wire``, packs str in C)."""
        keys: list[str] = []
        args: list[str | bytes] = list(self._limits)
        seq_at, hist_at, channel_at = self._seq_at, self._hist_at, self._channel_at
        for stream, kind, data in encoded:
            keys += (f"{seq_at}{stream}}}", f"{hist_at}{stream}}}")
            args += (data, f"{channel_at}{stream}}}", kind)
        return keys, args

    async def positions(self, streams: Iterable[str]) -> dict[str, int]:
        streams = list(streams)
        await self._ready(streams)
        try:
            async with self._r.pipeline(transaction=False) as pipe:
                for s in streams:
                    pipe.get(self._seq_key(s))
                values = await pipe.execute()
        except UNREACHABLE as e:
            raise BrokerUnavailable(str(e)) from e
        return {s: int(v or 0) for s, v in zip(streams, values, strict=True)}

    async def handed_over(self, positions: dict[str, int]) -> None:
        """Return once the reader has handed the hub every publication up to
        ``positions`` (read from Redis, so possibly ahead of the reader: not
        read yet, or read in the run not handed over yet) of each stream this
        node listens to. A client whose replay or snapshot holds them goes
        live after this, so none of them reaches it again live. A reader more
        than ``ready_timeout`` behind is not waited for longer (the client
        may then see one of them twice, and reconnects; it loses none)."""
        if self._handed_up_to(positions):
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((positions, waiter))
        try:
            await asyncio.wait_for(waiter, self._ready_timeout)
        except TimeoutError:
            log.warning("reader still behind the positions of a client going live after %.1f s", self._ready_timeout)
        finally:
            self._waiters = [w for w in self._waiters if w[1] is not waiter]

    def _handed_up_to(self, positions: dict[str, int]) -> bool:
        pending = {stream for stream, _, _, _ in self._run} if self._run else ()
        last, wanted = self._last, self._wanted
        return all(last.get(s, 0) >= seq and s not in pending for s, seq in positions.items() if s in wanted)

    async def history(self, stream: str, after: int) -> list[tuple[int, bytes]] | None:
        await self._ready([stream])
        try:
            entries = await self._history(stream, after)
        except UNREACHABLE as e:
            raise BrokerUnavailable(str(e)) from e
        return None if entries is None else [(seq, data) for seq, _, data in entries]

    async def subscribe(self, stream: str) -> None:
        self.listen(stream)
        await self._ready([stream])

    async def unsubscribe(self, stream: str) -> None:
        self.unlisten(stream)

    # ------------------------------------------------------------------ hub hooks (sync)

    def listen(self, stream: str) -> None:
        """First local listener: subscribe. Positions and history of the
        stream wait until the subscription is confirmed, so whatever a client
        reads next is followed by every later publication."""
        if stream in self._wanted:
            return
        self._wanted[stream] = asyncio.Event()
        self._last.pop(stream, None)
        self._send("subscribe", stream)

    def unlisten(self, stream: str) -> None:
        if self._wanted.pop(stream, None) is None:
            return
        self._last.pop(stream, None)
        self._send("unsubscribe", stream)

    def _send(self, op: str, stream: str) -> None:
        ps = self._ps
        if ps is None:
            return  # the next session subscribes to every wanted stream
        self._outstanding[stream] = self._outstanding.get(stream, 0) + 1
        task = asyncio.ensure_future(self._send_now(ps, op, stream))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _send_now(self, ps: redis.client.PubSub, op: str, stream: str) -> None:
        async with self._send_lock:  # FIFO: subscribe/unsubscribe reach Redis in call order
            if ps is not self._ps:
                return
            try:
                if op == "subscribe":
                    await ps.subscribe(self._channel(stream))
                else:
                    await ps.unsubscribe(self._channel(stream))
            except Exception as e:  # the reader sees the broken connection and restarts
                log.debug("%s %s failed: %s", op, stream, e)

    async def _ready(self, streams: list[str]) -> None:
        waits = [ev.wait() for s in streams if (ev := self._wanted.get(s)) is not None and not ev.is_set()]
        if not waits:
            return
        if not self._healthy:
            # No live subscriber session: do not make a client wait for one.
            for w in waits:
                w.close()
            raise BrokerUnavailable("redis is unreachable")
        try:
            await asyncio.wait_for(asyncio.gather(*waits), self._ready_timeout)
        except TimeoutError:
            raise BrokerUnavailable("stream subscription not confirmed in time") from None

    # ------------------------------------------------------------------ history

    async def _history(self, stream: str, after: int) -> list[tuple[int, str, bytes]] | None:
        """(seq, kind, frame) of each kept entry after ``after``, or None."""
        async with self._r.pipeline(transaction=True) as pipe:  # both keys share a slot
            pipe.get(self._seq_key(stream))
            pipe.xrange(self._hist_key(stream), min=f"0-{after + 1}")
            last_raw, entries = await pipe.execute()
        last = int(last_raw or 0)
        if after > last:
            return None  # the client is ahead: it saw another epoch or lost data
        if after == last:
            return []
        out: list[tuple[int, str, bytes]] = []
        for entry_id, fields in entries:
            seq = int(entry_id.split(b"-")[1])
            event = fields[b"e"]
            out.append((seq, _kind(fields.get(b"k"), event), frame_bytes(stream, seq, event)))
        if not out or out[0][0] != after + 1:
            return None
        return out

    async def _position(self, stream: str) -> int:
        return int(await self._r.get(self._seq_key(stream)) or 0)

    # ------------------------------------------------------------------ reader

    async def _supervise(self) -> None:
        delay = self._backoff[0]
        while True:
            started = time.monotonic()
            reason = "error"
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Deaf:
                reason = "watchdog"
                log.warning("redis subscriber deaf for %.1f s: reconnecting", self._watchdog)
            except UNREACHABLE as e:
                reason = "connection"
                log.warning("redis subscriber lost: %s", e)
            except Exception:
                log.exception("redis reader failed")
            finally:
                self._end_session()
            self.reconnects.inc(1, reason)
            if time.monotonic() - started > 10 * self._backoff[1]:
                delay = self._backoff[0]  # it ran fine for a while: start over
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, self._backoff[1])

    def _end_session(self) -> None:
        self._hand_over()  # read before the session failed: delivered all the same
        ps, self._ps = self._ps, None
        self._set_health(False)
        self._outstanding.clear()
        for ev in self._wanted.values():
            ev.clear()
        if ps is not None:
            # redis-py < 8 leaves aclose untyped; 8 types it: Any keeps mypy --strict quiet under both.
            close: Any = ps.aclose
            task = asyncio.ensure_future(close())
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)

    async def _session(self) -> None:
        if isinstance(self._sub, RedisCluster):
            # The pub/sub connection goes to the node serving the first
            # channel's slot: the client must know the slots first. Plain
            # PUBLISH reaches every node of a Cluster, so one connection hears all.
            await self._sub.initialize()
        ps = self._sub.pubsub()
        try:
            await ps.subscribe(self._ctl_channel, self._hb_channel)
            await self._verify_epoch()
            async with self._send_lock:
                self._ps = ps
                wanted = list(self._wanted)
                for i in range(0, len(wanted), 256):
                    chunk = wanted[i : i + 256]
                    for s in chunk:
                        self._outstanding[s] = self._outstanding.get(s, 0) + 1
                    await ps.subscribe(*(self._channel(s) for s in chunk))
            self._hb_seen = time.monotonic()
            await self._publish_heartbeat()
            wait = min(0.25, self._heartbeat)
            while True:
                asked = time.monotonic()
                msg = await ps.get_message(timeout=wait)
                held = time.monotonic() - asked - wait
                if held > 0:
                    # The loop was held (a long callback, a full collection,
                    # a starved process): that time is not Redis's silence,
                    # and the heartbeats may be waiting unread on the socket.
                    self._hb_seen += held
                if msg is not None:
                    await self._on_message(msg)
                    await self._read_run(ps)
                    self._hand_over()
                if time.monotonic() - self._hb_seen > self._watchdog:
                    raise Deaf()
                if self._lost:  # a publication failed while this session stayed up
                    await self._verify_epoch()
        finally:
            if self._ps is not ps:
                await ps.aclose()

    async def _verify_epoch(self) -> None:
        """Adopt the cluster's epoch; create one if Redis has none (new, or it
        lost its data); bump it if this node failed to publish a change."""
        if self._lost:
            new = secrets.token_hex(8)
            await self._r.set(self._epoch_key, new)
            await self._r.publish(self._ctl_channel, b"epoch:" + new.encode())
            self._lost = False
            self._adopt(new, reset=False)
            return
        await self._r.set(self._epoch_key, secrets.token_hex(8), nx=True)
        current = (await self._r.get(self._epoch_key) or b"").decode()
        self._adopt(current, reset=True)

    def _adopt(self, epoch: str, *, reset: bool) -> None:
        if epoch == self.epoch or not epoch:
            return
        old, self.epoch = self.epoch, epoch
        if not old:
            return
        log.warning("epoch %s → %s: every local client resyncs", old, epoch)
        if reset:
            self._last.clear()  # sequences restarted with the data
        self.resyncs.inc(1, EPOCH_CHANGED)
        if self.on_resync is not None:
            self.on_resync(None, EPOCH_CHANGED)

    async def _read_run(self, ps: redis.client.PubSub) -> None:
        """After a message, the ones already read behind it, up to
        ``READ_RUN`` in all. Those hiredis has parsed already (a socket read
        brings up to 64 KiB: a storm's run of them) are taken from its reader
        as they are: a pub/sub message is a 3-item list, handled here without
        redis-py's per-message layers (~65 Python calls: its dict, timeouts,
        telemetry hook and logging; this broker subscribes no handlers, so
        redis-py would only have built the dict ``_on_message`` reads). Any
        other reply goes through redis-py's ``handle_message``; once the
        reader has nothing parsed, through ``get_message`` (which reads the
        socket), as before."""
        gets = _parsed_replies(ps)
        read = 1
        while read < READ_RUN:
            reply = gets() if gets is not None else _NOT_PARSED
            if reply is _NOT_PARSED:
                msg = await ps.get_message(timeout=0)
                if msg is None:
                    return
                await self._on_message(msg)
            elif isinstance(reply, list) and len(reply) == 3 and reply[0] == b"message":  # a RESP3 push is a list too
                await self._message(reply[1], reply[2])
            elif isinstance(reply, Exception):
                raise reply
            elif (msg := await ps.handle_message(reply)) is not None:  # type: ignore[no-untyped-call]
                await self._on_message(msg)
            read += 1

    async def _on_message(self, msg: dict) -> None:  # type: ignore[type-arg]
        kind = msg["type"]
        channel: bytes = msg["channel"]
        if kind == "message":
            await self._message(channel, msg["data"])
            return
        if kind in ("subscribe", "unsubscribe"):
            stream = self._stream_of(channel)
            if stream is None:
                return
            left = self._outstanding.get(stream, 0) - 1
            if left > 0:
                self._outstanding[stream] = left
                return
            self._outstanding.pop(stream, None)
            ready = self._wanted.get(stream)
            if ready is not None and not ready.is_set() and kind == "subscribe":
                await self._catch_up(stream)
                ready.set()

    async def _message(self, channel: bytes, data: bytes) -> None:
        """A pub/sub message: a heartbeat, the control channel, or a publication."""
        self.messages_read.inc()
        if channel == self._hb_channel:
            # Heard our own heartbeat: subscribed, epoch verified, Redis
            # answering on both connections.
            self._hb_seen = time.monotonic()
            self._heard(data)
            self._first.set()
            self._set_health(True)
        elif channel == self._ctl_channel:
            if data.startswith(b"epoch:"):
                self._adopt(data[6:].decode(), reset=False)
        else:
            stream = self._stream_of(channel)
            if stream is not None:
                await self._on_publication(stream, data)

    def _heard(self, data: bytes) -> None:
        """Our heartbeat, back through the reader: how long it took."""
        try:
            trip = time.monotonic() - float(data)
        except ValueError:
            return  # not a send time: nothing to time
        self.heartbeat_trip.observe(trip)
        self.heartbeat_trip_max.observe(trip)

    async def _catch_up(self, stream: str) -> None:
        """The subscription is live: deliver what this node missed since the
        last sequence it handed out (after a reconnect), or, for a new
        subscription, start from the current position (clients read theirs
        after this, so they miss nothing either)."""
        last = self._last.get(stream)
        if last is None:
            self._last[stream] = await self._position(stream)
            self._wake()  # a client may wait on this stream's position (``handed_over``)
        else:
            await self._fill(stream, last)

    async def _fill(self, stream: str, after: int) -> None:
        frames = await self._history(stream, after)
        if frames is None:
            self._last[stream] = await self._position(stream)
            log.warning("%s: gap after %d is older than the history: its listeners resync", stream, after)
            self.resyncs.inc(1, HISTORY_GONE)
            if self.on_resync is not None:
                self.on_resync({stream}, HISTORY_GONE)
            return
        for seq, kind, data in frames:
            self._deliver(stream, seq, kind, data)
        self.gap_fills.inc(len(frames))

    async def _on_publication(self, stream: str, payload: bytes) -> None:
        ready = self._wanted.get(stream)
        if ready is None or not ready.is_set():
            return  # not listened to, or the catch-up will cover it
        raw_seq, _, rest = payload.partition(b":")
        seq = int(raw_seq)
        if rest.startswith(b"{"):
            raw_kind, event = b"", rest  # from an older node: no kind header
        else:
            raw_kind, _, event = rest.partition(b":")
        last = self._last.get(stream, 0)
        if seq <= last:
            return  # already delivered (replayed from history)
        if seq > last + 1:
            await self._fill(stream, last)
            if seq <= self._last.get(stream, 0):
                return
        self._deliver(stream, seq, _kind(raw_kind, event), frame_bytes(stream, seq, event))

    def _deliver(self, stream: str, seq: int, kind: str, data: bytes) -> None:
        if seq <= self._last.get(stream, 0):
            return
        self._last[stream] = seq
        self._run.append((stream, seq, kind, data))

    def _hand_over(self) -> None:
        """The run's publications to the hub, in the order they were read."""
        run, self._run = self._run, []
        if not run:
            return
        if self.on_publications is not None:
            self.on_publications(run)
        elif self.on_publication is not None:
            for stream, seq, kind, data in run:
                self.on_publication(stream, seq, kind, data)
        self._wake()

    def _wake(self) -> None:
        """Clients waiting in ``handed_over`` whose positions the hub now has."""
        for positions, waiter in self._waiters:
            if not waiter.done() and self._handed_up_to(positions):
                waiter.set_result(None)

    # ------------------------------------------------------------------ heartbeat

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat)
            await self._publish_heartbeat()

    async def _publish_heartbeat(self) -> None:
        try:
            sent = repr(time.monotonic()).encode()
            await asyncio.wait_for(self._r.publish(self._hb_channel, sent), max(self._heartbeat, 0.5))
        except (TimeoutError, *UNREACHABLE) as e:
            log.debug("heartbeat not published: %s", e)
